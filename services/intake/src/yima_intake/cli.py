"""``yima-intake serve|consume|relay-outbox``"""

from yima_kit.cli import service_cli

from .app import create_app
from .config import IntakeSettings

app = service_cli("intake", create_app, lambda: IntakeSettings().http_port)
