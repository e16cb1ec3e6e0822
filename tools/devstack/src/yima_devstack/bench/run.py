"""The benchmark's phases: warm-up, raw baselines, (history), idle, unloaded, at a rate, concurrent, idle again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from yima_kit.kafka_admin import ensure_topics

from .baselines import kafka_baseline, mongo_baselines
from .load import CONNECTION_ERROR, TIMEOUT, Submitter, Watcher, percentile
from .probe import DbDelta, DbProbe, backlogs, delta, kafka_end_offsets, offsets_delta

RAW_TOPIC = "bench.raw"
NOT_PER_CASE = {RAW_TOPIC, "__consumer_offsets"}
Log = Callable[[str], None]


@dataclass
class Options:
    warmup: int = 5
    unloaded: int = 20
    rate: float = 10.0
    rate_duration: float = 30.0
    concurrency: int = 16
    duration: float = 30.0
    idle_seconds: float = 15.0
    baseline_seconds: float = 4.0
    drain_timeout: float = 90.0
    quiet_seconds: float = 8.0
    addresses: int = 200
    history: int = 0
    resolve: bool = False
    max_in_flight: int = 256


def idle_figures(d: DbDelta) -> dict[str, Any]:
    share = d.cpu_share()
    return {"seconds": round(d.seconds, 1), "db_ops_per_s": round(d.ops_per_s(), 2), "db_ops": d.ops,
            "db_cpu_core_pct": None if share is None else round(100 * share, 1),
            "cpu_core_pct_by_process": {n: round(100 * v / d.seconds, 1) for n, v in sorted(d.procs.items())}
            if d.seconds > 0 else {}}


async def measure_idle(probe: DbProbe, seconds: float) -> DbDelta:
    a = await probe.sample()
    await asyncio.sleep(seconds)
    return delta(a, await probe.sample())


async def settle(probe: DbProbe, log: Log, window: float = 5.0, most: float = 300.0,
                 quiet_share: float = 0.10) -> float:
    """After a bulk load the database keeps busy for a while (writing back and checkpointing what was loaded):
    wait until it uses less than ``quiet_share`` of a core over a window (an idle platform uses ~1 %), at most
    ``most`` seconds. Returns the seconds waited. (Two windows of about the same CPU were taken for settled before:
    a server writing back at a steady 50 % passed, and the first phase measured its write-back, ADR 0221.)"""
    t0 = time.monotonic()
    share: float | None = None
    while time.monotonic() - t0 < most:
        share = (await measure_idle(probe, window)).cpu_share()
        if share is None or share < quiet_share:
            break
    waited = time.monotonic() - t0
    state = "settled" if share is None or share < quiet_share else f"still at {100 * share:.0f} % of a core"
    log(f"  database {state} after {waited:.0f} s")
    return waited


async def drain(watcher: Watcher, ids: set[str], timeout: float, quiet: float) -> tuple[bool, float]:
    """Wait until every case is assigned and nothing happened on the watched topics (assignments, steps,
    notifications, work orders — of any case, so also of those whose request timed out) for ``quiet`` seconds;
    at most ``timeout`` seconds."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        now = time.time()
        if ids <= watcher.assigned.keys() and now - watcher.last_activity_at >= quiet:
            return True, time.monotonic() - t0
        await asyncio.sleep(0.5)
    return False, time.monotonic() - t0


async def unloaded(sub: Submitter, n: int) -> None:
    for _ in range(n):
        await sub.submit("unloaded")
        await asyncio.sleep(0.3)


async def at_rate(sub: Submitter, rate: float, seconds: float, max_in_flight: int) -> int:
    """Open loop: one submission every 1/rate seconds whatever the answers; returns how many started late
    because ``max_in_flight`` requests were already waiting."""
    sem = asyncio.Semaphore(max_in_flight)
    tasks: list[asyncio.Task[Any]] = []
    late = 0
    t0 = time.monotonic()

    async def one() -> None:
        try:
            await sub.submit("rate")
        finally:
            sem.release()

    for k in range(int(rate * seconds)):
        wait = t0 + k / rate - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        if sem.locked():
            late += 1
        await sem.acquire()
        tasks.append(asyncio.create_task(one()))
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=sub.timeout_s + 5)
    return late


