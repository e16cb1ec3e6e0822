"""Unit topics (``unit.<code>.cases`` and ``unit.<code>.feedback``) are created on demand: see
docs/adr/0021-unit-topics-on-demand.md and docs/adr/0071-per-unit-feedback-topics.md.

The outbox relay cannot create topics (it only publishes), so the assignment use case makes sure the target
unit's topic exists *before* it stages the work order. Creating a topic is idempotent, so a retried or aborted
transaction leaves at worst an empty topic behind. Known topics are cached per process.
"""

from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient
from yima_contracts import topics
from yima_kit.kafka_admin import ensure_topics
from yima_kit.kafka_auth import KafkaAuth, client_kwargs
from yima_kit.logging import get_logger

log = get_logger(__name__)


class UnitTopics:
    def __init__(self, bootstrap: str, partitions: int, attempts: int = 6, auth: KafkaAuth | None = None) -> None:
        self.bootstrap = bootstrap
        self.auth = auth
        self.attempts = attempts
        self.partitions = partitions
        self.known: set[str] = set()
        self._lock = asyncio.Lock()

    async def load_existing(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, **client_kwargs(self.auth))
        await admin.start()
        try:
            self.known.update(t for t in await admin.list_topics() if t.startswith("unit."))
        finally:
            await admin.close()

    async def ensure(self, unit_code: str) -> None:
        await self.ensure_many([unit_code])

    async def ensure_many(self, unit_codes: list[str]) -> None:
        # A unit's work orders and its answers: the feedback topic exists before its first work order arrives.
        wanted = [t for c in unit_codes for t in (topics.unit_topic(c), topics.unit_feedback_topic(c))]
        if all(t in self.known for t in wanted):
            return
        async with self._lock:
            missing = [t for t in wanted if t not in self.known]
            if not missing:
                return
            for attempt in range(self.attempts):
                try:
                    await ensure_topics(self.bootstrap, missing, partitions=self.partitions, auth=self.auth)
                    break
                except Exception:
                    # The broker blinked: retry here, so a case is not dead-lettered for it (the consumer
                    # would count these as the message's failures).
                    if attempt + 1 >= self.attempts:
                        raise
                    log.warning("unit topic creation failed, retrying", topics=missing, attempt=attempt + 1)
                    await asyncio.sleep(min(8.0, 0.5 * 2 ** attempt))
            self.known.update(missing)
