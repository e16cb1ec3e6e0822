"""The replay's slices of cases: how a message is parsed and which slice it falls in, one slice folded (pure), and
the work a worker process does with a slice file or a scope's day rows (ADRs 0176, 0195).

A worker process gets only file names, the units' paths, a scope's rows and where to write; it parses and folds a
slice, writes its facts itself and hands back what must be summed over the slices (each case's day-row share, the
names and warnings with their read positions): nothing it returns depends on the order the slices finish in.
"""

from __future__ import annotations

import gc
import heapq
import re
import struct
import time
import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import ValidationError
from yima_contracts import Event, UnitCaseAssigned, parse_event
from yima_contracts.registry import EVENTS_BY_TYPE
from yima_contracts.risk_events import WarningRaised

from ..core.facts import CaseFact, Slice, change, units_in
from ..core.rollup import spread_nested
from ..core.warnings import Warning, from_event
from .counter_docs import counter_doc
from .mongo_store import fact_doc

_EVENT_TYPE = re.compile(rb'"event_type"\s*:\s*"([^"\\]+)"')
_CASE_ID = re.compile(rb'"case_id"\s*:\s*"([^"\\]+)"')
HEAD = struct.Struct("<QI")  # a spilled record: its position in the read (seq), the message's length


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


def slice_of(value: bytes, slices: int) -> int:
    """The slice of a message: a hash of its case id (the envelope's first ``case_id``: ``event_id`` and
    ``event_type`` come before it, nothing nested does), so every event of a case, and every copy of a message,
    falls in the same slice. A message without one (it will not parse) goes to slice 0."""
    if slices <= 1:
        return 0
    found = _CASE_ID.search(value)
    return zlib.crc32(found.group(1)) % slices if found else 0


def carries_path(value: bytes) -> bool:
    """Whether a message may carry a unit's path (a work order), by the type it names; unknown types too."""
    found = _EVENT_TYPE.search(value)
    model = EVENTS_BY_TYPE.get(found.group(1).decode()) if found else None
    return model is None or issubclass(model, UnitCaseAssigned)


SliceFiles = Path | Sequence[Path]  # a slice's file, or its files from every reader (ADR 0217)


def records(files: SliceFiles) -> Iterator[tuple[int, bytes]]:
    """A slice's messages with their read positions, in the order of those (each file is in that order: several
    files are merged)."""
    if isinstance(files, Path):
        yield from _file_records(files)
    elif len(files) == 1:
        yield from _file_records(files[0])
    else:
        yield from heapq.merge(*map(_file_records, files), key=itemgetter(0))


def _file_records(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as f:
        while head := f.read(HEAD.size):
            seq, n = HEAD.unpack(head)
            yield seq, f.read(n)


class SlicePart(NamedTuple):
    """One slice's share: its cases' facts, what each counts for where (summed with the other slices' by
    ``rebuild.Totals``), the unit names it saw and its warnings, each with the read position it came from (the
    latest wins across slices)."""

    facts: dict[str, CaseFact]
    counted: list[tuple[Slice, dict[str, int]]]
    names: dict[str, tuple[int, str | None]]
    warnings: dict[str, tuple[int, Warning]]


def fold_slice(recs: Iterable[tuple[int, Event]], paths: Mapping[str, tuple[str, ...]]) -> SlicePart:
    """The facts and counters of the cases of one slice (pure). ``recs``: (read position, event) in the order
    read; ``paths``: every unit's path known from all slices."""
    names: dict[str, tuple[int, str | None]] = {}
    by_case: dict[str, list[Event]] = defaultdict(list)
    seen: set[Any] = set()
    warnings: dict[str, tuple[int, Warning]] = {}
    for seq, e in recs:
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


class Target(NamedTuple):
    """Where a worker writes: a server, a database and the fresh collection."""

    mongo_url: str
    db: str
    collection: str
    batch: int = 5000


class Folded(NamedTuple):
    """A slice folded in a worker: its part without the facts (written there), and its counts and seconds."""

    counted: list[tuple[Slice, dict[str, int]]]
    names: dict[str, tuple[int, str | None]]
    warnings: dict[str, tuple[int, Warning]]
    cases: int
    events: int
    unparsable: int
    seconds: dict[str, float]


@contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic garbage collector paused while a slice is parsed and folded: its hundreds of thousands of live
    models and facts are walked by every full collection, so a message's parse cost grew with the slice (18 µs
    at 50,000 events, 27 µs at 200,000; 8 µs paused, and the fold 2–3× less at 200,000). Parsing and folding
    make no reference cycles to reclaim; the collector runs again afterwards."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def fold_file(path: SliceFiles, paths: Mapping[str, tuple[str, ...]], target: Target | None) -> Folded:
    """A worker's slice (its file or files): parsed (every message validated by its contract model), folded, its
    facts written to ``target`` (if given) and let go."""
    t0 = time.monotonic()
    parsed: list[tuple[int, Event]] = []
    bad = 0
    with paused_gc():
        for seq, value in records(path):
            try:
                parsed.append((seq, parse(value)))
            except Exception:
                bad += 1
        t1 = time.monotonic()
        part = fold_slice(parsed, paths)
        events = len(parsed)
        del parsed
    t2 = time.monotonic()
    if target is not None:
        insert(target, (fact_doc(f) for f in part.facts.values()))
    return Folded(part.counted, part.names, part.warnings, len(part.facts), events, bad,
                  {"parse": t1 - t0, "fold": t2 - t1, "facts": time.monotonic() - t2})


def spread_scope(scope: str, rows: dict[tuple[str, str, str], dict[str, int]], now: datetime,
                 target: Target) -> tuple[int, float]:
    """A worker's share of the counters: one scope's day rows spread over their periods and written as counter
    documents; (documents, seconds)."""
    t = time.monotonic()
    n = insert(target, (counter_doc(k, c, now) for k, c in spread_nested(scope, rows).items()))
    return n, time.monotonic() - t


_CLIENTS: dict[str, Any] = {}


def insert(target: Target, docs: Iterable[dict[str, Any]]) -> int:
    """Documents inserted into the target in unordered chunks, from a worker process (its own client)."""
    from pymongo import MongoClient

    from .mongo_store import batched

    client = _CLIENTS.get(target.mongo_url)
    if client is None:
        client = _CLIENTS[target.mongo_url] = MongoClient(target.mongo_url, tz_aware=True,
                                                          uuidRepresentation="standard")
    col, n = client[target.db][target.collection], 0
    for chunk in batched(docs, target.batch):
        col.insert_many(chunk, ordered=False)
        n += len(chunk)
    return n


def warm() -> None:
    """Nothing: a worker process started (and its imports done) before its share of the read comes."""
