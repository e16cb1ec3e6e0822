"""What swapping a rebuilt collection in costs this server when a live one exists (ADR 0195).

    uv run python bench/insight_swap_cost.py MONGO_URL [--docs 20000] [--indexes 3|2] [--ways old,new,old,new]

A live collection of ``--docs`` fact-like documents with the facts' indexes (``--indexes 3``: ADR 0195's three;
``2``: ADR 0205's two), and a fresh one without indexes: *old way* (ADR 0175) renames the live one away, the fresh
one in, and drops the old one; *new way* renames the fresh one onto the live one with ``dropTarget``. Twice each,
alternately, each in a database of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient


def fact(i: int) -> dict[str, Any]:
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=i)
    return {"_id": f"c-{i:08d}", "case_number": f"B-{i}", "received_at": at, "channel": "grid",
            "category": "neighbour", "level": "blue", "unit": f"u{i % 214}",
            "unit_path": ["d", f"s{i % 17}", f"u{i % 214}"], "assignment_id": f"a-{i}", "assigned_at": at,
            "in_platform": True, "on_spot": False, "joint": False, "state": "closed", "due_at": at,
            "accepted": True, "closed": True, "outcome": "resolved", "outcome_at": at, "settled_level": "community",
            "med_concluded": False, "med_success": False, "med_at": None, "overdue": False, "notices": 0,
            "rating": 5, "day": at.date().isoformat(), "mode": "platform", "updated": datetime.now(UTC)}


INDEXES = [([("unit_path", 1), ("day", 1)], "path_day"), ([("day", 1)], "day"),
           ([("unit_path", 1), ("outcome", 1), ("day", 1)], "path_outcome_day")]


async def main(url: str, n: int, indexes: int = 3, ways: tuple[str, ...] = ("old", "new", "old", "new")) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
    try:
        for way in ways:
            db = client[f"swapcost{random.randrange(10**6)}"]
            for name in ("live", "fresh"):
                for i in range(0, n, 5000):
                    await db[name].insert_many([fact(j) for j in range(i, min(n, i + 5000))], ordered=False)
            for keys, name in INDEXES[:indexes]:
                await db.live.create_index(keys, name=name)
            t = time.perf_counter()
            if way == "old":
                await db.live.rename("old")
                await db.fresh.rename("live")
                await db.drop_collection("old")
            else:
                await db.fresh.rename("live", dropTarget=True)
            secs = time.perf_counter() - t
            print(f"{way} way: {n:,} live documents with {indexes} indexes replaced in {secs:.2f} s", flush=True)
            await client.drop_database(db.name)
    finally:
        await client.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--indexes", type=int, choices=(2, 3), default=3)
    ap.add_argument("--ways", default="old,new,old,new")
    a = ap.parse_args()
    asyncio.run(main(a.url, a.docs, a.indexes, tuple(a.ways.split(","))))
