"""Raw speed of this box's servers, measured in the same run as the platform: what a case is compared with.

Same durability as the services: the Mongo URL's journaled writes (``journal=true``), Kafka ``acks=all`` with an
idempotent producer. Each figure runs for a bounded time and a bounded count, in a database of its own that is
dropped afterwards.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient
from yima_kit.kafka_auth import client_kwargs

DOC = {"case_id": "x" * 36, "state": "submitted", "note": "基准测试" * 20, "n": 0}


async def mongo_baselines(mongo_url: str, seconds: float, max_count: int = 100_000) -> dict[str, float]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_url, tz_aware=True)
    db = client[f"yima_bench_raw_{uuid.uuid4().hex[:6]}"]
    try:
        a, b = db["a"], db["b"]
        await a.insert_one({"_id": "warm"})
        await b.insert_one({"_id": "warm"})

        # journaled two-write transactions, one after the other (a use case's unit of work at its smallest)
        n, t0 = 0, time.perf_counter()
        while n < max_count and time.perf_counter() - t0 < seconds:
            async with client.start_session() as s, await s.start_transaction():
                await a.insert_one({**DOC, "n": n}, session=s)
                await b.insert_one({**DOC, "n": n}, session=s)
            n += 1
        tx_per_s = n / (time.perf_counter() - t0)

        # bulk inserts: insert_many of 500 documents
        n, t0 = 0, time.perf_counter()
        while n < max_count and time.perf_counter() - t0 < seconds:
            await db["bulk"].insert_many([{**DOC, "n": n + i} for i in range(500)], ordered=False)
            n += 500
        bulk_per_s = n / (time.perf_counter() - t0)

        # finds by _id, one after the other
        ids = [d["_id"] async for d in a.find({}, {"_id": 1}).limit(1000)]
        n, t0 = 0, time.perf_counter()
        while n < max_count and time.perf_counter() - t0 < seconds / 2:
            await a.find_one({"_id": ids[n % len(ids)]})
            n += 1
        finds_per_s = n / (time.perf_counter() - t0)
        return {"two_write_tx_per_s": tx_per_s, "bulk_insert_docs_per_s": bulk_per_s, "find_by_id_per_s": finds_per_s}
    finally:
        await client.drop_database(db.name)
        await client.close()


async def kafka_baseline(bootstrap: str, topic: str, seconds: float, max_count: int = 100_000) -> dict[str, float]:
    """Raw produce, acks=all and idempotent: one message at a time (each waits for its acknowledgement), and
    pipelined (a window of 200 in flight), as a service's producer might."""
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **client_kwargs())
    await p.start()
    try:
        body = (b'{"event_type":"bench.raw.v1","case_id":"' + b"x" * 36 + b'","note":"' + b"y" * 300 + b'"}')
        await p.send_and_wait(topic, body, key=b"warm")
        n, t0 = 0, time.perf_counter()
        while n < max_count and time.perf_counter() - t0 < seconds:
            await p.send_and_wait(topic, body, key=str(n % 500).encode())
            n += 1
        sequential = n / (time.perf_counter() - t0)
        n, t0 = 0, time.perf_counter()
        while n < max_count and time.perf_counter() - t0 < seconds:
            futures = [await p.send(topic, body, key=str((n + i) % 500).encode()) for i in range(200)]
            for f in futures:
                await f
            n += 200
        pipelined = n / (time.perf_counter() - t0)
        return {"kafka_produce_per_s": sequential, "kafka_produce_pipelined_per_s": pipelined}
    finally:
        await p.stop()
