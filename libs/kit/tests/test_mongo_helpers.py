"""Counters and TTL indexes against the real MongoDB-wire server.

Seen in CI: six concurrent first submissions of a rate-limit window made the server answer an upsert
with no document at all, and intake answered 500. A counter must give every caller its own value.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from yima_kit.mongo import connect, ensure_ttl_index, in_transaction, increment

pytestmark = pytest.mark.integration


async def test_concurrent_first_increments_each_get_their_own_value(yima_infra, mongo_db_prefix):
    client = connect(yima_infra.mongo_url)
    col = client[f"{mongo_db_prefix}kit"]["counters"]
    try:
        for _ in range(3):
            key = uuid.uuid4().hex
            got = await asyncio.gather(*(increment(col, key, "n", set_on_insert={"kind": "t"}) for _ in range(12)))
            assert sorted(got) == list(range(1, 13))
            doc = await col.find_one({"_id": key})
            assert doc == {"_id": key, "n": 12, "kind": "t"}
    finally:
        await client.close()


async def test_concurrent_first_increments_by_a_block_reserve_disjoint_blocks(yima_infra, mongo_db_prefix):
    client = connect(yima_infra.mongo_url)
    col = client[f"{mongo_db_prefix}kit"]["counters"]
    key = uuid.uuid4().hex
    try:
        lasts = await asyncio.gather(*(increment(col, key, "seq", by=5) for _ in range(8)))
        assert sorted(lasts) == list(range(5, 45, 5))  # each caller owns the 5 numbers up to its value
    finally:
        await client.close()


async def test_concurrent_increments_inside_transactions_never_repeat_a_number(yima_infra, mongo_db_prefix):
    client = connect(yima_infra.mongo_url)
    col = client[f"{mongo_db_prefix}kit"]["counters"]
    key = uuid.uuid4().hex
    try:
        got = await asyncio.gather(*(
            in_transaction(client, lambda s: increment(col, key, "seq", session=s)) for _ in range(8)
        ))
        assert sorted(got) == list(range(1, 9))
    finally:
        await client.close()


async def test_ttl_index_replaces_a_plain_index_and_follows_a_changed_retention(yima_infra, mongo_db_prefix):
    client = connect(yima_infra.mongo_url)
    col = client[f"{mongo_db_prefix}kit"][f"ledger_{uuid.uuid4().hex[:6]}"]
    try:
        await col.create_index("at")  # what an older deployment made
        await ensure_ttl_index(col, "at", 3600, "processed_ttl")
        await ensure_ttl_index(col, "at", 7200, "processed_ttl")  # the retention setting changed
        await ensure_ttl_index(col, "at", 7200, "processed_ttl")  # a restart with the same setting
        on_at = [i async for i in await col.list_indexes() if list(i["key"].keys()) == ["at"]]
        assert [(i["name"], i.get("expireAfterSeconds")) for i in on_at] == [("processed_ttl", 7200)]
    finally:
        await client.close()
