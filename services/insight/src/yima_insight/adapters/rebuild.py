"""Rebuild (``replay``) and recount (``check``) from the topics themselves.

Both read every topic insight consumes from its earliest offset up to the end offsets found at the start
(no consumer group: partitions are assigned by hand, so the live group is untouched while reading) once,
into slice files of cases on disk (ADR 0176), in the worker processes that fold them afterwards (ADR 0217);
then each slice's events are applied to its cases' facts in the order of their ``occurred_at`` per case, and
the counters are summed over the slices from the final facts. ``replay`` swaps that state in and moves the
live group to the end offsets; ``check`` compares it with the stored counters and lists the differences.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from aiokafka.structs import OffsetAndMetadata  # type: ignore[import-untyped]
from yima_contracts import Event
from yima_kit.kafka_auth import KafkaAuth, client_kwargs
from yima_kit.mongo import connect

from ..config import InsightSettings
from ..core.facts import CaseFact, units_in
from ..core.rollup import CounterKey, Nested, Rows, day_rows, flat, spread, spread_nested, tally
from ..core.warnings import Warning
from .counter_docs import counter_doc
from .mongo_store import COUNTERS, FACTS, MongoInsightStore, Rebuild
from .reading import Share, plan, read_in_worker, read_share, split
from .slices import (
    Folded,
    SliceFiles,
    SlicePart,
    Target,
    carries_path,
    fold_file,
    fold_slice,
    parse,
    records,
    slice_of,
    spread_scope,
    warm,
)

_carries_path = carries_path  # the name the tests know
__all__ = ["Totals", "check", "fold_slice", "parse", "recount", "replay", "slice_of"]

class Spilled(NamedTuple):
    """The topics read once and written to slice files (raw messages with their read position): each slice's
    file, or its files from every reader; and what must be known of all of them before any slice is folded: the
    units' paths from the work orders."""

    files: Sequence[SliceFiles]
    ends: dict[TopicPartition, int]
    expected: int
    read: int
    paths: dict[str, tuple[str, ...]]
    setup_seconds: float = 0.0  # the partitions and their offsets found, the readers started: not per message

    @property
    def slices(self) -> int:
        return len(self.files)

    def records(self, i: int) -> Iterator[tuple[int, bytes]]:
        return records(self.files[i])


READERS = 2  # consumers reading their share of the partitions at once without a pool (one alone waits on a fetch)


async def spill(bootstrap: str, auth: KafkaAuth | None, tmp: Path, *, events_per_slice: int | None,
                pool: ProcessPoolExecutor | None = None, readers: int = READERS) -> Spilled:
    """Read every topic once up to the end offsets of now (at most three times if a read came back short) into
    ``ceil(messages / events_per_slice)`` slices (one if ``None``), by ``readers``: the pool's worker processes,
    or consumers of this process without a pool. Memory: the paths only."""
    sp = Spilled([], {}, 0, 0, {})
    for _ in range(3):
        sp = await _spill_once(bootstrap, auth, tmp, events_per_slice, pool, readers)
        if sp.read >= sp.expected:
            break
    return sp


