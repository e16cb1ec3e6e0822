"""Insight's own database: one fact document per case, the counters, and the units' names and paths."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import Any, NoReturn

from pymongo import ASCENDING, DESCENDING, ReplaceOne, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from ..core.facts import CaseFact, UnitSeen, local_day
from ..core.filters import fields_of, matches
from ..core.rollup import GRANS, PART_OF, CounterKey, added, flat, nest
from ..core.warnings import Warning
from .counter_docs import counter_doc, unpack, unpack_dim

FACTS, COUNTERS, UNITS, REPORTS, WARNINGS = "facts", "counters", "units", "reports", "warnings"

A = ASCENDING
# each collection's indexes: (keys, name)
INDEXES: dict[str, list[tuple[list[tuple[str, int]], str]]] = {
    # the counters: none but ``_id`` (the table and the live counting read them by id). ``check --unit`` reads a
    # scope's documents by :data:`COUNTERS_BY_SCOPE`, built then if missing; a replay no longer builds it (ADR 0206).
    # the cases behind a number: one unit's or everyone's facts of a period (a scope's: its units' one by one), the
    # rest of the query checked on them (``cases``). One entry a fact each: on this server an index costs a replay
    # ~30 µs an entry to build, and the multikey (unit_path, day) had one per unit of the path (ADRs 0205, 0215).
    FACTS: [([("unit", A), ("day", A)], "unit_day"), ([("day", A)], "day")],
    # (no index on ``updated``: no query reads by it, and a rebuild paid ~12 % of the facts' index time for it)
    UNITS: [([("path", A)], "path")],
    WARNINGS: [([("chain", A), ("day", A)], "chain_day"), ([("day", A)], "day")],
}

COUNTERS_BY_SCOPE = ([("s", A), ("k", A), ("g", A), ("p", A)], "scope_part_period")
# indexes an earlier version made, dropped at setup: the multikey (unit_path, day) (ADR 0215)
OBSOLETE: dict[str, tuple[str, ...]] = {FACTS: ("path_day",)}
# a scope with more units below it than this reads its facts of the period by day, not unit by unit
UNITS_READ_ONE_BY_ONE = 200


def _raise_transient(exc: DuplicateKeyError | BulkWriteError, doc_id: str) -> NoReturn:
    """A duplicate key in a bulk upsert is a race with a concurrent first use (retry); anything else is not."""
    if isinstance(exc, BulkWriteError) and any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
        raise exc
    raise _transient(doc_id) from exc


def _transient(doc_id: str) -> OperationFailure:
    # Two first uses of a counter raced: retry the whole transaction (PyMongo's with_transaction does).
    return OperationFailure(f"counter {doc_id!r}: a concurrent first use created it", code=112,
                            details={"errorLabels": ["TransientTransactionError"], "code": 112})


def fact_doc(fact: CaseFact) -> dict[str, Any]:
    doc = fact.model_dump()
    doc["_id"] = doc.pop("case_id")
    s = fact.slice()
    doc["day"] = s.day if s else None
    doc["mode"] = fact.mode
    doc["updated"] = datetime.now(UTC)
    return doc


class MongoInsightStore:
    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.db = db
        self.facts = db[FACTS]
        self.counters_col = db[COUNTERS]
        self.units = db[UNITS]
        self.reports = db[REPORTS]
        self.warnings = db[WARNINGS]

    async def setup(self) -> None:
        for live in INDEXES:
            await self.index(live)
        for live, names in OBSOLETE.items():
            existing = {info["name"] async for info in await self.db[live].list_indexes()}
            for name in existing & set(names):
                await self.db[live].drop_index(name)

    async def index(self, live: str) -> None:
        """The indexes of one collection (a rebuild builds each once its collection is swapped in)."""
        for keys, name in INDEXES.get(live, ()):
            await self.db[live].create_index(keys, name=name)

    async def get_facts(self, case_ids: Iterable[str], session: AsyncClientSession | None = None
                        ) -> dict[str, CaseFact]:
        """The stored facts of these cases (one query for a batch)."""
        wanted = sorted(set(case_ids))
        out: dict[str, CaseFact] = {}
        if not wanted:
            return out
        async for doc in self.facts.find({"_id": {"$in": wanted}}, session=session):
            doc["case_id"] = doc.pop("_id")
            out[doc["case_id"]] = CaseFact.model_validate(doc)
        return out

    async def put_facts(self, facts: Iterable[CaseFact], session: AsyncClientSession | None = None) -> None:
        """Every changed fact in one bulk write."""
        ops = [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in map(fact_doc, facts)]
        if not ops:
            return
        try:
            await self.facts.bulk_write(ops, ordered=False, session=session)
        except (DuplicateKeyError, BulkWriteError) as exc:
            _raise_transient(exc, "facts")

    async def increment(self, incs: dict[CounterKey, dict[str, int]],
                        session: AsyncClientSession | None = None) -> None:
        """Add a batch's changes to its counter documents: one read of them all, one bulk of whole-document
        replaces. (An ``$inc`` of ~100 fields a document cost this server ten times as much.) Inside the
        transaction a concurrent writer of the same document makes one of the two retry: nothing is lost."""
        if not incs:
            return
        current = {d["_id"]: d async for d in self.counters_col.find({"_id": {"$in": [k.id for k in incs]}},
                                                                      session=session)}
        now = datetime.now(UTC)
        ops = [ReplaceOne({"_id": k.id}, counter_doc(k, added(unpack(current.get(k.id) or {}), fields),
                                                     now), upsert=True) for k, fields in incs.items()]
        try:
            await self.counters_col.bulk_write(ops, ordered=False, session=session)
        except (DuplicateKeyError, BulkWriteError) as exc:
            _raise_transient(exc, next(iter(incs)).id)

    async def remember_units(self, units: Iterable[UnitSeen], session: AsyncClientSession | None = None) -> None:
        """Names and paths the events carried, one write per unit (the latest wins)."""
        await self.units_seen(units, (), session)

    async def units_seen(self, units: Iterable[UnitSeen], codes: Iterable[str],
                         session: AsyncClientSession | None = None) -> dict[str, tuple[str, ...]]:
        """What a batch does with the units: the names and paths its events carried remembered (the latest wins)
        and the paths of ``codes`` as they are then — one read of both, and a write only of the units whose name
        or path changed (most batches repeat what is stored: no write at all). The same paths as
        :meth:`remember_units` then :meth:`unit_paths` (ADR 0214)."""
        merged: dict[str, dict[str, Any]] = {}
        for u in units:
            upd = merged.setdefault(u.code, {})
            if u.name:
                upd["name"] = u.name
            if u.path:
                upd["path"] = list(u.path)
        asked = set(codes)
        wanted = sorted(asked | {c for c, upd in merged.items() if upd})
        stored: dict[str, dict[str, Any]] = {}
        if wanted:
            stored = {d["_id"]: d async for d in self.units.find({"_id": {"$in": wanted}}, {"name": 1, "path": 1},
                                                                 session=session)}
        ops = [UpdateOne({"_id": code}, {"$set": upd}, upsert=True) for code, upd in merged.items()
               if upd and any((stored.get(code) or {}).get(f) != v for f, v in upd.items())]
        if ops:
            try:
                await self.units.bulk_write(ops, ordered=False, session=session)
            except (DuplicateKeyError, BulkWriteError) as exc:
                raise _transient("units") from exc
        out: dict[str, tuple[str, ...]] = {}
        for code in asked:
            path = (merged.get(code) or {}).get("path") or (stored.get(code) or {}).get("path")
            if path:
                out[code] = tuple(path)
        return out

    async def put_warnings(self, warnings: Iterable[Warning], session: AsyncClientSession | None = None) -> None:
        """Early warnings (预警), one document each (a redelivered warning replaces itself)."""
        ops = [ReplaceOne({"_id": w.warning_id}, w.model_dump(exclude={"warning_id"}), upsert=True)
               for w in warnings]
        if ops:
            try:
                await self.warnings.bulk_write(ops, ordered=False, session=session)
            except (DuplicateKeyError, BulkWriteError) as exc:
                _raise_transient(exc, "warnings")

    async def warnings_in(self, scope: str, a: str, b: str, limit: int = 500) -> list[Warning]:
        """The warnings raised on days ``a``..``b`` (CST) at a place in ``scope`` (or above it in its chain)."""
        q: dict[str, Any] = {"day": {"$gte": a, "$lte": b}}
        if scope != "*":
            q["chain"] = scope
        docs = self.warnings.find(q).sort([("raised_at", DESCENDING), ("_id", ASCENDING)]).limit(limit)
        return [Warning.model_validate({**d, "warning_id": d["_id"]}) async for d in docs]

    async def unit_paths(self, codes: Iterable[str],
                         session: AsyncClientSession | None = None) -> dict[str, tuple[str, ...]]:
        wanted = sorted(set(codes))
        if not wanted:
            return {}
        out: dict[str, tuple[str, ...]] = {}
        async for d in self.units.find({"_id": {"$in": wanted}}, {"path": 1}, session=session):
            if d.get("path"):
                out[d["_id"]] = tuple(d["path"])
        return out

    async def unit_names(self, codes: Iterable[str]) -> dict[str, str]:
        wanted = sorted(set(codes))
        if not wanted:
            return {}
        return {d["_id"]: d["name"] async for d in self.units.find({"_id": {"$in": wanted}}, {"name": 1})
                if d.get("name")}

    async def unit_doc(self, code: str) -> dict[str, Any] | None:
        return await self.units.find_one({"_id": code})

    async def units_below(self, scope: str) -> list[dict[str, Any]]:
        q: dict[str, Any] = {} if scope == "*" else {"path": scope}
        return [d async for d in self.units.find(q).sort("_id", 1).limit(5000)]

    async def counters(self, scope: str, dim: str, periods: dict[str, list[str]]
                       ) -> tuple[list[dict[str, Any]], datetime | None]:
        """One row per (period, key) of grouping ``dim`` ({"p": period, "k": key, "m": {measure: n}}) for the
        periods given per granularity, and the time of the newest change to those counters (the figures'
        ``as_of``). Only the documents of the part that holds ``dim`` are read (ADR 0175)."""
        out: list[dict[str, Any]] = []
        newest: datetime | None = None
        part = PART_OF[dim]
        # Exactly these documents, by their ids, in one query: a range from the first period to the last would
        # read every document between a long range's edge days (~1,000 for three years, ADR 0160), and a query
        # per granularity costs a round trip each (ADR 0175).
        ids = [CounterKey(scope, gran, p, part).id for gran in GRANS for p in periods.get(gran) or ()]
        if ids:
            async for d in self.counters_col.find({"_id": {"$in": ids}}, {"p": 1, "u": 1, "m": 1, f"c.{dim}": 1}):
                out.extend({"p": d["p"], "k": k, "m": m} for k, m in unpack_dim(d, dim).items())
                if d.get("u") is not None and (newest is None or d["u"] > newest):
                    newest = d["u"]
        return out, newest

    async def cases(self, query: dict[str, Any], *, skip: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
        """The facts ``query`` picks, newest day first: (how many, the page). The server reads by its indexes only
        one unit's facts of a period (``unit``, ``day``) or everyone's (``day``): a scope's (``unit_path``) are
        its units' read one by one (the units whose path holds it; by day if there are very many); any other
        condition, the scope's own included, is checked here on those facts' fields (``core.filters``), and the
        page's documents then read by id (ADRs 0205, 0215)."""
        day = {k: query[k] for k in ("day",) if k in query}
        units: list[str] | None = None
        if isinstance(query.get("unit"), str):
            units = [query["unit"]]
        elif isinstance(query.get("unit_path"), str):
            units = await self._units_under(query["unit_path"])
        reads = [day] if units is None else [{"unit": u, **day} for u in units]
        rest = {k: v for k, v in query.items() if k not in day and not (k == "unit" and units == [v])}
        order = [("day", DESCENDING), ("_id", ASCENDING)]
        if not rest and len(reads) == 1:
            total = await self.facts.count_documents(reads[0])
            docs = [d async for d in self.facts.find(reads[0]).sort(order).skip(skip).limit(limit)]
            return total, docs
        wanted = {f: 1 for f in fields_of(rest) | {"day"}}
        picked = [d for served in reads async for d in self.facts.find(served, wanted) if matches(d, rest)]
        picked.sort(key=lambda d: d["_id"])
        picked.sort(key=lambda d: d.get("day") or "", reverse=True)
        ids = [d["_id"] for d in picked[skip:skip + limit]]
        by_id = {d["_id"]: d async for d in self.facts.find({"_id": {"$in": ids}})} if ids else {}
        return len(picked), [by_id[i] for i in ids if i in by_id]

    async def _units_under(self, scope: str) -> list[str] | None:
        """The scope and every unit whose path holds it (the units' ``path`` index), or None if there are more
        than :data:`UNITS_READ_ONE_BY_ONE` (their facts are then read by day)."""
        found = {scope} | {d["_id"] async for d in self.units.find({"path": scope}, {"_id": 1})
                           .limit(UNITS_READ_ONE_BY_ONE + 1)}
        return sorted(found) if len(found) <= UNITS_READ_ONE_BY_ONE else None

    # --- rebuild (replay) --------------------------------------------------------------------------

    def rebuild(self, batch: int = 5000) -> Rebuild:
        """Fresh collections to write a rebuilt state into, piece by piece, then swap in (:class:`Rebuild`)."""
        return Rebuild(self, batch)

    async def replace_all(self, facts: list[CaseFact], counters: dict[CounterKey, dict[str, int]],
                          units: dict[str, dict[str, Any]], warnings: list[Warning], batch: int = 5000
                          ) -> dict[str, dict[str, float]]:
        """A whole rebuilt state written into fresh collections and swapped in (:class:`Rebuild` at once)."""
        rebuild = self.rebuild(batch)
        await rebuild.write(FACTS, (fact_doc(f) for f in facts))
        return await rebuild.finish(counters.items(), units, warnings)

    async def all_counters(self, scope: str | None = None) -> dict[str, dict[str, int]]:
        """Every counter row as ``scope|dim|gran|period|key`` -> {measure: n} (check)."""
        incs = {}
        if scope is not None:  # by scope: the index, built now if missing (the replay does not build it)
            await self.counters_col.create_index(COUNTERS_BY_SCOPE[0], name=COUNTERS_BY_SCOPE[1])
        async for d in self.counters_col.find({} if scope is None else {"s": scope}):
            fields = {f"{dim}.{key}.{m}": int(n) for dim, keys in unpack(d).items()
                      for key, ms in keys.items() for m, n in ms.items()}
            incs[CounterKey(d["s"], d["g"], d["p"], d.get("k", "-"))] = fields
        return flat(incs)

    async def all_facts(self) -> dict[str, dict[str, Any]]:
        return {d["_id"]: d async for d in self.facts.find({})}


