"""Intake's request path alone: one intake process (``serve``: API, consumers, relay), HTTP submissions, the
database's operations per submission — the figures of issue 12's intake targets without the rest of the platform.

    uv run python bench/intake_latency.py [--unloaded 60] [--concurrency 16] [--requests 320] [--profile]
    INTAKE_SRC=/path/to/other/services/intake/src uv run python bench/intake_latency.py   # another version

Starts its own Kafka + MongoDB-protocol server (or uses YIMA_KAFKA_BOOTSTRAP / YIMA_MONGO_URL), one intake
process, then: a warm-up; ``--unloaded`` submissions one at a time (HTTP p50/p99); ``--requests`` submissions with
``--concurrency`` in flight (each from its own loopback address, an Idempotency-Key on each, as ``./yima bench``);
the server's opcounters over each phase ÷ submissions (the relay's publishing and the timeline consumer included),
and the load average. Bounded: at most ``--requests`` + ``--unloaded`` + 5 requests, each with a 60 s timeout.
With ``INTAKE_SRC`` the intake process imports intake from that directory (a before/after on one box). With
``--profile`` the server's profiler records intake's database during the concurrent phase and the operations and
server time per submission are printed per collection and command (the profiler slows the server: its run's
latencies are not comparable).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient
from yima_devstack.bench.load import Submitter, percentile
from yima_devstack.infra import Endpoints, LocalInfra, free_port
from yima_devstack.services import ServiceProcess, service_env
from yima_devstack.topics import ensure_topics, platform_topics

KINDS = ("insert", "query", "update", "delete", "getmore", "command")


async def opcount(client: AsyncMongoClient[Any]) -> int:
    status = await client.admin.command("serverStatus")
    return sum(int(status["opcounters"].get(k, 0)) for k in KINDS)


def cpu_seconds(pid: int) -> float:
    """user + system CPU of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def phase(name: str, sub: Submitter, client: AsyncMongoClient[Any], n: int, concurrency: int,
                settle: float, pids: dict[str, int]) -> None:
    sem = asyncio.Semaphore(concurrency)
    load0, ops0, t0 = os.getloadavg()[0], await opcount(client), time.monotonic()
    cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}

    async def one() -> tuple[float, int]:
        async with sem:
            s = await sub.submit(name)
            if concurrency == 1:
                await asyncio.sleep(0.1)
            return s.latency_s, s.status

    results = await asyncio.gather(*(one() for _ in range(n)))
    took = time.monotonic() - t0
    await asyncio.sleep(settle)  # the relay publishes and the timeline consumer reads the steps back
    ops = await opcount(client) - ops0 - 3  # our own serverStatus calls
    cpu = {k: (cpu_seconds(p) - cpu0[k]) * 1000 / n for k, p in pids.items()}
    ok = [lat * 1000 for lat, status in results if status in (200, 201)]
    print(f"{name}: {len(ok)}/{n} answered 201/200, concurrency {concurrency}, {n / took:.1f} req/s; "
          f"HTTP p50 {percentile(ok, 50):.0f} ms, p99 {percentile(ok, 99):.0f} ms; "
          f"{ops / n:.1f} database operations per submission (with the relay and the timeline consumer, "
          f"{settle:.0f} s after); CPU per submission: " + ", ".join(f"{k} {v:.1f} ms" for k, v in cpu.items()) +
          f"; load average {load0:.1f} → {os.getloadavg()[0]:.1f}")


async def profiled(client: AsyncMongoClient[Any], db: str, on: bool) -> None:
    """The server's profiler on intake's database (level 2: every operation), or off and what it saw, per collection
    and command: count and the server's own time (``millis``) per submission is printed by ``print_profile``."""
    if on:
        await client[db]["system.profile"].drop()
    await client[db].command("profile", 2 if on else 0)


