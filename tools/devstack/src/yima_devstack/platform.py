"""``yima-dev run`` (the whole platform on this machine) and ``yima-dev asyncapi``."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer
from yima_contracts import topics
from yima_kit.keys import generate as generate_keys

from . import asyncapi, kafka_security
from ._aio import run_sync
from .app import app
from .infra import Endpoints, InfraError, LocalInfra
from .services import SERVICE_PORTS, Platform, peer_env, service_env
from .topics import ensure_topics, platform_topics

STATE = Path(".local")
GATEWAY_PORT = 8025
GATEWAY_MODULE = "yima_notify.devgateway"  # run by module name: devstack imports no service package


def gateway_settings(gateway_url: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """What ``./yima run`` tells notify so that its outside channels land on the local dev gateway: SMS, and
    every unit's webhook (``*``). Quiet hours are off, so texts show at once whatever the hour in Beijing.
    A setting already in the environment wins."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    wanted = {
        "YIMA_NOTIFY_SMS_URL": f"{gateway_url}/sms",
        "YIMA_NOTIFY_UNIT_CONTACTS_JSON": json.dumps({"*": {"webhook_url": f"{gateway_url}/hooks/{{unit}}"}}),
        "YIMA_NOTIFY_QUIET_HOURS": "",
    }
    return {k: v for k, v in wanted.items() if k not in env}


TOKEN_KEY_FILES = ("auth_private_key", "auth_public_keys", "auth_kid")


