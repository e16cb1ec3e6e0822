"""Mongo implementations of mediation's repositories (ports.py), database ``yima_mediation``. Every query and
every write of the service is here, with the indexes that carry them (ADR 0060: the MongoDB-wire stand-in's
planner uses an index only when it holds every field of the filter)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError
from yima_kit.mongo import increment, insert_all

Doc = dict[str, Any]
S = AsyncClientSession | None
ACTING = {"$in": ["invited", "accepted"]}  # invitations still acting on a case


def _free(now: datetime) -> dict[str, Any]:
    return {"$or": [{"on_call_until": None}, {"on_call_until": {"$lt": now}}]}


class MongoCases:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.col = db["cases"]

    async def setup(self) -> None:
        await self.col.create_index([("unit_code", 1), ("state", 1)])
        await self.col.create_index("case_id")
        await self.col.create_index([("unit_path", 1), ("state", 1)])
        await self.col.create_index([("_id", 1), ("state", 1)])

    async def get(self, assignment_id: str, session: S = None) -> Doc | None:
        return await self.col.find_one({"_id": assignment_id}, session=session)

    async def insert(self, doc: Doc, session: S = None) -> None:
        await self.col.insert_one(doc, session=session)

    async def existing(self, assignment_ids: list[str], session: S = None) -> set[str]:
        return {d["_id"] async for d in self.col.find({"_id": {"$in": assignment_ids}}, {"_id": 1}, session=session)}

    async def add_all(self, docs: list[Doc], session: S = None) -> None:
        await insert_all(self.col, docs, session=session)

    async def move(self, assignment_id: str, from_state: str, set_: Doc, note: Doc | None, session: S = None
                   ) -> bool:
        """Compare-and-set on the state the move was checked against; False: someone else moved it first."""
        upd: Doc = {"$set": set_}
        if note:
            upd["$push"] = {"timeline": note}
        res = await self.col.update_one({"_id": assignment_id, "state": from_state}, upd, session=session)
        return res.modified_count == 1

    async def end_open_work(self, case_id: str, unit_code: str, open_states: list[str], keep: str, set_: Doc,
                            note: Doc, session: S = None) -> None:
        await self.col.update_many(
            {"case_id": case_id, "unit_code": unit_code, "state": {"$in": open_states}, "_id": {"$ne": keep}},
            {"$set": set_, "$push": {"timeline": note}}, session=session)

    async def queue(self, unit_code: str | None, unit_path: str | None, state: str | None) -> list[Doc]:
        q: Doc = {"unit_path": unit_path} if unit_path else {"unit_code": unit_code}
        if state:
            q["state"] = state
        return [c async for c in self.col.find(q).sort("received_at", 1).limit(200)]

    async def add_party(self, assignment_id: str, party: Doc, session: S = None) -> None:
        await self.col.update_one({"_id": assignment_id}, {"$push": {"parties": party}}, session=session)

    async def set_availability(self, assignment_id: str, party_id: str, windows: list[Doc]) -> None:
        await self.col.update_one({"_id": assignment_id}, {"$set": {f"availability.{party_id}": windows}})

    async def note(self, assignment_id: str, note: Doc, session: S = None) -> None:
        await self.col.update_one({"_id": assignment_id}, {"$push": {"timeline": note}}, session=session)

    async def set_agreement(self, assignment_id: str, agreement_id: str, session: S = None) -> None:
        await self.col.update_one({"_id": assignment_id}, {"$set": {"agreement_id": agreement_id}}, session=session)

    async def case_numbers(self, assignment_ids: list[str]) -> dict[str, str]:
        return {c["_id"]: c.get("case_number", "") async for c in self.col.find(
            {"_id": {"$in": assignment_ids}}, {"case_number": 1})}


class MongoPeople:
    """Mediators and experts (``people``) and the unit's rooms with their booked slots."""

    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.col = db["people"]
        self.rooms = db["rooms"]
        self.slots = db["room_slots"]

    async def setup(self) -> None:
        await self.col.create_index([("unit_code", 1), ("kind", 1)])
        await self.col.create_index([("_id", 1), ("active", 1)])

    async def insert(self, doc: Doc) -> None:
        await self.col.insert_one(doc)

    async def registry(self, unit_code: str, kind: str | None, field: str | None) -> list[Doc]:
        q: Doc = {"active": True, "unit_code": unit_code}
        if kind:
            q["kind"] = kind
        if field:
            q["fields"] = field
        return [p async for p in self.col.find(q).limit(500)]

    async def get(self, person_id: str, session: S = None, *, active: bool = False) -> Doc | None:
        q: Doc = {"_id": person_id, "active": True} if active else {"_id": person_id}
        return await self.col.find_one(q, session=session)

    async def many(self, person_ids: list[str], session: S = None) -> list[Doc]:
        return [p async for p in self.col.find({"_id": {"$in": person_ids}}, session=session)]

    async def with_phone(self, person_ids: list[str]) -> set[str]:
        return {p["_id"] async for p in self.col.find({"_id": {"$in": person_ids}}, {"phone": 1}) if p.get("phone")}

    async def free_to_call(self, kind: str, unit_code: str, now: datetime, session: S = None) -> list[Doc]:
        q = {"kind": kind, "active": True, "unit_code": unit_code, **_free(now)}
        return [p async for p in self.col.find(q, session=session).limit(50)]

    async def hold(self, person_id: str, now: datetime, until: datetime, session: S = None) -> Doc | None:
        """Claim a person for a call if still free (atomic: two calls never get the same person)."""
        return await self.col.find_one_and_update(
            {"_id": person_id, **_free(now)}, {"$set": {"on_call_until": until}}, session=session,
            return_document=ReturnDocument.AFTER)

    async def release(self, person_id: str) -> None:
        await self.col.update_one({"_id": person_id}, {"$set": {"on_call_until": None}})

    async def add_room(self, doc: Doc) -> None:
        await self.rooms.insert_one(doc)

    async def room_list(self, unit_code: str) -> list[Doc]:
        return [r async for r in self.rooms.find({"unit_code": unit_code}).sort("name_zh", 1).limit(200)]

    async def room(self, room_id: str, unit_code: str, session: S = None) -> Doc | None:
        return await self.rooms.find_one({"_id": room_id, "unit_code": unit_code}, session=session)

    async def book_slots(self, slots: list[Doc], session: S = None) -> bool:
        """False when a slot is taken already (its id is the room and the time)."""
        try:
            await self.slots.insert_many(slots, session=session)
        except (DuplicateKeyError, BulkWriteError) as exc:
            if isinstance(exc, BulkWriteError) and not any(
                    e.get("code") == 11000 for e in exc.details.get("writeErrors", [])):
                raise
            return False
        return True


