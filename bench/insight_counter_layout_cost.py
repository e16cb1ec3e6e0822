"""What a counter document's layout costs this server (ADR 0206): nested sub-documents against packed.

    uv run python bench/insight_counter_layout_cost.py MONGO_URL [--cases 300000] [--rounds 2] [--sample 20000]

The counter documents of ``--cases`` history cases over a year (the bench's own generator, bench/insight_history.py:
the service's documents), ``--sample`` of them taken evenly, then per layout in turn (``--rounds``, the box is
noisy): their BSON bytes and fields, ``insert_many`` into a fresh collection (chunks of 5,000, unordered), a
rename onto a live one, and reading them back by id 55 at a time with the table's projection (one grouping).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bson
from pymongo import AsyncMongoClient

sys.path.insert(0, str(Path(__file__).parent))


def documents(cases: int, sample: int) -> list[tuple[Any, dict[str, Any]]]:
    """(CounterKey, nested counters) of a year's history, ``sample`` of them."""
    from datetime import date, timedelta

    import insight_history as h
    from yima_insight.core.rollup import CounterKey

    rng, paths = random.Random(7), h.tree()
    fc, out = h.FastCounters(), []
    start = date(2025, 1, 1)
    for d in range(365):
        day = start + timedelta(days=d)
        for _ in range(cases // 365):
            fc.add(day, h.draw(rng, paths))
        fc.end_day(day)
    out = [(CounterKey(*k), c) for k, c in fc.pop(gran_kept="-")]
    step = max(1, len(out) // sample)
    return out[::step][:sample]


def fields(d: dict[str, Any]) -> int:
    return sum(1 + (fields(v) if isinstance(v, dict) else 0) for v in d.values())


async def one(client: AsyncMongoClient[dict[str, Any]], docs: list[dict[str, Any]], dim: str) -> dict[str, float]:
    db = client[f"ctrcost{random.randrange(10**6)}"]
    try:
        await db.create_collection("live")
        await db.live.insert_one({"_id": "old"})
        t0 = time.monotonic()
        for j in range(0, len(docs), 5000):
            await db.fresh.insert_many(docs[j:j + 5000], ordered=False)
        t1 = time.monotonic()
        await db.fresh.rename("live", dropTarget=True)
        t2 = time.monotonic()
        ids = [d["_id"] for d in docs]
        for j in range(0, min(len(ids), 5500), 55):
            _ = [d async for d in db.live.find({"_id": {"$in": ids[j:j + 55]}}, {"p": 1, "u": 1, "m": 1,
                                                                                  f"c.{dim}": 1})]
        t3 = time.monotonic()
        return {"insert_s": round(t1 - t0, 2), "rename_s": round(t2 - t1, 2), "read_100x55_s": round(t3 - t2, 2)}
    finally:
        await client.drop_database(db.name)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mongo_url")
    ap.add_argument("--cases", type=int, default=300_000)
    ap.add_argument("--sample", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    from yima_insight.adapters.counter_docs import counter_doc

    now = datetime.now(UTC)
    picked = documents(a.cases, a.sample)
    layouts = {"packed": [counter_doc(k, c, now) for k, c in picked],
               "nested": [{"_id": k.id, "s": k.scope, "k": k.part, "g": k.gran, "p": k.period, "c": c, "u": now}
                          for k, c in picked]}
    out: dict[str, Any] = {"cases": a.cases, "documents": len(picked), "layouts": {}}
    for name, docs in layouts.items():
        size = sum(len(bson.encode(d)) for d in docs)
        out["layouts"][name] = {"bytes": size, "bytes_per_doc": round(size / len(docs)),
                                "fields_per_doc": round(sum(fields(d) for d in docs) / len(docs), 1), "runs": []}
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(a.mongo_url, tz_aware=True)
    try:
        for _ in range(a.rounds):
            for name, docs in layouts.items():
                r = await one(client, [dict(d) for d in docs], "category")
                out["layouts"][name]["runs"].append(r)
                print(name, r, flush=True)
    finally:
        await client.close()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
