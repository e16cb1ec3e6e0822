"""Insight's replay of N cases measured, not extrapolated (issue 15: 1 M cases' events replayed in ≤ 10 min).

  uv run python bench/insight_replay_full.py --cases 1000000 [--years 3] [--producers 2] [--workers 2]
                                             [--events-per-slice 200000]

N cases drawn as the 1 M history of bench/insight_history.py draws them (every unit of its tree, categories,
channels, levels, outcomes, ratings, over ``--years``) are produced to the topics as the platform's relays publish
them (a topic per event type, the work orders to their unit's topic, key = case id, the envelope's headers), from
``--producers`` processes, streamed case by case (bench/replay_events.py renders the messages from templates).
Then ``rebuild.replay`` reads them all into a fresh database: its measured seconds and phases are the figure; the
producing is timed apart (not part of the target). Kafka and the stand-in are started here (yima_devstack), or
YIMA_KAFKA_BOOTSTRAP / YIMA_MONGO_URL name running ones. The broker keeps them: the topics delete by time
(retention.ms 7 days) on the messages' create time, which is now (no timestamp is set), and not by size.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from insight_replay import COUNTER_DOCUMENTS_1M, _proc_status_kb, _reset_peak_rss
from yima_devstack.infra import Endpoints, LocalInfra

HEADERS = ("yima-event-type", "yima-event-id", "yima-correlation-id")


async def produce_range(bootstrap: str, lo: int, hi: int, n: int, years: int, seed: int, run: str,
                        in_flight: int = 20_000) -> dict[str, Any]:
    """Cases lo..hi-1 produced, as the outbox relay publishes them (yima_kit.outbox), ``in_flight`` sends at
    once."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.partitioner import murmur2
    from replay_events import Renderer, cases
    from yima_contracts import headers, topics
    from yima_contracts.registry import TOPIC_EVENTS
    from yima_kit.kafka_auth import client_kwargs

    assert HEADERS == (headers.EVENT_TYPE, headers.EVENT_ID, headers.CORRELATION_ID)
    by_type = {m.EVENT_TYPE: t for t, ms in TOPIC_EVENTS.items() for m in ms}
    unit_topic: dict[str, str] = {}
    n_parts: dict[str, int] = {}
    renderer = Renderer()
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=256 << 10,
                         **client_kwargs())
    await p.start()
    t0 = time.monotonic()
    events = value_bytes = 0
    ct = ("content-type", b"application/json")
    try:
        pending: list[Any] = []
        for msgs in cases(lo, hi, n, years, seed, run, renderer):
            key = msgs[0][1].encode()
            # the default partitioner's choice (murmur2 of the key, as the relays' producer makes it), once a case
            # rather than once a message: in pure Python it costs more than the rest of a send
            h = murmur2(key) & 0x7FFFFFFF
            for et, _cid, raw, eid in msgs:
                topic = by_type[et]
                if topic.startswith("unit."):  # the work order: to its unit's topic
                    unit = raw[raw.index(b'"unit_code":"') + 13:].split(b'"', 1)[0].decode()
                    topic = unit_topic.get(unit) or unit_topic.setdefault(unit, topics.unit_topic(unit))
                parts = n_parts.get(topic)
                if parts is None:
                    parts = n_parts[topic] = len(await p.partitions_for(topic))
                hs = [(HEADERS[0], et.encode()), (HEADERS[1], eid.encode()), (HEADERS[2], key), ct]
                pending.append(await p.send(topic, raw, key=key, headers=hs, partition=h % parts))
                events += 1
                value_bytes += len(raw)
            if len(pending) >= in_flight:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await p.stop()
    return {"cases": hi - lo, "events": events, "value_bytes": value_bytes,
            "seconds": round(time.monotonic() - t0, 1), "peak_rss_mb": round((_proc_status_kb("VmHWM") or 0) / 1024)}


def _produce_in_process(*a: Any) -> dict[str, Any]:
    return asyncio.run(produce_range(*a))


