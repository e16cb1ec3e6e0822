"""Insight at a city's scale: the one table over a million cases of history, the counters' throughput and a replay.

    uv run python bench/bench_insight.py [--cases 1000000] [--years 3] [--queries 200] [--events 1500]
                                         [--replay-cases 1000]

Starts its own Kafka + MongoDB-protocol server (or uses YIMA_KAFKA_BOOTSTRAP / YIMA_MONGO_URL), then:
  load      bulk-loads --cases cases of history straight into the counters and facts (month by month, the
            service's own counter documents, counted per kind of case and first checked against the consumer's
            pure core: bench/insight_history.py), spread over --years years, the
            Jinshui-like tree (17 streets, 214 communities, departments), every channel, category and level
  table     --queries random one-table queries (any unit from the district down to a community, any grouping,
            periods from a day to the whole history), p50/p95/p99 in ms; beside it the raw baseline: the
            same figures counted from the facts (what a table without counters must do), a few queries
  paint     what the dashboard's first paint asks of the server (page + table + trend + heat + ranking)
  counters  --events lifecycle events produced to Kafka, then insight's two consumers started on them (the
            kit's batch consumer: a poll's events in one transaction and a few bulk writes), on top of that
            history: events/s; beside it the same figure one event per transaction (--one-events) and the raw
            database's journaled transactions/s measured in the same run
  replay    --replay-cases cases' events produced to Kafka, then ``replay`` (read from the earliest offset,
            recount, swap in): seconds, and the per-case rate extrapolated to 1,000,000 cases
Figures, not pass/fail: nothing here is a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from insight_history import DISTRICT, check_fast_counters, load_history, tree
from insight_replay import lifecycles, print_replay, produce
from yima_devstack.bench.baselines import mongo_baselines
from yima_devstack.infra import Endpoints, LocalInfra


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


async def table_queries(service: Any, q: int, years: int, docs: list[int] | None = None) -> list[float]:
    """``q`` random queries' latencies (ms); ``docs`` gets each query's counter documents (one per period of
    its plan, of one part: ``table.split_range``; a month's query reads a year's months instead)."""
    from yima_insight.core import table
    from yima_insight.core.rollup import ALL

    rng = random.Random(11)
    paths = tree()
    scopes = [ALL, DISTRICT] + [p[-1] for p in paths]
    today = date.today()
    out = []
    for _ in range(q):
        scope = rng.choice(scopes)
        by = rng.choice(["unit", "category", "channel", "level", "month", "mode"])
        span = rng.choice([1, 7, 30, 92, 365, 365 * years])
        a = today - timedelta(days=rng.randrange(0, max(1, 365 * years - span)) + span)
        if docs is not None:
            plan = table.split_range(a, a + timedelta(days=span))
            docs.append(sum(map(len, plan.values())) + (11 * len(plan["y"]) if by == "month" else 0))
        t = time.perf_counter()
        await service.table(scope, by, a, a + timedelta(days=span))
        out.append((time.perf_counter() - t) * 1000)
    return out


async def raw_baseline(db: Any, q: int) -> list[float]:
    """The same kind of figure counted from the facts themselves (no counters): a street's year by category."""
    rng = random.Random(13)
    streets = [p[-1] for p in tree() if len(p) == 2 and p[-1].isdigit()]
    today = date.today()
    out = []
    for _ in range(q):
        a = today - timedelta(days=365)
        t = time.perf_counter()
        pipeline = [{"$match": {"unit_path": rng.choice(streets), "day": {"$gte": a.isoformat(),
                                                                          "$lte": today.isoformat()}}},
                    {"$group": {"_id": "$category", "n": {"$sum": 1},
                                "closed": {"$sum": {"$cond": ["$closed", 1, 0]}}}}]
        [d async for d in await db["facts"].aggregate(pipeline)]
        out.append((time.perf_counter() - t) * 1000)
    return out


async def raw_figure(db: Any, lat: list[float]) -> dict[str, Any]:
    try:
        raw = await raw_baseline(db, 3)
    except Exception as exc:  # the stand-in may not aggregate at this size
        print(f"raw       counting from the facts failed: {type(exc).__name__}")
        return {"error": type(exc).__name__}
    ratio = statistics.median(raw) / pct(lat, 50)
    print(f"raw       counting from the facts (a street's year by category, no counters): "
          f"median {statistics.median(raw):.0f} ms — counters are {ratio:.0f}× faster at p50")
    return {"what": "a street's year by category counted from the facts by an aggregation", "queries": len(raw),
            "median_ms": round(statistics.median(raw), 1), "ratio_to_table_p50": round(ratio, 1)}


