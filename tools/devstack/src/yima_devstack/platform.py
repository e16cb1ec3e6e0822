"""``yima-dev run`` (the whole platform on this machine) and ``yima-dev asyncapi``."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Annotated

import typer

from . import asyncapi
from ._aio import run_sync
from .app import app
from .infra import Endpoints, InfraError, LocalInfra
from .services import SERVICE_PORTS, Platform, service_env
from .topics import ensure_topics, platform_topics

STATE = Path(".local")


@app.command()
def run(
    state_dir: Annotated[Path, typer.Option(help="infrastructure data, PIDs and logs")] = STATE,
    kafka_port: Annotated[int, typer.Option(help="Kafka on 127.0.0.1")] = 9092,
    mongo_port: Annotated[int, typer.Option(help="MongoDB-protocol server on 127.0.0.1")] = 27017,
) -> None:
    """Install what is missing, start Kafka + MongoDB and every service as its own process; Ctrl-C stops all.

    With YIMA_KAFKA_BOOTSTRAP and YIMA_MONGO_URL set, uses those servers instead of starting local ones.
    """
    infra: LocalInfra | None = None
    if os.environ.get("YIMA_KAFKA_BOOTSTRAP") and os.environ.get("YIMA_MONGO_URL"):
        endpoints = Endpoints(os.environ["YIMA_KAFKA_BOOTSTRAP"], os.environ["YIMA_MONGO_URL"])
    else:
        infra = LocalInfra(state_dir / "infra", kafka_port=kafka_port, mongo_port=mongo_port)
        try:
            typer.echo("· installing Kafka and the MongoDB-protocol server (first run only) …")
            infra.install()
            typer.echo("· starting Kafka and MongoDB …")
            endpoints = infra.start()
        except InfraError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
    run_sync(ensure_topics(endpoints.kafka_bootstrap, platform_topics()))

    platform = Platform(log_dir=state_dir / "logs")
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    # Ctrl-C, a closed terminal and `kill` all stop the platform in order (services first, then the servers).
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop)
    try:
        typer.echo("· starting the services …")
        env = service_env(endpoints.kafka_bootstrap, endpoints.mongo_url)
        platform.start(env)
        platform.wait_healthy(timeout=120)
        _banner(endpoints, platform, state_dir)
        while not stopping:
            for name, proc in platform.procs.items():
                if not proc.alive():
                    typer.echo(f"! {name} exited; restarting (log: {proc.log_path})", err=True)
                    proc.start(env)
            time.sleep(1)
    finally:
        typer.echo("· stopping …")
        platform.stop()
        if infra is not None:
            infra.stop()
        typer.echo("stopped.")


def _banner(endpoints: Endpoints, platform: Platform, state_dir: Path) -> None:
    urls = "\n".join(f"  {n:<10} {p.url}   (health: {p.url}/health)" for n, p in platform.procs.items())
    typer.echo(f"""
yima 一码解纠纷 is running.
{urls}
  kafka      {endpoints.kafka_bootstrap}
  mongodb    {endpoints.mongo_url}
  logs       {state_dir / "logs"}

Try it:
  curl -s -X POST {platform.procs["intake"].url}/api/v1/cases -H 'Content-Type: application/json' \\
    -d '{{"channel":"self_service","applicant":{{"name":"张三","phone":"13812345678"}},
         "description":"楼上邻居家漏水把我家天花板泡坏了","location":{{"unit_code":"410105001001"}}}}'
  kcat -b {endpoints.kafka_bootstrap} -t unit.410105001001.cases -C -e     # the community's own topic
  curl -s '{platform.procs["intake"].url}/api/v1/track/<tracking_code>?check=5678'

Ctrl-C stops everything.
""")


@app.command("asyncapi")
def asyncapi_cmd(check: Annotated[bool, typer.Option(help="exit 1 if the committed file drifted")] = False) -> None:
    """Generate contracts/asyncapi.yaml from the services' brokers."""
    if check:
        if asyncapi.drifted():
            typer.echo("contracts/asyncapi.yaml drifted: run `uv run yima-dev asyncapi`", err=True)
            raise typer.Exit(1)
        return
    asyncapi.write()
    typer.echo(f"wrote {asyncapi.ASYNCAPI_FILE}")


__all__ = ["SERVICE_PORTS", "asyncapi_cmd", "run"]
