"""Mongo implementation of notify's contacts and ledger (database ``yima_notify``; ports.Contacts, ports.Ledger)."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure
from yima_kit.batch import DocumentBuffer
from yima_kit.throttle import PER_CLIENT, Allowance, CheckThrottle

from ..ports import CaseContact, Doc, ExpertContact, Session, Waiting
from .mongo_queue import NOTIFICATIONS, MongoDeliveryQueue

RECIPIENTS = "recipients"
PENDING = "pending_events"
UNIT_CONTACTS = "unit_contacts"
TRACK_FAILURES = "track_failures"  # the old per-code counters (expire by themselves)
TRACK_THROTTLE = "track_throttle"  # the applicant inbox's lockout (yima_kit.throttle)
EXPERTS = "expert_contacts"  # person_id → the expert's phone, learned from mediation.expert_invited (encrypted)


class MongoContacts:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.recipients = db[RECIPIENTS]
        self.pending = db[PENDING]
        self.units = db[UNIT_CONTACTS]
        self.experts = db[EXPERTS]

        self._waiting: dict[str, list[Waiting]] | None = None  # a batch's parked events, read at once
        # a batch's parkings and unparkings, written at flush with one command each (None: at once)
        self._park: list[UpdateOne] | None = None
        self._unpark: list[str] | None = None
        self._session: Session = None

    async def setup(self) -> None:
        await self.recipients.create_index("tracking_index")
        await self.pending.create_index("case_id")

    # --- a consumer's batch (ADR 0155) ---

    def in_batch(self, session: Session) -> MongoContacts:
        """A view for one batch inside its transaction: the cases' contacts (and the units' channels) are read once
        and what the batch changes in them is written once, at flush."""
        view = copy.copy(self)
        view.recipients = DocumentBuffer(self.recipients, session)  # type: ignore[assignment]
        # the units' channels are read once a batch, OUTSIDE its transaction: the batch never writes them, and the
        # stand-in runs transactional statements one at a time, server-wide (ADR 0219)
        view.units = DocumentBuffer(self.units, None)  # type: ignore[assignment]
        view._waiting = None
        view._park, view._unpark, view._session = [], [], session
        return view

    async def load(self, case_ids: Iterable[str], *, waiting: bool, session: Session) -> None:
        ids = sorted(set(case_ids))
        if isinstance(self.recipients, DocumentBuffer):
            await self.recipients.load(ids)
        if waiting:  # the events parked for these cases, in one query (case.submitted's batch)
            found: dict[str, list[Waiting]] = {i: [] for i in ids}
            async for p in self.pending.find({"case_id": {"$in": ids}}, session=session).sort("seq", 1):
                found[p["case_id"]].append(Waiting(p["_id"], p["source"]))
            self._waiting = found

    async def flush(self) -> None:
        if self._park:
            await self.pending.bulk_write(self._park, ordered=True, session=self._session)
            self._park = []
        if self._unpark:
            await self.pending.delete_many({"_id": {"$in": self._unpark}}, session=self._session)
            self._unpark = []
        if isinstance(self.recipients, DocumentBuffer):
            await self.recipients.flush()

    async def save_case(self, case_id: str, fields: Doc, session: Session) -> None:
        # $set (not $setOnInsert): an event that came first wrote this document too (see touch_case), so the two
        # transactions conflict and one retries, seeing the other — no event is left waiting unseen.
        await self.recipients.update_one({"_id": case_id}, {"$set": fields}, upsert=True, session=session)

    async def case(self, case_id: str, session: Session = None) -> CaseContact | None:
        doc = await self.recipients.find_one({"_id": case_id}, session=session)
        return CaseContact.of(doc) if doc is not None and "case_number" in doc else None

    async def touch_case(self, case_id: str, session: Session) -> None:
        await self.recipients.update_one({"_id": case_id}, {"$inc": {"waiting": 1}}, upsert=True, session=session)

    async def set_acting_unit(self, case_id: str, unit_code: str, session: Session) -> None:
        await self.recipients.update_one({"_id": case_id}, {"$set": {"acting_unit": unit_code}}, session=session)

    async def set_wechat_off(self, case_id: str, session: Session) -> None:
        await self.recipients.update_one({"_id": case_id}, {"$set": {"wechat_off": True}}, session=session)

    async def case_by_tracking_index(self, index: str) -> tuple[str, CaseContact] | None:
        doc = await self.recipients.find_one({"tracking_index": index})
        return (doc["_id"], CaseContact.of(doc)) if doc is not None and "case_number" in doc else None

    async def park(self, event_id: str, case_id: str, source: str, at: datetime, session: Session) -> None:
        op = UpdateOne({"_id": event_id},
                       {"$setOnInsert": {"case_id": case_id, "source": source, "created_at": at, "seq": at}},
                       upsert=True)
        if self._park is not None:
            self._park.append(op)
        else:
            await self.pending.bulk_write([op], session=session)

    async def waiting(self, case_id: str, session: Session) -> list[Waiting]:
        if self._waiting is not None and case_id in self._waiting:
            return self._waiting[case_id]
        return [Waiting(p["_id"], p["source"])
                async for p in self.pending.find({"case_id": case_id}, session=session).sort("seq", 1)]

    async def unpark(self, waiting_id: str, session: Session) -> None:
        if self._unpark is not None:
            self._unpark.append(waiting_id)
        else:
            await self.pending.delete_one({"_id": waiting_id}, session=session)

    async def expert(self, person_id: str, session: Session) -> ExpertContact | None:
        doc = await self.experts.find_one({"_id": person_id}, session=session)
        return ExpertContact.of(doc) if doc is not None else None

    async def note_expert_session(self, person_id: str, session: Session) -> None:
        await self.experts.update_one({"_id": person_id}, {"$inc": {"sessions": 1}}, upsert=True, session=session)

    async def learn_expert(self, person_id: str, update: Doc, session: Session) -> None:
        await self.experts.update_one({"_id": person_id}, update, upsert=True, session=session)

    async def unit_channels(self, unit_code: str) -> dict[str, str] | None:
        doc = await self.units.find_one({"_id": unit_code})  # never in a transaction: no batch writes it
        if doc is None:
            return None
        return {k: v for k, v in doc.items() if k != "_id" and isinstance(v, str) and v}

    async def set_unit_channels(self, unit_code: str, fields: dict[str, str], by: str, at: datetime) -> None:
        await self.units.update_one({"_id": unit_code}, {"$set": {**fields, "updated_by": by, "updated_at": at}},
                                    upsert=True)


# Served by another index's prefix since ADR 0200, or dropped or made partial by ADR 0208; dropped where an older
# deployment made them.
OBSOLETE_INDEXES = ("case_id_1_created_at_1", "channel_1_state_1_claimed_at_1", "batch_id_1",
                    "ledger_event_recipient_channel", "_id_1_owner_1_state_1", "channel_1_state_1_recipient_1",
                    "state_1_scope_units_1", "channel_1_unit_code_1_created_at_-1")
# The partial indexes (ADR 0208): only the few entries that the one query reading them can ask for are in them, so
# an ordinary text or inbox message is written to none of them. A query uses one only when its filter names the
# partial filter's fields with the same values (MongoDB's rule; the stand-in's too).
INBOX, AWAITING, FAILED = {"channel": "inbox"}, {"channel": "sms", "state": "awaiting_contact"}, {"state": "failed"}


class MongoLedger:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.col = db[NOTIFICATIONS]

    async def setup(self) -> None:
        n = self.col
        # Every index is written on every insert and every claim or mark of a text, and the stand-in's cost of a
        # write grows with the collection's index count (ADR 0200, 0208): none that another index serves, none for
        # a rare state that a partial index serves. The ledger's key (source event, recipient, channel) is unique
        # by ``_id`` alone: ``_id`` is a function of the three (service.notification_id).
        for obsolete in OBSOLETE_INDEXES:
            with contextlib.suppress(OperationFailure):
                await n.drop_index(obsolete)
        # a case's messages ({case_id} is this index's prefix), and by kind
        await n.create_index([("case_id", 1), ("channel", 1), ("recipient_kind", 1), ("created_at", 1)])
        # due texts; and expired claims (takeover: {channel, state: sending}, sorted in memory — few are in flight)
        await n.create_index([("channel", 1), ("state", 1), ("not_before", 1)])
        # a person's texts in order, and a digest's gathering: every field of those filters (ADR 0060)
        await n.create_index([("channel", 1), ("address_key", 1), ("state", 1), ("batch_id", 1), ("not_before", 1)])
        # conditional updates of a claim's texts ({owner, state, _id}: one, or a round's by _id $in)
        await n.create_index([("owner", 1), ("state", 1), ("_id", 1)])
        await n.create_index([("batch_id", 1), ("state", 1), ("owner", 1)])  # a batch's members ({batch_id} too)
        await n.create_index("invitation_id", sparse=True)  # a resent invitation withdraws the old text
        await n.create_index("recipient", partialFilterExpression=AWAITING, name="awaiting_contact_recipient")
        await n.create_index([("unit_code", 1), ("created_at", -1)], partialFilterExpression=INBOX,
                             name="inbox_unit_code_created_at")
        await n.create_index([("scope_units", 1), ("failed_at", -1)], partialFilterExpression=FAILED,
                             name="failed_scope_units_failed_at")

    async def insert_new(self, doc: Doc, session: Session) -> bool:
        """ONE upsert by ``_id`` (a plain insert of a duplicate would abort the transaction, so it used to be a
        read and an insert)."""
        res = await self.col.update_one({"_id": doc["_id"]}, {"$setOnInsert": doc}, upsert=True, session=session)
        return res.upserted_id is not None

    async def add_new(self, doc: Doc, session: Session, on_new: Callable[[], None]) -> None:
        if await self.insert_new(doc, session):
            on_new()

    def in_batch(self, session: Session) -> BatchLedger:
        return BatchLedger(self, session)

    async def flush(self) -> None:
        return None

    async def withdraw_invitation_texts(self, invitation_id: str, newer_event_id: str, session: Session) -> None:
        await self.col.update_many(
            {"invitation_id": invitation_id, "channel": "sms", "state": "queued", "batch_id": None,
             "source_event_id": {"$ne": newer_event_id}},
            {"$set": {"state": "superseded", "superseded_by": newer_event_id}}, session=session)

    async def awaiting_contact(self, person_id: str, session: Session) -> list[Doc]:
        return [w async for w in self.col.find(
            {"recipient": {"$in": [f"person:{person_id}", f"person:{person_id}#reminder"]}, "channel": "sms",
             "state": "awaiting_contact"}, session=session)]

    async def resolve_awaiting(self, nid: str, change: Doc, session: Session) -> None:
        # owner None: the whole (owner, state, _id) index — nobody claims a text awaiting its contact
        await self.col.update_one({"owner": None, "state": "awaiting_contact", "_id": nid}, {"$set": change},
                                  session=session)

    async def inbox(self, query: Doc, limit: int) -> list[Doc]:
        return [d async for d in self.col.find(query).sort("created_at", -1).limit(limit)]

    async def mark_read(self, unit_code: str, nid: str, at: datetime) -> bool:
        r = await self.col.update_one({"_id": nid, "channel": "inbox", "unit_code": unit_code},
                                      {"$set": {"read_at": at}})
        return r.matched_count == 1

    async def failed(self, unit_code: str, limit: int) -> list[Doc]:
        cursor = self.col.find({"state": "failed", "scope_units": unit_code}).sort("failed_at", -1)
        return [d async for d in cursor.limit(limit)]

    async def states(self, ids: list[str]) -> dict[str, str]:
        return {d["_id"]: d["state"] async for d in self.col.find({"_id": {"$in": ids}}, {"state": 1})}


class BatchLedger:
    """The ledger for one batch inside its transaction (ADR 0155): the batch's new entries are kept and written at
    flush — one read of which exist and one insert of the rest — and ``on_new`` runs for each one written (its
    ``notification.sent``, the worker's wake-up), in the order they were staged. Anything else writes them first."""

    def __init__(self, ledger: MongoLedger, session: Session) -> None:
        self.ledger, self.session = ledger, session
        self.col = ledger.col
        self._new: dict[str, tuple[Doc, Callable[[], None]]] = {}

    async def add_new(self, doc: Doc, session: Session, on_new: Callable[[], None]) -> None:
        self._new.setdefault(doc["_id"], (doc, on_new))

    async def insert_new(self, doc: Doc, session: Session) -> bool:
        await self.flush()
        return await self.ledger.insert_new(doc, self.session)

    async def flush(self) -> None:
        staged, self._new = list(self._new.values()), {}
        if len(staged) == 1:  # one upsert is one call
            await self.ledger.add_new(staged[0][0], self.session, staged[0][1])
            return
        if not staged:
            return
        known = {d["_id"] async for d in self.col.find({"_id": {"$in": [d["_id"] for d, _ in staged]}}, {"_id": 1},
                                                       session=self.session)}
        new = [(d, cb) for d, cb in staged if d["_id"] not in known]
        if new:
            await self.col.insert_many([d for d, _ in new], ordered=True, session=self.session)
        for _, on_new in new:
            on_new()

    async def withdraw_invitation_texts(self, invitation_id: str, newer_event_id: str, session: Session) -> None:
        await self.flush()
        await self.ledger.withdraw_invitation_texts(invitation_id, newer_event_id, self.session)

    async def awaiting_contact(self, person_id: str, session: Session) -> list[Doc]:
        await self.flush()
        return await self.ledger.awaiting_contact(person_id, self.session)

    async def resolve_awaiting(self, nid: str, change: Doc, session: Session) -> None:
        await self.flush()
        await self.ledger.resolve_awaiting(nid, change, self.session)

    def in_batch(self, session: Session) -> BatchLedger:
        return self

    def __getattr__(self, name: str) -> Any:  # the staff's reads (inbox, failed, states): outside a batch
        return getattr(self.ledger, name)


class MongoNotifyRepository:
    """Notify's ports over one database."""

    def __init__(self, db: AsyncDatabase[Any], lockout: Allowance = PER_CLIENT) -> None:
        self.contacts = MongoContacts(db)
        self.ledger = MongoLedger(db)
        self.queue = MongoDeliveryQueue(db)
        self.lockout = CheckThrottle(db[TRACK_THROTTLE], per_client=lockout)
        self.track_failures = db[TRACK_FAILURES]

    async def setup(self) -> None:
        await self.ledger.setup()
        await self.contacts.setup()
        await self.track_failures.create_index("expires_at", expireAfterSeconds=0)
        await self.lockout.setup()

