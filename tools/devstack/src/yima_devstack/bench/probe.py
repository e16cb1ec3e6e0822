"""What the benchmark reads from the servers: the database's operation counters and CPU, Kafka's offsets."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo import AsyncMongoClient
from pymongo.errors import ConnectionFailure
from yima_kit.kafka_auth import client_kwargs

OPS = ("insert", "query", "update", "delete", "getmore", "command")
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int) -> float | None:
    """user + system CPU of every thread of ``pid`` (fields 14 and 15 of /proc/<pid>/stat), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # from field 3 on
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


@dataclass(frozen=True)
class DbSample:
    at: float  # monotonic seconds
    ops: dict[str, int]
    cpu_s: float | None

    @property
    def total(self) -> int:
        return sum(self.ops.values())


@dataclass(frozen=True)
class DbDelta:
    seconds: float
    ops: dict[str, int]
    cpu_s: float | None

    @property
    def total(self) -> int:
        return sum(self.ops.values())

    def ops_per_s(self) -> float:
        return self.total / self.seconds if self.seconds > 0 else 0.0

    def cpu_share(self) -> float | None:
        """Share of one core the database server used (0.5 = half a core)."""
        return None if self.cpu_s is None or self.seconds <= 0 else self.cpu_s / self.seconds


def delta(a: DbSample, b: DbSample) -> DbDelta:
    cpu = None if a.cpu_s is None or b.cpu_s is None else b.cpu_s - a.cpu_s
    return DbDelta(b.at - a.at, {k: b.ops.get(k, 0) - a.ops.get(k, 0) for k in OPS}, cpu)


@dataclass
class DbProbe:
    """serverStatus opcounters (every operation the server answered, from any client) and the server process's
    CPU from /proc, when the server runs on this machine and tells its pid (the stand-in and mongod both do).
    The probe's own serverStatus calls count as commands: a handful per phase, negligible."""

    mongo_url: str
    pid: int | None = None
    client: AsyncMongoClient[Any] = field(init=False)
    note: str = ""

    def __post_init__(self) -> None:
        self.client = AsyncMongoClient(self.mongo_url, tz_aware=True)

    async def start(self) -> None:
        status = await self.client.admin.command("serverStatus")
        if "opcounters" not in status:
            raise RuntimeError("the database server's serverStatus has no opcounters: cannot count operations")
        if self.pid is None:
            pid = status.get("pid")
            self.pid = int(pid) if isinstance(pid, int) else None
        if self.pid is None or process_cpu_seconds(self.pid) is None:
            self.note = "database CPU unknown: its server process is not readable on this machine"
            self.pid = None

    async def sample(self) -> DbSample:
        for attempt in range(3):  # a connection the busy server dropped is not a reason to lose the run
            try:
                status = await self.client.admin.command("serverStatus")
                break
            except ConnectionFailure:
                if attempt == 2:
                    raise
                await asyncio.sleep(1)
        counters = status["opcounters"]
        return DbSample(time.monotonic(), {k: int(counters.get(k, 0)) for k in OPS},
                        process_cpu_seconds(self.pid) if self.pid else None)

    async def close(self) -> None:
        await self.client.close()


async def kafka_end_offsets(bootstrap: str) -> dict[str, int]:
    """Sum of end offsets per topic (internal topics included: ``__consumer_offsets`` counts commits)."""
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **client_kwargs())
    await c.start()
    try:
        await c._client.force_metadata_update()  # as kafka_tools.read_topic: every topic, not a subscription
        cluster = c._client.cluster
        parts = [TopicPartition(t, p) for t in cluster.topics(exclude_internal_topics=False)
                 for p in (cluster.partitions_for_topic(t) or ())]
        ends = await c.end_offsets(parts) if parts else {}
    finally:
        await c.stop()
    out: dict[str, int] = {}
    for tp, off in ends.items():
        out[tp.topic] = out.get(tp.topic, 0) + off
    return out


def offsets_delta(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {t: n - a.get(t, 0) for t, n in b.items() if n - a.get(t, 0) > 0}
