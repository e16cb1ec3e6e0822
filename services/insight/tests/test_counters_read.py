"""What the one table reads: a long range's edge days are fetched by themselves, not every day between them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from yima_insight.adapters.mongo_store import MongoInsightStore

pytestmark = pytest.mark.integration


class CountingReads:
    """The counters collection, counting the documents its finds return."""

    def __init__(self, col: Any) -> None:
        self.col = col
        self.read = 0

    def find(self, *args: Any, **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
        async def docs() -> AsyncIterator[dict[str, Any]]:
            async for d in self.col.find(*args, **kwargs):
                self.read += 1
                yield d

        return docs()


async def test_a_long_range_reads_its_edge_days_only(yima_infra, mongo_db_prefix: str) -> None:
    client: AsyncMongoClient[Any] = AsyncMongoClient(yima_infra.mongo_url)
    try:
        store = MongoInsightStore(client[f"{mongo_db_prefix}insight_reads"])
        await store.setup()
        start = date(2030, 1, 1)
        days = [(start + timedelta(days=k)).isoformat() for k in range(120)]
        now = datetime.now(UTC)
        await store.counters_col.insert_many([
            {"_id": f"S|d|{d}", "s": "S", "g": "d", "p": d, "u": now,
             "c": {"category": {"neighbour": {"received": k + 1}}}} for k, d in enumerate(days)])
        spy = CountingReads(store.counters_col)
        store.counters_col = spy  # type: ignore[assignment]
        edges = days[3:5] + days[110:112]  # a range's edge days; the months between come from month documents
        rows, as_of = await store.counters("S", "category", edges, [], [])
        assert sorted((r["p"], r["m"]["received"]) for r in rows) == [(d, days.index(d) + 1) for d in edges]
        assert spy.read == len(edges), f"read {spy.read} day documents for {len(edges)} days"
        assert as_of is not None
    finally:
        await client.close()
