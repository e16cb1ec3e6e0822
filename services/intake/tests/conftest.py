"""A live intake server (uvicorn in a thread) for the tests that speak real HTTP: schemathesis and the browser."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from yima_devstack.live import free_port, serve_in_thread


@dataclass
class LiveIntake:
    url: str
    app: object


@pytest.fixture(scope="module")
def live_intake(yima_infra) -> Iterator[LiveIntake]:
    from yima_intake.app import create_app
    from yima_intake.config import IntakeSettings

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = IntakeSettings(
        kafka_bootstrap=yima_infra.kafka_bootstrap, mongo_url=yima_infra.mongo_url,
        mongo_db_prefix=f"live{uuid.uuid4().hex[:6]}_", public_base_url=url, submit_rate_per_minute=100000,
    )
    app = create_app(settings, consume=False, relay=False)
    with serve_in_thread(app, port=port, name="intake"):
        yield LiveIntake(url, app)
