"""The deployable roles every service shares, as a typer CLI (``yima-<service> serve|consume|relay-outbox``).

``serve`` runs HTTP + consumers + the outbox relay in one process (what the local run uses); ``api``,
``consume`` and ``relay-outbox`` let an operator scale the roles apart. Each role answers ``/health``
(readiness: broker and database reachable) and ``/livez`` (liveness: the process answers).
"""

from __future__ import annotations

from collections.abc import Callable

import typer
import uvicorn
from fastapi import FastAPI


def service_cli(
    name: str, make_app: Callable[..., FastAPI], default_port: Callable[[], int]
) -> typer.Typer:
    cli = typer.Typer(help=f"yima {name} service", no_args_is_help=True)

    def _run(app: FastAPI, host: str, port: int) -> None:
        uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)

    @cli.command()
    def serve(host: str = "127.0.0.1", port: int = typer.Option(None, help="HTTP port")) -> None:
        """HTTP API + Kafka consumers + outbox relay."""
        _run(make_app(consume=True, relay=True), host, port or default_port())

    @cli.command()
    def api(host: str = "127.0.0.1", port: int = typer.Option(None, help="HTTP port")) -> None:
        """HTTP API only (no consumers, no relay): scale it freely, apart from the consumer budget."""
        _run(make_app(consume=False, relay=False), host, port or default_port())

    @cli.command()
    def consume(host: str = "127.0.0.1", port: int = typer.Option(None, help="health port")) -> None:
        """Kafka consumers only (scale within the consumer group up to the partition count)."""
        _run(make_app(consume=True, relay=False), host, port or default_port())

    @cli.command("relay-outbox")
    def relay_outbox(host: str = "127.0.0.1", port: int = typer.Option(None, help="health port")) -> None:
        """Outbox relay only (one active at a time: a lease in Mongo)."""
        _run(make_app(consume=False, relay=True), host, port or default_port())

    return cli