async def _spill_once(bootstrap: str, auth: KafkaAuth | None, tmp: Path, events_per_slice: int | None,
                      pool: ProcessPoolExecutor | None, readers: int) -> Spilled:
    t0 = time.monotonic()
    p = await plan(bootstrap, auth)
    expected = p.expected
    slices = max(1, -(-expected // events_per_slice)) if events_per_slice else 1
    auth = auth if auth is not None else KafkaAuth.from_env()
    shares = [Share(bootstrap, auth, tmp, slices, r, readers, part) for r, part in enumerate(split(p, readers))]
    planned = time.monotonic() - t0
    if pool is None:
        reads = await asyncio.gather(*(read_share(s) for s in shares))
    else:
        loop = asyncio.get_running_loop()
        reads = await asyncio.gather(*(loop.run_in_executor(pool, read_in_worker, s) for s in shares))
    seen: dict[str, tuple[int, tuple[str, ...]]] = {}
    for r in reads:  # each unit's path seen last in the read (the highest read position)
        for code, (seq, path) in r.paths.items():
            if code not in seen or seq > seen[code][0]:
                seen[code] = (seq, path)
    files = [tuple(r.files[i] for r in reads) for i in range(slices)]
    return Spilled(files, p.ends, expected, sum(r.read for r in reads), {c: v[1] for c, v in seen.items()},
                   planned + max(r.setup_seconds for r in reads))


class Recount(NamedTuple):
    facts: dict[str, CaseFact]
    counters: dict[CounterKey, dict[str, int]]
    units: dict[str, dict[str, Any]]
    warnings: list[Warning]


def recount(events: list[Event]) -> Recount:
    """Facts, counters, units and warnings from events (pure), all at once."""
    units: dict[str, dict[str, Any]] = {}
    for e in events:
        for u in units_in(e):
            cur = units.setdefault(u.code, {})
            if u.name:
                cur["name"] = u.name
            if u.path:
                cur["path"] = list(u.path)
    paths = {c: tuple(u["path"]) for c, u in units.items() if u.get("path")}
    part = fold_slice(list(enumerate(events)), paths)
    return Recount(part.facts, tally(part.counted), units, [w for _, w in part.warnings.values()])


class Totals:
    """What the slices add up to: each day's rows of counts summed over the slices (bounded by days × scopes ×
    keys, not by cases; spread over the periods once, at the end: :attr:`counters`), the latest name of each
    unit and the latest copy of each warning."""

    def __init__(self, paths: Mapping[str, tuple[str, ...]]) -> None:
        self.paths = dict(paths)
        self.rows: Rows = {}
        self.names: dict[str, tuple[int, str | None]] = {}
        self.warnings: dict[str, tuple[int, Warning]] = {}
        self.cases = 0

    def add(self, part: SlicePart | Folded) -> None:
        """A slice's share (in any order: sums, and the latest read position wins)."""
        self.cases += part.cases if isinstance(part, Folded) else len(part.facts)
        day_rows(part.counted, self.rows)
        for code, (seq, name) in part.names.items():
            if code not in self.names or seq > self.names[code][0]:
                self.names[code] = (seq, name)
        for wid, (seq, w) in part.warnings.items():
            if wid not in self.warnings or seq > self.warnings[wid][0]:
                self.warnings[wid] = (seq, w)

    @property
    def counters(self) -> dict[CounterKey, dict[str, int]]:
        """Every counter document's fields (check, tests); the replay drains them scope by scope instead."""
        return {k: v for scope, rows in self.rows.items() for k, v in spread(scope, rows).items()}

    def drain_counters(self) -> Iterator[tuple[CounterKey, Nested]]:
        """The counter documents' ``{dim: {key: {measure: n}}}`` one scope at a time, each scope's rows let go once
        spread: the memory held at the end is the rows and one scope's documents, not every document at once."""
        while self.rows:
            scope = next(iter(self.rows))
            yield from spread_nested(scope, self.rows.pop(scope)).items()

    def units(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for code in {*self.names, *self.paths}:
            name = self.names.get(code, (0, None))[1]
            out[code] = {**({"name": name} if name else {}),
                         **({"path": list(self.paths[code])} if code in self.paths else {})}
        return out


def _pool(workers: int) -> ProcessPoolExecutor | None:
    """Worker processes (``spawn``: a fresh interpreter, nothing of this process's threads and sockets), started
    at once so that their imports are done before they read their share of the topics; None for one worker."""
    if workers <= 1:
        return None
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    for _ in range(workers):
        pool.submit(warm)
    return pool


def _readers(workers: int) -> int:
    """The pool's worker processes read (ADR 0217); without a pool, this process's consumers."""
    return workers if workers > 1 else READERS


async def _fold_all(sp: Spilled, pool: ProcessPoolExecutor | None, target: Target | None
                    ) -> tuple[Totals, dict[str, Any]]:
    """Each slice parsed, folded, its facts written to ``target`` (if given) and let go: in the pool's worker
    processes, each slice's share summed here as it comes back (in any order: the sums and the latest read
    positions do not depend on it); in this process, one slice after the other, without a pool.
    (totals, {events, unparsable, most events in a slice, seconds summed over the slices})."""
    totals = Totals(sp.paths)
    stats: dict[str, Any] = {"events": 0, "unparsable": 0, "most": 0, "parse": 0.0, "fold": 0.0, "facts": 0.0}

    def add(done: Folded) -> None:
        totals.add(done)
        stats["events"] += done.events
        stats["unparsable"] += done.unparsable
        stats["most"] = max(stats["most"], done.events)
        for k, v in done.seconds.items():
            stats[k] += v

    if pool is None or sp.slices <= 1:
        for i in range(sp.slices):
            add(await asyncio.to_thread(fold_file, sp.files[i], sp.paths, target))
    else:
        loop = asyncio.get_running_loop()
        for fut in asyncio.as_completed([loop.run_in_executor(pool, fold_file, f, sp.paths, target)
                                         for f in sp.files]):
            add(await fut)
    return totals, stats


async def _counters_in(pool: ProcessPoolExecutor | None, totals: Totals, target: Target, rebuild: Rebuild,
                       in_flight: int = 4) -> None:
    """The counter documents spread from the day rows and written: scope by scope in the workers (each scope's
    rows handed over and let go here; at most ``in_flight`` scopes at once), or here without a pool."""
    now = datetime.now(UTC)
    if pool is None:
        await rebuild.write(COUNTERS, (counter_doc(k, c, now) for k, c in totals.drain_counters()))
        return
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Future[tuple[int, float]]] = set()

    async def collect(when: asyncio.Future[Any] | str) -> None:
        nonlocal pending
        done, pending = await asyncio.wait(pending, return_when=when)  # type: ignore[arg-type]
        for fut in done:
            rebuild.note(COUNTERS, *fut.result())

    while totals.rows:
        scope = next(iter(totals.rows))
        pending.add(loop.run_in_executor(pool, spread_scope, scope, totals.rows.pop(scope), now, target))
        if len(pending) >= in_flight:
            await collect(asyncio.FIRST_COMPLETED)
    if pending:
        await collect(asyncio.ALL_COMPLETED)


DEFAULT_EVENTS_PER_SLICE = 200_000  # ~0.5 GB of parsed events and their facts a slice
WORKERS = 2  # processes folding slices and spreading counters (this box has 2 cores)


async def replay(settings: InsightSettings, *, commit_offsets: bool = True,
                 events_per_slice: int = DEFAULT_EVENTS_PER_SLICE, workers: int = WORKERS) -> dict[str, Any]:
    """Rebuild from the topics, one slice of cases at a time: the topics are read once into slice files on
    disk; each slice is parsed, folded and its facts written to the fresh collection by a worker process; the
    facts are swapped in (and indexed) while the counters, summed over the slices, are spread and written by
    the workers; then the rest is swapped in (ADR 0195)."""
    t0 = time.monotonic()
    phases: dict[str, float] = {}
    client = connect(settings.mongo_url)
    pool = _pool(workers)
    try:
        store = MongoInsightStore(client[settings.db_name])
        rebuild = store.rebuild()
        with tempfile.TemporaryDirectory(prefix="yima-insight-replay-") as tmp:
            sp = await spill(settings.kafka_bootstrap, settings.kafka_auth, Path(tmp),
                             events_per_slice=events_per_slice, pool=pool, readers=_readers(workers))
            phases["read"] = time.monotonic() - t0
            phases["read_setup"] = sp.setup_seconds
            for live in (FACTS, COUNTERS):  # a first replay writes them in place, no rename
                await rebuild.in_place_if_empty(live)
            facts_to = Target(settings.mongo_url, settings.db_name, rebuild.new[FACTS], rebuild.batch)
            totals, stats = await _fold_all(sp, pool, facts_to)
        rebuild.note(FACTS, totals.cases, stats["facts"])
        phases["fold"] = time.monotonic() - t0 - phases["read"]
        rows = sum(map(len, totals.rows.values()))
        t1 = time.monotonic()
        facts_in = asyncio.ensure_future(rebuild.swap_in(FACTS))  # this server works while the workers spread
        await _counters_in(pool, totals, facts_to._replace(collection=rebuild.new[COUNTERS]), rebuild)
        phases["counters"] = time.monotonic() - t1
        await rebuild.finish_small(totals.units(), [w for _, w in totals.warnings.values()])
        await facts_in
        await rebuild.swap_in(COUNTERS)
        phases["swap_and_indexes"] = time.monotonic() - t1 - phases["counters"]
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        await client.close()
    if commit_offsets and sp.ends:
        await _commit(settings, sp.ends)
    written = rebuild.spent
    return {"events": stats["events"], "unparsable": stats["unparsable"], "cases": totals.cases,
            "counters": written[COUNTERS]["documents"], "day_rows": rows, "slices": sp.slices, "workers": workers,
            "most_events_in_a_slice": stats["most"], "read_seconds": round(phases["read"], 1),
            "recount_seconds": round(phases["fold"], 1), "written": written,
            "phases": {k: round(v, 2) for k, v in phases.items()},
            "slice_seconds_summed": {k: round(stats[k], 1) for k in ("parse", "fold", "facts")},
            "total_seconds": round(time.monotonic() - t0, 1)}


async def _commit(settings: InsightSettings, ends: dict[TopicPartition, int]) -> None:
    """The live group moved to the end offsets the replay read up to."""
    c = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=f"yima-{settings.service_name}",
                         enable_auto_commit=False, **client_kwargs(settings.kafka_auth))
    await c.start()
    try:
        c.assign(list(ends))
        await c.commit({tp: OffsetAndMetadata(off, "") for tp, off in ends.items()})
    finally:
        await c.stop()


async def check(settings: InsightSettings, *, limit: int = 50, scope: str | None = None,
                events_per_slice: int = DEFAULT_EVENTS_PER_SLICE, workers: int = WORKERS) -> dict[str, Any]:
    """Recount from the topics and compare with the stored counters (of one scope's, if given)."""
    pool = _pool(workers)
    try:
        with tempfile.TemporaryDirectory(prefix="yima-insight-check-") as tmp:
            sp = await spill(settings.kafka_bootstrap, settings.kafka_auth, Path(tmp),
                             events_per_slice=events_per_slice, pool=pool, readers=_readers(workers))
            totals, stats = await _fold_all(sp, pool, None)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    events, bad = stats["events"], stats["unparsable"]
    if scope is not None:  # only that scope's rows are spread
        totals.rows = {scope: totals.rows[scope]} if scope in totals.rows else {}
    counters = totals.counters
    expected = flat(counters)
    client = connect(settings.mongo_url)
    try:
        stored = await MongoInsightStore(client[settings.db_name]).all_counters(scope)
    finally:
        await client.close()
    diffs = []
    for cid in sorted(set(expected) | set(stored)):
        e, s = expected.get(cid, {}), stored.get(cid, {})
        for m in sorted(set(e) | set(s)):
            if e.get(m, 0) != s.get(m, 0):
                diffs.append({"counter": cid, "measure": m, "expected": e.get(m, 0), "stored": s.get(m, 0)})
    return {"ok": not diffs, "events": events, "unparsable": bad, "counters": len(expected),
            "differences": len(diffs), "first": diffs[:limit]}
