"""回头看: durable follow-up timers in Mongo.

A timer is a document ``{_id, case_id, due_at, state: pending|fired, …}`` indexed by ``(state, due_at)``.
Scheduling is an upsert inside the consumer's transaction (a redelivered ``case.closed`` schedules nothing
twice). Firing claims one due timer and stages its ``case.followup_due`` in the outbox in ONE transaction:
``find_one_and_update({state: pending, due_at <= now}) → fired``. Two replicas racing for the same timer
conflict on that document; the loser's transaction is retried and no longer finds it pending. A process
that dies mid-way aborts its transaction and the timer stays pending, so it fires after a restart —
once. The event id is derived from the timer id, so even a re-published event is one event to consumers.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from yima_contracts import Actor, topics
from yima_contracts.codes import ActorKind
from yima_contracts.risk_events import FollowupDue
from yima_kit.logging import get_logger
from yima_kit.outbox import Outbox
from yima_kit.uow import Tx, UnitOfWork

log = get_logger(__name__)

FOLLOWUPS = "followups"
_NS = uuid.UUID("5f0c2b8e-6a43-4c1e-9a57-0d4f3c9e1a21")

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class FollowupTimers:
    def __init__(
        self, client: Any, db: AsyncDatabase[Any], outbox: Outbox, *, clock: Clock = utcnow, poll_seconds: float = 5.0
    ) -> None:
        self.client = client
        self.col = db[FOLLOWUPS]
        self.outbox = outbox
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.wakeup = asyncio.Event()
        self.uow = UnitOfWork(client, outbox)

    async def setup(self) -> None:
        await self.col.create_index([("state", ASCENDING), ("due_at", ASCENDING)])
        await self.col.create_index("case_id")

    async def schedule(
        self,
        session: AsyncClientSession | None,
        *,
        case_id: str,
        correlation_id: str,
        due_at: datetime,
        unit_code: str | None,
        leader_staff_id: str | None,
        reason_zh: str,
    ) -> str:
        """Schedule the case's follow-up visit (one per case); returns its id."""
        followup_id = f"followup-{case_id}"
        await self.col.update_one(
            {"_id": followup_id},
            {"$setOnInsert": {
                "case_id": case_id, "correlation_id": correlation_id, "due_at": due_at, "state": "pending",
                "unit_code": unit_code, "leader_staff_id": leader_staff_id, "reason_zh": reason_zh[:300],
                "scheduled_at": utcnow(),
            }},
            upsert=True,
            session=session,
        )
        self.wakeup.set()  # a timer due soon (tests) is not missed by a long wait
        return followup_id

    async def of_case(self, case_id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self.col.find_one({"case_id": case_id})
        return doc

    async def visited(self, case_id: str, at: datetime) -> None:
        """A visit made before the follow-up falls due is the follow-up: the timer does not fire any more."""
        await self.col.update_one({"case_id": case_id, "state": "pending"},
                                  {"$set": {"state": "visited", "visited_at": at}})

    async def next_due(self) -> datetime | None:
        """When the earliest pending timer is due (one indexed read), or None."""
        doc = await self.col.find_one({"state": "pending"}, {"due_at": 1}, sort=[("due_at", ASCENDING)])
        return _aware(doc["due_at"]) if doc else None

    async def fire_one(self) -> dict[str, Any] | None:
        """Fire the earliest due timer, if any; returns its document."""
        now = self.clock()

        async def work(tx: Tx) -> dict[str, Any] | None:
            doc: dict[str, Any] | None = await self.col.find_one_and_update(
                {"state": "pending", "due_at": {"$lte": now}},
                {"$set": {"state": "fired", "fired_at": now}},
                sort=[("due_at", ASCENDING)],
                return_document=ReturnDocument.AFTER,
                session=tx.session,
            )
            if doc is None:
                return None
            event = FollowupDue(
                event_id=uuid.uuid5(_NS, doc["_id"]),
                case_id=doc["case_id"],
                correlation_id=doc["correlation_id"],
                actor=Actor(kind=ActorKind.SYSTEM, service="risk"),
                followup_id=doc["_id"],
                due_at=doc["due_at"],
                unit_code=doc.get("unit_code"),
                leader_staff_id=doc.get("leader_staff_id"),
                reason_zh=doc["reason_zh"],
            )
            tx.emit(topics.CASE_FOLLOWUP_DUE, event)
            return doc

        return await self.uow.run(work)

    async def fire_due(self) -> int:
        """Fire every timer due now; returns how many this process fired. Nothing due: one read, no transaction."""
        n = 0
        due = await self.next_due()
        if due is None or due > self.clock():
            return 0
        while await self.fire_one():
            n += 1
        return n

    async def run_forever(self) -> None:
        while True:
            self.wakeup.clear()  # before the round: a timer scheduled meanwhile wakes the wait below at once
            wait = self.poll_seconds
            try:
                n = await self.fire_due()
                if n:
                    log.info("follow-up visits due", count=n)
                due = await self.next_due()
                if due is not None:  # sleep no longer than until the next timer (simulated clocks: poll)
                    wait = min(wait, max(0.05, (due - self.clock()).total_seconds()))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database unreachable: try again next round, the timers are durable
                log.warning("follow-up timer round failed", error=type(exc).__name__, detail=str(exc)[:200])
            try:
                await asyncio.wait_for(self.wakeup.wait(), timeout=wait)
            except TimeoutError:
                pass


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
