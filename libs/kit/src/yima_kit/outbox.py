"""Transactional outbox (producing side of at-least-once).

A service writes its state change and the events it promises in ONE Mongo transaction; the relay
publishes the outbox in order and marks each entry published. A crash between the write and the
publish loses nothing: the relay finds the entry on restart. A crash after the publish and before the
mark re-publishes; consumers are idempotent by ``event_id``.

Only one relay per service publishes at a time (a lease in Mongo), so per-case order is kept even
with several replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from faststream.kafka import KafkaBroker
from opentelemetry.trace import SpanKind
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from yima_contracts import Event, headers

from . import metrics, tracing
from .logging import get_logger
from .mongo import ensure_ttl_index

log = get_logger(__name__)

OUTBOX = "outbox"
LEASES = "leases"


@dataclass(frozen=True)
class Outgoing:
    topic: str
    event: Event


def kafka_headers(event: Event) -> dict[str, str]:
    return {
        headers.EVENT_TYPE: event.event_type,
        headers.EVENT_ID: str(event.event_id),
        headers.CORRELATION_ID: event.correlation_id,
    }


class Outbox:
    def __init__(self, db: AsyncDatabase[Any], retention: timedelta = timedelta(days=30)) -> None:
        self._col = db[OUTBOX]
        self.wakeup = asyncio.Event()
        self.retention = retention

    async def setup(self) -> None:
        await self._col.create_index([("published_at", ASCENDING), ("seq", ASCENDING)])
        # Published rows go after the retention period (MongoDB's TTL monitor); a row not yet published has no
        # published_at and is never removed, so nothing unsent is lost.
        await ensure_ttl_index(self._col, "published_at", int(self.retention.total_seconds()), "published_ttl")

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
                "_id": f"{o.topic}|{o.event.event_id}",
                "seq": ObjectId(),  # increasing within this process: keeps a case's events in order
                "topic": o.topic,
                "key": o.event.case_id,
                "event_type": o.event.event_type,
                "payload": o.event.model_dump_json(),
                "headers": {**kafka_headers(o.event), **trace_headers},
                "created_at": datetime.now(UTC),
                "published_at": None,
            }
            for o in items
        ]
        await self._col.insert_many(docs, session=session, ordered=True)
        self.wakeup.set()

    async def pending(self, limit: int) -> list[dict[str, Any]]:
        cursor = self._col.find({"published_at": None}).sort("seq", ASCENDING).limit(limit)
        return [d async for d in cursor]

    async def mark_published(self, ids: list[str]) -> None:
        await self._col.update_many({"_id": {"$in": ids}}, {"$set": {"published_at": datetime.now(UTC)}})


class Lease:
    """A named lease in Mongo: at most one holder at a time; expires if the holder dies."""

    def __init__(self, db: AsyncDatabase[Any], name: str, ttl: timedelta = timedelta(seconds=10)) -> None:
        self._col = db[LEASES]
        self.name = name
        self.ttl = ttl
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"

    async def acquire(self) -> bool:
        now = datetime.now(UTC)
        try:
            doc = await self._col.find_one_and_update(
                {"_id": self.name, "$or": [{"owner": self.owner}, {"expires_at": {"$lt": now}}]},
                {"$set": {"owner": self.owner, "expires_at": now + self.ttl}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return False  # someone else holds it (the upsert collided with their document)
        return doc is not None and doc.get("owner") == self.owner

    async def release(self) -> None:
        await self._col.delete_one({"_id": self.name, "owner": self.owner})


class OutboxRelay:
    def __init__(self, outbox: Outbox, broker: KafkaBroker, lease: Lease, poll_seconds: float = 0.5) -> None:
        self._outbox = outbox
        self._broker = broker
        self._lease = lease
        self._poll = poll_seconds
        self._task: asyncio.Task[None] | None = None

    async def publish_pending(self, batch: int = 200) -> int:
        """Publish one batch in order; returns how many were published. Stops at the first failure."""
        entries = await self._outbox.pending(batch)
        done: list[str] = []
        try:
            for e in entries:
                await self._broker.publish(
                    e["payload"].encode(),
                    topic=e["topic"],
                    key=e["key"].encode(),
                    headers={**e["headers"], "content-type": "application/json"},
                )
                done.append(e["_id"])
                metrics.OUTBOX_PUBLISHED.labels(e["topic"]).inc()
        finally:
            if done:
                await self._outbox.mark_published(done)
        return len(done)

    async def run_forever(self) -> None:
        while True:
            try:
                if await self._lease.acquire():
                    n = await self.publish_pending()
                    if n:
                        continue  # more may be waiting: drain before sleeping
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database down: keep trying, never lose the entries
                log.warning("outbox relay round failed", error=type(exc).__name__, detail=str(exc)[:200])
            self._outbox.wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outbox.wakeup.wait(), timeout=self._poll)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run_forever(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self._lease.release()
