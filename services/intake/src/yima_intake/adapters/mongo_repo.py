"""Mongo implementation of the intake repository (database ``yima_intake``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from yima_contracts import CaseStatusChanged, MediationScheduled
from yima_kit.mongo import increment
from yima_kit.throttle import PER_CLIENT, Allowance, CheckThrottle

from ..core.retention import ends_case

T = TypeVar("T")


class MongoCaseRepository:
    def __init__(self, db: AsyncDatabase[Any], check_allowance: Allowance = PER_CLIENT) -> None:
        self.db = db
        self.cases = db["cases"]
        self.counters = db["counters"]
        self.keys = db["idempotency_keys"]
        self.timeline_col = db["timeline"]
        self.sessions_col = db["sessions"]
        self.track_failures = db["track_failures"]  # the old per-code counters (expire by themselves)
        self.throttle = CheckThrottle(db["track_throttle"], per_client=check_allowance)
        self.ratings = db["ratings"]

    async def setup(self) -> None:
        await self.cases.create_index("tracking_hash", unique=True)
        await self.cases.create_index("case_number", unique=True)
        await self.cases.create_index([("applicant_key", ASCENDING), ("submitted_at", DESCENDING)])
        await self.timeline_col.create_index([("case_id", ASCENDING), ("occurred_at", ASCENDING)])
        await self.sessions_col.create_index([("case_id", ASCENDING), ("starts_at", ASCENDING)])
        await self.track_failures.create_index("expires_at", expireAfterSeconds=0)
        await self.throttle.setup()

    async def next_case_seq(self, key: str, session: AsyncClientSession | None = None) -> int:
        # One atomic findAndModify, outside the submission's transaction (ADR 0060): concurrent submissions
        # never write-conflict on the counter; an aborted submission leaves a gap in the sequence.
        return await increment(self.counters, key, "seq", session=session)

    async def insert_case(self, doc: dict[str, Any], session: AsyncClientSession) -> None:
        await self.cases.insert_one(doc, session=session)

    async def claim_idempotency_key(
        self, key: str, fingerprint: str, case_id: str, session: AsyncClientSession
    ) -> None:
        await self.keys.insert_one({"_id": key, "fingerprint": fingerprint, "case_id": case_id}, session=session)

    async def find_idempotency_key(self, key: str) -> dict[str, Any] | None:
        return await self.keys.find_one({"_id": key})

    async def get_case(self, case_id: str) -> dict[str, Any] | None:
        return await self.cases.find_one({"_id": case_id})

    async def find_by_tracking_hash(self, tracking_hash: str) -> dict[str, Any] | None:
        return await self.cases.find_one({"tracking_hash": tracking_hash})

    async def recent_cases_of_applicant(self, applicant_key: str, since: datetime) -> list[dict[str, Any]]:
        cursor = self.cases.find({"applicant_key": applicant_key, "submitted_at": {"$gte": since}}).sort(
            "submitted_at", ASCENDING).limit(50)
        return [d async for d in cursor]

    async def add_repeat_report(self, case_id: str, report: dict[str, Any], session: AsyncClientSession) -> int:
        doc = await self.cases.find_one_and_update(
            {"_id": case_id}, {"$inc": {"repeat_count": 1}, "$push": {"repeat_reports": report}},
            return_document=ReturnDocument.AFTER, session=session,
        )
        if doc is None:
            raise LookupError(f"case {case_id} to link a repeat report to does not exist")
        return int(doc["repeat_count"])

    async def insert_timeline_entries(self, events: list[CaseStatusChanged], session: AsyncClientSession) -> None:
        """A new case's registration steps, in one write (the case document already has their state); the
        projection finds them there when they come back from Kafka (``add_timeline_entry``)."""
        await self.timeline_col.insert_many([_timeline_doc(e) for e in events], ordered=True, session=session)

    async def add_timeline_entry(self, event: CaseStatusChanged, session: AsyncClientSession) -> None:
        doc = _timeline_doc(event)
        # Idempotent: intake writes its own registration steps at submission and reads them back from Kafka.
        res = await self.timeline_col.update_one({"_id": doc["_id"]}, {"$setOnInsert": doc}, upsert=True,
                                                 session=session)
        if res.upserted_id is None:
            return
        update: dict[str, Any] = {"state": event.state.value}
        if event.state.value == "closed":
            update["closed_at"] = event.occurred_at  # rating opens once closed, whatever steps follow
        # The retention period runs from the last step in an ending state (core/retention.py, docs/retention.md).
        ops: dict[str, Any] = {"$set": update}
        if ends_case(event.state.value):
            update["ended_at"] = event.occurred_at
        else:
            ops["$unset"] = {"ended_at": ""}
        await self.cases.update_one({"_id": event.case_id}, ops, session=session)

    async def add_timeline_note(self, case_id: str, note: dict[str, Any], session: AsyncClientSession) -> None:
        """A step of intake's own (a repeat report): shown in the timeline, changes no state."""
        case = await self.cases.find_one({"_id": case_id}, {"state": 1}, session=session)
        doc = {"_id": note["event_id"], "case_id": case_id, "state": (case or {}).get("state", "submitted"),
               "note": True, **note}
        await self.timeline_col.insert_one(doc, session=session)

    async def add_session(self, event: MediationScheduled, session: AsyncClientSession) -> None:
        # Keyed by session: a redelivery writes the same document; a later announcement of the same session
        # (moved in time) replaces an older one, never the other way round.
        doc = {"case_id": event.case_id, "mode": event.mode, "format": event.format, "starts_at": event.starts_at,
               "ends_at": event.ends_at, "place_zh": event.place_zh, "join_url": event.join_url,
               "announced_at": event.occurred_at}
        known = await self.sessions_col.find_one({"_id": event.session_id}, {"announced_at": 1}, session=session)
        if known is not None and known["announced_at"].replace(tzinfo=UTC) > event.occurred_at:
            return
        await self.sessions_col.update_one({"_id": event.session_id}, {"$set": doc}, upsert=True, session=session)

    async def sessions(self, case_id: str) -> list[dict[str, Any]]:
        return [d async for d in self.sessions_col.find({"case_id": case_id}).sort("starts_at", ASCENDING)]

    async def timeline(self, case_id: str) -> list[dict[str, Any]]:
        cursor = self.timeline_col.find({"case_id": case_id}).sort("occurred_at", ASCENDING)
        return [d async for d in cursor]

    async def guard_check(self, tracking_hash: str, client: str, now: datetime,
                          check: Callable[[], Awaitable[tuple[T, bool | None]]]) -> tuple[T, bool | None]:
        return await self.throttle.guard(tracking_hash, client, now, check)

    async def get_rating(self, case_id: str) -> dict[str, Any] | None:
        return await self.ratings.find_one({"_id": case_id})

    async def insert_rating(self, doc: dict[str, Any], session: AsyncClientSession) -> None:
        await self.ratings.insert_one(doc, session=session)



def _timeline_doc(event: CaseStatusChanged) -> dict[str, Any]:
    doc = event.model_dump(mode="python", exclude={"actor"})
    doc["_id"] = str(event.event_id)
    doc["event_id"] = str(event.event_id)
    doc.pop("causation_id", None)
    return doc
