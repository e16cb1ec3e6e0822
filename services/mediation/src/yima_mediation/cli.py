"""``yima-mediation serve|consume|relay-outbox``"""

from yima_kit.cli import service_cli

from .app import create_app
from .config import MediationSettings

app = service_cli("mediation", create_app, lambda: MediationSettings().http_port)
