"""Every replica of every service hears of revoked staff sessions (docs/adr/0130-session-revocations-broadcast.md,
docs/adr/0132-revocation-feed-never-blocks.md).

Routing ends a session (logout, password change or reset, deactivation, role or unit change) and publishes
``staff.session_revoked`` through its outbox. Each process that verifies staff tokens reads that topic with a
plain consumer of its own — no consumer group, no subscription, no commits: it is *assigned* every partition, so
every replica sees every revocation and no group coordinator is asked — and puts the session ids into its
:class:`~yima_kit.auth.SessionRevocations` until their tokens expire. A request costs one dictionary lookup.

The feed never holds up a start: :meth:`RevocationFeed.start` only launches a background task that connects
(retrying with a growing pause, 0.5 s up to 30 s, while Kafka or the topic is not there), seeks to ``now −
lookback`` (longer than any token lives), reads up to the end offsets it found — then it is *caught up* — and
follows with a Kafka long poll. Until it is caught up a token is checked as before the broadcast existed:
signature, audience, issuer, expiry, idle expiry and the revocations already read (routing, which revokes, also
refuses its own revocations at once). That window is at most a token's lifetime and is visible: ``state`` is
reported by ``/health`` (``revocations``), and a warning is logged while the feed cannot connect.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from datetime import timedelta
from typing import Literal

from aiokafka import AIOKafkaConsumer, TopicPartition
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
State = Literal["stopped", "connecting", "catching_up", "caught_up"]


class RevocationFeedError(RuntimeError):
    """The feed cannot read its topic (missing, or not readable by this principal); the message says what to do."""


class RevocationFeed:
    def __init__(self, bootstrap: str, auth: KafkaAuth, revocations: SessionRevocations, *, service: str,
                 lookback: timedelta = timedelta(hours=2), fetch_max_wait_ms: int = 500,
                 request_timeout_ms: int = 40_000, retry_initial_s: float = 0.5, retry_max_s: float = 30.0) -> None:
        self.bootstrap = bootstrap
        self.auth = auth
        self.revocations = revocations
        self.service = service
        self.lookback = lookback
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.request_timeout_ms = request_timeout_ms
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.applied = 0  # session ids taken in (for tests and logs)
        self.state: State = "stopped"
        self.attempts = 0  # failed connections since the last success
        self.last_error = ""
        self._caught_up = asyncio.Event()
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
        """Launch the feed in the background and return at once (nothing here waits for Kafka)."""
        if self._task is None:
            self.state = "connecting"
            self._task = asyncio.create_task(self._run(), name=f"{self.service}-revocation-feed")

    @property
    def caught_up(self) -> bool:
        return self._caught_up.is_set()

    async def wait_caught_up(self, timeout: float) -> bool:
        """True once the feed has read back what was on the topic when it connected (for tests and tools)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._caught_up.wait(), timeout)
        return self.caught_up

    def status(self) -> dict[str, object]:
        """What ``/health`` shows (informative: the service answers whatever the feed's state)."""
        out: dict[str, object] = {"state": self.state, "sessions": len(self.revocations)}
        if self.state == "connecting" and self.attempts:
            out |= {"attempts": self.attempts, "error": self.last_error}
        return out

    async def _run(self) -> None:
        pause = self.retry_initial_s
        while True:
            consumer = self._consumer()
            try:
                await self._connect_and_follow(consumer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker or the topic is not there (yet): try again, later each time
                self.attempts += 1
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                self.state = "connecting"
                if self.attempts == 1 or self.attempts % 10 == 0:
                    log.warning("session revocation feed not connected; tokens are checked without it meanwhile",
                                topic=TOPIC, attempts=self.attempts, error=self.last_error, retry_in_s=pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, self.retry_max_s)
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()

    def _consumer(self) -> AIOKafkaConsumer:
        # No topics given and no group: nothing subscribes, nothing joins, nothing commits.
        return AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
            auto_offset_reset="earliest", client_id=f"yima-{self.service}-revocations",
            fetch_max_wait_ms=self.fetch_max_wait_ms, request_timeout_ms=self.request_timeout_ms,
            **self.auth.client_kwargs())

    async def _connect_and_follow(self, consumer: AIOKafkaConsumer) -> None:
        started = time.monotonic()
        await consumer.start()
        await consumer._client.add_topic(TOPIC)  # metadata for the one topic (no subscription to ask for it)
        partitions = consumer.partitions_for_topic(TOPIC)
        if not partitions:
            raise RevocationFeedError(
                f"Kafka topic {TOPIC} is missing or not readable: create the platform topics "
                "(yima_contracts.topics.PLATFORM_TOPICS) and give this service's principal Read on it")
        tps = [TopicPartition(TOPIC, p) for p in sorted(partitions)]
        consumer.assign(tps)
        self.state = "catching_up"
        n = await self._catch_up(consumer, tps)
        self.state, self.attempts = "caught_up", 0
        self._caught_up.set()
        log.info("session revocations read back", sessions=n, partitions=len(tps),
                 ms=round((time.monotonic() - started) * 1000))
        while True:
            batch = await consumer.getmany(timeout_ms=60_000)
            if n := self.apply(m.value for records in batch.values() for m in records):
                log.info("sessions revoked", sessions=n)

    async def _catch_up(self, consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> int:
        """Seek to ``now − lookback`` and read up to the end offsets as they are now."""
        since_ms = int((time.time() - self.lookback.total_seconds()) * 1000)
        found = await consumer.offsets_for_times({tp: since_ms for tp in tps})
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            at = found.get(tp)
            consumer.seek(tp, at.offset if at is not None else ends[tp])
        n = 0
        while behind := [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(*behind, timeout_ms=1000)
            n += self.apply(m.value for records in batch.values() for m in records)
        return n

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        self.state = "stopped"
        self._caught_up.clear()

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
