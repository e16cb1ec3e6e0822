"""Shared fixtures of the kit's integration tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from yima_kit.kafka_admin import ensure_topics
from yima_kit.settings import KitSettings


@pytest.fixture
def kit_settings(yima_infra, mongo_db_prefix) -> Callable[..., KitSettings]:
    """Settings against the test's real servers and its own databases; fast retries and relay polls."""

    def make(max_attempts: int = 3) -> KitSettings:
        return KitSettings(
            service_name="mediation",
            kafka_bootstrap=yima_infra.kafka_bootstrap,
            mongo_url=yima_infra.mongo_url,
            mongo_db_prefix=mongo_db_prefix,
            consumer_max_attempts=max_attempts,
            consumer_retry_base_seconds=0.01,
            outbox_poll_seconds=0.1,
        )

    return make


@pytest.fixture
async def topic(yima_infra) -> str:
    """A fresh topic of the test's own, and its ``.out`` companion for what the handler emits."""
    name = f"test.kit.{uuid.uuid4().hex[:8]}"
    await ensure_topics(yima_infra.kafka_bootstrap, [name, f"{name}.out"], partitions=2)
    return name
