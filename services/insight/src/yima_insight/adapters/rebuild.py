"""Rebuild (``replay``) and recount (``check``) from the topics themselves.

Both read every topic insight consumes from its earliest offset up to the end offsets found at the start
(no consumer group: partitions are assigned by hand, so the live group is untouched while reading) once,
into slice files of cases on disk (ADR 0176); then each slice's events are applied to its cases' facts in
the order of their ``occurred_at`` per case, and the counters are summed over the slices from the final
facts. ``replay`` swaps that state in and moves the live group to the end offsets; ``check`` compares it
with the stored counters and lists the differences.
"""

from __future__ import annotations

import asyncio
import re
import struct
import tempfile
import time
import zlib
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from aiokafka.structs import OffsetAndMetadata  # type: ignore[import-untyped]
from pydantic import ValidationError
from yima_contracts import Event, UnitCaseAssigned, parse_event
from yima_contracts.registry import EVENTS_BY_TYPE
from yima_contracts.risk_events import WarningRaised
from yima_kit.kafka_auth import KafkaAuth, client_kwargs
from yima_kit.mongo import connect

from ..config import InsightSettings
from ..core.facts import CaseFact, Slice, change, units_in
from ..core.rollup import CounterKey, Rows, day_rows, flat, spread, tally
from ..core.warnings import Warning, from_event
from .kafka import WORK_ORDERS, consumed_topics
from .mongo_store import COUNTERS, FACTS, MongoInsightStore, fact_doc

_EVENT_TYPE = re.compile(rb'"event_type"\s*:\s*"([^"\\]+)"')


def parse(value: bytes) -> Event:
    """An event from its message: its model found by the ``event_type`` the bytes name, validated from the JSON
    in one pass (~30 % less than ``parse_event``'s ``json.loads`` and then validating); anything else (another
    layout, a model that refuses it) goes the general way, ``parse_event``, which names the problem."""
    found = _EVENT_TYPE.search(value)
    model = EVENTS_BY_TYPE.get(found.group(1).decode()) if found else None
    if model is not None:
        try:
            return model.model_validate_json(value)
        except ValidationError:
            pass
    return parse_event(value)


_CASE_ID = re.compile(rb'"case_id"\s*:\s*"([^"\\]+)"')


def slice_of(value: bytes, slices: int) -> int:
    """The slice of a message: a hash of its case id (the envelope's first ``case_id``: ``event_id`` and
    ``event_type`` come before it, nothing nested does), so every event of a case, and every copy of a message,
    falls in the same slice. A message without one (it will not parse) goes to slice 0."""
    if slices <= 1:
        return 0
    found = _CASE_ID.search(value)
    return zlib.crc32(found.group(1)) % slices if found else 0


def _carries_path(value: bytes) -> bool:
    """Whether a message may carry a unit's path (a work order), by the type it names; unknown types too."""
    found = _EVENT_TYPE.search(value)
    model = EVENTS_BY_TYPE.get(found.group(1).decode()) if found else None
    return model is None or issubclass(model, UnitCaseAssigned)


_HEAD = struct.Struct("<QI")  # a spilled record: its position in the read (seq), the message's length


class Spilled(NamedTuple):
    """The topics read once and written to one file per slice (raw messages with their read position), and
    what must be known of all of them before any slice is folded: the units' paths from the work orders."""

    files: list[Path]
    ends: dict[TopicPartition, int]
    expected: int
    read: int
    paths: dict[str, tuple[str, ...]]

    @property
    def slices(self) -> int:
        return len(self.files)

    def records(self, i: int) -> Iterator[tuple[int, bytes]]:
        with self.files[i].open("rb") as f:
            while head := f.read(_HEAD.size):
                seq, n = _HEAD.unpack(head)
                yield seq, f.read(n)


async def spill(bootstrap: str, auth: KafkaAuth | None, tmp: Path, *, events_per_slice: int | None
                ) -> Spilled:
    """Read every topic once up to the end offsets of now (at most three times if a read came back short) into
    ``ceil(messages / events_per_slice)`` slice files (one file if ``None``). Memory: the paths only."""
    sp = Spilled([], {}, 0, 0, {})
    for _ in range(3):
        sp = await _spill_once(bootstrap, auth, tmp, events_per_slice)
        if sp.read >= sp.expected:
            break
    return sp


