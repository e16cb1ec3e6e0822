"""What at-least-once costs: the outbox relay and the idempotent consumer against the raw broker.

    uv run python bench/bench_at_least_once.py [--n 2000]

Starts its own Kafka + MongoDB-protocol server (or uses YIMA_KAFKA_BOOTSTRAP / YIMA_MONGO_URL), then
measures in the same run:
  raw produce     aiokafka producer, acks=all, idempotent — the broker's own speed here
  outbox relay    entries staged in Mongo, published in order and marked (what every service does)
  raw consume     aiokafka consumer reading the same number of messages
  consumer        yima_kit idempotent consumer: ledger + handler write + commit, one transaction each
and prints each figure with its ratio to the raw broker. Figures, not pass/fail: nothing here is a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from yima_contracts import CaseStatusChanged
from yima_contracts.codes import CaseState
from yima_devstack.infra import Endpoints, LocalInfra
from yima_kit.consumer import Tx
from yima_kit.kafka_admin import ensure_topics
from yima_kit.kafka_auth import client_kwargs
from yima_kit.mongo import in_transaction
from yima_kit.outbox import Outgoing
from yima_kit.runtime import Runtime
from yima_kit.settings import KitSettings


def event(i: int) -> CaseStatusChanged:
    return CaseStatusChanged(case_id=f"case-{i % 500}", correlation_id="bench", state=CaseState.ACCEPTED,
                             title_zh="基准测试")


async def raw_produce(bootstrap: str, topic: str, n: int) -> float:
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, **client_kwargs(), acks="all", enable_idempotence=True)
    await p.start()
    try:
        payloads = [event(i).model_dump_json().encode() for i in range(n)]
        t = time.perf_counter()
        for i, body in enumerate(payloads):
            await p.send_and_wait(topic, body, key=f"case-{i % 500}".encode())
        return n / (time.perf_counter() - t)
    finally:
        await p.stop()


async def raw_consume(bootstrap: str, topic: str, n: int) -> float:
    c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, **client_kwargs(), auto_offset_reset="earliest",
                         group_id=f"bench-{uuid.uuid4().hex[:6]}", enable_auto_commit=False)
    await c.start()
    try:
        got, t = 0, time.perf_counter()
        while got < n:
            for recs in (await c.getmany(timeout_ms=500)).values():
                got += len(recs)
            await c.commit()
        return n / (time.perf_counter() - t)
    finally:
        await c.stop()


async def outbox_relay(ep: Endpoints, topic: str, n: int) -> float:
    rt = Runtime.create(KitSettings(service_name="mediation", kafka_bootstrap=ep.kafka_bootstrap,
                                    mongo_url=ep.mongo_url, mongo_db_prefix=f"bench{uuid.uuid4().hex[:6]}_"))
    await rt.outbox.setup()
    for start in range(0, n, 200):  # staged the way a burst of transactions would stage them
        batch = [Outgoing(topic, event(i)) for i in range(start, min(n, start + 200))]

        async def stage(session, batch=batch):
            await rt.outbox.add(session, batch)

        await in_transaction(rt.client, stage)
    await rt.broker.connect()
    t = time.perf_counter()
    sent = 0
    while sent < n:
        sent += await rt.relay.publish_pending()
    rate = n / (time.perf_counter() - t)
    await rt.stop()
    return rate


async def idempotent_consumer(ep: Endpoints, topic: str, n: int) -> float:
    rt = Runtime.create(KitSettings(service_name="mediation", kafka_bootstrap=ep.kafka_bootstrap,
                                    mongo_url=ep.mongo_url, mongo_db_prefix=f"bench{uuid.uuid4().hex[:6]}_"))
    done = asyncio.Event()
    count = 0

    @rt.consumers.subscribe(topic, CaseStatusChanged, name="bench", group_id=f"bench-{uuid.uuid4().hex[:6]}")
    async def handle(e: CaseStatusChanged, tx: Tx) -> None:
        nonlocal count
        await rt.db["effects"].insert_one({"case_id": e.case_id}, session=tx.session)
        count += 1
        if count >= n:
            done.set()

    t = time.perf_counter()
    await rt.start(relay=False)
    await asyncio.wait_for(done.wait(), timeout=600)
    rate = n / (time.perf_counter() - t)
    await rt.stop()
    return rate


async def main(n: int, ep: Endpoints) -> None:
    topic = f"bench.{uuid.uuid4().hex[:6]}"
    await ensure_topics(ep.kafka_bootstrap, [topic, f"{topic}.relay", "dlq.mediation"])
    produce = await raw_produce(ep.kafka_bootstrap, topic, n)
    relay = await outbox_relay(ep, f"{topic}.relay", n)
    consume = await raw_consume(ep.kafka_bootstrap, topic, n)
    consumer = await idempotent_consumer(ep, topic, n)
    print(f"messages per run: {n}")
    print(f"raw produce (acks=all)     {produce:9.0f} msg/s   1.00")
    print(f"outbox relay               {relay:9.0f} msg/s   {relay / produce:4.2f} of raw produce")
    print(f"raw consume                {consume:9.0f} msg/s   1.00")
    print(f"idempotent consumer (txn)  {consumer:9.0f} msg/s   {consumer / consume:4.2f} of raw consume")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    if os.environ.get("YIMA_KAFKA_BOOTSTRAP") and os.environ.get("YIMA_MONGO_URL"):
        asyncio.run(main(args.n, Endpoints(os.environ["YIMA_KAFKA_BOOTSTRAP"], os.environ["YIMA_MONGO_URL"])))
    else:
        infra = LocalInfra(Path(tempfile.mkdtemp(prefix="yima-bench-")))
        infra.install()
        try:
            ep = infra.start()
            os.environ.update(ep.kafka_auth().as_env())  # the super user, for every client below (ADR 0070)
            asyncio.run(main(args.n, ep))
        finally:
            infra.stop()
