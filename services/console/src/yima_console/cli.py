"""``yima-console serve|api`` (the console has no consumers and no outbox: every role serves the pages)."""

from yima_kit.cli import service_cli

from .app import create_app
from .config import ConsoleSettings

app = service_cli("console", create_app, lambda: ConsoleSettings().http_port)
