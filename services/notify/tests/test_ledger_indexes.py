"""The delivery worker's indexes hold only the texts in its hands (ADR 0216): an older deployment's ledger is
migrated at start, and a text leaves the working set when it is delivered or failed (real MongoDB-protocol server)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from yima_notify.adapters.mongo_queue import MongoDeliveryQueue
from yima_notify.adapters.mongo_repo import UNPARTIAL_WORK_INDEXES, MongoLedger

pytestmark = pytest.mark.integration

ADR0208_WORK_INDEXES = [[("channel", 1), ("state", 1), ("not_before", 1)],
                        [("channel", 1), ("address_key", 1), ("state", 1), ("batch_id", 1), ("not_before", 1)],
                        [("owner", 1), ("state", 1), ("_id", 1)], [("batch_id", 1), ("state", 1), ("owner", 1)]]


def doc(nid: str, state: str, channel: str = "sms", owner: str | None = None) -> dict[str, Any]:
    return {"_id": nid, "channel": channel, "state": state, "owner": owner, "batch_id": None, "address_key": "k",
            "not_before": datetime.now(UTC), "created_at": datetime.now(UTC), "claimed_at": None}


async def test_an_older_ledger_is_migrated_and_finished_texts_leave_the_working_set(yima_infra,
                                                                                    mongo_db_prefix) -> None:
    client: AsyncMongoClient[Any] = AsyncMongoClient(yima_infra.mongo_url, tz_aware=True)
    db = client[f"{mongo_db_prefix}ledger_{uuid.uuid4().hex[:8]}"]
    try:
        col = db["notifications"]
        for keys in ADR0208_WORK_INDEXES:
            await col.create_index(keys)
        await col.insert_many([doc("q", "queued"), doc("s", "sending", owner="w1"), doc("a", "awaiting_contact"),
                               doc("d", "delivered"), doc("f", "failed"), doc("i", "delivered", channel="inbox")])
        ledger = MongoLedger(db)
        await ledger.setup()
        await ledger.setup()  # a second start: nothing left to migrate
        assert {d["_id"] async for d in col.find({"work": True})} == {"q", "s", "a"}
        indexes = await col.index_information()
        assert not set(UNPARTIAL_WORK_INDEXES) & set(indexes)
        work = {name: spec for name, spec in indexes.items() if name.startswith("work_")}
        assert len(work) == 4 and all(spec["partialFilterExpression"] == {"work": True} for spec in work.values())

        queue = MongoDeliveryQueue(db)
        assert await queue.mark_delivered("w1", ["s"], datetime.now(UTC), None) == {"s"}
        await col.update_one({"_id": "q"}, {"$set": {"state": "sending", "owner": "w1"}})
        assert await queue.mark_failed("q", "w1", {"failed_at": datetime.now(UTC)}, None)
        await ledger.resolve_awaiting("a", {"state": "dropped"}, None)
        assert [d async for d in col.find({"work": True})] == []
        assert {d["_id"]: d["state"] async for d in col.find({})} == {
            "q": "failed", "s": "delivered", "a": "dropped", "d": "delivered", "f": "failed", "i": "delivered"}
    finally:
        await client.drop_database(db.name)
        await client.close()