class MongoSessions:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.col = db["sessions"]

    async def setup(self) -> None:
        await self.col.create_index("assignment_id")
        await self.col.create_index([("_id", 1), ("state", 1)])
        await self.col.create_index([("assignment_id", 1), ("state", 1)])

    async def get(self, session_id: str, session: S = None) -> Doc | None:
        return await self.col.find_one({"_id": session_id}, session=session)

    async def of_case_one(self, session_id: str, assignment_id: str, session: S = None) -> Doc | None:
        return await self.col.find_one({"_id": session_id, "assignment_id": assignment_id}, session=session)

    async def of_case(self, assignment_id: str) -> list[Doc]:
        return [s async for s in self.col.find({"assignment_id": assignment_id}).sort("starts_at", 1)]

    async def for_expert(self, assignment_id: str, person_id: str, session_id: str | None) -> list[Doc]:
        """An invitation naming a session asks the expert to that one (and to those booked with them since);
        one naming none asks them to the case's mediation: every session of the case."""
        q: Doc = {"assignment_id": assignment_id}
        if session_id:
            q["$or"] = [{"experts.person_id": person_id}, {"_id": session_id}]
        return [s async for s in self.col.find(q).sort("starts_at", 1)]

    async def insert(self, doc: Doc, session: S = None) -> None:
        await self.col.insert_one(doc, session=session)

    async def add_turn(self, session_id: str, turns_before: int, turn: Doc) -> bool:
        res = await self.col.update_one({"_id": session_id, "turns": {"$size": turns_before}},
                                        {"$push": {"turns": turn}})
        return res.modified_count == 1

    async def record(self, session_id: str, state: str, record: Doc, session: S = None) -> None:
        await self.col.update_one({"_id": session_id, "state": "scheduled"},
                                  {"$set": {"state": state, "record": record}}, session=session)

    async def any_held(self, assignment_id: str, session: S = None) -> bool:
        return await self.col.find_one({"assignment_id": assignment_id, "state": "held"}, {"_id": 1},
                                       session=session) is not None