async def produce_all(ep: Endpoints, n: int, years: int, seed: int, run: str, producers: int, in_flight: int
                      ) -> dict[str, Any]:
    from insight_history import tree
    from yima_contracts import topics
    from yima_devstack.topics import ensure_topics as ensure_platform_topics
    from yima_devstack.topics import platform_topics
    from yima_kit.kafka_admin import ensure_topics

    await ensure_platform_topics(ep.kafka_bootstrap, platform_topics())
    units = sorted({p[-1] for p in tree()})
    t = time.monotonic()
    for j in range(0, len(units), 40):  # routing creates them one by one; 247 at once swamp a small broker
        await ensure_topics(ep.kafka_bootstrap, [topics.unit_topic(u) for u in units[j:j + 40]])
    topics_s = time.monotonic() - t
    t0 = time.monotonic()
    bounds = [n * k // producers for k in range(producers + 1)]
    if producers == 1:
        parts = [await produce_range(ep.kafka_bootstrap, 0, n, n, years, seed, run, in_flight)]
    else:
        loop = asyncio.get_running_loop()
        with ProcessPoolExecutor(producers, mp_context=get_context("spawn")) as pool:
            parts = await asyncio.gather(*(
                loop.run_in_executor(pool, _produce_in_process, ep.kafka_bootstrap, bounds[k], bounds[k + 1], n,
                                     years, seed, run, in_flight) for k in range(producers)))
    secs = time.monotonic() - t0
    events = sum(p["events"] for p in parts)
    return {"cases": n, "events": events, "value_bytes": sum(p["value_bytes"] for p in parts),
            "seconds": round(secs, 1), "events_per_s": round(events / secs), "producers": producers,
            "unit_topics": len(units), "unit_topics_seconds": round(topics_s, 1), "per_producer": parts}


def du(path: Path | None) -> int | None:
    """Bytes on disk (blocks: Kafka's preallocated index files count only as far as written)."""
    if path is None or not path.exists():
        return None
    out = subprocess.run(["du", "-s", "--block-size=1", str(path)], capture_output=True, text=True).stdout
    return int(out.split()[0]) if out else None


def log_bytes(path: Path | None) -> int | None:
    """The Kafka partitions' log segments' bytes (the messages as stored)."""
    return sum(p.stat().st_size for p in path.rglob("*.log")) if path and path.exists() else None


async def main(args: argparse.Namespace, ep: Endpoints, state: Path | None) -> dict[str, Any]:

    run = f"f{uuid.uuid4().hex[:5]}"
    result: dict[str, Any] = {"started_at": datetime.now(UTC).isoformat(timespec="seconds"),
                              "git_commit": args.git_commit,
                              "options": {k: str(v) for k, v in vars(args).items()},
                              "machine": {"cpus": os.cpu_count(), "loadavg_before": list(os.getloadavg())}}
    kafka_dir = state / "kafka" / "data" if state else None
    mongo_dir = state / "mongo" if state else None
    if args.replay_only:  # the topics already hold them (an earlier --produce-only against these servers)
        result["produce"] = None
    else:
        await _produce(args, ep, run, kafka_dir, result)
    result["machine"]["loadavg_before_replay"] = list(os.getloadavg())
    if args.produce_only:
        return result
    await _replay(args, ep, run, mongo_dir, result)
    return result


async def _produce(args: argparse.Namespace, ep: Endpoints, run: str, kafka_dir: Path | None,
                   result: dict[str, Any]) -> None:
    before = log_bytes(kafka_dir) or 0
    pr = await produce_all(ep, args.cases, args.years, args.seed, run, args.producers, args.in_flight)
    pr["kafka_log_bytes"] = (log_bytes(kafka_dir) or 0) - before if kafka_dir else None
    pr["kafka_dir_disk_bytes"] = du(kafka_dir)
    result["produce"] = pr
    log_b = pr["kafka_log_bytes"]
    print(f"produced  {pr['events']:,} events of {args.cases:,} cases in {pr['seconds']} s "
          f"({pr['events_per_s']:,}/s, {args.producers} producers; {pr['value_bytes'] / pr['events']:.0f} B a value; "
          f"Kafka log {log_b or 0:,} B = {(log_b or 0) / max(1, pr['events']):.0f} B an event, its directory "
          f"{pr['kafka_dir_disk_bytes'] or 0:,} B on disk; the unit topics "
          f"{pr['unit_topics_seconds']} s); load {os.getloadavg()[0]:.2f}", flush=True)


async def _replay(args: argparse.Namespace, ep: Endpoints, run: str, mongo_dir: Path | None,
                  result: dict[str, Any]) -> None:
    from pymongo import AsyncMongoClient
    from yima_insight.adapters import rebuild
    from yima_insight.config import InsightSettings

    settings = InsightSettings(kafka_bootstrap=ep.kafka_bootstrap, mongo_url=ep.mongo_url,
                               mongo_db_prefix=f"{run}_replay_")
    _reset_peak_rss()
    rss_before = _proc_status_kb("VmRSS")
    r = await rebuild.replay(settings, commit_offsets=False, events_per_slice=args.events_per_slice,
                             workers=args.workers)
    r["memory"] = {"rss_before_mb": round((rss_before or 0) / 1024),
                   "peak_rss_mb": round((_proc_status_kb("VmHWM") or 0) / 1024),
                   "workers_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)}
    client: AsyncMongoClient[Any] = AsyncMongoClient(ep.mongo_url)
    try:
        st = await client[settings.db_name].command("collStats", "counters")
        r["counter_bytes"] = int(st.get("size") or 0)
    except Exception:  # a server that does not say
        r["counter_bytes"] = None
    finally:
        await client.close()
    r["mongo_data_bytes"] = du(mongo_dir)
    result["replay"] = r
    ph, w = r["phases"], r["written"]
    docs = w["counters"]["documents"]
    # what N cases' measured time says of 1 M, for the record (the 1 M run measures it): per case beyond the
    # fixed setup, the counters at their documents' rate
    per_case = (r["total_seconds"] - ph["read_setup"]) / max(1, r["cases"])
    result["extrapolated_1m_minutes_per_case"] = round((per_case * 1e6 + ph["read_setup"]) / 60, 1)
    result["machine"]["loadavg_after"] = list(os.getloadavg())
    print(f"replay    MEASURED {r['total_seconds']} s for {r['cases']:,} cases ({r['events']:,} events, "
          f"{r['unparsable']} unparsable) with {r['workers']} workers, {r['slices']} slices: read {ph['read']:.1f} s "
          f"(setup {ph['read_setup']:.1f}), parse/fold/facts {ph['fold']:.1f} s (summed: parse "
          f"{r['slice_seconds_summed']['parse']}, fold {r['slice_seconds_summed']['fold']}, facts "
          f"{r['slice_seconds_summed']['facts']}), counters {ph['counters']:.1f} s ({docs:,} counter documents, "
          f"{r['counter_bytes'] or 0:,} B; the 1 M history's {COUNTER_DOCUMENTS_1M:,}), swap and indexes "
          f"{ph['swap_and_indexes']:.1f} s; peak RSS {r['memory']['peak_rss_mb']} MB (workers "
          f"{r['memory']['workers_peak_rss_mb']} MB); per case {per_case * 1000:.3f} ms → 1 M ≈ "
          f"{result['extrapolated_1m_minutes_per_case']} min; target ≤ 10 min at 1 M; load "
          f"{os.getloadavg()[0]:.2f}", flush=True)
    if args.again:  # a rebuild of a running deployment: the same database, its 1 M state replaced
        again = await rebuild.replay(settings, commit_offsets=False, events_per_slice=args.events_per_slice,
                                     workers=args.workers)
        result["replay_again"] = again
        print(f"again     MEASURED {again['total_seconds']} s over the state the first replay left: phases "
              f"{again['phases']}, swap {again['written']['swap']}, indexes {again['written']['indexes']}; load "
              f"{os.getloadavg()[0]:.2f}", flush=True)


def write(result: dict[str, Any], out: Path, n: int) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    stamp = result["started_at"].replace(":", "").replace("-", "")[:15]
    path = out / f"{stamp}-insight-replay-full-{n}.json"
    path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    return path


def run(args: argparse.Namespace) -> None:
    t0 = time.monotonic()
    args.git_commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                     cwd=Path(__file__).parent).stdout.strip()
    if os.environ.get("YIMA_KAFKA_BOOTSTRAP") and os.environ.get("YIMA_MONGO_URL"):
        ep, infra, state = Endpoints(os.environ["YIMA_KAFKA_BOOTSTRAP"], os.environ["YIMA_MONGO_URL"]), None, None
    else:
        state = Path(tempfile.mkdtemp(prefix="yima-bench-", dir=args.state_dir))
        infra = LocalInfra(state)
        infra.install()
        ep = infra.start()
        os.environ.update(ep.kafka_auth().as_env())  # the super user, for every client (ADR 0070)
    try:
        result = asyncio.run(main(args, ep, state))
        result["wall_seconds"] = round(time.monotonic() - t0, 1)
        print(f"figures written to {write(result, args.out, args.cases)}")
    finally:
        if infra is not None:
            infra.stop()
            if state is not None and not args.keep:
                subprocess.run(["rm", "-rf", str(state)], check=False)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=50_000)
    ap.add_argument("--years", type=int, default=3, help="the history's span (its 609,090 documents: 3 years)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--producers", type=int, default=2, help="producing processes")
    ap.add_argument("--in-flight", type=int, default=20_000, help="sends awaited at once, per producer")
    ap.add_argument("--produce-only", action="store_true", help="no replay: the producing alone")
    ap.add_argument("--replay-only", action="store_true",
                    help="no producing: replay what YIMA_KAFKA_BOOTSTRAP holds (an earlier --produce-only)")
    ap.add_argument("--again", action="store_true",
                    help="replay a second time into the same database: over the 1 M state the first one left")
    ap.add_argument("--events-per-slice", type=int, default=200_000)
    ap.add_argument("--workers", type=int, default=2, help="the replay's worker processes")
    ap.add_argument("--state-dir", type=Path, default=None, help="where Kafka's and the stand-in's data go")
    ap.add_argument("--keep", action="store_true", help="keep the servers' data directory")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    run(ap.parse_args())
