"""Database operations per case, counted by the server: the whole platform as processes, cases over HTTP.

    uv run python bench/ops_per_case.py [--cases 40] [--concurrency 8] [--idle 20]

Starts its own Kafka + MongoDB-protocol server (or uses YIMA_KAFKA_BOOTSTRAP / YIMA_MONGO_URL) and every
service as its own process (notify's SMS and webhooks go to the local dev gateway, as in ``./yima run``), then:

1. idle: the server's opcounters (``serverStatus``) over ``--idle`` seconds — what the platform costs doing nothing;
2. load: ``--cases`` submissions over HTTP, ``--concurrency`` at a time, each from its own phone;
3. drain: waits until every case is assigned and its texts are sent (notify's ledger says so), then reads the
   counters again and subtracts the idle rate over the same time.

Prints operations per case by kind (insert/query/update/delete/getmore/command) and the idle rate. Figures, not
pass/fail: the whole-platform benchmark (``./yima bench``) measures the rest; this one is the redesign's
yardstick (ADR 0060).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient
from yima_devstack.infra import Endpoints, LocalInfra, free_port
from yima_devstack.services import SERVICE_PORTS, Platform, service_env
from yima_devstack.topics import ensure_topics, platform_topics

COMMUNITY = "410105001001"
KINDS = ("insert", "query", "update", "delete", "getmore", "command")


async def opcounters(client: AsyncMongoClient[Any]) -> dict[str, int]:
    status = await client.admin.command("serverStatus")
    return {k: int(status["opcounters"].get(k, 0)) for k in KINDS}


def diff(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: b[k] - a[k] for k in KINDS}


async def submit(http: httpx.AsyncClient, url: str, i: int, run: str) -> str:
    body = {"channel": "self_service",
            "applicant": {"name": "欧阳娜娜", "phone": f"139{abs(hash(run)) % 10000:04d}{i:04d}"},
            "description": f"楼上邻居家卫生间漏水，把我家天花板泡坏了，找他好几次都不管（{run}-{i}）",
            "location": {"unit_code": COMMUNITY}}
    r = await http.post(f"{url}/api/v1/cases", json=body, headers={"X-Forwarded-For": f"10.9.{i // 250}.{i % 250}"})
    r.raise_for_status()
    return str(r.json()["case_id"])


async def print_profile(client: AsyncMongoClient[Any], prefix: str, cases: int) -> None:
    """Where the operations went (the server's profiler, level 2 during the load): per collection and kind."""
    counts: dict[str, int] = {}
    for name in await client.list_database_names():
        if not name.startswith(prefix):
            continue
        await client[name].command("profile", 0)
        async for p in client[name]["system.profile"].find({}, {"ns": 1, "op": 1, "command": 1}):
            cmd = p.get("command") or {}
            kind = next(iter(cmd), p.get("op", "?")) if isinstance(cmd, dict) else p.get("op", "?")
            key = f"{p.get('ns', name).removeprefix(prefix)} {p.get('op')}/{kind}"
            counts[key] = counts.get(key, 0) + 1
    for key, n in sorted(counts.items(), key=lambda kv: -kv[1])[:40]:
        print(f"  {n / cases:6.2f}/case  {key}")


async def measure(ep: Endpoints, cases: int, concurrency: int, idle_seconds: float, log_dir: Path,
                  profile: bool = False) -> None:
    from yima_notify.devgateway import DevGateway

    await ensure_topics(ep.kafka_bootstrap, platform_topics())
    gw = DevGateway().start()
    prefix = f"ops{uuid.uuid4().hex[:6]}_"
    platform = Platform(log_dir=log_dir, db_prefix=prefix, ports={n: free_port() for n in SERVICE_PORTS})
    env = service_env(ep.kafka_bootstrap, ep.mongo_url, db_prefix=prefix, extra={
        "YIMA_NOTIFY_SMS_URL": f"{gw.url}/sms",
        "YIMA_NOTIFY_UNIT_CONTACTS_JSON": json.dumps({"*": {"webhook_url": f"{gw.url}/hooks/{{unit}}"}}),
        "YIMA_NOTIFY_QUIET_HOURS": "",
        "YIMA_NOTIFY_DIGEST_WINDOW_SECONDS": "0",
        "YIMA_INTAKE_TRUST_FORWARDED_FOR": "true",  # each submission from its own address: limits are not measured
    })
    platform.start(env)
    client: AsyncMongoClient[Any] = AsyncMongoClient(ep.mongo_url, tz_aware=True)
    try:
        platform.wait_healthy(timeout=180)
        await asyncio.sleep(5)  # start-up work (indexes, directory seeding) settles
        t0, c0 = time.monotonic(), await opcounters(client)
        await asyncio.sleep(idle_seconds)
        idle = diff(c0, await opcounters(client))
        idle_secs = time.monotonic() - t0
        idle_rate = {k: v / idle_secs for k, v in idle.items()}

        run = uuid.uuid4().hex[:6]
        if profile:
            for name in await client.list_database_names():
                if name.startswith(prefix):
                    await client[name].command("profile", 2)
        t1, c1 = time.monotonic(), await opcounters(client)
        sem = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(timeout=120) as http:
            async def one(i: int) -> str:
                async with sem:
                    return await submit(http, platform.procs["intake"].url, i, run)
            ids = await asyncio.gather(*(one(i) for i in range(cases)))
        submitted_in = time.monotonic() - t1
        # drained: every case assigned (routing's ledger) and every text of every case sent (notify's ledger)
        notify_db = client[f"{prefix}yima_notify"]
        routing_db = client[f"{prefix}yima_routing"]
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            assigned = await routing_db["assignments"].count_documents({"case_id": {"$in": ids}})
            waiting = await notify_db["notifications"].count_documents(
                {"case_id": {"$in": ids}, "state": {"$in": ["queued", "sending"]}})
            texts = await notify_db["notifications"].count_documents({"case_id": {"$in": ids}, "channel": "sms"})
            if assigned >= cases and waiting == 0 and texts >= 2 * cases:
                break
            await asyncio.sleep(1)
        else:
            print("! not drained in 10 minutes")
        await asyncio.sleep(3)  # the last relays publish and the consumers' ledgers settle
        elapsed = time.monotonic() - t1
        load = diff(c1, await opcounters(client))
        probes = 3 * (elapsed // 1 + 1)  # this script's own count_documents while waiting (approximate)
        net = {k: load[k] - idle_rate[k] * elapsed for k in KINDS}
        net["command"] -= probes
        total = sum(net.values())
        print(f"cases: {cases} (concurrency {concurrency}); submitted in {submitted_in:.1f}s, "
              f"drained in {elapsed:.1f}s")
        print(f"idle: {sum(idle_rate.values()):.1f} ops/s  " +
              "  ".join(f"{k}={v:.2f}" for k, v in idle_rate.items()))
        print(f"per case: {total / cases:.1f} ops  " + "  ".join(f"{k}={v / cases:.1f}" for k, v in net.items()))
        if profile:
            await print_profile(client, prefix, cases)
    finally:
        await client.close()
        platform.stop()
        gw.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=40)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--idle", type=float, default=20)
    ap.add_argument("--profile", action="store_true", help="also print where the operations went (profiler)")
    args = ap.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="yima-ops-logs-"))
    if os.environ.get("YIMA_KAFKA_BOOTSTRAP") and os.environ.get("YIMA_MONGO_URL"):
        ep = Endpoints(os.environ["YIMA_KAFKA_BOOTSTRAP"], os.environ["YIMA_MONGO_URL"])
        asyncio.run(measure(ep, args.cases, args.concurrency, args.idle, logs, args.profile))
    else:
        infra = LocalInfra(Path(tempfile.mkdtemp(prefix="yima-ops-")))
        infra.install()
        try:
            asyncio.run(measure(infra.start(), args.cases, args.concurrency, args.idle, logs, args.profile))
        finally:
            infra.stop()
    print(f"service logs: {logs}")