class MongoInvitations:
    """Expert invitations and the wrong checks counted against their codes (``invite_failures``, expiring)."""

    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.col = db["invitations"]
        self.failures = db["invite_failures"]

    async def setup(self) -> None:
        await self.col.create_index("assignment_id")
        await self.col.create_index("code_idx")
        await self.col.create_index([("_id", 1), ("state", 1)])
        await self.col.create_index([("assignment_id", 1), ("state", 1)])
        await self.failures.create_index("expires_at", expireAfterSeconds=0)
        await self.failures.create_index([("key", 1), ("expires_at", 1)])

    async def get(self, invitation_id: str, session: S = None) -> Doc | None:
        return await self.col.find_one({"_id": invitation_id}, session=session)

    async def by_code(self, code_idx: str) -> Doc | None:
        return await self.col.find_one({"code_idx": code_idx})

    async def of_case(self, assignment_id: str) -> list[Doc]:
        return [i async for i in self.col.find({"assignment_id": assignment_id})]

    async def acting(self, assignment_id: str, session: S = None) -> list[Doc]:
        """Invitations waiting for an answer or accepted."""
        return [i async for i in self.col.find({"assignment_id": assignment_id, "state": ACTING}, session=session)]

    async def accepted(self, assignment_id: str, session: S = None) -> list[Doc]:
        return [i async for i in self.col.find({"assignment_id": assignment_id, "state": "accepted"},
                                               session=session)]

    async def insert(self, doc: Doc, session: S = None) -> None:
        await self.col.insert_one(doc, session=session)

    async def answer(self, invitation_id: str, set_: Doc, session: S = None) -> bool:
        res = await self.col.update_one({"_id": invitation_id, "state": "invited"}, {"$set": set_}, session=session)
        return res.modified_count == 1

    async def replace_code(self, invitation_id: str, state: str, old_code_idx: str | None, code_idx: str,
                           check_idx: str, now: datetime, session: S = None) -> bool:
        """Compare-and-set on the code being replaced: two resends at once cannot both pass the limit."""
        res = await self.col.update_one(
            {"_id": invitation_id, "state": state,
             "code_idx": old_code_idx if old_code_idx else {"$exists": False}},
            {"$set": {"code_idx": code_idx, "check_idx": check_idx}, "$push": {"resent_at": now}}, session=session)
        return res.modified_count == 1

    async def failures_since(self, key: str, now: datetime) -> int:
        return await self.failures.count_documents({"key": key, "expires_at": {"$gt": now}})

    async def add_failure(self, key: str, expires_at: datetime) -> None:
        await self.failures.insert_one({"key": key, "expires_at": expires_at})

    async def clear_failures(self, key: str, session: S = None) -> None:
        await self.failures.delete_many({"key": key}, session=session)