async def one_per_transaction(app: Any, n_events: int) -> float:
    """The first design, for comparison in the same run: each event its own transaction (ledger + fact read
    and replace + counters), as a consumer with a per-event handler wrote it."""
    rt, service = app.state.runtime, app.state.service
    events = lifecycles(n_events, "one", datetime.now(UTC) - timedelta(days=1), [p for p in tree() if len(p) == 3])
    async def handler(event: Any, tx: Any) -> None:
        await service.apply(event, tx.session)

    t = time.perf_counter()
    for e in events:
        await rt.consumers.process_once(e, handler, "insight.bench_one")
    return n_events / (time.perf_counter() - t)


async def consumed_rate(ep: Endpoints, settings: Any, n_events: int, timeout: float) -> dict[str, float]:
    """``n_events`` lifecycle events produced to the topics first, then insight's two consumers started on them
    (one poll of up to ``consumer_batch_max`` events = one transaction): events/s from the first batch's start to
    the moment the ledger holds them all (the consumer groups' joining is not counted)."""
    from yima_insight.app import create_app

    paths = [p for p in tree() if len(p) == 3][:6]  # a few unit topics: creating 214 at once swamps a small broker
    await produce(ep, lifecycles(n_events, "live", datetime.now(UTC) - timedelta(days=1), paths))
    app = create_app(settings, consume=True, relay=False)
    async with app.router.lifespan_context(app):
        ledger = app.state.runtime.db["processed_events"]
        q = {"_id": {"$regex": "^insight\\.(events|work_orders)\\|"}}
        before = await ledger.count_documents({"_id": {"$regex": "^insight\\.bench_one\\|"}})  # the comparison's
        t0, done = time.monotonic(), 0
        while time.monotonic() - t0 < timeout:  # a cheap count: a query here would load the server it measures
            done = await ledger.estimated_document_count() - before
            if done >= n_events:
                break
            await asyncio.sleep(0.5)
        end = datetime.now(UTC)
        first = await ledger.find_one(q, sort=[("at", 1)])
        batches = len(await ledger.distinct("at", q))  # a batch's ledger entries share their time
    secs = (end - first["at"]).total_seconds() if first else float("nan")
    return {"events": done, "seconds": secs, "per_s": done / secs if first else 0.0,
            "batch_max": settings.consumer_batch_max, "batches": batches}


async def main(args: argparse.Namespace, ep: Endpoints) -> None:
    from yima_devstack.topics import ensure_topics, platform_topics

    await ensure_topics(ep.kafka_bootstrap, platform_topics())
    prefix = f"b{uuid.uuid4().hex[:6]}_"
    result = new_result(args)
    try:
        if not args.replay_only:
            await measure(args, ep, prefix, result)
        load = result.get("load") or {}
        result["replay"] = await print_replay(ep, prefix, args.replay_cases,
                                              load["counter_documents"] if load.get("cases", 0) >= 999_000 else None,
                                              events_per_slice=args.events_per_slice, workers=args.workers)
    except BaseException as exc:  # what was measured is still written, with the reason it stopped
        result["notes"].append(f"stopped: {type(exc).__name__}: {exc}")
        raise
    finally:
        result["machine"]["loadavg_after"] = list(os.getloadavg())
        result["wall_seconds"] = round(time.monotonic() - result.pop("_t0"), 1)
        result["targets"] = targets(result)
        path = write_result(result, args.out)
        print(f"figures written to {path}")