def local_token_keys(keys_dir: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The staff-token key pair of this state directory, generated once (docs/adr/0185): a platform started by
    ``./yima run`` never verifies with the development key whose private half is in this repository, so a
    token anyone could sign is refused here too. Only the token keys: the SM4 key of data already stored
    stays the development one (development mode). Keys given in the environment win."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    if env.get("YIMA_AUTH_PUBLIC_KEYS") or env.get("YIMA_SECRETS_DIR"):
        return {}
    keys_dir.mkdir(parents=True, exist_ok=True)
    keys_dir.chmod(0o700)
    if not all((keys_dir / name).is_file() for name in TOKEN_KEY_FILES):
        fresh = generate_keys()
        for name in TOKEN_KEY_FILES:
            tmp = keys_dir / f".{name}.tmp"
            tmp.write_text(fresh[name])
            tmp.chmod(0o600)
            tmp.replace(keys_dir / name)
    return {"YIMA_SECRETS_DIR": str(keys_dir.resolve())}


@app.command()
def run(
    state_dir: Annotated[Path, typer.Option(help="infrastructure data, PIDs and logs")] = STATE,
    kafka_port: Annotated[int, typer.Option(help="Kafka on 127.0.0.1")] = 9092,
    mongo_port: Annotated[int, typer.Option(help="MongoDB-protocol server on 127.0.0.1")] = 27017,
    gateway_port: Annotated[
        int, typer.Option(help="local SMS/webhook dev gateway on 127.0.0.1 (0 = none: SMS stays off)")
    ] = GATEWAY_PORT,
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

    # Each service with its own Kafka principal (docs/adr/0070); servers from the environment: its credentials.
    platform = Platform(log_dir=state_dir / "logs", pid_dir=state_dir / "run", service_env=endpoints.service_kafka_env)
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    # Ctrl-C, a closed terminal and `kill` all stop the platform in order (services first, then the servers).
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop)
    try:
        env = _prepare(endpoints, platform, state_dir, gateway_port)
        if gateway_port:
            typer.echo("· starting the local SMS/webhook dev gateway …")
            platform.start_helper("devgateway", GATEWAY_MODULE, gateway_port, env)
        typer.echo("· starting the services …")
        platform.start(env)
        platform.wait_healthy(timeout=120)
        _banner(endpoints, platform, state_dir)
        while not stopping:
            for name, proc in platform.procs.items():
                if not proc.alive():
                    typer.echo(f"! {name} exited; restarting (log: {proc.log_path})", err=True)
                    proc.start(platform.env_for(name, env) if name in platform.ports else env)
            time.sleep(1)
    finally:
        typer.echo("· stopping …")
        platform.stop()
        if infra is not None:
            infra.stop()
        typer.echo("stopped.")


def _prepare(endpoints: Endpoints, platform: Platform, state_dir: Path, gateway_port: int) -> dict[str, str]:
    """The platform's topics (created as the local stack's super user, or with the environment's credentials for
    servers from outside) and the services' environment: the dev gateway, this state directory's token keys."""
    run_sync(ensure_topics(endpoints.kafka_bootstrap, platform_topics(), auth=endpoints.kafka_auth()))
    extra = gateway_settings(f"http://127.0.0.1:{gateway_port}") if gateway_port else {}
    extra.update(local_token_keys(state_dir / "keys"))
    return {**peer_env(platform.ports), **service_env(endpoints.kafka_bootstrap, endpoints.mongo_url, extra=extra)}


DEMO_DEPARTMENT = ("410105001001", "黄河社区")  # answers from its own system (in_platform false), README's example


def kafka_banner(endpoints: Endpoints, credentials_file: Path) -> str:
    """The local credentials of one demo department's system and of the read-only operator (ADR 0070)."""
    if not endpoints.kafka_users:
        return ""
    code, name = DEMO_DEPARTMENT
    dept = kafka_security.department_principal(code)
    if dept not in endpoints.kafka_users:
        return ""
    dept_pw, op_pw = endpoints.kafka_users[dept], endpoints.kafka_users[kafka_security.OPERATOR]
    cases, feedback = topics.unit_topic(code), topics.unit_feedback_topic(code)
    sasl = "-X security.protocol=SASL_PLAINTEXT -X sasl.mechanisms=SCRAM-SHA-512"
    return f"""
Kafka: every client authenticates (SASL_PLAINTEXT, SCRAM-SHA-512) and ACLs decide (docs/adr/0070):
  {name}'s own system   user {dept}   password {dept_pw}
      reads {cases} only, writes {feedback} only, consumer groups {dept}[.…]
  read-only operator   user {kafka_security.OPERATOR}   password {op_pw}   (reads every topic, writes none)
  every principal's password: {credentials_file}
  kcat -b {endpoints.kafka_bootstrap} {sasl} \\
       -X sasl.username={dept} -X sasl.password='{dept_pw}' -G {dept} {cases}
  ./yima topic-dump case.status              # as the read-only operator
"""


def _banner(endpoints: Endpoints, platform: Platform, state_dir: Path) -> None:
    urls = "\n".join(f"  {n:<10} {p.url}   (health: {p.url}/health)" for n, p in platform.procs.items()
                     if n in SERVICE_PORTS)
    gw = platform.procs.get("devgateway")
    gateway = (f"  gateway    {gw.url}/   (every SMS and webhook notify sent, quiet hours off; "
               f"{gw.url}/deliveries.json)\n" if gw else "")
    typer.echo(f"""
yima 一码解纠纷 is running.
{urls}
{gateway}  kafka      {endpoints.kafka_bootstrap}
  mongodb    {endpoints.mongo_url}
{kafka_banner(endpoints, state_dir / "infra" / "kafka" / "credentials.json")}
  logs       {state_dir / "logs"}
  pids       {state_dir / "run"}/<name>.pid   (e.g. kill -9 $(cat {state_dir / "run" / "notify.pid"}): restarted)

Try it:
  curl -s -X POST {platform.procs["intake"].url}/api/v1/cases -H 'Content-Type: application/json' \\
    -d '{{"channel":"self_service","applicant":{{"name":"张三","phone":"13812345678"}},
         "description":"楼上邻居家漏水把我家天花板泡坏了","location":{{"unit_code":"410105001001"}}}}'
  ./yima topic-dump unit.410105001001.cases     # the community's own topic (work orders)
  curl -s '{platform.procs["intake"].url}/api/v1/track/<tracking_code>?check=5678'
  {platform.procs["intake"].url}/track                       the applicant's tracking page (code + last 4 digits)
  {platform.procs["console"].url}/console                 the staff console (e.g. jsq-ldtj-01 / Yima#Demo2026)
  {platform.procs["insight"].url}/dashboard             the one table 一张表 (e.g. 410105-06 / Yima#Demo2026)
  (a seeded account must change that password first: POST {platform.procs["routing"].url}/api/v1/auth/password
   {{"current_password", "new_password"}} with the login's token; every other staff call answers 403 until then)

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