class MongoDocuments:
    """Agreements (with their numbering counters) and transfer packages."""

    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.agreements = db["agreements"]
        self.packages = db["packages"]
        self.counters = db["counters"]

    async def setup(self) -> None:
        await self.agreements.create_index("sha256", unique=True, partialFilterExpression={"state": "signed"})
        await self.agreements.create_index("assignment_id")
        await self.agreements.create_index([("_id", 1), ("state", 1)])
        await self.packages.create_index("sha256")

    async def agreement(self, agreement_id: str, session: S = None) -> Doc | None:
        return await self.agreements.find_one({"_id": agreement_id}, session=session)

    async def agreement_of_case(self, assignment_id: str, session: S = None) -> Doc | None:
        return await self.agreements.find_one({"assignment_id": assignment_id}, session=session)

    async def signed(self, sha256: str) -> Doc | None:
        return await self.agreements.find_one({"sha256": sha256, "state": "signed"})

    async def insert_agreement(self, doc: Doc, session: S = None) -> None:
        await self.agreements.insert_one(doc, session=session)

    async def update_draft(self, agreement_id: str, set_: Doc, session: S = None) -> bool:
        res = await self.agreements.update_one({"_id": agreement_id, "state": "draft"}, {"$set": set_},
                                               session=session)
        return res.modified_count == 1

    async def add_confirmation(self, agreement_id: str, confirmation: Doc) -> bool:
        """Once per party, while a draft."""
        res = await self.agreements.update_one(
            {"_id": agreement_id, "state": "draft", "confirmations.party_id": {"$ne": confirmation["party_id"]}},
            {"$push": {"confirmations": confirmation}})
        return res.modified_count == 1

    async def next_number(self, key: str, session: S = None) -> int:
        return await increment(self.counters, key, "n", session=session)

    async def insert_package(self, doc: Doc, session: S = None) -> None:
        await self.packages.insert_one(doc, session=session)

    async def package(self, package_id: str) -> Doc | None:
        return await self.packages.find_one({"_id": package_id})


class MongoClaims:
    """Livelihood insurance claims (``insurance_claims``)."""

    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.col = db["insurance_claims"]

    async def setup(self) -> None:
        await self.col.create_index([("unit_path", 1), ("decided_year", 1), ("state", 1)])
        await self.col.create_index("assignment_id")

    async def get(self, claim_id: str, session: S = None) -> Doc | None:
        return await self.col.find_one({"_id": claim_id}, session=session)

    async def insert(self, doc: Doc) -> None:
        await self.col.insert_one(doc)

    async def newest(self, assignment_id: str | None, unit_code: str) -> list[Doc]:
        q: Doc = {"assignment_id": assignment_id} if assignment_id is not None else {"unit_code": unit_code}
        return [c async for c in self.col.find(q).sort("registered_at", -1).limit(200)]

    async def move(self, claim_id: str, from_state: str, set_: Doc, history: Doc, session: S = None) -> bool:
        res = await self.col.update_one({"_id": claim_id, "state": from_state},
                                        {"$set": set_, "$push": {"history": history}}, session=session)
        return res.modified_count == 1

    async def any_in(self, scope: Doc) -> bool:
        return await self.col.find_one(scope, {"_id": 1}) is not None

    async def sums(self, scope: Doc, year: int) -> Doc | None:
        pipeline: list[Doc] = [
            {"$match": {**scope, "decided_year": year,
                        "state": {"$in": ["decided", "disputed", "final", "evaluated"]}}},
            {"$group": {"_id": None, "decided": {"$sum": 1},
                        "paid": {"$sum": {"$cond": [{"$gt": ["$paid_fen", 0]}, 1, 0]}},
                        "paid_fen": {"$sum": "$paid_fen"},
                        "disputed": {"$sum": {"$cond": [{"$ifNull": ["$dispute", False]}, 1, 0]}}}},
        ]
        rows = [r async for r in await self.col.aggregate(pipeline)]
        return rows[0] if rows else None


class MongoStore:
    """Every repository of the service on one database."""

    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.cases = MongoCases(db)
        self.people = MongoPeople(db)
        self.sessions = MongoSessions(db)
        self.invitations = MongoInvitations(db)
        self.documents = MongoDocuments(db)
        self.claims = MongoClaims(db)

    async def setup(self) -> None:
        for repo in (self.cases, self.people, self.sessions, self.invitations, self.documents, self.claims):
            await repo.setup()
