"""Database operations per case, counted by the server, and where they go: the whole platform as processes,
cases over HTTP, departments answering — the same platform and load as ``./yima bench``, a few cases.

    uv run python bench/ops_per_case.py [--cases 20] [--concurrency 8] [--idle 10] [--profile]

Starts its own Kafka + MongoDB-protocol server (or uses YIMA_KAFKA_BOOTSTRAP / YIMA_MONGO_URL) and every
service as its own process with its own Kafka principal (notify's SMS and webhooks go to the local dev gateway,
as in ``./yima run``), then:

1. idle: the server's opcounters (``serverStatus``) over ``--idle`` seconds — what the platform costs doing nothing;
2. load: ``--cases`` submissions over HTTP (the bench's own bodies: a spread over categories and communities),
   ``--concurrency`` at a time; the departments answer ``accepted`` and ``resolved`` on their own feedback topics
   as in ``./yima bench`` (the bench's Watcher);
3. drain: waits until every case is assigned and nothing was watched for 8 s, then reads the counters again
   and subtracts the idle rate over the same time.

Prints operations per case by kind (insert/query/update/delete/getmore/command), the idle rate and the database
server's CPU per case (``/proc``, less its idle rate; when it runs on this machine); with
``--profile``, each database's profiler (level 2 during the load) per collection and operation, summed per
service too; with ``--locks`` (its own server only), who held the server's serial locks over the load and for how
long — the transaction lane, the registry, the storage's global lock (bench/standin_locks/). Figures, not
pass/fail: the per-service table in bench/README.md comes from here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient
from yima_devstack.bench.load import Submitter, Watcher
from yima_devstack.bench.probe import process_cpu_seconds
from yima_devstack.infra import Endpoints, LocalInfra, free_port
from yima_devstack.services import SERVICE_PORTS, Platform, peer_env, service_env
from yima_devstack.topics import ensure_topics, platform_topics

KINDS = ("insert", "query", "update", "delete", "getmore", "command")
LOCKS_DIR = Path(__file__).resolve().parent / "standin_locks"
sys.path.insert(0, str(LOCKS_DIR))
import locks  # noqa: E402  (bench/standin_locks/locks.py)

GATEWAY_MODULE = "yima_notify.devgateway"


async def opcounters(client: AsyncMongoClient[Any]) -> dict[str, int]:
    status = await client.admin.command("serverStatus")
    return {k: int(status["opcounters"].get(k, 0)) for k in KINDS}


def diff(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: b[k] - a[k] for k in KINDS}


def _kind(p: dict[str, Any]) -> str:
    cmd = p.get("command")
    if isinstance(cmd, dict) and cmd:
        return str(next(iter(cmd)))
    return str(p.get("op", "?"))


def _filter_shape(p: dict[str, Any]) -> str:
    """The fields a profiled command filters (and sorts) on: which query of a collection it was."""
    cmd = p.get("command") if isinstance(p.get("command"), dict) else {}
    q = cmd.get("filter") or cmd.get("query") or cmd.get("q")
    if q is None and isinstance(cmd.get("updates"), list) and cmd["updates"]:
        q = cmd["updates"][0].get("q")
    if q is None and isinstance(cmd.get("deletes"), list) and cmd["deletes"]:
        q = cmd["deletes"][0].get("q")
    fields = sorted(q) if isinstance(q, dict) else []
    sort = sorted(cmd.get("sort") or {}) if isinstance(cmd.get("sort"), dict) else []
    in_tx = " in-tx" if cmd.get("autocommit") is False else ""  # a statement of a multi-document transaction
    return "{" + ",".join(fields) + "}" + (f" sort={','.join(sort)}" if sort else "") + in_tx


async def print_profile(client: AsyncMongoClient[Any], dbs: list[str], cases: int, shapes: bool = False) -> None:
    """Where the operations went (the server's profiler, level 2 during the load): per collection and kind."""
    counts: dict[str, int] = {}
    millis: dict[str, float] = {}  # the server's time per operation (its profiler's ``millis``)
    per_db: dict[str, int] = {}
    writes: dict[str, int] = {}  # an update/insert command's statements, an `_id $in` statement counted per id
    for name in dbs:
        await client[name].command("profile", 0)
        async for p in client[name]["system.profile"].find({}, {"ns": 1, "op": 1, "command": 1, "millis": 1,
                                                                 "errCode": 1}):
            key = f"{p.get('ns', name)} {_kind(p)}" + (f" {_filter_shape(p)}" if shapes else "")
            if p.get("errCode") is not None:  # a refused statement (a write conflict aborts its transaction)
                key += f" error={p['errCode']}"
            counts[key] = counts.get(key, 0) + 1
            millis[key] = millis.get(key, 0.0) + float(p.get("millis") or 0)
            per_db[name] = per_db.get(name, 0) + 1
            writes[key] = writes.get(key, 0) + _targets(p.get("command") or {})
    print("per database (profiler):")
    for name, n in sorted(per_db.items(), key=lambda kv: -kv[1]):
        print(f"  {n / cases:6.2f}/case  {name}")
    print("per collection and operation (operations per case, server ms per case, statements or ids per case):")
    for key, n in sorted(counts.items(), key=lambda kv: -millis.get(kv[0], 0.0))[:60]:
        print(f"  {n / cases:6.2f}/case {millis.get(key, 0.0) / cases:8.2f} ms/case {writes.get(key, 0) / cases:6.2f}"
              f"  {key}")


def _targets(cmd: dict[str, Any]) -> int:
    """What a write command touched at most: its documents (insert), or per update/delete statement the ids of
    an ``_id: {$in: …}`` filter (else 1 — a statement by another filter may touch more)."""
    if "documents" in cmd:
        return len(cmd["documents"])
    n = 0
    for st in cmd.get("updates") or cmd.get("deletes") or []:
        ids = (st.get("q") or {}).get("_id")
        n += len(ids["$in"]) if isinstance(ids, dict) and isinstance(ids.get("$in"), list) else 1
    return n


async def measure(ep: Endpoints, cases: int, concurrency: int, idle_seconds: float, log_dir: Path,
                  profile: bool = False, digest_window: float | None = None, settle: bool = False,
                  shapes: bool = False, lock_stats: Path | None = None) -> None:
    await ensure_topics(ep.kafka_bootstrap, platform_topics())
    platform = Platform(log_dir=log_dir, ports={n: free_port() for n in SERVICE_PORTS},
                        service_env=ep.service_kafka_env)
    gw = f"http://127.0.0.1:{(gateway_port := free_port())}"
    env = {**peer_env(platform.ports), **service_env(ep.kafka_bootstrap, ep.mongo_url, extra={
        "YIMA_NOTIFY_SMS_URL": f"{gw}/sms",
        "YIMA_NOTIFY_UNIT_CONTACTS_JSON": json.dumps({"*": {"webhook_url": f"{gw}/hooks/{{unit}}"}}),
        "YIMA_NOTIFY_QUIET_HOURS": "",
        **({"YIMA_NOTIFY_DIGEST_WINDOW_SECONDS": str(digest_window)} if digest_window is not None else {}),
    })}
    platform.start_helper("devgateway", GATEWAY_MODULE, gateway_port, env)
    platform.start(env)
    client: AsyncMongoClient[Any] = AsyncMongoClient(ep.mongo_url, tz_aware=True)
    sub = Submitter(platform.procs["intake"].url, addresses=min(200, max(1, cases)))
    watcher = Watcher(ep.kafka_bootstrap, resolve=True)
    try:
        platform.wait_healthy(timeout=180)
        await sub.start()
        await watcher.start()
        # warm-up: consumer groups joined, code paths hot (not counted)
        warm = [s.case_id for s in await asyncio.gather(*(sub.submit("warmup") for _ in range(3))) if s.case_id]
        await _drain(watcher, set(warm), 120)
        dbs = [n for n in await client.list_database_names() if n.startswith("yima_")]
        pid = int((await client.admin.command("serverStatus")).get("pid") or 0)  # on this machine: its CPU
        t0, c0, cpu0 = time.monotonic(), await opcounters(client), _cpu(pid)
        await asyncio.sleep(idle_seconds)
        idle = diff(c0, await opcounters(client))
        idle_rate = {k: v / (time.monotonic() - t0) for k, v in idle.items()}
        cpu_idle = (_cpu(pid) - cpu0) / (time.monotonic() - t0)
        if profile:
            for name in dbs:
                await client[name]["system.profile"].drop()
                await client[name].command("profile", 2)
        locks_before = await _lock_snapshot(lock_stats)
        t1, c1, cpu1 = time.monotonic(), await opcounters(client), _cpu(pid)
        sem = asyncio.Semaphore(concurrency)

        async def one() -> str | None:
            async with sem:
                return (await sub.submit("load")).case_id
        ids = {i for i in await asyncio.gather(*(one() for _ in range(cases))) if i}
        submitted_in = time.monotonic() - t1
        drained = await _drain(watcher, ids, 600)
        if settle:  # every consumer and the texts held by the digest window done too, not only what is watched
            quiet_for = max(8.0, (digest_window or 0) + 5)
            settled = await _settle(client, sum(idle_rate.values()), quiet_for, 600)
            print(f"settled: {'yes' if settled else 'NO'} ({quiet_for:.0f} s near the idle rate) after "
                  f"{time.monotonic() - t1:.1f}s")
        elapsed = time.monotonic() - t1
        load = diff(c1, await opcounters(client))
        cpu = _cpu(pid) - cpu1 - cpu_idle * elapsed  # the server's CPU over the load, less its idle rate
        net = {k: load[k] - idle_rate[k] * elapsed for k in KINDS}
        total = sum(net.values())
        n = len(ids)
        print(f"cases: {n} (concurrency {concurrency}); submitted in {submitted_in:.1f}s, "
              f"drained {'' if drained else 'NOT '}in {elapsed:.1f}s; orders {watcher.orders}, "
              f"answers {watcher.answered}, texts {len(watcher.notes)}")
        print(f"idle: {sum(idle_rate.values()):.1f} ops/s  " +
              "  ".join(f"{k}={v:.2f}" for k, v in idle_rate.items()))
        print(f"per case: {total / n:.1f} ops  " + "  ".join(f"{k}={v / n:.1f}" for k, v in net.items()))
        if pid:  # the profiler's own writes are in it with --profile: compare runs without it
            print(f"database server CPU per case: {cpu * 1000 / n:.1f} ms (idle {cpu_idle * 100:.1f} % of a core)")
        if profile:
            await print_profile(client, dbs, n, shapes)
        if lock_stats is not None:
            held = locks.difference(await _lock_snapshot(lock_stats), locks_before)
            print("the server's serial locks over the load (bench/standin_locks):")
            print("\n".join(f"  {line}" for line in locks.report(held, n)))
        # right after the load: what is still working (a consumer the drain does not watch, say)
        if profile:
            for name in dbs:
                await client[name]["system.profile"].drop()
                await client[name].command("profile", 2)
        t2, c2 = time.monotonic(), await opcounters(client)
        await asyncio.sleep(idle_seconds)
        after = diff(c2, await opcounters(client))
        print(f"idle after the load: {sum(after.values()) / (time.monotonic() - t2):.1f} ops/s")
        if profile:
            await print_profile(client, dbs, 1)
    finally:
        await watcher.stop()
        await sub.close()
        await client.close()
        platform.stop()


async def _lock_snapshot(path: Path | None) -> locks.Stats:
    """The server's lock counts as of now (it writes them every second)."""
    if path is None:
        return {}
    await asyncio.sleep(1.5)
    return locks.read(path)


def _cpu(pid: int) -> float:
    return (process_cpu_seconds(pid) or 0.0) if pid else 0.0


async def _settle(client: AsyncMongoClient[Any], idle_rate: float, quiet_for: float, timeout: float,
                  window: float = 2.0) -> bool:
    """Wait until the server's operations/s stayed within 1.5 × the idle rate + 2 for ``quiet_for`` seconds."""
    deadline = time.monotonic() + timeout
    prev = sum((await opcounters(client)).values())
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(window)
        cur = sum((await opcounters(client)).values())
        if (cur - prev) / window > idle_rate * 1.5 + 2:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_for:
            return True
        prev = cur
    return False


async def _drain(watcher: Watcher, ids: set[str], timeout: float, quiet: float = 8.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ids <= set(watcher.assigned) and time.time() - watcher.last_activity_at > quiet:
            return True
        await asyncio.sleep(1)
    return False


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--idle", type=float, default=10)
    ap.add_argument("--profile", action="store_true", help="also print where the operations went (profiler)")
    ap.add_argument("--digest-window", type=float, default=None,
                    help="notify's SMS digest window in seconds (default: the service's, 120)")
    ap.add_argument("--settle", action="store_true",
                    help="after the drain, also wait until the server's rate is back at idle for the digest "
                         "window + 5 s (every consumer and held text done): the whole cost of the cases")
    ap.add_argument("--shapes", action="store_true", help="with --profile: per query shape (the filter's fields)")
    ap.add_argument("--locks", action="store_true",
                    help="who held the server's serial locks over the load (its own server only: bench/standin_locks)")
    args = ap.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="yima-ops-logs-"))
    if os.environ.get("YIMA_KAFKA_BOOTSTRAP") and os.environ.get("YIMA_MONGO_URL"):
        if args.locks:
            ap.error("--locks needs the server this script starts (unset YIMA_KAFKA_BOOTSTRAP / YIMA_MONGO_URL)")
        ep = Endpoints(os.environ["YIMA_KAFKA_BOOTSTRAP"], os.environ["YIMA_MONGO_URL"])
        asyncio.run(measure(ep, args.cases, args.concurrency, args.idle, logs, args.profile, args.digest_window,
                                args.settle, args.shapes))
    else:
        state = Path(tempfile.mkdtemp(prefix="yima-ops-"))
        lock_stats = state / "locks.json" if args.locks else None
        if lock_stats is not None:  # the server (and only it: it alone has secantus) loads sitecustomize.py
            os.environ["SECANTUS_LOCKSTATS"] = str(lock_stats)
            os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(LOCKS_DIR), os.environ.get("PYTHONPATH")) if p)
        infra = LocalInfra(state, kafka_port=free_port(), mongo_port=free_port())
        infra.install()
        try:
            ep = infra.start()
            if lock_stats is not None:  # the services need none of it
                os.environ.pop("SECANTUS_LOCKSTATS")
            os.environ.update(ep.kafka_auth().as_env())  # this script's own clients: the super user (ADR 0070)
            asyncio.run(measure(ep, args.cases, args.concurrency, args.idle, logs, args.profile, args.digest_window,
                                args.settle, args.shapes, lock_stats))
        finally:
            infra.stop()
    print(f"service logs: {logs}")
