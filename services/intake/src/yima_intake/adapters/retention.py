"""Intake's side of retention (docs/retention.md, docs/adr/0125): which cases are past their period, and the
erasure of one case's personal data together with ``case.retention_expired`` for every other service.

What goes: the description, the applicant's name, phone, ID number and the check of the phone's last digits, the
blind index that finds an applicant's earlier cases, the address, the settlement note, the proxy's name and phone,
the repeat reports' texts, the rating's comment, the idempotency keys (their fingerprint hashes the submission).
What stays: the case number, channel, category, unit, dates, states, the applicant-visible timeline (which never
held personal data), the repeat count and the rating's score — so the case is still counted, and its tracking
code no longer opens anything (no phone check can match)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from yima_contracts import Actor, CaseRetentionExpired, topics
from yima_contracts.codes import ActorKind
from yima_kit.consumer import EventConsumers
from yima_kit.uow import Tx

SYSTEM = Actor(kind=ActorKind.SYSTEM, service="intake")

# The case document after erasure: personal fields emptied (the applicant's shape stays: readers index into it).
ERASED_SET: dict[str, Any] = {
    "description": None, "address": None, "settlement_note": None, "proxy": None,
    "applicant": {"name": None, "phone": None, "resident_id": None, "phone_last4_hash": ""},
}
ERASED_UNSET: dict[str, Any] = {"ended_at": "", "applicant_key": "", "repeat_reports": "", "idempotency": ""}


class MongoRetention:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.cases = db["cases"]
        self.keys = db["idempotency_keys"]  # keys claimed before ADR 0190 (since: on the case, erased with it)
        self.ratings = db["ratings"]

    async def setup(self) -> None:
        # The sweeper's only read (a range on one field: the idle pass costs one index probe) …
        await self.cases.create_index([("ended_at", ASCENDING)], name="retention_ended_at")
        # … the erasure's conditional update (the stand-in's planner wants every field of a filter in one index) …
        await self.cases.create_index([("_id", ASCENDING), ("ended_at", ASCENDING)], name="retention_id_ended_at")
        # … and the erasure's delete of a case's idempotency keys.
        await self.keys.create_index([("case_id", ASCENDING)], name="retention_case_id")

    async def due(self, cutoff: datetime, limit: int) -> list[str]:
        cursor = self.cases.find({"ended_at": {"$lte": cutoff}}, {"_id": 1}).sort("ended_at", ASCENDING).limit(limit)
        return [d["_id"] async for d in cursor]

    async def count_due(self, cutoff: datetime) -> int:
        return int(await self.cases.count_documents({"ended_at": {"$lte": cutoff}}))

    async def erase(self, case_id: str, cutoff: datetime, retention: timedelta, tx: Tx) -> bool:
        s = tx.session
        before = await self.cases.find_one_and_update(
            {"_id": case_id, "ended_at": {"$lte": cutoff}},
            {"$set": {**ERASED_SET, "erased_at": datetime.now(UTC)}, "$unset": ERASED_UNSET},
            projection={"case_number": 1, "ended_at": 1}, return_document=ReturnDocument.BEFORE, session=s)
        if before is None:
            return False  # erased by another replica meanwhile, or taken up again: no longer due
        await self.keys.delete_many({"case_id": case_id}, session=s)
        await self.ratings.update_one({"_id": case_id}, {"$set": {"comment": None}}, session=s)
        ended = before["ended_at"]
        tx.emit(topics.CASE_RETENTION_EXPIRED, CaseRetentionExpired(
            case_id=case_id, correlation_id=case_id, actor=SYSTEM, case_number=before["case_number"],
            ended_at=ended if ended.tzinfo else ended.replace(tzinfo=UTC),
            retention_days=retention.total_seconds() / 86400))
        return True


def declare_retention(consumers: EventConsumers) -> None:
    consumers.publishes(topics.CASE_RETENTION_EXPIRED, CaseRetentionExpired,
                        "保存期限届满：本案个人信息已在受理服务删除，各服务据此删除各自保存的该案个人信息")
