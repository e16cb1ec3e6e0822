"""MongoDB behind routing's ports (ports.py): cases, assignments, joint summons and the provisional calendar.

Each method is one database operation (two for :meth:`MongoAssignments.end_case`), the same the use cases
issued when they held the collections themselves; the indexes are the ones the sweeper's and the views'
filters need (tests/e2e/test_query_plans.py).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from ..core.assignment import OPEN, Assignment, Term
from ..core.case import Case, PendingDispatch
from ..core.supervision import PlannedStep
from ..ports import Session


def _case(doc: dict[str, Any] | None) -> Case | None:
    return Case.model_validate(doc) if doc is not None else None


def _term(term: Term) -> dict[str, Any]:
    nxt = term.next
    return {"due_at": term.due_at, "due_provisional": term.provisional,
            "sup_next_step": nxt.step.value if nxt else None, "sup_next_at": nxt.at if nxt else None}


class MongoCases:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.col = db["cases"]

    async def setup(self) -> None:
        await self.col.create_index([("pending_dispatch.supervisor_unit_code", 1)], sparse=True)
        await self.col.create_index([("pending_dispatch.reminded", 1), ("pending_dispatch.remind_at", 1)])
        await self.col.create_index([("_id", 1), ("pending_dispatch.claimed_until", 1)])

    async def get(self, case_id: str, session: Session = None) -> Case | None:
        return _case(await self.col.find_one({"_id": case_id}, session=session))

    async def correlation_id(self, case_id: str, session: Session = None) -> str | None:
        doc = await self.col.find_one({"_id": case_id}, {"facts.correlation_id": 1}, session=session)
        return ((doc or {}).get("facts") or {}).get("correlation_id")

    async def number_and_ended(self, case_id: str) -> tuple[str | None, bool] | None:
        doc = await self.col.find_one({"_id": case_id}, {"ended": 1, "facts.case_number": 1})
        if doc is None:
            return None
        return (doc.get("facts") or {}).get("case_number"), bool(doc.get("ended"))

    async def save_facts(self, case_id: str, facts: dict[str, Any], ended: dict[str, Any] | None,
                         session: Session) -> None:
        settled = {"ended": ended} if ended else {}
        await self.col.update_one({"_id": case_id}, {"$set": {"facts": facts, **settled}}, upsert=True,
                                  session=session)

    async def set_risk(self, case_id: str, risk: dict[str, Any], session: Session) -> None:
        await self.col.update_one({"_id": case_id}, {"$set": {"risk": risk}}, upsert=True, session=session)

    async def mark_assigned(self, case_id: str, assignment_id: str, unit_code: str, round_: int,
                            session: Session) -> None:
        await self.col.update_one(
            {"_id": case_id},
            {"$set": {"assigned": assignment_id, "assigned_unit": unit_code, "round": round_, "routed": True},
             "$unset": {"pending_dispatch": ""}},
            session=session)

    async def set_leader(self, case_id: str, leader: dict[str, Any], session: Session) -> None:
        await self.col.update_one({"_id": case_id}, {"$set": {"leader": leader}}, session=session)

    async def await_redispatch(self, case_id: str, pending: PendingDispatch, session: Session) -> None:
        await self.col.update_one({"_id": case_id}, {
            "$set": {"pending_dispatch": pending.model_dump()},
            "$addToSet": {"excluded_units": pending.returned_by},
            "$unset": {"assigned": ""}}, session=session)

    async def claim_redispatch_reminder(self, case_id: str, session: Session) -> bool:
        res = await self.col.update_one(
            {"_id": case_id, "pending_dispatch.reminded": False},
            {"$set": {"pending_dispatch.reminded": True, "pending_dispatch.claimed_until": None}},
            session=session)
        return res.modified_count == 1

    async def end(self, case_id: str, how: str, at: datetime, session: Session) -> None:
        await self.col.update_one({"_id": case_id}, {"$set": {"ended": {"how": how, "at": at}},
                                                     "$unset": {"pending_dispatch": ""}},
                                  upsert=True, session=session)

    async def add_escalation(self, case_id: str, entry: dict[str, Any], session: Session) -> None:
        await self.col.update_one({"_id": case_id}, {"$push": {"escalations": entry}}, session=session)

    async def awaiting_redispatch(self, supervisor_unit_code: str, limit: int) -> list[Case]:
        return [Case.model_validate(c) async for c in self.col.find(
            {"pending_dispatch.supervisor_unit_code": supervisor_unit_code}).limit(limit)]

    async def decided_since(self, since: datetime, limit: int) -> list[Case]:
        return [Case.model_validate(c) async for c in self.col.find(
            {"facts.submitted_at": {"$gte": since}, "risk": {"$exists": True}}, {"facts": 1, "risk": 1}
        ).limit(limit)]


class MongoAssignments:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.col = db["assignments"]

    async def setup(self) -> None:
        col = self.col
        await col.create_index([("case_id", 1), ("round", 1)], unique=True)
        await col.create_index([("unit_code", 1), ("state", 1)])
        await col.create_index([("supervisor_unit_code", 1), ("state", 1)])
        # The sweeper's reads (every field of each filter in one index: the MongoDB-wire stand-in's planner uses
        # no other), its compare-and-set claims by _id (adapters/sweeper.py, ADR 0060) and its overdue gauge.
        await col.create_index([("sup_active", 1), ("paused", 1), ("sup_next_at", 1)])
        await col.create_index([("_id", 1), ("sup_claimed_until", 1)])
        await col.create_index([("sup_active", 1), ("due_at", 1)])
        await col.create_index([("case_id", 1), ("state", 1)])
        await col.create_index([("due_provisional", 1), ("paused", 1), ("state", 1)])  # recompute

    async def get(self, assignment_id: str, session: Session = None) -> Assignment | None:
        doc = await self.col.find_one({"_id": assignment_id}, session=session)
        return Assignment.model_validate(doc) if doc is not None else None

    async def state(self, assignment_id: str, session: Session) -> str | None:
        doc = await self.col.find_one({"_id": assignment_id}, {"state": 1}, session=session)
        return doc["state"] if doc is not None else None

    async def insert(self, a: Assignment, session: Session) -> None:
        doc = a.model_dump(by_alias=True, exclude={"paused_at", "pause_reason", "feedback"})
        await self.col.insert_one({**doc, "sup_claimed_until": None}, session=session)

    async def record_feedback(self, assignment_id: str, state: str, ends_chain: bool, entry: dict[str, Any],
                              session: Session) -> None:
        await self.col.update_one(
            {"_id": assignment_id},
            {"$set": {"state": state, **({"sup_active": False, "sup_next_at": None} if ends_chain else {})},
             "$push": {"feedback": entry}},
            session=session)

    async def end_case(self, case_id: str, how: str, at: datetime, session: Session) -> None:
        await self.col.update_many(
            {"case_id": case_id, "$or": [{"state": {"$in": list(OPEN)}}, {"sup_active": True}]},
            {"$set": {"sup_active": False, "sup_next_at": None},
             "$push": {"history": {"change": f"case.{how}", "at": at}}},
            session=session)
        await self.col.update_many({"case_id": case_id, "state": {"$in": list(OPEN)}},
                                   {"$set": {"state": how}}, session=session)

    async def set_state(self, assignment_id: str, state: str, session: Session) -> None:
        await self.col.update_one({"_id": assignment_id}, {"$set": {"state": state}}, session=session)

    async def stop(self, assignment_id: str, state: str, session: Session) -> None:
        await self.col.update_one({"_id": assignment_id}, {"$set": {
            "state": state, "sup_active": False, "sup_next_at": None}}, session=session)

    async def pause(self, assignment_id: str, at: datetime, reason: str, by: str, session: Session) -> None:
        await self.col.update_one({"_id": assignment_id}, {
            "$set": {"paused": True, "paused_at": at, "pause_reason": reason, "sup_next_at": None},
            "$push": {"history": {"change": "paused", "at": at, "by": by, "reason": reason}}},
            session=session)

    async def resume(self, assignment_id: str, term: Term, entry: dict[str, Any], session: Session) -> None:
        await self.col.update_one({"_id": assignment_id}, {
            "$set": {"paused": False, **_term(term)}, "$push": {"history": entry}}, session=session)

    async def set_term(self, assignment_id: str, term: Term, entry: dict[str, Any], session: Session) -> None:
        await self.col.update_one({"_id": assignment_id}, {"$set": _term(term), "$push": {"history": entry}},
                                  session=session)

    async def add_history(self, assignment_id: str, entry: dict[str, Any], session: Session) -> None:
        await self.col.update_one({"_id": assignment_id}, {"$push": {"history": entry}}, session=session)

    async def advance_chain(self, a: Assignment, fired: str, nxt: PlannedStep | None, entry: dict[str, Any],
                            session: Session) -> bool:
        res = await self.col.update_one(
            {"_id": a.id, "sup_next_step": fired, "sup_active": True},
            {"$set": {"sup_done": [*a.sup_done, fired], "sup_next_step": nxt.step.value if nxt else None,
                      "sup_next_at": nxt.at if nxt else None, "sup_active": nxt is not None,
                      "sup_claimed_until": None},
             "$push": {"history": entry}},
            session=session)
        return res.modified_count == 1

    async def provisional_open_ids(self) -> list[str]:
        return [d["_id"] async for d in self.col.find(
            {"due_provisional": True, "paused": False, "state": {"$in": list(OPEN)}}, {"_id": 1})]

    async def open_of_unit(self, unit_code: str, *, supervised: bool, limit: int) -> list[Assignment]:
        field = "supervisor_unit_code" if supervised else "unit_code"
        return [Assignment.model_validate(a) async for a in self.col.find(
            {field: unit_code, "state": {"$in": list(OPEN)}}).limit(limit)]

    async def of_case(self, case_id: str) -> list[Assignment]:
        return [Assignment.model_validate(a) async for a in self.col.find({"case_id": case_id}).sort("round", 1)]


class MongoJoints:
    """吹哨报到's summonses. Two lists kept beside the units' reports so that a unit's summonses are found by one
    indexed field (every field of a query in one index, for the MongoDB-wire stand-in's planner too):
    ``waiting_units`` (summoned, not yet reported) and ``involved`` (the lead and every summoned unit)."""

    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.col = db["joint_summons"]

    async def setup(self) -> None:
        await self.col.create_index([("reminded", 1), ("report_by", 1)])
        await self.col.create_index([("_id", 1), ("claimed_until", 1)])
        await self.col.create_index([("_id", 1), ("reminded", 1)])
        await self.col.create_index([("waiting_units", 1), ("at", -1)])
        await self.col.create_index([("involved", 1), ("at", -1)])

    async def get(self, joint_id: str, session: Session = None) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self.col.find_one({"_id": joint_id}, session=session)
        return doc

    async def insert(self, doc: dict[str, Any], session: Session) -> None:
        units = list(doc["unit_codes"])
        await self.col.insert_one({**doc, "waiting_units": units, "involved": [doc["lead_unit_code"], *units]},
                                  session=session)

    async def record_report(self, joint_id: str, unit: str, report: dict[str, Any], session: Session) -> None:
        await self.col.update_one({"_id": joint_id}, {"$set": {f"units.{unit}": report},
                                                      "$pull": {"waiting_units": unit}}, session=session)

    async def claim_reminder(self, joint_id: str, session: Session) -> bool:
        res = await self.col.update_one({"_id": joint_id, "reminded": False},
                                        {"$set": {"reminded": True, "claimed_until": None}}, session=session)
        return res.modified_count == 1

    async def open_for(self, unit: str) -> list[dict[str, Any]]:
        return [j async for j in self.col.find({"waiting_units": unit}).sort("at", -1)]

    async def of_unit(self, unit: str, limit: int) -> list[dict[str, Any]]:
        return [j async for j in self.col.find({"involved": unit}).sort("at", -1).limit(limit)]


class MongoCalendar:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.col = db["calendar"]

    async def days(self) -> dict[date, bool]:
        return {date.fromisoformat(d["_id"]): bool(d["workday"]) async for d in self.col.find({})}

    async def put_day(self, day: date, entry: dict[str, Any], session: Session) -> None:
        await self.col.update_one({"_id": day.isoformat()}, {"$set": entry}, upsert=True, session=session)


class MongoRepositories:
    """Every repository routing's service needs, on one database."""

    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.cases = MongoCases(db)
        self.assignments = MongoAssignments(db)
        self.joints = MongoJoints(db)
        self.calendar = MongoCalendar(db)

    async def setup(self) -> None:
        await self.assignments.setup()
        await self.cases.setup()
        await self.joints.setup()
