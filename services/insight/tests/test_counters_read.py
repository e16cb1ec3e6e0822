"""What the one table reads, counted in documents and bytes (counts, not seconds: ADRs 0160, 0175).

A long range reads one document per whole year, whole month, whole ten days and remaining day — exactly those,
not every day between its edges — and only the part that holds the asked grouping: a table by category never
reads the unit × category grouping (most of a district's bytes)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import bson
import pytest
from pymongo import AsyncMongoClient
from yima_insight.adapters.mongo_store import MongoInsightStore
from yima_insight.core import table
from yima_insight.core.facts import Slice
from yima_insight.core.rollup import ALL, Increments, add
from yima_insight.service import InsightService

pytestmark = pytest.mark.integration

UNITS = [f"U{i}" for i in range(6)]
CATEGORIES = ["neighbour", "labour", "property", "marriage", "land"]


class CountingReads:
    """The counters collection, remembering the documents its finds return."""

    def __init__(self, col: Any) -> None:
        self.col = col
        self.ids: list[str] = []
        self.queries = 0

    def find(self, *args: Any, **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
        self.queries += 1

        async def docs() -> AsyncIterator[dict[str, Any]]:
            async for d in self.col.find(*args, **kwargs):
                self.ids.append(d["_id"])
                yield d

        return docs()

    async def stored(self) -> list[dict[str, Any]]:
        """The whole documents read (this server loads them whole, whatever the projection)."""
        return [d async for d in self.col.find({"_id": {"$in": self.ids}})]


def cases_on(days: list[str]) -> Increments:
    """Every unit × category's case on each of these days (the service's own rollup)."""
    incs: Increments = {}
    for d in days:
        for u in UNITS:
            for c in CATEGORIES:
                add(incs, Slice(d, u, (u,), c, "grid", "blue", "platform"), {"received": 1, "closed": 1})
    return incs


async def test_a_long_range_reads_its_periods_of_one_part_only(yima_infra, mongo_db_prefix: str) -> None:
    client: AsyncMongoClient[Any] = AsyncMongoClient(yima_infra.mongo_url)
    try:
        store = MongoInsightStore(client[f"{mongo_db_prefix}insight_reads"])
        await store.setup()
        service = InsightService(store, weights={}, target_community=0.7, target_three=0.95)
        a, b = date(2030, 11, 8), date(2032, 2, 23)
        plan = table.split_range(a, b)
        assert plan == {"y": ["2031"], "m": ["2030-12", "2032-01"],
                        "t": ["2030-11~2", "2030-11~3", "2032-02~1", "2032-02~2"],
                        "d": ["2030-11-08", "2030-11-09", "2030-11-10", "2032-02-21", "2032-02-22", "2032-02-23"]}
        # a case day inside each planned period, and days around it (outside the range, or inside a period the
        # plan reads whole: their day, ten-days and month documents must not be read)
        inside = ["2031-06-15", "2030-12-03", "2032-01-30", "2030-11-12", "2030-11-25", "2032-02-02",
                  "2032-02-11",
                  *plan["d"]]
        others = ["2030-11-07", "2030-10-30", "2032-02-24", "2032-03-01", "2031-01-01", "2030-12-31"]
        await store.increment(cases_on(inside + others))
        spy = CountingReads(store.counters_col)
        store.counters_col = spy  # type: ignore[assignment]

        t = await service.table(ALL, "category", a, b)
        assert t["totals"]["received"] == len(inside) * len(UNITS) * len(CATEGORIES) + 2 * 30  # 2031-01-01, 12-31
        assert {r["key"]: r["received"] for r in t["rows"]} == {c: (len(inside) + 2) * len(UNITS) for c in CATEGORIES}
        n_periods = sum(map(len, plan.values()))
        read = await spy.stored()
        assert len(spy.ids) == len(read) == n_periods, f"read {len(spy.ids)} documents for {n_periods} periods"
        assert spy.queries == 1  # one round trip for the four granularities
        assert {d["k"] for d in read} == {"g"} and {d["p"] for d in read} == {p for ps in plan.values() for p in ps}
        g_bytes = sum(len(bson.encode(d)) for d in read)

        spy.ids, spy.queries = [], 0
        heat = await service.heat(ALL, a, b)
        assert len(heat["cells"]) == len(UNITS) * len(CATEGORIES)
        read = await spy.stored()
        assert len(read) == n_periods and {d["k"] for d in read} == {"uc"} and spy.queries == 1
        # what a table by category does not read: the unit × category part, larger than all it reads
        assert sum(len(bson.encode(d)) for d in read) > g_bytes
    finally:
        await client.close()


async def test_a_batch_writes_only_the_units_that_changed(yima_infra, mongo_db_prefix: str) -> None:
    """The units a batch's events name are read with the paths it needs (one query) and written only when their
    name or path differs from what is stored; the paths are those a write-then-read gave (ADR 0214)."""
    from yima_insight.core.facts import UnitSeen

    client: AsyncMongoClient[Any] = AsyncMongoClient(yima_infra.mongo_url)
    try:
        store = MongoInsightStore(client[f"{mongo_db_prefix}insight_units_seen"])
        await store.setup()
        await store.units.insert_many([{"_id": "D", "name": "区", "path": ["D"]},
                                       {"_id": "S", "name": "街道", "path": ["D", "S"]},
                                       {"_id": "C", "name": "社区"}])
        writes: list[Any] = []
        bulk_write = store.units.bulk_write

        async def counted(ops: Any, **kw: Any) -> Any:
            writes.append(ops)
            return await bulk_write(ops, **kw)

        store.units.bulk_write = counted  # type: ignore[method-assign]
        same = [UnitSeen("S", "街道", ("D", "S")), UnitSeen("D", "区"), UnitSeen("S", None)]
        assert await store.units_seen(same, {"S", "C", "X"}) == {"S": ("D", "S")}
        assert writes == []  # nothing new: no write at all
        changed = [UnitSeen("C", "社区", ("D", "S", "C")), UnitSeen("S", "新街道"), UnitSeen("N", "新单位")]
        assert await store.units_seen(changed, {"C", "S", "N"}) == {"C": ("D", "S", "C"), "S": ("D", "S")}
        assert len(writes) == 1 and len(writes[0]) == 3
        stored = {d["_id"]: d async for d in store.units.find({})}
        assert stored["C"] == {"_id": "C", "name": "社区", "path": ["D", "S", "C"]}
        assert stored["S"] == {"_id": "S", "name": "新街道", "path": ["D", "S"]}
        assert stored["N"] == {"_id": "N", "name": "新单位"}
        assert await store.unit_paths({"C", "S", "N"}) == {"C": ("D", "S", "C"), "S": ("D", "S")}
    finally:
        await client.close()
