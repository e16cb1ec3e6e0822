"""The batch's document buffer (yima_kit.batch, ADR 0155): the server's update operators in memory, one read and one
write per batch, and anything it does not know handed to the server after what it holds was written."""

from __future__ import annotations

import uuid

import pytest
from yima_kit.batch import DocumentBuffer, apply_update
from yima_kit.mongo import connect, in_transaction


def test_update_operators_apply_as_the_server_does() -> None:
    doc = {"_id": "c", "a": {"b": 1}, "tags": ["x"], "n": 2}
    assert apply_update(doc, {"$set": {"a.c": 3, "top": True}, "$unset": {"a.b": ""}, "$inc": {"n": 3, "m": 1},
                              "$push": {"log": {"at": 1}}, "$addToSet": {"tags": "x"}})
    assert doc == {"_id": "c", "a": {"c": 3}, "top": True, "tags": ["x"], "n": 5, "m": 1, "log": [{"at": 1}]}
    assert apply_update(doc, {"$setOnInsert": {"k": 1}}) and "k" not in doc
    assert apply_update(doc, {"$setOnInsert": {"k": 1}}, inserting=True) and doc["k"] == 1
    before = dict(doc)
    # what it does not do, it leaves to the server, untouched
    assert not apply_update(doc, {"$pull": {"tags": "x"}})
    assert not apply_update(doc, {"$push": {"log": {"$each": [1, 2]}}})
    assert not apply_update(doc, {"$set": {"_id": "other"}})
    assert doc == before


@pytest.mark.integration
async def test_a_batch_reads_once_writes_once_and_hands_over_what_it_does_not_know(yima_infra, mongo_db_prefix):
    client = connect(yima_infra.mongo_url)
    db = client[f"{mongo_db_prefix}kit"]
    col = db[f"buf_{uuid.uuid4().hex[:6]}"]
    await col.insert_many([{"_id": "a", "n": 1, "log": []}, {"_id": "b", "n": 1, "log": []}])
    await db.command("profile", 2)
    try:
        async def work(session):
            buf = DocumentBuffer(col, session)
            await buf.load(["a", "b", "new"])
            for i in range(3):
                await buf.update_one({"_id": "a"}, {"$inc": {"n": 1}, "$push": {"log": i}})
            assert (await buf.find_one({"_id": "a"}, {"n": 1})) == {"_id": "a", "n": 4}
            assert await buf.find_one({"_id": "new"}) is None
            res = await buf.update_one({"_id": "gone"}, {"$set": {"x": 1}})  # no upsert: nothing
            assert res.matched_count == 0
            await buf.update_one({"_id": "new"}, {"$set": {"n": 9}}, upsert=True)
            await buf.insert_one({"_id": "fresh", "n": 0})
            # the database sees the batch's writes before it answers a query by another filter
            assert [d["_id"] async for d in buf.find({"n": {"$gte": 4}}).sort("_id", 1)] == ["a", "new"]
            # an operator the buffer does not do: handed to the server, with what was held written first
            await buf.update_one({"_id": "b"}, {"$pull": {"log": 0}})
            await buf.update_one({"_id": "b"}, {"$set": {"n": 7}})
            await buf.flush()

        await db["system.profile"].drop()
        await in_transaction(client, work)
        ops = [(p["op"], p.get("command", {}).get("q") or p.get("command", {}).get("filter"))
               async for p in db["system.profile"].find({"ns": col.full_name})]
        # the load, "gone" (not loaded), the query by another filter, and b read again after the hand-over
        assert [op for op, _ in ops].count("query") == 4, ops
    finally:
        await db.command("profile", 0)
    assert await col.find_one({"_id": "a"}) == {"_id": "a", "n": 4, "log": [0, 1, 2]}
    assert await col.find_one({"_id": "b"}) == {"_id": "b", "n": 7, "log": []}
    assert await col.find_one({"_id": "new"}) == {"_id": "new", "n": 9}
    assert await col.find_one({"_id": "fresh"}) == {"_id": "fresh", "n": 0}
    assert await col.find_one({"_id": "gone"}) is None
    await client.close()
