"""Mongo implementation of the delivery queue (ports.DeliveryQueue): the ledger's queued and claimed entries, and
when each person last got a text (``throttles``). Every method is one database operation (two for a read back)."""

from __future__ import annotations

import contextlib
from collections.abc import Collection
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import pymongo
from pymongo import ReturnDocument, UpdateMany, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from ..core.digest import InFlight
from ..ports import ClaimLocked, Doc, Session

NOTIFICATIONS = "notifications"  # the ledger: one entry per (source event, recipient, channel)
THROTTLES = "throttles"  # "<channel>|<address_key>" → when the person last got a text (the digest window)
_ORDER = [("created_at", 1), ("seq", 1)]
_DUE_FIELDS = {"address_key": 1, "batch_id": 1, "created_at": 1, "seq": 1, "not_before": 1}


def aware(dt: datetime) -> datetime:
    """The database may hand back naive UTC datetimes."""
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


class MongoDeliveryQueue:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.col = db[NOTIFICATIONS]
        self.throttles = db[THROTTLES]

    async def next_due(self, channel: str, before: datetime) -> datetime | None:
        # The range's upper bound is what keeps this cheap: the stand-in reads every index entry a filter's range
        # holds whatever the sort and limit (ADR 0218) — unbounded, every text a digest window holds (thousands
        # under a burst), on every round that found nothing due.
        doc = await self.col.find_one({"channel": channel, "state": "queued", "not_before": {"$lt": before}},
                                      {"not_before": 1}, sort=[("not_before", 1)])
        return aware(doc["not_before"]) if doc else None

    def bounded(self, seconds: float) -> AbstractContextManager[None]:
        # PyMongo's operation timeout: each call inside sends the time left as maxTimeMS and stops waiting for
        # its answer when it runs out, so a call that hangs (say a write behind another's open transaction)
        # ends with an error.
        return pymongo.timeout(seconds)

    async def oldest_claim(self, channel: str, skip: Collection[str] = ()) -> tuple[str, datetime] | None:
        # the same indexed read whatever ``skip`` (a few claims set aside; the plan must not change): the oldest
        # len(skip) + 1, the skipped ones left out here
        cursor = self.col.find({"channel": channel, "state": "sending"}, {"claimed_at": 1}).sort(
            [("claimed_at", 1)]).limit(len(skip) + 1)
        async for d in cursor:
            if d["_id"] not in skip and d.get("claimed_at") is not None:
                return d["_id"], aware(d["claimed_at"])
        return None

    async def take_over(self, nid: str, expired_before: datetime, mine: Doc) -> Doc | None:
        """In ONE transaction, tried once: inside a transaction a write on a document that another (open)
        transaction wrote fails at once with a write conflict, where a plain write waits until that transaction
        ends — and a transaction left open by a killed process lasts until the server aborts it (the stand-in
        does that only when another transaction starts: this one does)."""
        async with self.col.database.client.start_session() as session:
            await session.start_transaction()
            try:
                doc: Doc | None = await self.col.find_one_and_update(
                    {"_id": nid, "state": "sending", "claimed_at": {"$lt": expired_before}}, {"$set": mine},
                    return_document=ReturnDocument.BEFORE, session=session)
                if doc is not None:
                    dead = doc.get("owner")  # the batch is the texts of its key the dead worker holds
                    doc.update(mine)
                    if doc.get("batch_id") not in (None, nid) and not await self._holds_key(doc, session):
                        doc["batch_id"] = None  # a borrowed key (ADR 0204): it goes alone, under its own id
                    if doc.get("batch_id") is None:  # a batch of one (or died between claiming and forming it)
                        doc["batch_id"] = nid
                        await self.col.update_one({"_id": nid}, {"$set": {"batch_id": nid}}, session=session)
                    await self.col.update_many({"batch_id": doc["batch_id"], "state": "sending", "owner": dead},
                                               {"$set": mine}, session=session)
                await session.commit_transaction()
            except PyMongoError as exc:
                if session.in_transaction:
                    with contextlib.suppress(PyMongoError):
                        await session.abort_transaction()
                if exc.has_error_label("TransientTransactionError"):
                    raise ClaimLocked(nid) from exc
                raise
        return doc

    async def _holds_key(self, doc: Doc, session: Any) -> bool:
        """Whether a claimed text's batch key is a text of the same claim: a claim sets its digests' keys (ADR
        0204); a key whose text another replica claimed is borrowed and fixed before sending — unless the claimer
        died in between."""
        key_doc = await self.col.find_one({"_id": doc["batch_id"]}, {"claim_id": 1}, session=session)
        return key_doc is not None and key_doc.get("claim_id") == doc.get("claim_id")

    async def claim_batch(self, batch_id: str, mine: Doc, *, state: str) -> None:
        """Every member of a batch in ``state`` becomes this worker's (sending)."""
        await self.col.update_many({"batch_id": batch_id, "state": state}, {"$set": {"state": "sending", **mine}})

    async def due_ids(self, channel: str, now: datetime, limit: int) -> list[str]:
        due = {"channel": channel, "state": "queued", "not_before": {"$lte": now}}
        return [d["_id"] async for d in self.col.find(due, {"_id": 1}).sort(
            [("not_before", 1), *_ORDER]).limit(limit)]

    async def claim_ids(self, ids: list[str], mine: Doc) -> list[Doc]:
        """Claim those of ``ids`` still nobody's (queued, owner None) and read back the ones this worker got."""
        await self.col.update_many({"owner": None, "state": "queued", "_id": {"$in": ids}},
                                   {"$set": {"state": "sending", **mine}})
        return [d async for d in self.col.find({"owner": mine["owner"], "state": "sending",
                                                "_id": {"$in": ids}}).sort(_ORDER)]

    # --- a round of texts in bulk (worker._claim_texts): a few calls whatever the number of people ----------------

    async def due(self, channel: str, now: datetime, limit: int) -> list[Doc]:
        """The next ``limit`` due messages (what the round decides on), earliest first — sorted here too: the
        order of a person's texts must not depend on the plan the server picks."""
        due = {"channel": channel, "state": "queued", "not_before": {"$lte": now}}
        docs = [d async for d in self.col.find(due, _DUE_FIELDS).sort([("not_before", 1), *_ORDER]).limit(limit)]
        return sorted(docs, key=lambda d: (aware(d["not_before"]), aware(d["created_at"]), d.get("seq") or 0))

    async def in_flight_many(self, channel: str, address_keys: list[str]) -> dict[str, list[InFlight]]:
        """Each person's texts still on their way, in ONE read by (channel, address_key $in) — served by the
        (channel, address_key, …) index; it also reads the people's delivered texts (their own history, kept
        until retention), filtered out here: the stand-in scans an $in followed by another field's condition."""
        out: dict[str, list[InFlight]] = {k: [] for k in address_keys}
        cursor = self.col.find({"channel": channel, "address_key": {"$in": address_keys}},
                               {"address_key": 1, "state": 1, "claimed_at": 1, "not_before": 1, "created_at": 1,
                                "seq": 1, "batch_id": 1})
        async for d in cursor:
            if d.get("state") in ("sending", "queued") and d.get("address_key") in out:
                out[d["address_key"]].append(InFlight(
                    d["state"], d["created_at"], d.get("seq"),
                    aware(d["claimed_at"]) if d.get("claimed_at") else None,
                    aware(d["not_before"]) if d.get("not_before") else None, d.get("batch_id") is not None))
        return out

    async def last_sent_many(self, channel: str, address_keys: list[str]) -> dict[str, datetime]:
        ids = {f"{channel}|{k}": k for k in address_keys}
        return {ids[th["_id"]]: aware(th["last_sent_at"])
                async for th in self.throttles.find({"_id": {"$in": list(ids)}})}

    async def hold(self, until: dict[datetime, list[str]]) -> None:
        """Queued messages (still nobody's) wait until a later time: ONE update command for the round."""
        if until:
            await self.col.bulk_write([UpdateMany({"owner": None, "state": "queued", "_id": {"$in": ids}},
                                                  {"$set": {"not_before": at}}) for at, ids in until.items()],
                                      ordered=False)

    async def claim_people(self, channel: str, now: datetime, mine: Doc, gather: dict[str, str],
                           alone: list[str]) -> list[Doc]:
        """Claim, in ONE update command, every due new text of each person in ``gather`` (address key → the id of
        their first due text: the digest's key, set by the same update — ADR 0204) and the messages ``alone`` by
        id; then read back what this claim (``mine["claim_id"]``) got, in order. A message another replica
        claimed meanwhile does not match (owner None, queued)."""
        ops: list[UpdateMany] = [
            UpdateMany({"channel": channel, "state": "queued", "address_key": key, "batch_id": None,
                        "not_before": {"$lte": now}}, {"$set": {"state": "sending", "batch_id": anchor, **mine}})
            for key, anchor in gather.items()]
        if alone:
            ops.append(UpdateMany({"owner": None, "state": "queued", "_id": {"$in": alone}},
                                  {"$set": {"state": "sending", **mine}}))
        if not ops:
            return []
        await self.col.bulk_write(ops, ordered=False)
        got = [d async for d in self.col.find({"owner": mine["owner"], "state": "sending"})
               if d.get("claim_id") == mine["claim_id"]]
        return sorted(got, key=lambda d: (aware(d["created_at"]), d.get("seq") or 0))

    async def set_batches(self, owner: str, batches: dict[str, list[str]]) -> None:
        """Fix again the key of a claim's texts whose key (set by the claim) was a text another replica got — rare —
        before anything is sent: ONE command."""
        if batches:
            await self.col.bulk_write([UpdateMany({"owner": owner, "state": "sending", "_id": {"$in": ids}},
                                                  {"$set": {"batch_id": bid}}) for bid, ids in batches.items()],
                                      ordered=False)

    async def claim_next(self, channel: str, now: datetime, mine: Doc) -> Doc | None:
        doc: Doc | None = await self.col.find_one_and_update(
            {"channel": channel, "state": "queued", "not_before": {"$lte": now}},
            {"$set": {"state": "sending", **mine}}, sort=[("not_before", 1), *_ORDER],
            return_document=ReturnDocument.AFTER,
        )
        return doc

    async def in_flight(self, channel: str, address_key: str) -> list[InFlight]:
        # One indexed read of the person's texts still on their way (few); the conditions in code (the
        # MongoDB-wire stand-in's planner cannot serve an $or through an index).
        cursor = self.col.find({"channel": channel, "address_key": address_key,
                                "state": {"$in": ["sending", "queued"]}},
                               {"state": 1, "claimed_at": 1, "not_before": 1, "created_at": 1, "seq": 1, "batch_id": 1})
        return [InFlight(d["state"], d["created_at"], d.get("seq"),
                         aware(d["claimed_at"]) if d.get("claimed_at") else None,
                         aware(d["not_before"]) if d.get("not_before") else None, d.get("batch_id") is not None)
                async for d in cursor]

    async def last_sent(self, channel: str, address_key: str) -> datetime | None:
        th = await self.throttles.find_one({"_id": f"{channel}|{address_key}"})
        return th["last_sent_at"] if th is not None else None

    async def gather(self, channel: str, address_key: str, now: datetime, batch_id: str, mine: Doc) -> int:
        gathered = await self.col.update_many(
            {"channel": channel, "state": "queued", "address_key": address_key, "batch_id": None,
             "not_before": {"$lte": now}},
            {"$set": {"state": "sending", "batch_id": batch_id, **mine}},
        )
        return gathered.modified_count

    async def set_batch(self, nid: str, owner: str, batch_id: str) -> None:
        await self.col.update_one({"owner": owner, "state": "sending", "_id": nid}, {"$set": {"batch_id": batch_id}})

    async def release(self, nid: str, owner: str, not_before: datetime) -> None:
        await self.col.update_one({"owner": owner, "state": "sending", "_id": nid},
                                  {"$set": {"state": "queued", "not_before": not_before, "owner": None,
                                            "claimed_at": None}})

    async def members(self, batch_id: str, owner: str) -> list[Doc]:
        cursor = self.col.find({"batch_id": batch_id, "state": "sending", "owner": owner}).sort(_ORDER)
        return [d async for d in cursor]

    async def mark_delivered(self, owner: str, ids: list[str], at: datetime, session: Session) -> set[str]:
        """Of ``ids``, those still this worker's claim become delivered; returns them. ONE update; only when it
        changed fewer than asked (another worker took a batch over) one read by id says which were ours."""
        r = await self.col.update_many({"owner": owner, "state": "sending", "_id": {"$in": ids}},
                                       {"$set": {"state": "delivered", "delivered_at": at, "owner": None,
                                                 "delivered_by": owner}}, session=session)
        if r.modified_count == len(set(ids)):
            return set(ids)
        if not r.modified_count:
            return set()
        return {d["_id"] async for d in self.col.find({"_id": {"$in": ids}}, {"state": 1, "delivered_by": 1},
                                                      session=session)
                if d.get("state") == "delivered" and d.get("delivered_by") == owner}

    async def note_sent(self, channel: str, address_keys: list[str], at: datetime, session: Session) -> None:
        await self.throttles.bulk_write([UpdateOne({"_id": f"{channel}|{a}"}, {"$set": {"last_sent_at": at}},
                                                   upsert=True) for a in address_keys], session=session)

    async def requeue(self, owner: str, ids: list[str], change: Doc) -> None:
        await self.col.update_many({"owner": owner, "state": "sending", "_id": {"$in": ids}},
                                   {"$set": {"state": "queued", "owner": None, "claimed_at": None, **change}})

    async def mark_failed(self, nid: str, owner: str, change: Doc, session: Session) -> bool:
        r = await self.col.update_one({"owner": owner, "state": "sending", "_id": nid},
                                      {"$set": {"state": "failed", "owner": None, **change}}, session=session)
        return bool(r.modified_count)

    async def note_fallback(self, nid: str, fallback: Doc, session: Session) -> None:
        await self.col.update_one({"_id": nid}, {"$set": {"fallback": fallback}}, session=session)