async def measure(args: argparse.Namespace, ep: Endpoints, prefix: str, result: dict[str, Any]) -> None:
    import httpx
    from yima_contracts.codes import StaffRole
    from yima_insight.app import create_app
    from yima_insight.config import InsightSettings
    from yima_kit.auth import TokenIssuer

    settings = InsightSettings(kafka_bootstrap=ep.kafka_bootstrap, mongo_url=ep.mongo_url, mongo_db_prefix=prefix,
                               report_schedule=False)
    app = create_app(settings, consume=False, relay=False)
    async with app.router.lifespan_context(app):
        rt = app.state.runtime
        checked = check_fast_counters()
        print(f"load: the loader's counter documents checked against the service's rollup (add + nest): "
              f"{checked:,} documents equal", flush=True)
        print(f"load: {args.cases:,} cases over {args.years} years …", flush=True)
        secs, n, n_counters = await load_history(rt.db, args.cases, args.years, args.facts)
        print(f"load      {n:,} cases, {n_counters:,} counter documents"
              f"{' and the facts' if args.facts else ' (facts not loaded: --no-facts)'} in {secs:.0f} s "
              f"({n / secs:,.0f} cases/s bulk)")
        result["load"] = {"cases": n, "counter_documents": n_counters, "facts": args.facts,
                          "seconds": round(secs, 1), "checked_documents": checked,
                          "counter_bytes": await collection_bytes(rt.db, "counters")}
        service = app.state.service
        await table_queries(service, 10, args.years)  # warm-up
        docs: list[int] = []
        lat = await table_queries(service, args.queries, args.years, docs)
        print(f"table     {len(lat)} queries: p50 {pct(lat, 50):.1f} ms, p95 {pct(lat, 95):.1f} ms, "
              f"p99 {pct(lat, 99):.1f} ms, max {max(lat):.1f} ms (target p99 ≤ 50 ms); counter documents a "
              f"query: median {statistics.median(docs):.0f}, max {max(docs)}")
        result["table"] = {"queries": len(lat), "p50_ms": round(pct(lat, 50), 1), "p95_ms": round(pct(lat, 95), 1),
                           "p99_ms": round(pct(lat, 99), 1), "max_ms": round(max(lat), 1),
                           "documents_per_query": {"median": statistics.median(docs), "p99": pct(docs, 99),
                                                   "max": max(docs)}}
        per_gran = await per_granularity_queries(service, args.queries, args.years)
        again = await table_queries(service, args.queries, args.years)  # by id once more: the order's effect
        print(f"table     the same queries, one query per granularity (before ADR 0175's last step): "
              f"p50 {pct(per_gran, 50):.1f} ms, p95 {pct(per_gran, 95):.1f} ms, p99 {pct(per_gran, 99):.1f} ms; "
              f"by id again: p50 {pct(again, 50):.1f} ms, p95 {pct(again, 95):.1f} ms, p99 {pct(again, 99):.1f} ms")
        result["table"]["one_query_per_granularity"] = {
            "p50_ms": round(pct(per_gran, 50), 1), "p95_ms": round(pct(per_gran, 95), 1),
            "p99_ms": round(pct(per_gran, 99), 1), "max_ms": round(max(per_gran), 1)}
        result["table"]["by_id_again"] = {"p50_ms": round(pct(again, 50), 1), "p95_ms": round(pct(again, 95), 1),
                                          "p99_ms": round(pct(again, 99), 1), "max_ms": round(max(again), 1)}
        if args.facts:
            result["table"]["raw_from_facts"] = await raw_figure(rt.db, lat)
        else:
            print("raw       counting from the facts: not measured (--no-facts: no facts to count)")
        token = TokenIssuer.dev().issue(staff_id="b", unit=DISTRICT, role=StaffRole.LEADER, unit_path=[DISTRICT])
        h = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as client:
            paints = []
            for _ in range(5):
                t = time.perf_counter()
                await client.get("/dashboard")
                await asyncio.gather(*(client.get(p, headers=h) for p in (
                    "/api/v1/table", "/api/v1/risk-trend", "/api/v1/heat", "/api/v1/ranking", "/api/v1/units")))
                paints.append((time.perf_counter() - t) * 1000)
            print(f"paint     the dashboard's first requests (page + 5 API calls, last 30 days, district): "
                  f"median {statistics.median(paints):.0f} ms, max {max(paints):.0f} ms (target first paint ≤ 1 s; "
                  f"the browser adds parsing ECharts, ~1 MB, from this server)")
            result["paint"] = {"what": "page + 5 API calls, district, last 30 days (server side)",
                               "median_ms": round(statistics.median(paints), 1), "max_ms": round(max(paints), 1)}
        one = await one_per_transaction(app, args.one_events)
        raw = await mongo_baselines(ep.mongo_url, 3.0)
        result["baselines"] = raw
    live = await consumed_rate(ep, settings, args.events, args.consume_timeout)
    print(f"raw       this database: {raw['two_write_tx_per_s']:.0f} journaled two-write transactions/s, "
          f"{raw['bulk_insert_docs_per_s']:.0f} documents/s by insert_many")
    print(f"counters  {live['events']} events through insight's two consumers (a poll of ≤ {live['batch_max']} "
          f"events = one transaction: ledger, facts, units, counters in a few bulk calls): "
          f"{live['per_s']:.0f} events/s ({live['seconds']:.1f} s, {live['batches']} batches: "
          f"{live['events'] / max(1, live['batches']):.0f} events a batch on average; target 200/s) = "
          f"{live['per_s'] / raw['two_write_tx_per_s']:.1f} events per raw two-write transaction")
    print(f"          one event per transaction (the first design, same run): {one:.1f} events/s — "
          f"batching is {live['per_s'] / one:.0f}× faster")
    result["counters"] = {**{k: round(v, 1) if isinstance(v, float) else v for k, v in live.items()},
                          "one_event_per_transaction_per_s": round(one, 1),
                          "per_raw_two_write_tx": round(live["per_s"] / raw["two_write_tx_per_s"], 2)}


