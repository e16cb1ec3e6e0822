"""Topic administration. Topics are created by the project (auto-creation is off on every broker we run)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from .kafka_auth import KafkaAuth, client_kwargs

DEFAULT_PARTITIONS = 6
# How long a message stays on a topic the project creates (docs/retention.md): deleted by time, never compacted.
# Messages carry personal data in clear (case.submitted, the units' work orders, dead letters), so the bound is
# explicit rather than the broker's default: a segment rolls after a day at the latest and goes once its newest
# message is 7 days old, so nothing stays longer than about 8 days. The processed-events ledger (90 days) outlives
# it, as it must (ADR 0004).
TOPIC_RETENTION_MS = 7 * 24 * 3600 * 1000
TOPIC_SEGMENT_MS = 24 * 3600 * 1000
TOPIC_CONFIGS: dict[str, str] = {
    "cleanup.policy": "delete",
    "retention.ms": str(TOPIC_RETENTION_MS),
    "segment.ms": str(TOPIC_SEGMENT_MS),
}
METADATA_TIMEOUT_S = 60.0


async def ensure_topics(
    bootstrap: str,
    names: Iterable[str],
    partitions: int = DEFAULT_PARTITIONS,
    *,
    replication_factor: int = 1,
    leader_wait_s: float = METADATA_TIMEOUT_S,
    auth: KafkaAuth | None = None,
) -> None:
    """Create the topics in ``names`` that do not exist yet, then wait until every one of them has a
    leader for each partition (a topic is usable only then). New topics get :data:`TOPIC_CONFIGS`; existing
    topics are left as they are.
    ``auth``: the credentials (None: the ``YIMA_KAFKA_…`` environment)."""
    wanted = sorted(set(names))
    if not wanted:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_kwargs(auth))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if missing:
            new = [NewTopic(name, partitions, replication_factor, topic_configs=dict(TOPIC_CONFIGS))
                   for name in missing]
            _raise_for_topic_errors(await admin.create_topics(new))
        await _wait_for_leaders(admin, wanted, leader_wait_s)
    finally:
        await admin.close()


def _raise_for_topic_errors(response: Any) -> None:
    # Another process may create the same topic between our list and create calls: that is fine.
    for topic, code, *message in response.topic_errors:
        error = for_code(code) if code else None
        if error is not None and error is not TopicAlreadyExistsError:
            detail = message[0] if message and message[0] else error.__name__
            raise error(f"could not create topic {topic!r}: {detail}")


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str], wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    while True:
        described = await admin.describe_topics(names)
        pending = [t["topic"] for t in described if not _has_leaders(t)]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics without partition leaders after {wait_s:.0f} s: {pending}")
        await asyncio.sleep(0.1)


def _has_leaders(topic: dict[str, Any]) -> bool:
    partitions = topic.get("partitions") or []
    return (
        topic.get("error_code") == 0
        and bool(partitions)
        and all(p["error_code"] == 0 and p["leader"] >= 0 for p in partitions)
    )