def batched(items: Iterable[dict[str, Any]], n: int) -> Iterator[list[dict[str, Any]]]:
    it = iter(items)
    while chunk := list(islice(it, n)):
        yield chunk


def today_cst() -> str:
    return local_day(datetime.now(UTC))


class Rebuild:
    """A rebuilt state written into fresh collections (``<live>_rebuild_<time>``): each written piece by piece,
    by this process (:meth:`write`) or by worker processes (:meth:`note` counts theirs), then swapped in one
    collection at a time (:meth:`swap_in`: the fresh one renamed onto the live one, then indexed); :meth:`finish`
    writes the counters, units and warnings and swaps everything in. Each write goes in chunks of ``batch``
    documents, a chunk built while the previous one is inserted."""

    def __init__(self, store: MongoInsightStore, batch: int) -> None:
        self.store, self.batch = store, batch
        stamp = self.stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        self.new = {live: f"{live}_rebuild_{stamp}" for live in (FACTS, COUNTERS, UNITS, WARNINGS)}
        self.spent: dict[str, dict[str, float]] = {live: {"documents": 0, "seconds": 0.0} for live in self.new}
        for step in ("swap", "indexes"):
            self.spent[step] = {"seconds": 0.0}

    def note(self, live: str, documents: int, seconds: float) -> None:
        """Documents a worker process wrote into the fresh ``live`` collection (its seconds: summed over the
        workers, which write at the same time)."""
        spent = self.spent[live]
        spent["documents"] += documents
        spent["seconds"] = round(spent["seconds"] + seconds, 2)

    async def write(self, live: str, docs: Iterable[dict[str, Any]]) -> None:
        t, n = time.monotonic(), 0
        col, pending = self.store.db[self.new[live]], None
        for chunk in batched(docs, self.batch):
            if pending is not None:
                await pending
            pending = asyncio.ensure_future(col.insert_many(chunk, ordered=False))
            n += len(chunk)
        if pending is not None:
            await pending
        self.note(live, n, time.monotonic() - t)

    async def finish(self, counters: Iterable[tuple[CounterKey, dict[str, int]]], units: dict[str, dict[str, Any]],
                     warnings: list[Warning]) -> dict[str, dict[str, float]]:
        now = datetime.now(UTC)
        await asyncio.gather(
            self.write(COUNTERS, (counter_doc(k, nest(m), now) for k, m in counters if any(m.values()))),
            self.finish_small(units, warnings))
        for live in (FACTS, COUNTERS):
            await self.swap_in(live)
        return self.spent

    async def finish_small(self, units: dict[str, dict[str, Any]], warnings: list[Warning]) -> None:
        """The units and warnings written and swapped in (small: they go first)."""
        await asyncio.gather(
            self.write(UNITS, ({"_id": c, **u} for c, u in units.items())),
            self.write(WARNINGS, ({"_id": w.warning_id, **w.model_dump(exclude={"warning_id"})} for w in warnings)))
        for live in (UNITS, WARNINGS):
            await self.swap_in(live)

    async def in_place_if_empty(self, live: str) -> bool:
        """A live collection without documents (a first replay: nothing to keep showing meanwhile) is written in
        place — dropped with its indexes, filled, indexed at :meth:`swap_in` — instead of renamed onto (this
        server copies every document to rename). True if so (ADR 0205)."""
        db = self.store.db
        if live in await db.list_collection_names():
            try:  # collStats, not a count: a query without a filter (the query-plan test's collection scan)
                if int((await db.command("collStats", live)).get("count") or 0) > 0:
                    return False
            except OperationFailure:
                return False
            await db.drop_collection(live)
        self.new[live] = live
        return True

    async def swap_in(self, live: str) -> None:
        """The fresh collection renamed onto the live one (``dropTarget``: the live one goes in the same command,
        readers see the old state until then), then indexed. This server copies a collection to rename it and
        deletes one to drop it, both ~ its documents and index entries: so the fresh one goes in without
        indexes, and the live one is not first renamed away (a copy of the whole old state) as it was."""
        db, fresh = self.store.db, self.new[live]
        t = time.monotonic()
        if fresh == live:  # written in place (:meth:`in_place_if_empty`)
            pass
        elif fresh in await db.list_collection_names():
            await db[fresh].rename(live, dropTarget=True)
        else:
            await db.drop_collection(live)
            await db.create_collection(live)
        t1 = time.monotonic()
        await self.store.index(live)
        for step, secs in (("swap", t1 - t), ("indexes", time.monotonic() - t1)):
            self.spent[step]["seconds"] = round(self.spent[step]["seconds"] + secs, 2)
            self.spent[step][live] = round(secs, 2)
