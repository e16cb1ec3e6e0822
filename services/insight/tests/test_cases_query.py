"""The cases behind a number: the server reads one unit's (a scope's units one by one) or everyone's facts of a
period by an index, the rest of the query is checked on them (ADRs 0205, 0215) — and the list is exactly the one the
server's own filter gives."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import pytest
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from yima_insight.adapters import mongo_store
from yima_insight.adapters.mongo_store import MongoInsightStore
from yima_insight.core.facts import UnitSeen
from yima_insight.core.filters import matches
from yima_insight.core.rollup import ALL
from yima_insight.service import CASE_MEASURES, InsightService

D, S1, S2 = "410105", "410105001", "410105002"
C11, C12, C21 = "410105001001", "410105001002", "410105002001"
PATHS = {D: [D], S1: [D, S1], S2: [D, S2], C11: [D, S1, C11], C12: [D, S1, C12], C21: [D, S2, C21], "-": []}


def fact(rng: random.Random, i: int) -> dict[str, Any]:
    unit = rng.choice(list(PATHS))
    return {"_id": f"c{i:04d}", "case_number": f"JSQ-{i}", "unit": unit, "unit_path": PATHS[unit],
            "day": f"2031-0{rng.randint(1, 4)}-{rng.randint(1, 28):02d}", "category": rng.choice(["a", "b"]),
            "channel": rng.choice(["grid", "phone"]), "level": rng.choice(["red", "yellow", "blue", None]),
            "mode": rng.choice(["platform", "offline"]), "accepted": rng.random() < .6, "closed": rng.random() < .5,
            "outcome": rng.choice(["resolved", "failed", "transferred", None]), "overdue": rng.random() < .2,
            "notices": rng.choice([0, 0, 1, 2]), "rating": rng.choice([None, 1, 5]),
            "med_concluded": rng.random() < .3, "med_success": rng.random() < .5,
            "settled_level": rng.choice(["community", "street", "district", None])}


def reference(scope: str, a: date, b: date, by: str | None, key: str | None, measure: str) -> dict[str, Any]:
    """The query as the server filtered it before ADR 0205 (every condition in the server's query)."""
    q: dict[str, Any] = {"day": {"$gte": a.isoformat(), "$lte": b.isoformat()}, **CASE_MEASURES[measure]}
    if scope != ALL:
        q["unit_path"] = scope
    if by == "unit" and key is not None:
        if key in ("-", scope):
            q["unit"] = key
        else:
            q["$and"] = [{"unit_path": key}]
    elif by == "month" and key is not None:
        q["day"] = {"$gte": max(a.isoformat(), f"{key}-01"), "$lte": min(b.isoformat(), f"{key}-31")}
    elif by and key is not None:
        q[by] = key
    return q


@pytest.mark.integration
@pytest.mark.parametrize("one_by_one", [True, False], ids=["units-one-by-one", "many-units-by-day"])
async def test_the_cases_behind_a_number_are_the_servers_own_filter(yima_infra, mongo_db_prefix: str,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     one_by_one: bool) -> None:
    if not one_by_one:  # a scope with more units below it than read one by one: its facts of the period by day
        monkeypatch.setattr(mongo_store, "UNITS_READ_ONE_BY_ONE", 1)
    rng = random.Random(15)
    client: AsyncMongoClient[Any] = AsyncMongoClient(yima_infra.mongo_url)
    try:
        db = client[f"{mongo_db_prefix}insight_cases"]
        store = MongoInsightStore(db)
        await store.setup()
        await store.remember_units(UnitSeen(u, None, tuple(p)) for u, p in PATHS.items() if p)
        docs = [fact(rng, i) for i in range(400)]
        await db.facts.insert_many(docs)
        service = InsightService(store, weights={}, target_community=0.7, target_three=0.95)
        a, b = date(2031, 1, 10), date(2031, 3, 31)
        asks = [(scope, None, None, m) for scope in (ALL, D, S1, C11) for m in CASE_MEASURES]
        asks += [(ALL, "unit", k, m) for k in (S1, C21, "-") for m in ("received", "resolved", "rated")]
        asks += [(S1, "unit", k, m) for k in (C11, C12, S1) for m in ("received", "failed", "supervision_notices")]
        asks += [(S2, by, k, m) for by, k in (("category", "a"), ("level", "red"), ("month", "2031-02"),
                                             ("channel", "phone"), ("mode", "offline"))
                 for m in ("received", "accepted", "med_success", "settled_community")]
        for scope, by, key, measure in asks:
            q = reference(scope, a, b, by, key, measure)
            want = [d["_id"] async for d in db.facts.find(q).sort([("day", DESCENDING), ("_id", ASCENDING)])]
            assert [d["_id"] for d in docs if matches(d, q)] == sorted(want), (scope, by, key, measure)
            got = await service.cases(scope, a, b, by=by, key=key, measure=measure, skip=0, limit=1000)
            assert got["total"] == len(want) and [c["case_id"] for c in got["cases"]] == want, (scope, by, key)
            page = await service.cases(scope, a, b, by=by, key=key, measure=measure, skip=3, limit=5)
            assert page["total"] == len(want) and [c["case_id"] for c in page["cases"]] == want[3:8]
        assert sum(1 for *_, m in asks if m == "received") > 10
        # what the server is asked is served by one of the two indexes
        for served in ({"unit": C11, "day": {"$gte": "2031-01-10", "$lte": "2031-03-31"}},
                       {"day": {"$gte": "2031-01-10", "$lte": "2031-03-31"}}):
            plan = await db.command("explain", {"find": "facts", "filter": served}, verbosity="queryPlanner")
            assert "COLLSCAN" not in str(plan) and "IXSCAN" in str(plan), plan
    finally:
        await client.close()


@pytest.mark.integration
async def test_setup_drops_the_multikey_index_of_an_earlier_version(yima_infra, mongo_db_prefix: str) -> None:
    client: AsyncMongoClient[Any] = AsyncMongoClient(yima_infra.mongo_url)
    try:
        db = client[f"{mongo_db_prefix}insight_old_index"]
        await db.facts.create_index([("unit_path", ASCENDING), ("day", ASCENDING)], name="path_day")
        await MongoInsightStore(db).setup()
        names = {info["name"] async for info in await db.facts.list_indexes()}
        assert names == {"_id_", "unit_day", "day"}, names
        await MongoInsightStore(db).setup()  # again: nothing to drop, nothing fails
    finally:
        await client.close()
