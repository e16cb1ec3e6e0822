"""``yima-dev``: infrastructure commands.

Commands are registered on the shared Typer app of ``app.py``. To add commands from another module
(e.g. ``platform.py`` with ``run`` / ``asyncapi``), define them there on ``from .app import app`` and add
one import at the bottom of this file; the console script points at ``yima_devstack.cli:app``, so
importing this module is what registers everything.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Annotated

import typer
from yima_kit.kafka_auth import ENV_PROTOCOL, KafkaAuth

from . import kafka_security
from ._aio import run_sync
from .app import app
from .infra import InfraError, LocalInfra
from .topics import ensure_topics, platform_topics

DEFAULT_STATE_DIR = Path(".local/infra")

StateDir = Annotated[Path, typer.Option("--state-dir", help="Where PID files, logs and data live.")]


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=1)


def local_kafka_auth(principal: str, state_dir: Path = DEFAULT_STATE_DIR) -> KafkaAuth:
    """Credentials for a command-line tool: those of the ``YIMA_KAFKA_…`` environment when it names a
    security protocol, else ``principal``'s of the local stack (``./yima run``), else none (PLAINTEXT)."""
    if os.environ.get(ENV_PROTOCOL):
        return KafkaAuth.from_env()
    passwords = kafka_security.Credentials(state_dir / "kafka" / "credentials.json").load()
    if principal in passwords:
        return KafkaAuth.scram(principal, passwords[principal])
    return KafkaAuth.from_env()


def _print_env(env: dict[str, str]) -> None:
    for key, value in env.items():
        typer.echo(f"{key}={shlex.quote(value)}")


@app.command("infra-install")
def infra_install() -> None:
    """Install Java/Maven if missing, the Kafka jars and the SecantusDB virtualenv (idempotent)."""
    try:
        LocalInfra(DEFAULT_STATE_DIR).install()
    except InfraError as exc:
        raise _fail(exc) from exc
    typer.echo("installed", err=True)


@app.command("infra-up")
def infra_up(
    state_dir: StateDir = DEFAULT_STATE_DIR,
    kafka_port: Annotated[int, typer.Option(help="Kafka listener port on 127.0.0.1.")] = 9092,
    mongo_port: Annotated[int, typer.Option(help="MongoDB-protocol port on 127.0.0.1.")] = 27017,
) -> None:
    """Install if needed, start Kafka + the MongoDB-protocol server, create the platform topics.

    Prints only KEY=VALUE lines on stdout (values shell-quoted: the Mongo URL holds '&'), so
    `eval "$(yima-dev infra-up)"` works; progress goes to stderr.
    """
    infra = LocalInfra(state_dir, kafka_port=kafka_port, mongo_port=mongo_port)
    try:
        infra.install()
        endpoints = infra.start()
        run_sync(ensure_topics(endpoints.kafka_bootstrap, platform_topics(), auth=endpoints.kafka_auth()))
    except (InfraError, TimeoutError) as exc:
        raise _fail(exc) from exc
    typer.echo(f"infrastructure running; state in {infra.state_dir}", err=True)
    _print_env(endpoints.as_env())


@app.command("infra-down")
def infra_down(state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Stop the servers started from --state-dir (by their PIDs). Data is kept."""
    LocalInfra(state_dir).stop()
    typer.echo("stopped", err=True)


@app.command("infra-status")
def infra_status(state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Show whether the servers of --state-dir run; exit code 1 if any does not."""
    status = LocalInfra(state_dir).status()
    for server in status.servers:
        state = "running" if server.running else "stopped"
        typer.echo(f"{server.name}: {state}" + (f" (pid {server.pid})" if server.pid else ""))
    if status.endpoints is not None:
        _print_env(status.endpoints.as_env())
    if not status.running:
        raise typer.Exit(code=1)


@app.command("topics-create")
def topics_create(
    names: Annotated[list[str], typer.Argument(help="Topic names.")],
    bootstrap: Annotated[str, typer.Option(envvar="YIMA_KAFKA_BOOTSTRAP")] = "127.0.0.1:9092",
    partitions: int = 6,
) -> None:
    """Create the given topics if they do not exist (replication factor 1), as the super user of the local
    stack (or with the YIMA_KAFKA_… credentials of the environment)."""
    try:
        run_sync(ensure_topics(bootstrap, names, partitions, auth=local_kafka_auth(kafka_security.ADMIN)))
    except Exception as exc:  # aiokafka raises many unrelated types; the message is what matters here
        raise _fail(exc) from exc
    typer.echo(f"ok: {' '.join(names)}", err=True)


@app.command("topic-dump")
def topic_dump(
    topic: Annotated[str, typer.Argument(help="e.g. unit.410105001001.cases, case.status, dlq.routing")],
    bootstrap: Annotated[str, typer.Option(envvar="YIMA_KAFKA_BOOTSTRAP")] = "127.0.0.1:9092",
    key: Annotated[str | None, typer.Option(help="only the records of this key (a case id)")] = None,
) -> None:
    """Print a topic's records from the beginning, one per line (what a department's system would read);
    no kcat needed. Reads as the local stack's read-only operator (or with the YIMA_KAFKA_… credentials of
    the environment)."""
    from .kafka_tools import dump_topic  # aiokafka only for this command

    try:
        records = run_sync(dump_topic(bootstrap, topic, auth=local_kafka_auth(kafka_security.OPERATOR)))
    except Exception as exc:  # a missing topic, an unreachable broker: the message says which
        raise _fail(exc) from exc
    for r in records:
        k = r.key.decode(errors="replace") if r.key else ""
        if key is None or k == key:
            typer.echo(f"{r.partition}:{r.offset} {k} {r.value.decode(errors='replace') if r.value else ''}")


@app.command("kafka-acls")
def kafka_acls() -> None:
    """Print the platform's Kafka principals and ACLs as arguments of Kafka's kafka-acls.sh --add (for an
    operator setting up a cluster; the local stack applies them itself). Departments still answering on the
    deprecated case.feedback: YIMA_KAFKA_LEGACY_FEEDBACK_UNITS=<code>,… (docs/adr/0070, 0071)."""
    plan = kafka_security.acl_plan(kafka_security.load_asyncapi(), kafka_security.demo_departments(),
                                   kafka_security.legacy_feedback_units())
    for acl in plan:
        typer.echo(f"kafka-acls.sh --bootstrap-server \"$KAFKA\" --command-config admin.properties --add "
                   f"{acl.kafka_acls_args()}")


@app.command("strimzi-overlay")
def strimzi_overlay(
    check: Annotated[bool, typer.Option(help="exit 1 if the committed overlay drifted")] = False,
) -> None:
    """Write deploy/overlays/strimzi (KafkaTopics, KafkaUsers with the ACL plan, Secret patches) from the
    plan and the base (docs/adr/0096)."""
    from . import strimzi

    if check:
        stale = strimzi.drifted()
        if stale:
            typer.echo(f"{strimzi.OVERLAY_DIR} drifted ({', '.join(stale)}): run `uv run yima-dev strimzi-overlay`",
                       err=True)
            raise typer.Exit(1)
        return
    typer.echo(f"wrote {strimzi.write()}")


# Further command modules register themselves on `app` when imported, e.g.:
# from . import platform
from . import attacks, chaos, platform  # noqa: E402,F401  (registers attacks, chaos; run, asyncapi)
from .bench import bench as _bench  # noqa: E402,F401  (registers bench: the whole-platform benchmark, bench/README.md)
