"""``yima-routing serve|consume|relay-outbox``"""

from yima_kit.cli import service_cli

from .app import create_app
from .config import RoutingSettings

app = service_cli("routing", create_app, lambda: RoutingSettings().http_port)
