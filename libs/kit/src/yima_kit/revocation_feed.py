"""Every replica of every service hears of revoked staff sessions (docs/adr/0130-session-revocations-broadcast.md).

Routing ends a session (logout, password change or reset, deactivation, role or unit change) and publishes
``staff.session_revoked`` through its outbox. Each process that verifies staff tokens reads that topic with a
consumer of its own — no consumer group, every partition assigned to it, so every replica sees every revocation
— and puts the session ids into its :class:`~yima_kit.auth.SessionRevocations` until their tokens expire. A
request then costs one dictionary lookup: no call to routing, no database.

At start the feed reads back ``lookback`` (longer than any token lives) so that a replica started after a
logout refuses the logged-out token too, and :meth:`RevocationFeed.start` returns only once it has caught up to
the end of the topic as it was (about one fetch wait, 0.5 s, run beside the rest of the start). Idle, it is a
Kafka long poll (``fetch_max_wait``, 0.5 s like every consumer of the platform): no database is asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from datetime import timedelta

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import ValidationError
from yima_contracts import topics
from yima_contracts.staff_events import StaffSessionRevoked

from .auth import SessionRevocations
from .kafka_auth import KafkaAuth
from .logging import get_logger

log = get_logger(__name__)

TOPIC = topics.STAFF_SESSION_REVOKED
CATCH_UP_TIMEOUT_S = 30.0


class RevocationFeedError(RuntimeError):
    """The feed cannot start (the topic is missing, the broker does not answer); the message says what to do."""


class RevocationFeed:
    def __init__(self, bootstrap: str, auth: KafkaAuth, revocations: SessionRevocations, *, service: str,
                 lookback: timedelta = timedelta(hours=2), fetch_max_wait_ms: int = 500,
                 request_timeout_ms: int = 40_000) -> None:
        self.bootstrap = bootstrap
        self.auth = auth
        self.revocations = revocations
        self.service = service
        self.lookback = lookback
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.request_timeout_ms = request_timeout_ms
        self.applied = 0  # session ids taken in (for tests and logs)
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    # --- what a message does ---------------------------------------------------------------------------

    def apply(self, values: Iterable[bytes | None]) -> int:
        """Take the revocations in raw message values; an unreadable one is logged and skipped (nobody else
        could do more with it: the topic is written by routing alone). Returns the session ids taken in."""
        n = 0
        for value in values:
            if not value:
                continue
            try:
                event = StaffSessionRevoked.model_validate_json(value)
            except ValidationError as exc:
                log.warning("unreadable session revocation skipped", topic=TOPIC, errors=exc.error_count())
                continue
            until = event.valid_until.timestamp()
            for sid in event.session_ids:
                self.revocations.revoke(sid, until)
                n += 1
        self.applied += n
        return n

    # --- running ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Take every partition, read back ``lookback`` and return once caught up; then follow in the
        background."""
        started = time.monotonic()
        # Subscribed without a group: every partition is this consumer's, and no other replica shares them.
        consumer = AIOKafkaConsumer(
            TOPIC, bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
            auto_offset_reset="latest", client_id=f"yima-{self.service}-revocations",
            fetch_max_wait_ms=self.fetch_max_wait_ms, request_timeout_ms=self.request_timeout_ms,
            **self.auth.client_kwargs())
        try:
            await consumer.start()
        except KafkaError as exc:
            await consumer.stop()
            raise RevocationFeedError(
                f"cannot read Kafka topic {TOPIC} ({type(exc).__name__}): create the platform topics "
                "(yima_contracts.topics.PLATFORM_TOPICS) and give this service's principal Read on it") from exc
        self._consumer = consumer
        try:
            await self._catch_up(consumer, started)
        except BaseException:
            self._consumer = None
            await consumer.stop()
            raise
        self._task = asyncio.create_task(self._follow(consumer), name="revocation-feed")

    async def _catch_up(self, consumer: AIOKafkaConsumer, started: float) -> None:
        tps = sorted(consumer.assignment())
        since_ms = int((time.time() - self.lookback.total_seconds()) * 1000)
        found = await consumer.offsets_for_times({tp: since_ms for tp in tps})
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            at = found.get(tp)
            consumer.seek(tp, at.offset if at is not None else ends[tp])
        n = 0
        while True:
            behind = [tp for tp in tps if await consumer.position(tp) < ends[tp]]
            if not behind:
                break
            if time.monotonic() - started > CATCH_UP_TIMEOUT_S:
                raise RevocationFeedError(f"could not read {TOPIC} back within {CATCH_UP_TIMEOUT_S:.0f} s")
            batch = await consumer.getmany(*behind, timeout_ms=1000)
            n += self.apply(m.value for records in batch.values() for m in records)
        log.info("session revocations read back", sessions=n, partitions=len(tps),
                 ms=round((time.monotonic() - started) * 1000))

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            try:
                batch = await consumer.getmany(timeout_ms=60_000)
                if n := self.apply(m.value for records in batch.values() for m in records):
                    log.info("sessions revoked", sessions=n)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("session revocation feed failed; retrying")
                await asyncio.sleep(1.0)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._consumer.stop()
            self._consumer = None

    # --- the AsyncAPI document --------------------------------------------------------------------------

    def spec_broker(self) -> KafkaBroker:
        """A broker that is never started, holding this feed's subscription: the AsyncAPI generator puts it
        in the document (and the Kafka ACLs derived from it give the service's principal Read on the topic)."""
        return spec_broker(self.service)


def spec_broker(service: str) -> KafkaBroker:
    broker = KafkaBroker()

    async def on_session_revoked(msg: KafkaMessage) -> None:  # pragma: no cover - never started
        """Not run: the feed reads the topic itself."""

    broker.subscriber(TOPIC, title=f"{service}:{SPEC_NAME}", description=SPEC_DESCRIPTION)(on_session_revoked)
    return broker


SPEC_NAME = "session_revoked"
SPEC_DESCRIPTION = ("每个服务的每个副本（不加入消费组，读取全部分区）记下被撤销的会话，直至其令牌过期，期间拒绝这些令牌"
                    "（退出登录、修改或重置密码、停用、调岗）。Every replica of every service (no consumer group, "
                    "every partition) refuses the tokens of these sessions until they expire.")
