"""What the facts' indexes cost this server in a replay, per layout (ADR 0205).

    uv run python bench/insight_facts_index_cost.py MONGO_URL [--docs 20000] [--rounds 2] [--layouts a,b]

``--docs`` fact-like documents (a district, 17 streets, 214 communities: paths of 3 codes) inserted into a fresh
collection in unordered chunks of 5,000, renamed onto a live one, indexed — each step timed; per layout:

- ``now``: the three indexes of ADR 0195, built after the rename (multikey ``unit_path`` twice, and ``day``);
- ``now_before``: the same three created on the empty fresh collection, so maintained while inserting;
- ``path_day``: ``(unit_path, day)`` and ``(day)`` only (the drill-down's outcome checked on the fetched documents);
- ``string``: a single-valued materialised path ``upath`` ("d/s/u/"), indexes ``(upath, day)`` and ``(day)``;
- ``string_one``: ``(upath, day)`` alone.

The layouts are run in turn, ``--rounds`` times, each in a database of its own (the box is noisy: alternate).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient

A = 1
LAYOUTS: dict[str, tuple[list[tuple[list[tuple[str, int]], str]], bool]] = {
    "now": ([([("unit_path", A), ("day", A)], "path_day"), ([("day", A)], "day"),
             ([("unit_path", A), ("outcome", A), ("day", A)], "path_outcome_day")], False),
    "now_before": ([([("unit_path", A), ("day", A)], "path_day"), ([("day", A)], "day"),
                    ([("unit_path", A), ("outcome", A), ("day", A)], "path_outcome_day")], True),
    "path_day": ([([("unit_path", A), ("day", A)], "path_day"), ([("day", A)], "day")], False),
    "string": ([([("upath", A), ("day", A)], "upath_day"), ([("day", A)], "day")], False),
    "string_one": ([([("upath", A), ("day", A)], "upath_day")], False),
}


def fact(i: int) -> dict[str, Any]:
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=i)
    path = ["410105", f"410105{i % 17:03d}", f"410105{i % 17:03d}{i % 13:03d}"]
    return {"_id": f"c-{i:08d}", "case_number": f"B-{i}", "received_at": at, "channel": "grid",
            "category": "neighbour", "level": "blue", "unit": path[-1], "unit_path": path,
            "upath": "".join(f"{c}/" for c in path), "assignment_id": f"a-{i}", "assigned_at": at,
            "in_platform": True, "on_spot": False, "joint": False, "state": "closed", "due_at": at,
            "accepted": True, "closed": True, "outcome": random.choice(["resolved", "failed", None]),
            "outcome_at": at, "settled_level": "community", "med_concluded": False, "med_success": False,
            "med_at": None, "overdue": False, "notices": 0, "rating": 5, "day": at.date().isoformat(),
            "mode": "platform", "updated": datetime.now(UTC)}


async def one(client: AsyncMongoClient[dict[str, Any]], layout: str, n: int) -> dict[str, float]:
    indexes, before = LAYOUTS[layout]
    db = client[f"idxcost{random.randrange(10**6)}"]
    try:
        await db.create_collection("fresh")
        await db.create_collection("live")
        await db.live.insert_one({"_id": "old"})
        if before:
            for keys, name in indexes:
                await db.fresh.create_index(keys, name=name)
        t0 = time.perf_counter()
        for i in range(0, n, 5000):
            await db.fresh.insert_many([fact(j) for j in range(i, min(n, i + 5000))], ordered=False)
        t1 = time.perf_counter()
        await db.fresh.rename("live", dropTarget=True)
        t2 = time.perf_counter()
        each: dict[str, float] = {}
        if not before:
            for keys, name in indexes:
                t = time.perf_counter()
                await db.live.create_index(keys, name=name)
                each[name] = round(time.perf_counter() - t, 2)
        t3 = time.perf_counter()
        return {"insert": round(t1 - t0, 2), "rename": round(t2 - t1, 2), "index": round(t3 - t2, 2),
                "total": round(t3 - t0, 2), **each}
    finally:
        await client.drop_database(db.name)


async def main(url: str, n: int, rounds: int, layouts: list[str]) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
    try:
        for r in range(rounds):
            for layout in layouts:
                got = await one(client, layout, n)
                print(json.dumps({"round": r, "layout": layout, "docs": n, **got}), flush=True)
    finally:
        await client.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--layouts", default=",".join(LAYOUTS))
    a = ap.parse_args()
    asyncio.run(main(a.url, a.docs, a.rounds, a.layouts.split(",")))
