"""``yima-risk serve|consume|relay-outbox``"""

from yima_kit.cli import service_cli

from .app import create_app
from .config import RiskSettings

app = service_cli("risk", create_app, lambda: RiskSettings().http_port)