async def print_profile(client: AsyncMongoClient[Any], db: str, n: int) -> None:
    seen: dict[str, list[float]] = {}
    async for p in client[db]["system.profile"].find({}, {"ns": 1, "op": 1, "command": 1, "millis": 1}):
        cmd = p.get("command") if isinstance(p.get("command"), dict) else {}
        key = f"{p.get('ns', db).split('.', 1)[-1]} {next(iter(cmd), p.get('op', '?'))}"
        seen.setdefault(key, []).append(float(p.get("millis") or 0))
    print("profiler (the concurrent phase; per submission: operations, server ms; the largest ms per operation):")
    for key, ms in sorted(seen.items(), key=lambda kv: -sum(kv[1])):
        print(f"  {len(ms) / n:5.2f} ops {sum(ms) / n:7.2f} ms  max {max(ms):6.0f} ms  {key}")


def wait_healthy(proc: ServiceProcess, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if not proc.alive():
            raise RuntimeError(proc.log_tail())
        try:
            if httpx.get(f"{proc.url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(proc.log_tail())
        time.sleep(0.3)


async def measure(ep: Endpoints, args: argparse.Namespace, log_dir: Path) -> None:
    await ensure_topics(ep.kafka_bootstrap, platform_topics())
    port = free_port()
    env = {**service_env(ep.kafka_bootstrap, ep.mongo_url, db_prefix=f"lat{os.getpid()}_"), **ep.service_kafka_env(
        "intake")}
    if os.environ.get("INTAKE_SRC"):
        env["PYTHONPATH"] = os.environ["INTAKE_SRC"]
    proc = ServiceProcess("intake", port, log_dir / "intake.log")
    proc.start(env)
    client: AsyncMongoClient[Any] = AsyncMongoClient(ep.mongo_url)
    sub = Submitter(proc.url, addresses=max(args.concurrency, 16))
    try:
        await asyncio.to_thread(wait_healthy, proc)
        await sub.start()
        for _ in range(5):
            await sub.submit("warmup")
        await asyncio.sleep(2)
        pids = {"intake": proc.pid or 0, "database": int((await client.admin.command("serverStatus"))["pid"])}
        await phase("unloaded", sub, client, args.unloaded, 1, args.settle, pids)
        db = f"{env['YIMA_MONGO_DB_PREFIX']}yima_intake"
        if args.profile:
            await profiled(client, db, True)
        await phase("concurrent", sub, client, args.requests, args.concurrency, args.settle, pids)
        if args.profile:
            await profiled(client, db, False)
            await print_profile(client, db, args.requests)
    finally:
        await sub.close()
        await client.close()
        proc.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--unloaded", type=int, default=60)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--requests", type=int, default=320)
    ap.add_argument("--settle", type=float, default=5.0, help="seconds after a phase before counting")
    ap.add_argument("--profile", action="store_true", help="the server's profiler on intake's database during the "
                    "concurrent phase: where its operations and their server time go (costs time itself: not for "
                    "the latency figures)")
    args = ap.parse_args()
    if args.requests > 5000 or args.unloaded > 1000:
        raise SystemExit("bounded: at most 5000 concurrent-phase and 1000 unloaded requests")
    logs = Path(tempfile.mkdtemp(prefix="yima-intake-lat-"))
    if os.environ.get("YIMA_KAFKA_BOOTSTRAP") and os.environ.get("YIMA_MONGO_URL"):
        asyncio.run(measure(Endpoints(os.environ["YIMA_KAFKA_BOOTSTRAP"], os.environ["YIMA_MONGO_URL"]), args, logs))
    else:
        infra = LocalInfra(Path(tempfile.mkdtemp(prefix="yima-intake-lat-")), kafka_port=free_port(),
                           mongo_port=free_port())
        infra.install()
        try:
            ep = infra.start()
            os.environ.update(ep.kafka_auth().as_env())  # this script's own clients: the super user (ADR 0070)
            asyncio.run(measure(ep, args, logs))
        finally:
            infra.stop()
    print(f"intake's log: {logs}")