async def concurrent(sub: Submitter, clients: int, seconds: float, cap: int = 1_000_000) -> None:
    """Closed loop: ``clients`` submitters, each sending its next case when the last one is answered."""
    deadline = time.monotonic() + seconds
    sent = 0

    async def worker() -> None:
        nonlocal sent
        while time.monotonic() < deadline and sent < cap:
            sent += 1
            await sub.submit("concurrent")

    await asyncio.gather(*(worker() for _ in range(clients)))


def _ms(v: float | None) -> float | None:
    return None if v is None else round(1000 * v, 1)


def _s(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


async def run_phase(name: str, drive: Callable[[], Awaitable[Any]], *, sub: Submitter, watcher: Watcher,
                    probe: DbProbe, bootstrap: str, idle: DbDelta, idle_kafka: dict[str, float], opts: Options,
                    log: Log, urls: dict[str, str] | None = None) -> dict[str, Any]:
    """Drive one phase, drain it, and compute its figures; database and Kafka counts less the idle rates."""
    log(f"· phase {name} …")
    k0, s0 = await kafka_end_offsets(bootstrap), await probe.sample()
    t_start = time.time()
    extra = await drive()
    t_end = time.time()
    subs = [s for s in sub.results if s.phase == name]
    ids = {s.case_id for s in subs if s.case_id}
    log(f"  {len(subs)} submitted in {t_end - t_start:.1f} s; draining …")
    waiting = await backlogs(urls) if urls else {}
    if busy := {svc: {k: v for k, v in f.items() if v} for svc, f in waiting.items()}:
        log("  waiting at the end of the load: " + ("; ".join(
            f"{svc} " + ", ".join(f"{k} {v:,}" for k, v in sorted(f.items())) for svc, f in busy.items() if f)
            or "nothing"))
    drained, drain_s = await drain(watcher, ids, opts.drain_timeout, opts.quiet_seconds)
    log(f"  {'drained' if drained else 'not drained'} after {drain_s:.0f} s; reading the counters …")
    s1, k1 = await probe.sample(), await kafka_end_offsets(bootstrap)
    flow = _flow_figures(watcher, subs, ids, t_start, t_end, drained, drain_s)
    # Cost per case: the work done in the window ÷ the cases completed (assigned) in it — whether or not their
    # HTTP answer arrived in time (a timed-out request may still have registered its case).
    t_done = time.time()
    n = sum(1 for at in watcher.assigned.values() if t_start <= at <= t_done)
    return {**_http_figures(subs, ids, n, extra, t_start, t_end), **flow, "waiting_at_end_of_load": waiting,
            **_cost_figures(delta(s0, s1), offsets_delta(k0, k1), idle, idle_kafka, n)}


def _http_figures(subs: list[Any], ids: set[str], n: int, extra: Any, t_start: float,
                  t_end: float) -> dict[str, Any]:
    latencies = [s.latency_s for s in subs if s.case_id]
    statuses: dict[str, int] = {}
    for s in subs:
        label = {TIMEOUT: "timeout", CONNECTION_ERROR: "connection_error"}.get(s.status, str(s.status))
        statuses[label] = statuses.get(label, 0) + 1
    return {
        "submitted": len(subs), "accepted": len(ids), "http_status": statuses,
        "cases_assigned_in_window": n, "late_starts": extra or 0,
        "load_seconds": round(t_end - t_start, 1),
        "http_req_per_s": round(len(subs) / (t_end - t_start), 2) if t_end > t_start else None,
        "http_p50_ms": _ms(percentile(latencies, 50)), "http_p99_ms": _ms(percentile(latencies, 99)),
        "http_max_ms": _ms(max(latencies, default=None)),
    }


def _flow_figures(watcher: Watcher, subs: list[Any], ids: set[str], t_start: float, t_end: float, drained: bool,
                  drain_s: float) -> dict[str, Any]:
    """From submission to assignment, and on to the notifications."""
    assigned = {c: watcher.assigned[c] for c in ids if c in watcher.assigned}
    to_assigned = [watcher.assigned[s.case_id] - s.sent_at for s in subs if s.case_id and s.case_id in assigned]
    last_assigned = max(assigned.values(), default=t_end)
    span = (last_assigned if drained else time.time()) - t_start
    lags = watcher.notification_lags(ids)
    past = watcher.notification_lags(ids, past_hold=True)
    tail_from = t_end - 0.2 * (t_end - t_start)
    end_lags = [lag for occurred, lag in lags if occurred >= tail_from]
    end_past = [lag for occurred, lag in past if occurred >= tail_from]
    return {
        "assigned": len(assigned), "drained": drained, "drain_seconds": round(drain_s, 1),
        "submit_to_assigned_p50_s": _s(percentile(to_assigned, 50)),
        "submit_to_assigned_p99_s": _s(percentile(to_assigned, 99)),
        "submit_to_assigned_max_s": _s(max(to_assigned, default=None)),
        "cases_per_s_end_to_end": round(len(assigned) / span, 2) if span > 0 else None,
        "notifications": len(lags),
        "notification_lag_p50_s": _s(percentile([lag for _, lag in lags], 50)),
        "notification_lag_p99_s": _s(percentile([lag for _, lag in lags], 99)),
        "notification_lag_end_s": _s(max(end_lags, default=None)),
        "notification_lag_past_hold_p99_s": _s(percentile([lag for _, lag in past], 99)),
        "notification_lag_past_hold_end_s": _s(max(end_past, default=None)),
        "notifications_tail_after_load_s": _s(watcher.last_note_at - t_end) if lags else None,
    }


def _cost_figures(d: DbDelta, kafka: dict[str, int], idle: DbDelta, idle_kafka: dict[str, float],
                  n: int) -> dict[str, Any]:
    """Database operations, database CPU and Kafka messages per case, less what the idle platform costs."""
    ops_net = d.total - idle.ops_per_s() * d.seconds
    idle_cpu = idle.cpu_share()
    cpu_net = None if d.cpu_s is None or idle_cpu is None else d.cpu_s - idle_cpu * d.seconds
    net = {t: v - idle_kafka.get(t, 0.0) * d.seconds for t, v in kafka.items()}
    per_case_msgs = sum(v for t, v in net.items() if t not in NOT_PER_CASE)
    # every process's CPU in the window less its idle rate, per case (ms), and its share of a core in the window
    idle_rate = {p: v / idle.seconds for p, v in idle.procs.items()} if idle.seconds > 0 else {}
    by_proc = {p: round(1000 * (v - idle_rate.get(p, 0.0) * d.seconds) / n, 1) if n else None
               for p, v in sorted(d.procs.items())}
    return {
        "cpu_ms_per_case_by_process": by_proc,
        "cpu_ms_per_case_all_processes": round(sum(v for v in by_proc.values() if v is not None), 1)
        if n and by_proc else None,
        "cpu_core_pct_by_process": {p: round(100 * v / d.seconds, 1) for p, v in sorted(d.procs.items())}
        if d.seconds > 0 else {},
        "db_window_seconds": round(d.seconds, 1), "db_ops": d.ops,
        "db_ops_per_case": round(ops_net / n, 1) if n else None,
        "db_cpu_ms_per_case": round(1000 * cpu_net / n, 1) if n and cpu_net is not None else None,
        "db_cpu_core_pct": None if d.cpu_share() is None else round(100 * (d.cpu_share() or 0), 1),
        "kafka_messages": kafka,
        "kafka_messages_per_case": round(per_case_msgs / n, 1) if n else None,
        "kafka_offset_commits_per_case": round(net.get("__consumer_offsets", 0) / n, 1) if n else None,
    }


async def baselines(mongo_url: str, bootstrap: str, seconds: float, log: Log) -> dict[str, float]:
    log("· raw baselines (journaled transactions, bulk inserts, finds, Kafka acks=all) …")
    await ensure_topics(bootstrap, [RAW_TOPIC])
    out = await mongo_baselines(mongo_url, seconds)
    out.update(await kafka_baseline(bootstrap, RAW_TOPIC, seconds))
    return {k: round(v, 1) for k, v in out.items()}


def options_dict(opts: Options) -> dict[str, Any]:
    return asdict(opts)
