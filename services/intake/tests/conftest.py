"""A live intake server (uvicorn in a thread) for the tests that speak real HTTP: schemathesis and the browser."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn


@dataclass
class LiveIntake:
    url: str
    app: object


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live_intake(yima_infra) -> Iterator[LiveIntake]:
    from yima_intake.app import create_app
    from yima_intake.config import IntakeSettings

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    settings = IntakeSettings(
        kafka_bootstrap=yima_infra.kafka_bootstrap, mongo_url=yima_infra.mongo_url,
        mongo_db_prefix=f"live{uuid.uuid4().hex[:6]}_", public_base_url=url, submit_rate_per_minute=100000,
    )
    app = create_app(settings, consume=False, relay=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("intake did not start")
        time.sleep(0.05)
    try:
        yield LiveIntake(url, app)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
