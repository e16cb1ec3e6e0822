"""``yima-dev attacks``: replay issue 14's attacks from outside against a running platform (``./yima run``)
and print one line per attack — ``refused`` or ``NOT refused`` — with the evidence (docs/security-replay.md).

It speaks to the platform only as an outsider would: HTTP to the services' URLs, Kafka with a department's and
the operator's credentials (those ``./yima run`` prints; the local stack's credentials file), the database
only to read what an attacker with a backup would see (outbox documents, the audit head), and the operator's
own ``yima-routing bootstrap-admin`` to enrol the first admin's TOTP (as a new district does). It writes cases,
staff passwords and TOTP secrets of the demo directory: run it against a demo platform, never a real one.

The pure parts (TOTP codes, how an answer is judged, the output line) are tested in tools/devstack/tests.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from .. import kafka_security
from .._aio import run_sync
from ..app import app
from ..services import SERVICE_PORTS
from .judge import (
    Outcome,
    deployment_files_production,
    free_of,
    lockout_verdict,
    secret_of,
    throttle_verdict,
    totp_code,
)
from .replay import Replay
from .session import Target

__all__ = ["Outcome", "Replay", "Target", "attacks", "deployment_files_production", "free_of", "local_target",
           "lockout_verdict", "secret_of", "throttle_verdict", "totp_code"]


def local_target(state_dir: Path = Path(".local"), repo: Path = Path(".")) -> Target:
    """The URLs, credentials and database of ``./yima run`` (YIMA_REPLAY_<SERVICE>_URL etc. override)."""
    urls = {n: os.environ.get(f"YIMA_REPLAY_{n.upper()}_URL", f"http://127.0.0.1:{p}")
            for n, p in SERVICE_PORTS.items()}
    users = kafka_security.Credentials(state_dir / "infra" / "kafka" / "credentials.json").load()
    return Target(urls=urls, gateway=os.environ.get("YIMA_REPLAY_GATEWAY_URL", "http://127.0.0.1:8025"),
                  kafka=os.environ.get("YIMA_KAFKA_BOOTSTRAP", "127.0.0.1:9092"), kafka_users=dict(users),
                  mongo_url=os.environ.get("YIMA_MONGO_URL",
                                           "mongodb://127.0.0.1:27017/?directConnection=true"),
                  db_prefix=os.environ.get("YIMA_MONGO_DB_PREFIX", ""), repo=repo)


@app.command("attacks")
def attacks(
    state_dir: Annotated[Path, typer.Option(help="the state directory of ./yima run (Kafka credentials)")] = Path(
        ".local"),
) -> None:
    """Replay issue 14's attacks against the running platform (./yima run) and print one line per attack.
    Writes demo data (cases, staff passwords, TOTP): never against a real deployment. Exit 1 if any is not
    refused."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # the broker's refusals are the evidence, said once
    outcomes = run_sync(Replay(local_target(state_dir), accounts_file=state_dir / "replay-accounts.json").run())
    bad = [o for o in outcomes if o.refused is False]
    typer.echo(f"\n{len(outcomes)} attacks: {sum(o.refused is True for o in outcomes)} refused, {len(bad)} NOT "
               f"refused, {sum(o.refused is None for o in outcomes)} not replayed")
    if bad:
        raise typer.Exit(1)