async def _partitions(consumer: AIOKafkaConsumer) -> list[TopicPartition]:
    """Topics and partitions from the consumer's own metadata, refreshed until every wanted topic shows its
    partitions (a topic whose leader is moving answers without them for a moment)."""
    tps: list[TopicPartition] = []
    for _ in range(20):
        cluster = await consumer._client.fetch_all_metadata()
        all_topics = set(cluster.topics())
        wanted = [t for t in consumed_topics() if t in all_topics]
        wanted += sorted(t for t in all_topics if re.fullmatch(WORK_ORDERS, t))
        parts = {t: cluster.partitions_for_topic(t) for t in wanted}
        tps = [TopicPartition(t, p) for t, ps in parts.items() for p in sorted(ps or ())]
        if all(parts.values()):
            break
        await asyncio.sleep(0.5)
    return tps


async def _spill_once(bootstrap: str, auth: KafkaAuth | None, tmp: Path, events_per_slice: int | None
                      ) -> Spilled:
    kw = client_kwargs(auth)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None, **kw)
    await consumer.start()
    paths: dict[str, tuple[str, ...]] = {}
    read = 0
    outs: list[BinaryIO] = []
    try:
        tps = await _partitions(consumer)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps) if tps else {}
        starts: dict[TopicPartition, int] = await consumer.beginning_offsets(tps) if tps else {}
        pending = {tp for tp in tps if ends[tp] > starts[tp]}
        expected = sum(ends[tp] - starts[tp] for tp in pending)
        slices = max(1, -(-expected // events_per_slice)) if events_per_slice else 1
        files = [tmp / f"slice-{i:04d}.bin" for i in range(slices)]
        outs = [f.open("wb") for f in files]
        if not tps:
            return Spilled(files, {}, 0, 0, {})
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000, max_records=5000)
            for tp, msgs in batch.items():
                for m in msgs:
                    if m.offset >= ends[tp]:
                        continue
                    value: bytes = m.value or b""
                    outs[slice_of(value, slices)].write(_HEAD.pack(read, len(value)) + value)
                    read += 1
                    if _carries_path(value):
                        # the paths of all units before any case is folded (each later path replaces an
                        # earlier one, in the order read, as the one-shot recount does)
                        try:
                            for u in units_in(parse(value)):
                                if u.path:
                                    paths[u.code] = u.path
                        except Exception:
                            pass
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        return Spilled(files, ends, expected, read, paths)
    finally:
        for out in outs:
            out.close()
        await consumer.stop()


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


class SlicePart(NamedTuple):
    """One slice's share: its cases' facts, what each counts for where (summed with the other slices' by
    :class:`Totals`), the unit names it saw and its warnings, each with the read position it came from (the
    latest wins across slices)."""

    facts: dict[str, CaseFact]
    counted: list[tuple[Slice, dict[str, int]]]
    names: dict[str, tuple[int, str | None]]
    warnings: dict[str, tuple[int, Warning]]


def fold_slice(records: list[tuple[int, Event]], paths: Mapping[str, tuple[str, ...]]) -> SlicePart:
    """The facts and counters of the cases of one slice (pure). ``records``: (read position, event) in the
    order read; ``paths``: every unit's path known from all slices."""
    names: dict[str, tuple[int, str | None]] = {}
    by_case: dict[str, list[Event]] = defaultdict(list)
    seen: set[Any] = set()
    warnings: dict[str, tuple[int, Warning]] = {}
    for seq, e in records:
        for u in units_in(e):
            if u.name or u.code not in names:
                names[u.code] = (seq, u.name or None) if u.name else names.get(u.code, (-1, None))
        if e.event_id in seen:  # a message published twice is one event
            continue
        seen.add(e.event_id)
        if isinstance(e, WarningRaised):
            warnings[e.warning_id] = (seq, from_event(e, paths))
        else:
            by_case[e.case_id].append(e)
    facts: dict[str, CaseFact] = {}
    counted: list[tuple[Slice, dict[str, int]]] = []
    for case_id, evs in by_case.items():
        evs.sort(key=lambda e: e.occurred_at)
        fact = facts[case_id] = CaseFact(case_id=case_id)
        for e in evs:
            change(fact, e, paths)
        s = fact.slice()
        if s is not None:
            counted.append((s, fact.vector()))
    return SlicePart(facts, counted, names, warnings)


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

    def add(self, part: SlicePart) -> None:
        self.cases += len(part.facts)
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

    def drain_counters(self) -> Iterator[tuple[CounterKey, dict[str, int]]]:
        """The counter documents one scope at a time, each scope's rows let go once spread: the memory held
        at the end is the rows and one scope's documents, not every document at once."""
        while self.rows:
            scope = next(iter(self.rows))
            yield from spread(scope, self.rows.pop(scope)).items()

    def units(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for code in {*self.names, *self.paths}:
            name = self.names.get(code, (0, None))[1]
            out[code] = {**({"name": name} if name else {}),
                         **({"path": list(self.paths[code])} if code in self.paths else {})}
        return out


async def _fold_all(sp: Spilled, sink: Callable[[dict[str, CaseFact]], Awaitable[None]] | None
                    ) -> tuple[Totals, int, int, int]:
    """Each slice parsed, folded, its facts handed to ``sink`` and forgotten; (totals, events, unparsable,
    the most events one slice held)."""
    totals = Totals(sp.paths)
    events = bad = most = 0
    for i in range(sp.slices):
        records: list[tuple[int, Event]] = []
        for seq, value in sp.records(i):
            try:
                records.append((seq, parse(value)))
            except Exception:
                bad += 1
        events += len(records)
        most = max(most, len(records))
        part = fold_slice(records, sp.paths)
        del records
        totals.add(part)
        if sink is not None:
            await sink(part.facts)
        del part
    return totals, events, bad, most


DEFAULT_EVENTS_PER_SLICE = 200_000  # ~0.5 GB of parsed events and their facts a slice


async def replay(settings: InsightSettings, *, commit_offsets: bool = True,
                 events_per_slice: int = DEFAULT_EVENTS_PER_SLICE) -> dict[str, Any]:
    """Rebuild from the topics, one slice of cases at a time: the topics are read once into slice files on
    disk, then each slice is parsed, folded, its facts written to the fresh collection and forgotten; the
    counters are summed over the slices and written at the end; then the fresh collections are swapped in."""
    t0 = time.monotonic()
    client = connect(settings.mongo_url)
    try:
        store = MongoInsightStore(client[settings.db_name])
        rebuild = store.rebuild()
        with tempfile.TemporaryDirectory(prefix="yima-insight-replay-") as tmp:
            sp = await spill(settings.kafka_bootstrap, settings.kafka_auth, Path(tmp),
                             events_per_slice=events_per_slice)
            t_read = time.monotonic() - t0

            async def sink(facts: dict[str, CaseFact]) -> None:
                await rebuild.write(FACTS, (fact_doc(f) for f in facts.values()))

            totals, events, bad, most = await _fold_all(sp, sink)
        t_fold = time.monotonic() - t0 - t_read
        rows = sum(map(len, totals.rows.values()))
        written = await rebuild.finish(totals.drain_counters(), totals.units(),
                                       [w for _, w in totals.warnings.values()])
    finally:
        await client.close()
    if commit_offsets and sp.ends:
        c = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=f"yima-{settings.service_name}",
                             enable_auto_commit=False, **client_kwargs(settings.kafka_auth))
        await c.start()
        try:
            c.assign(list(sp.ends))
            await c.commit({tp: OffsetAndMetadata(off, "") for tp, off in sp.ends.items()})
        finally:
            await c.stop()
    # facts were written slice by slice inside the fold: its seconds are part of recount_seconds
    return {"events": events, "unparsable": bad, "cases": totals.cases, "counters": written[COUNTERS]["documents"],
            "day_rows": rows,
            "slices": sp.slices, "most_events_in_a_slice": most, "read_seconds": round(t_read, 1),
            "recount_seconds": round(t_fold, 1), "written": written,
            "total_seconds": round(time.monotonic() - t0, 1)}


async def check(settings: InsightSettings, *, limit: int = 50, scope: str | None = None,
                events_per_slice: int = DEFAULT_EVENTS_PER_SLICE) -> dict[str, Any]:
    """Recount from the topics and compare with the stored counters (of one scope's, if given)."""
    with tempfile.TemporaryDirectory(prefix="yima-insight-check-") as tmp:
        sp = await spill(settings.kafka_bootstrap, settings.kafka_auth, Path(tmp),
                         events_per_slice=events_per_slice)
        totals, events, bad, _ = await _fold_all(sp, None)
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