async def per_granularity_queries(service: Any, q: int, years: int) -> list[float]:
    """The same random queries with the counter documents read one query per granularity (``s``, ``k``, ``g``
    and ``p`` in the wanted list), as before reading them by id in one query: the comparison, same run."""
    from yima_insight.adapters.counter_docs import unpack_dim
    from yima_insight.adapters.mongo_store import COUNTERS_BY_SCOPE
    from yima_insight.core.rollup import GRANS, PART_OF

    store = service.store
    original = store.counters
    await store.counters_col.create_index(COUNTERS_BY_SCOPE[0], name=COUNTERS_BY_SCOPE[1])  # (not built by default)

    async def counters(scope: str, dim: str, periods: dict[str, list[str]]) -> tuple[list[dict[str, Any]], Any]:
        out: list[dict[str, Any]] = []
        newest = None
        for gran in GRANS:
            if periods.get(gran):
                q = {"s": scope, "k": PART_OF[dim], "g": gran, "p": {"$in": periods[gran]}}
                async for d in store.counters_col.find(q, {"p": 1, "u": 1, "m": 1, f"c.{dim}": 1}):
                    out.extend({"p": d["p"], "k": k, "m": m} for k, m in unpack_dim(d, dim).items())
                    newest = max(newest or d["u"], d["u"])
        return out, newest

    store.counters = counters
    try:
        return await table_queries(service, q, years)
    finally:
        store.counters = original


def new_result(args: argparse.Namespace) -> dict[str, Any]:
    """The JSON result's frame, as ``yima bench`` writes its own (bench/results/)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                timeout=5).stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        commit = "?"
    return {"schema": 1, "bench": "insight", "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "git_commit": commit, "machine": {"cpus": os.cpu_count(), "loadavg_before": list(os.getloadavg())},
            "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}, "notes": [],
            "_t0": time.monotonic()}


def targets(result: dict[str, Any]) -> dict[str, Any]:
    """Issue 15's targets against this run's figures (None: not measured in this run)."""
    def met(value: float | None, ok: bool) -> dict[str, Any]:
        return {"value": value, "met": ok if value is not None else None}

    t, paint, live, rp = (result.get(k) or {} for k in ("table", "paint", "counters", "replay"))
    return {
        "table_p99_ms_le_50": met(t.get("p99_ms"), (t.get("p99_ms") or 0) <= 50),
        "first_paint_ms_le_1000": met(paint.get("median_ms"), (paint.get("median_ms") or 0) <= 1000),
        "counters_events_per_s_ge_200": met(live.get("per_s"), (live.get("per_s") or 0) >= 200),
        "replay_1m_minutes_le_10": met(rp.get("minutes_for_1m"), (rp.get("minutes_for_1m") or 0) <= 10),
    }


def write_result(result: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = result["started_at"].replace(":", "").replace("-", "")[:15]
    cases = (result.get("load") or {}).get("cases")
    path = out_dir / f"{stamp}-insight{f'-{cases}' if cases else '-replay'}.json"
    path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    return path


async def collection_bytes(db: Any, name: str) -> dict[str, Any]:
    """The collection's documents and their BSON size (collStats; None where the server does not say)."""
    try:
        st = await db.command("collStats", name)
    except Exception as exc:  # a stand-in server may not answer collStats
        return {"error": type(exc).__name__}
    return {"count": st.get("count"), "size": st.get("size"), "avg_obj_size": st.get("avgObjSize")}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--years", type=int, default=3)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--events", type=int, default=3000, help="events through the live consumers")
    ap.add_argument("--one-events", type=int, default=100, help="events one transaction each (the comparison)")
    ap.add_argument("--consume-timeout", type=float, default=300.0)
    ap.add_argument("--replay-cases", type=int, default=1000)
    ap.add_argument("--facts", action=argparse.BooleanOptionalAction, default=True,
                    help="load the cases' fact documents too (the table never reads them; the drill-down does)")
    ap.add_argument("--events-per-slice", type=int, default=200_000,
                    help="the replay's slice size (messages parsed and held at once)")
    ap.add_argument("--workers", type=int, default=2, help="the replay's worker processes (1: none, in-process)")
    ap.add_argument("--replay-only", action="store_true", help="only the replay phase (it reads its own topics)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results", help="directory of the JSON")
    args = ap.parse_args()
    if os.environ.get("YIMA_KAFKA_BOOTSTRAP") and os.environ.get("YIMA_MONGO_URL"):
        asyncio.run(main(args, Endpoints(os.environ["YIMA_KAFKA_BOOTSTRAP"], os.environ["YIMA_MONGO_URL"])))
    else:
        infra = LocalInfra(Path(tempfile.mkdtemp(prefix="yima-bench-")))
        infra.install()
        try:
            ep = infra.start()
            os.environ.update(ep.kafka_auth().as_env())  # the super user, for every client below (ADR 0070)
            asyncio.run(main(args, ep))
        finally:
            infra.stop()
