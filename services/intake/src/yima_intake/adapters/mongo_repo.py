"""Mongo implementation of the intake repository (database ``yima_intake``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from yima_contracts import CaseStatusChanged, MediationScheduled
from yima_kit.mongo import increment, insert_all
from yima_kit.throttle import PER_CLIENT, Allowance, CheckThrottle

from ..core.retention import ends_case

T = TypeVar("T")

IDEMPOTENCY_KEY = "idempotency.key"  # a case's keys: [{"key", "fingerprint"}] (ADR 0190)
RECENT_FIELDS = {f: 1 for f in ("case_number", "category", "sub_item", "needs_review", "repeat_count", "state",
                                "closed_at", "description", "location_unit_code", "idempotency")}



def _state_change(event: CaseStatusChanged) -> dict[str, Any]:
    """What a new step changes on its case: the state; closed_at once closed (rating opens, whatever steps follow);
    ended_at while the last step is an ending one (the retention period runs from it: core/retention.py)."""
    update: dict[str, Any] = {"state": event.state.value}
    if event.state.value == "closed":
        update["closed_at"] = event.occurred_at
    ops: dict[str, Any] = {"$set": update}
    if ends_case(event.state.value):
        update["ended_at"] = event.occurred_at
    else:
        ops["$unset"] = {"ended_at": ""}
    return ops

class MongoCaseRepository:
    def __init__(self, db: AsyncDatabase[Any], check_allowance: Allowance = PER_CLIENT) -> None:
        self.db = db
        self.cases = db["cases"]
        self.counters = db["counters"]
        self.timeline_col = db["timeline"]
        self.sessions_col = db["sessions"]
        self.track_failures = db["track_failures"]  # the old per-code counters (expire by themselves)
        self.throttle = CheckThrottle(db["track_throttle"], per_client=check_allowance)
        self.ratings = db["ratings"]

    async def setup(self) -> None:
        await self.cases.create_index("tracking_hash", unique=True)
        await self.cases.create_index("case_number", unique=True)
        # the give-back of a block's rest filters on both (the stand-in's planner needs every field in one index)
        await self.counters.create_index([("_id", ASCENDING), ("seq", ASCENDING)])
        await self.cases.create_index([("applicant_key", ASCENDING), ("submitted_at", DESCENDING)])
        # A submission's Idempotency-Key lives on the case it made or joined (ADR 0190): one write, not two.
        await self.cases.create_index(IDEMPOTENCY_KEY, unique=True, sparse=True, name="idempotency_key")
        await self.timeline_col.create_index([("case_id", ASCENDING), ("occurred_at", ASCENDING)])
        await self.sessions_col.create_index([("case_id", ASCENDING), ("starts_at", ASCENDING)])
        await self.track_failures.create_index("expires_at", expireAfterSeconds=0)
        await self.throttle.setup()

    async def reserve_case_numbers(self, key: str, count: int) -> int:
        """``count`` numbers of ``key`` for this process: one atomic findAndModify ``$inc`` by ``count``, outside any
        transaction (ADRs 0060, 0211); returns the block's last number (the counter holds the last one reserved)."""
        return await increment(self.counters, key, "seq", by=count)

    async def give_back_case_numbers(self, key: str, last: int, first_unused: int) -> bool:
        """Numbers ``first_unused``..``last`` back to the counter, only if nobody reserved after them (the counter
        still at ``last``): one conditional update."""
        res = await self.counters.update_one({"_id": key, "seq": last}, {"$set": {"seq": first_unused - 1}})
        return res.modified_count == 1

    async def insert_cases(self, cases: list[tuple[dict[str, Any], list[CaseStatusChanged]]],
                           session: AsyncClientSession) -> None:
        """New cases with their registration steps ON them (ADR 0190: one write; the applicant sees them at once,
        and the projection of ``case.status`` skips them when they come back, see ``timeline``); a group of
        submissions in one ``insert_many`` (ADR 0219)."""
        docs = [{**doc, "first_steps": [_timeline_doc(e) for e in steps]} for doc, steps in cases]
        await insert_all(self.cases, docs, session=session)  # a key used before: DuplicateKeyError

    async def find_by_idempotency_key(self, key: str) -> tuple[str, dict[str, Any]] | None:
        """The fingerprint a key was first used with and the case it made or joined (None: an unused key)."""
        case = await self.cases.find_one({IDEMPOTENCY_KEY: key})
        if case is None:
            return None
        return next(k["fingerprint"] for k in case["idempotency"] if k["key"] == key), case

    async def get_case(self, case_id: str) -> dict[str, Any] | None:
        return await self.cases.find_one({"_id": case_id})

    async def find_by_tracking_hash(self, tracking_hash: str) -> dict[str, Any] | None:
        return await self.cases.find_one({"tracking_hash": tracking_hash})

    async def recent_cases_of_applicant(self, applicant_key: str, since: datetime) -> list[dict[str, Any]]:
        """What a submission needs of the applicant's recent cases: the keys they were made or joined with (a
        retry?) and what decides a repeat report — not their timelines or reports."""
        cursor = self.cases.find({"applicant_key": applicant_key, "submitted_at": {"$gte": since}},
                                 RECENT_FIELDS).sort("submitted_at", ASCENDING).limit(50)
        return [d async for d in cursor]

    async def add_repeat_report(self, case_id: str, report: dict[str, Any], session: AsyncClientSession,
                                idempotency: dict[str, str] | None = None) -> tuple[int, str]:
        """Join a report to its case; its Idempotency-Key (``{"key", "fingerprint"}``) joins the case's keys in
        the same write (a key used before raises DuplicateKeyError). Returns the case's reports and state."""
        push: dict[str, Any] = {"repeat_reports": report}
        if idempotency:
            push["idempotency"] = idempotency
        doc = await self.cases.find_one_and_update(
            {"_id": case_id}, {"$inc": {"repeat_count": 1}, "$push": push},
            projection={"repeat_count": 1, "state": 1}, return_document=ReturnDocument.AFTER, session=session,
        )
        if doc is None:
            raise LookupError(f"case {case_id} to link a repeat report to does not exist")
        return int(doc["repeat_count"]), str(doc.get("state") or "submitted")

    async def add_timeline_entry(self, event: CaseStatusChanged, session: AsyncClientSession) -> None:
        doc = _timeline_doc(event)
        # Idempotent: a redelivered step is known.
        res = await self.timeline_col.update_one({"_id": doc["_id"]}, {"$setOnInsert": doc}, upsert=True,
                                                 session=session)
        if res.upserted_id is None:
            return
        await self.cases.update_one({"_id": event.case_id}, _state_change(event), session=session)

    async def add_timeline_entries(self, events: list[CaseStatusChanged], session: AsyncClientSession) -> None:
        """A poll's steps in three calls whatever their number (ADR 0155): which are known (intake's own, or a
        redelivery), one insert of the new ones, one ordered bulk of their cases' state changes."""
        if not events:
            return
        if len(events) == 1:
            await self.add_timeline_entry(events[0], session)  # one upsert (and one case update) is cheaper
            return
        docs: dict[str, tuple[dict[str, Any], CaseStatusChanged]] = {}
        for e in events:
            d = _timeline_doc(e)
            docs.setdefault(d["_id"], (d, e))
        known = {d["_id"] async for d in self.timeline_col.find({"_id": {"$in": list(docs)}}, {"_id": 1},
                                                                session=session)}
        new = [(d, e) for i, (d, e) in docs.items() if i not in known]
        if not new:
            return
        await self.timeline_col.insert_many([d for d, _ in new], ordered=True, session=session)
        await self.cases.bulk_write([UpdateOne({"_id": e.case_id}, _state_change(e)) for _, e in new], ordered=True,
                                    session=session)

    async def add_timeline_note(self, case_id: str, state: str, note: dict[str, Any],
                                session: AsyncClientSession) -> None:
        """A step of intake's own (a repeat report): shown in the timeline at the case's ``state``, changes none."""
        doc = {"_id": note["event_id"], "case_id": case_id, "state": state, "note": True, **note}
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

    async def timeline(self, case: dict[str, Any]) -> list[dict[str, Any]]:
        """The case's steps in time order: its registration steps (on the case document since ADR 0190; before,
        in the collection like every other step) and the rest."""
        cursor = self.timeline_col.find({"case_id": case["_id"]}).sort("occurred_at", ASCENDING)
        later = [d async for d in cursor]
        first = case.get("first_steps") or []
        return sorted([*first, *later], key=lambda d: d["occurred_at"]) if first else later

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
