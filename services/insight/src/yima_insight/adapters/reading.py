"""The replay's read of the topics into slice files (ADRs 0176, 0217).

The partitions and their start and end offsets are found once, here (:func:`plan`); the partitions are then shared
out between readers by how many messages they hold, and each reader (a worker process of the replay's pool, or a
consumer of this process without one) assigns its share by hand, seeks each partition to its start and writes
every message up to its end offset to its own file of the message's slice (``slice-0003-r1.bin``). A slice is the
files of its index from every reader. A message's read position (``seq``: the order of "the latest name or warning
wins") is the reader's own count × readers + the reader's index: unique over all readers.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from yima_kit.kafka_auth import KafkaAuth, client_kwargs

from ..core.facts import units_in
from .kafka import WORK_ORDERS, consumed_topics
from .slices import HEAD, carries_path, parse, slice_of

# large fetches: the replay reads everything there is, as fast as the broker hands it over
FETCH: dict[str, Any] = {"max_partition_fetch_bytes": 8 << 20, "fetch_max_bytes": 64 << 20}


class Plan(NamedTuple):
    """The partitions to read (those holding messages) and every partition's start and end offsets."""

    tps: list[TopicPartition]
    starts: dict[TopicPartition, int]
    ends: dict[TopicPartition, int]

    @property
    def expected(self) -> int:
        return sum(self.ends[tp] - self.starts[tp] for tp in self.tps)


class Share(NamedTuple):
    """A reader's work (picklable: handed to a worker process): its partitions (partition, start, end)."""

    bootstrap: str
    auth: KafkaAuth
    tmp: Path
    slices: int
    reader: int
    readers: int
    parts: list[tuple[TopicPartition, int, int]]


class Read(NamedTuple):
    """What a reader read: its file of each slice, how many messages, each unit's path with the read position it
    was seen at, and the seconds it spent before its first fetch."""

    files: list[Path]
    read: int
    paths: dict[str, tuple[int, tuple[str, ...]]]
    setup_seconds: float


def consumer(bootstrap: str, auth: KafkaAuth | None) -> AIOKafkaConsumer:
    """A consumer without a group (partitions assigned by hand: the live group is untouched)."""
    return AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                            **FETCH, **client_kwargs(auth))


async def partitions(c: AIOKafkaConsumer) -> list[TopicPartition]:
    """Topics and partitions from the consumer's own metadata, refreshed until every wanted topic shows its
    partitions (a topic whose leader is moving answers without them for a moment)."""
    tps: list[TopicPartition] = []
    for _ in range(20):
        cluster = await c._client.fetch_all_metadata()
        all_topics = set(cluster.topics())
        wanted = [t for t in consumed_topics() if t in all_topics]
        wanted += sorted(t for t in all_topics if re.fullmatch(WORK_ORDERS, t))
        parts = {t: cluster.partitions_for_topic(t) for t in wanted}
        tps = [TopicPartition(t, p) for t, ps in parts.items() for p in sorted(ps or ())]
        if all(parts.values()):
            break
        await asyncio.sleep(0.5)
    return tps


async def plan(bootstrap: str, auth: KafkaAuth | None) -> Plan:
    """The partitions and their offsets, found once. The client is told every topic first: asked for offsets of
    topics it does not track, aiokafka adds one topic, refreshes its metadata and retries, once per topic (28 s
    for 274 topics, 1,644 partitions; 0.1 s told at once)."""
    c = consumer(bootstrap, auth)
    await c.start()
    try:
        tps = await partitions(c)
        if not tps:
            return Plan([], {}, {})
        await c._client.set_topics({tp.topic for tp in tps})
        ends: dict[TopicPartition, int] = await c.end_offsets(tps)
        starts: dict[TopicPartition, int] = await c.beginning_offsets(tps)
    finally:
        await c.stop()
    return Plan([tp for tp in tps if ends[tp] > starts[tp]], starts, ends)


def split(p: Plan, readers: int) -> list[list[tuple[TopicPartition, int, int]]]:
    """The partitions shared out by the messages they hold: the largest first, each to the reader with the fewest
    so far."""
    shares: list[list[tuple[TopicPartition, int, int]]] = [[] for _ in range(readers)]
    load = [0] * readers
    for tp in sorted(p.tps, key=lambda tp: (p.starts[tp] - p.ends[tp], tp)):
        r = load.index(min(load))
        shares[r].append((tp, p.starts[tp], p.ends[tp]))
        load[r] += p.ends[tp] - p.starts[tp]
    return shares


class _Writer:
    """A reader's slice files and what it has seen."""

    def __init__(self, share: Share) -> None:
        self.share = share
        self.files = [share.tmp / f"slice-{i:04d}-r{share.reader}.bin" for i in range(share.slices)]
        self.outs: list[BinaryIO] = [f.open("wb") for f in self.files]
        self.read = 0
        self.paths: dict[str, tuple[int, tuple[str, ...]]] = {}

    def __call__(self, value: bytes) -> None:
        seq = self.read * self.share.readers + self.share.reader
        self.outs[slice_of(value, len(self.outs))].write(HEAD.pack(seq, len(value)) + value)
        self.read += 1
        if carries_path(value):
            # the paths of all units before any case is folded (the one seen last in the read wins, as the
            # one-shot recount's latest path does)
            try:
                for u in units_in(parse(value)):
                    if u.path:
                        self.paths[u.code] = (seq, u.path)
            except Exception:
                pass

    def close(self) -> None:
        for out in self.outs:
            out.close()


async def read_share(share: Share) -> Read:
    """Every message of the share's partitions from its start up to its end offset written to its slice file."""
    t0 = time.monotonic()
    write = _Writer(share)
    c = consumer(share.bootstrap, share.auth)
    try:
        await c.start()
        ends = {tp: end for tp, _, end in share.parts}
        if ends:
            c.assign(list(ends))
            for tp, start, _ in share.parts:
                c.seek(tp, start)
        setup = time.monotonic() - t0
        pending = set(ends)
        while pending:
            batch = await c.getmany(*pending, timeout_ms=1000, max_records=5000)
            for tp, msgs in batch.items():
                end = ends[tp]
                for m in msgs:
                    if m.offset < end:
                        write(m.value or b"")
            for tp in list(batch or pending):  # an empty answer: every partition looked at (one may be only gaps)
                if tp in pending and await c.position(tp) >= ends[tp]:
                    pending.discard(tp)
    finally:
        write.close()
        await c.stop()
    return Read(write.files, write.read, write.paths, setup)


def read_in_worker(share: Share) -> Read:
    """A worker process's share of the read (its own event loop and consumer)."""
    return asyncio.run(read_share(share))
