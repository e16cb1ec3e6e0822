"""``yima-notify serve|consume|relay-outbox``"""

from yima_kit.cli import service_cli

from .app import create_app
from .config import NotifySettings

app = service_cli("notify", create_app, lambda: NotifySettings().http_port)
