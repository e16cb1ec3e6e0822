"""What the benchmark reads from the servers: the database's operation counters and CPU, Kafka's offsets."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from pymongo import AsyncMongoClient
from pymongo.errors import ConnectionFailure
from yima_kit.kafka_auth import client_kwargs

T = TypeVar("T")
ATTEMPTS = 3
ANSWER_WITHIN_S = 30.0  # one serverStatus, one read of Kafka's end offsets
OPS = ("insert", "query", "update", "delete", "getmore", "command")
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int | str) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()  # from field 3 (state) on: fields[1] is the ppid


def process_cpu_seconds(pid: int) -> float | None:
    """user + system CPU of every thread of ``pid`` (fields 14 and 15 of /proc/<pid>/stat), or None."""
    fields = _stat_fields(pid)
    return None if fields is None else (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree_cpu_seconds(roots: dict[str, tuple[int, bool]]) -> dict[str, float]:
    """CPU seconds of each named process: ``(pid, with_children)``. With children: user + system of every thread
    of every live descendant, plus what reaped descendants left in their parents' cutime/cstime (fields 16, 17) —
    so a child that exits between two samples neither vanishes nor counts twice. Without: the process alone.
    One pass over /proc per sample."""
    own: dict[int, float] = {}  # utime + stime + cutime + cstime per pid
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry.name)
        if fields is None:
            continue
        pid = int(entry.name)
        own[pid] = sum(int(f) for f in fields[11:15]) / CLK_TCK
        kids.setdefault(int(fields[1]), []).append(pid)
    out: dict[str, float] = {}
    for name, (root, with_children) in roots.items():
        if root not in own:
            continue
        if not with_children:
            out[name] = process_cpu_seconds(root) or 0.0
            continue
        total, todo = 0.0, [root]
        while todo:
            pid = todo.pop()
            total += own.get(pid, 0.0)
            todo.extend(kids.get(pid, ()))
        out[name] = total
    return out


@dataclass(frozen=True)
class DbSample:
    at: float  # monotonic seconds
    ops: dict[str, int]
    cpu_s: float | None
    procs: dict[str, float] = field(default_factory=dict)  # CPU seconds of each process the bench watches

    @property
    def total(self) -> int:
        return sum(self.ops.values())


@dataclass(frozen=True)
class DbDelta:
    seconds: float
    ops: dict[str, int]
    cpu_s: float | None
    procs: dict[str, float] = field(default_factory=dict)

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
    procs = {n: b.procs[n] - a.procs[n] for n in b.procs if n in a.procs}
    return DbDelta(b.at - a.at, {k: b.ops.get(k, 0) - a.ops.get(k, 0) for k in OPS}, cpu, procs)


@dataclass
class DbProbe:
    """serverStatus opcounters (every operation the server answered, from any client) and the server process's
    CPU from /proc, when the server runs on this machine and tells its pid (the stand-in and mongod both do).
    The probe's own serverStatus calls count as commands: a handful per phase, negligible.

    ``processes`` (name → (pid, with its children)) are sampled with it: the CPU of every process the bench
    started (each service, the dev gateway, Kafka, the database server) and of the bench itself."""

    mongo_url: str
    pid: int | None = None
    processes: dict[str, tuple[int, bool]] = field(default_factory=dict)
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
        # A connection the busy server dropped (the stand-in closes one idle for 5 minutes: the probe's, during a
        # long phase) is not a reason to lose the run, and neither is a reply that never comes.
        status = await bounded(lambda: self.client.admin.command("serverStatus"), (ConnectionFailure,),
                               "the database server did not answer serverStatus")
        counters = status["opcounters"]
        return DbSample(time.monotonic(), {k: int(counters.get(k, 0)) for k in OPS},
                        process_cpu_seconds(self.pid) if self.pid else None,
                        tree_cpu_seconds(self.processes) if self.processes else {})

    async def close(self) -> None:
        await self.client.close()


async def bounded(call: Callable[[], Awaitable[T]], retry_on: tuple[type[Exception], ...], failure: str) -> T:
    """``call()`` tried at most ATTEMPTS times, each bounded by ANSWER_WITHIN_S, so a long run always ends with its
    figures; after the last failed try a RuntimeError that says ``failure``."""
    retried: tuple[type[Exception], ...] = (*retry_on, TimeoutError)
    for attempt in range(ATTEMPTS):
        try:
            return await asyncio.wait_for(call(), ANSWER_WITHIN_S)
        except retried as exc:
            if attempt == ATTEMPTS - 1:
                raise RuntimeError(f"{failure} in {ATTEMPTS} tries of {ANSWER_WITHIN_S:.0f} s: "
                                   f"{type(exc).__name__}: {exc}") from exc
            await asyncio.sleep(1)
    raise AssertionError("unreachable")


async def kafka_end_offsets(bootstrap: str) -> dict[str, int]:
    """Sum of end offsets per topic (internal topics included: ``__consumer_offsets`` counts commits)."""
    return await bounded(lambda: _end_offsets(bootstrap), (KafkaError,), "Kafka did not tell its end offsets")


async def _end_offsets(bootstrap: str) -> dict[str, int]:
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


async def backlogs(urls: dict[str, str]) -> dict[str, Any]:
    """Where the work waits, from each service's ``/metrics`` (the operator's gauges, ADR 0095): its consumer groups'
    lag (records not yet processed, by group) and its outbox's unsent rows. Taken at the end of a load, it says which
    service falls behind. A service that does not answer within the bound is left out."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    async def one(client: httpx.AsyncClient, name: str, url: str) -> tuple[str, dict[str, int]] | None:
        try:
            r = await client.get(f"{url}/metrics")
            r.raise_for_status()
        except httpx.HTTPError:
            return None
        out: dict[str, int] = {}
        for family in text_string_to_metric_families(r.text):
            for s in family.samples:
                if s.name == "yima_consumer_lag":
                    key = f"lag {s.labels.get('group', '?')}"
                    out[key] = out.get(key, 0) + int(s.value)
                elif s.name == "yima_outbox_backlog":
                    out["outbox"] = int(s.value)
        return name, out

    async with httpx.AsyncClient(timeout=ANSWER_WITHIN_S) as client:
        got = await asyncio.gather(*(one(client, n, u) for n, u in sorted(urls.items())))
    return {name: figures for name, figures in (g for g in got if g is not None) if figures}
