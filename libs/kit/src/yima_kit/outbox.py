"""Transactional outbox (producing side of at-least-once).

A service writes its state change and the events it promises in ONE Mongo transaction; the relay
publishes the outbox in order and marks each entry published. A crash between the write and the
publish loses nothing: the relay finds the entry on restart. A crash after the publish and before the
mark re-publishes; consumers are idempotent by ``event_id``.

Only one relay per service publishes at a time (a lease in Mongo), so per-case order is kept even
with several replicas.

Idle cost (ADR 0060): the relay sleeps until a unit of work of its own process commits an entry
(:meth:`Outbox.committed`), else it looks again after a wait that doubles from ``poll_seconds`` up to
``idle_max_seconds`` (entries written by another process of the service wait at most that long). The
lease is renewed by ``_id`` only when half of it has run out, never on every round.

Cost (ADR 0212): an entry's ``_id`` is its sequence (an ObjectId, increasing within this process), so the
collection has ONE index and holds only what is not yet published; the relay reads the oldest entries by ``_id``
and DELETES the acknowledged ones in one call. (Before, a published entry was updated — its published time set,
its payload removed — kept under three indexes and removed by a TTL index after 30 days: every entry cost an
insert under three indexes, an update of two and a later delete. Kafka keeps what was published; the outbox
keeps what is not yet.) Nothing with personal data outlives its publication here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from faststream.kafka import KafkaBroker
from opentelemetry.trace import SpanKind
from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure
from yima_contracts import Event, headers

from . import metrics, tracing
from .logging import get_logger

log = get_logger(__name__)

OUTBOX = "outbox"
LEASES = "leases"
# the earlier layout's indexes (ADR 0212 migrates from it)
_OLD_PENDING_INDEX = "published_at_1_seq_1"
_OLD_TTL_INDEX = "published_ttl"


@dataclass(frozen=True)
class Outgoing:
    topic: str
    event: Event
    trace: dict[str, str] | None = None  # the trace context when it was emitted (else: the one at staging)


def kafka_headers(event: Event) -> dict[str, str]:
    return {
        headers.EVENT_TYPE: event.event_type,
        headers.EVENT_ID: str(event.event_id),
        headers.CORRELATION_ID: event.correlation_id,
    }


class Outbox:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self._col = db[OUTBOX]
        self.collection = self._col
        self.wakeup = asyncio.Event()

    async def setup(self) -> None:
        await self._migrate()
        # The lease's renew ({_id, owner}) and take-over ({_id, expires_at}) filters: the MongoDB-wire stand-in's
        # planner uses an index only when it holds every field of the filter (ADR 0060).
        leases = self._col.database[LEASES]
        await leases.create_index([("_id", ASCENDING), ("owner", ASCENDING)])
        await leases.create_index([("_id", ASCENDING), ("expires_at", ASCENDING)])

    async def _migrate(self) -> None:
        """An outbox of the earlier layout (ADR 0212): its published rows go, each unpublished row is written again
        under its sequence as ``_id`` (same order), and the two indexes of that layout are dropped. Idempotent;
        nothing to do (one ``listIndexes``) once done."""
        names = {i["name"] async for i in await self._col.list_indexes()}
        old = [n for n in (_OLD_PENDING_INDEX, _OLD_TTL_INDEX) if n in names]
        if not old:
            return
        await self._col.delete_many({"published_at": {"$ne": None}})
        async for d in self._col.find({"published_at": None}).sort("seq", ASCENDING):
            if isinstance(d["_id"], ObjectId):
                continue
            moved = {**d, "_id": d.get("seq") or ObjectId()}
            moved.pop("published_at", None)
            with contextlib.suppress(DuplicateKeyError):
                await self._col.insert_one(moved)
            await self._col.delete_one({"_id": d["_id"]})
        for name in old:
            with contextlib.suppress(OperationFailure):
                await self._col.drop_index(name)

    async def add(self, session: AsyncClientSession, items: list[Outgoing]) -> None:
        """Stage events inside the caller's transaction, each carrying the current trace context in its
        headers (``traceparent``, ``tracestate``); the relay publishes them as they are. Staged outside any
        span (a background sweep), the events start a trace of their own."""
        if not items:
            return
        if tracing.has_active_span():
            await self._insert(session, items)
            return
        with tracing.tracer().start_as_current_span(f"{items[0].topic} create", kind=SpanKind.PRODUCER):
            await self._insert(session, items)

    async def _insert(self, session: AsyncClientSession, items: list[Outgoing]) -> None:
        trace_headers: dict[str, str] = {}
        tracing.inject(trace_headers)
        docs = [
            {
                "_id": ObjectId(),  # the sequence: increasing within this process, keeps a case's events in order
                "topic": o.topic,
                "key": o.event.case_id,
                "event_type": o.event.event_type,
                "payload": o.event.model_dump_json(),
                "headers": {**kafka_headers(o.event), **(o.trace or trace_headers)},
                "created_at": datetime.now(UTC),
            }
            for o in items
        ]
        await self._col.insert_many(docs, session=session, ordered=True)

    def committed(self) -> None:
        """Entries were committed in this process: wake the relay (the unit of work calls this after commit;
        waking it before would let it look before the entries are visible)."""
        self.wakeup.set()

    async def pending(self, limit: int) -> list[dict[str, Any]]:
        """The oldest unpublished entries, in order (everything in the collection is unpublished)."""
        # hinted: the stand-in's planner scans and sorts the whole collection for an empty filter (a long backlog
        # after an outage would be read whole on every round); the _id index walks the oldest ones in order
        cursor = self._col.find({}).sort("_id", ASCENDING).hint([("_id", ASCENDING)]).limit(limit)
        return [d async for d in cursor]

    async def mark_published(self, ids: list[Any]) -> None:
        """Acknowledged by the broker: gone (one call for the round)."""
        await self._col.delete_many({"_id": {"$in": ids}})


class Lease:
    """A named lease in Mongo: at most one holder at a time; expires if the holder dies.

    Cheap to hold: while more than half of it is left (by this process's monotonic clock) ``acquire`` answers
    without the database; then it renews with an update by ``_id`` and owner. Only a process that does not
    hold it asks for an expired one (or creates it)."""

    def __init__(self, db: AsyncDatabase[Any], name: str, ttl: timedelta = timedelta(seconds=10)) -> None:
        self._col = db[LEASES]
        self.name = name
        self.ttl = ttl
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"
        self._renewed_at: float | None = None  # monotonic time of our last successful write of the lease

    def _left(self) -> float:
        if self._renewed_at is None:
            return 0.0
        return self.ttl.total_seconds() - (time.monotonic() - self._renewed_at)

    async def acquire(self) -> bool:
        if self._left() > self.ttl.total_seconds() / 2:
            return True
        started = time.monotonic()
        now = datetime.now(UTC)
        mine = {"$set": {"owner": self.owner, "expires_at": now + self.ttl}}
        self._renewed_at = None
        # 1. ours (held, or lapsed while we were idle and nobody took it): renew by _id and owner
        if (await self._col.update_one({"_id": self.name, "owner": self.owner}, mine)).matched_count:
            self._renewed_at = started
            return True
        # 2. someone else's that expired: take it over
        if await self._col.find_one_and_update({"_id": self.name, "expires_at": {"$lt": now}}, mine,
                                               projection={"_id": 1}) is not None:
            self._renewed_at = started
            return True
        # 3. nobody's yet
        try:
            await self._col.insert_one({"_id": self.name, "owner": self.owner, "expires_at": now + self.ttl})
        except DuplicateKeyError:
            return False  # someone else holds it
        self._renewed_at = started
        return True

    async def release(self) -> None:
        self._renewed_at = None
        await self._col.delete_one({"_id": self.name, "owner": self.owner})


class OutboxRelay:
    def __init__(self, outbox: Outbox, broker: KafkaBroker, lease: Lease, poll_seconds: float = 0.5,
                 idle_max_seconds: float = 10.0, gather_seconds: float = 0.0) -> None:
        self._outbox = outbox
        self._broker = broker
        self._lease = lease
        self._poll = poll_seconds
        self._idle_max = max(idle_max_seconds, poll_seconds)
        # a round woken by a commit waits until this long after the previous round began: the commits of a busy
        # process meanwhile are published and marked together (one read, one update) instead of one round each
        self._gather = gather_seconds
        self.batch = 200
        self._task: asyncio.Task[None] | None = None
        self._follower: asyncio.Task[None] | None = None

    async def publish_pending(self, batch: int = 200) -> int:
        """Publish one batch in order; returns how many were published (acknowledged and marked).

        Pipelined (ADR 0171): every entry of the round is handed to the producer without waiting for the broker
        between them, then the acknowledgements are awaited together and every acknowledged entry is marked in
        one update. The producer keeps a partition's order with several sends outstanding (aiokafka sends at
        most one request per broker at a time and retries a failed batch before the next; idempotent, acks=all).
        A send that fails stops the round's sending (what follows is not handed over); an entry is marked only
        once acknowledged and only if no earlier entry of its key failed in this round, so the next round
        resends a case's events from its first unacknowledged one. The round's first failure is raised after
        the marking."""
        entries = await self._outbox.pending(batch)
        sent: list[tuple[dict[str, Any], asyncio.Future[Any]]] = []
        error: BaseException | None = None
        try:
            for e in entries:
                future = await self._broker.publish(
                    e["payload"].encode(),
                    topic=e["topic"],
                    key=e["key"].encode(),
                    headers={**e["headers"], "content-type": "application/json"},
                    no_confirm=True,
                )
                sent.append((e, future))
        except Exception as exc:  # not handed to the producer (too large, no metadata, …): later ones wait
            error = exc
        acks = await asyncio.gather(*(f for _, f in sent), return_exceptions=True)
        done: list[Any] = []
        failed_keys: set[str] = set()
        for (e, _), ack in zip(sent, acks, strict=True):
            if isinstance(ack, BaseException):
                failed_keys.add(e["key"])
                error = error or ack
            elif e["key"] not in failed_keys:
                done.append(e["_id"])
                metrics.OUTBOX_PUBLISHED.labels(e["topic"]).inc()
        if done:
            await self._outbox.mark_published(done)
        if error is not None:
            raise error
        return len(done)

    async def run_forever(self) -> None:
        wait = self._poll
        began = 0.0
        loop = asyncio.get_running_loop()
        while True:
            if self._gather and (left := began + self._gather - loop.time()) > 0:
                await asyncio.sleep(left)
            began = loop.time()
            # Cleared BEFORE the round: a commit during the round sets it again and the wait below returns at once.
            self._outbox.wakeup.clear()
            try:
                if await self._lease.acquire():
                    n = await self.publish_pending(self.batch)
                    if n >= self.batch:
                        continue  # more are waiting: drain before sleeping
                    if n:
                        # Less than a batch: all there was. A commit meanwhile has set the wake-up, so the wait
                        # below returns at once; otherwise no empty look right after.
                        wait = self._idle_max
                else:
                    wait = self._idle_max  # another replica publishes; look again when its lease could lapse
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database down: keep trying, never lose the entries
                log.warning("outbox relay round failed", error=type(exc).__name__, detail=str(exc)[:200])
            try:
                await asyncio.wait_for(self._outbox.wakeup.wait(), timeout=wait)
                wait = self._poll  # woken by a commit of this process
            except TimeoutError:
                wait = min(wait * 2, self._idle_max)  # idle: look less and less often

    async def follow_changes(self) -> None:
        """Wake the relay on every entry committed by ANY process (a change stream on the outbox), for a relay
        that runs apart from the service's API and consumers (role ``relay-outbox``). A server without change
        streams (a standalone mongod) leaves the relay to its polling."""
        while True:
            try:
                async with await self._outbox.collection.watch(
                        [{"$match": {"operationType": "insert"}}], max_await_time_ms=int(self._idle_max * 1000)
                ) as stream:
                    log.info("outbox relay follows the outbox's change stream")
                    async for _ in stream:
                        self._outbox.wakeup.set()
            except asyncio.CancelledError:
                raise
            except OperationFailure as exc:
                if exc.code in (40573, 40324, 115):  # no replica set / unsupported: poll only
                    log.warning("no change streams here: the outbox relay polls", code=exc.code)
                    return
                log.warning("outbox change stream failed; following again", error=type(exc).__name__)
            except Exception as exc:
                log.warning("outbox change stream failed; following again", error=type(exc).__name__)
            await asyncio.sleep(self._idle_max)

    def start(self, *, follow_changes: bool = False) -> None:
        self._task = asyncio.create_task(self.run_forever(), name="outbox-relay")
        if follow_changes:
            self._follower = asyncio.create_task(self.follow_changes(), name="outbox-follower")

    async def stop(self) -> None:
        if self._follower:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._follower
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self._lease.release()
