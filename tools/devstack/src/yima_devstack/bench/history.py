"""History mode: 100,000 finished cases in the services' stores, loaded quickly, in each store's own shape.

The shape is taken from the platform itself rather than restated here: the warm-up's cases, answered "accepted"
and "resolved" by their departments, went through every service for real; every document of every service
database that names one of them (its case, timeline steps, assignments, risk assessment, notifications,
processed-event ledger entries, published outbox rows, …) is a template. Each history case is a clone of one
template case with fresh identifiers (case id, case number, tracking code, every UUID and hex token, so unique
indexes hold) and every date moved back by the same random amount within a year. The spread over units,
categories and risk levels is the warm-up's (bench.load.CASES); a clone that a TTL index of its collection would
have removed by now (the processed-event ledgers keep 90 days) is left out, as the store would no longer hold it.
Bulk ``insert_many``, one at a time (three in flight ran at half the rate on the stand-in, ADR 0221).
"""

from __future__ import annotations

import asyncio
import random
import re
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import bson
from bson import ObjectId
from pymongo import AsyncMongoClient
from pymongo.errors import BulkWriteError
from yima_contracts.human_codes import display_code, new_code

TOKEN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{16,}")
SCAN_LIMIT = 100_000  # documents read per collection when looking for templates
BATCH_CLONES = 200
IN_FLIGHT = 1
CASE_NUMBER = re.compile(r"^([A-Z]{1,6})-(\d{4})-(\d{6,})$")

Doc = dict[str, Any]
Expiry = dict[tuple[str, str], list[tuple[str, float]]]  # (database, collection) → its TTL indexes' (field, seconds)


class Clone:
    """One history case: the template's identifiers mapped to fresh ones, dates moved back by ``shift``."""

    def __init__(self, template: Template, seq: int, shift: timedelta) -> None:
        self.shift = shift
        occurred = datetime.now(UTC) - shift
        code = new_code()
        self.fixed = {template.case_id: str(uuid.uuid4())}
        if template.case_number and (m := CASE_NUMBER.match(template.case_number)):
            self.fixed[template.case_number] = f"{m.group(1)}-{occurred.year}-{900_000 + seq:06d}"
        if template.tracking_code:
            self.fixed[template.tracking_code] = code
            self.fixed[display_code(template.tracking_code)] = display_code(code)
        self.tokens: dict[str, str] = {}

    def _token(self, m: re.Match[str]) -> str:
        old = m.group(0)
        if old not in self.tokens:
            self.tokens[old] = str(uuid.uuid4()) if "-" in old else (uuid.uuid4().hex * 4)[: len(old)]
        return self.tokens[old]

    def text(self, s: str) -> str:
        for old, new in self.fixed.items():
            if old in s:
                s = s.replace(old, new)
        return TOKEN.sub(self._token, s)

    def value(self, v: Any) -> Any:
        if isinstance(v, str):
            return self.text(v)
        if isinstance(v, datetime):
            return v - self.shift
        if isinstance(v, ObjectId):
            return ObjectId()
        if isinstance(v, dict):
            return {self.text(k) if TOKEN.search(k) else k: self.value(x) for k, x in v.items()}
        if isinstance(v, list):
            return [self.value(x) for x in v]
        return v


class Template:
    def __init__(self, case_id: str, case_number: str | None, tracking_code: str | None) -> None:
        self.case_id = case_id
        self.case_number = case_number
        self.tracking_code = tracking_code
        self.docs: list[tuple[str, str, Doc]] = []  # (database, collection, document)


async def find_templates(client: AsyncMongoClient[Doc], dbs: list[str], cases: dict[str, str | None],
                         intake_db: str) -> list[Template]:
    """The documents of every service database that name one of ``cases`` (case id → tracking code)."""
    numbers = {d["_id"]: d.get("case_number") async for d in
               client[intake_db]["cases"].find({"_id": {"$in": list(cases)}}, {"case_number": 1})}
    templates = {c: Template(c, numbers.get(c), code) for c, code in cases.items()}
    needles = [(c.encode(), t) for c, t in templates.items()]
    for db in dbs:
        for name in await client[db].list_collection_names():
            async for doc in client[db][name].find({}).limit(SCAN_LIMIT):
                raw = bson.encode(doc)
                for needle, t in needles:
                    if needle in raw:
                        t.docs.append((db, name, doc))
                        break
    return [t for t in templates.values() if t.docs]


def expired(doc: Doc, ttls: list[tuple[str, float]], now: datetime) -> bool:
    """Whether a TTL index (field, seconds) would have removed ``doc`` by ``now``."""
    return any(isinstance(at := doc.get(field), datetime) and at.astimezone(UTC) + timedelta(seconds=s) < now
               for field, s in ttls)


def clone_docs(t: Template, seq: int, rng: random.Random, now: datetime,
               expiry: Expiry | None = None) -> list[tuple[str, str, Doc]]:
    shift = timedelta(days=rng.uniform(1, 365), seconds=rng.uniform(0, 86_400))
    c = Clone(t, seq, shift)
    out = []
    for db, coll, doc in t.docs:
        new = c.value(doc)
        if expiry and expired(new, expiry.get((db, coll), []), now):
            continue  # its collection's TTL index would have removed it by now
        if isinstance(doc.get("_id"), ObjectId):
            new["_id"] = ObjectId.from_datetime(now - shift)
        out.append((db, coll, new))
    return out


async def seed_history(mongo_url: str, prefix: str, cases: dict[str, str | None], n: int,
                       log: Callable[[str], None], seed: int = 12) -> dict[str, Any]:
    """Load ``n`` finished cases cloned from ``cases`` (case id → tracking code; those whose case reached
    "resolved" at intake are the templates). Returns what was loaded."""
    client: AsyncMongoClient[Doc] = AsyncMongoClient(mongo_url, tz_aware=True)
    t0 = time.monotonic()
    try:
        intake_db = f"{prefix}yima_intake"
        templates, notes = await _templates(client, prefix, intake_db, cases)
        per_case = Counter(f"{db}.{coll}" for t in templates for db, coll, _ in t.docs)
        log(f"  {len(templates)} template cases, {sum(per_case.values()) / len(templates):.0f} documents each "
            f"in {len(per_case)} collections")
        expiry = await _expiry(client, {(db, coll) for t in templates for db, coll, _ in t.docs})
        loaded, duplicates = await _load(client, templates, n, random.Random(seed), expiry, log)
        took = time.monotonic() - t0
        spread: Counter[str] = Counter()
        async for d in await client[intake_db]["cases"].aggregate([{"$group": {"_id": "$category", "n": {"$sum": 1}}}]):
            spread[str(d["_id"])] = d["n"]
        return {"cases": n, "templates": len(templates), "documents": sum(loaded.values()),
                "duplicates_skipped": duplicates, "seconds": round(took, 1),
                "documents_per_s": round(sum(loaded.values()) / took, 1) if took else None,
                "by_collection": dict(loaded), "intake_cases_by_category": dict(spread), "notes": notes}
    finally:
        await client.close()


async def _templates(client: AsyncMongoClient[Doc], prefix: str, intake_db: str,
                     cases: dict[str, str | None]) -> tuple[list[Template], list[str]]:
    """The template cases (finished ones when there are any) with their documents in every service database."""
    finished = {d["_id"] async for d in client[intake_db]["cases"].find(
        {"_id": {"$in": list(cases)}, "state": {"$in": ["resolved", "closed"]}}, {"_id": 1})}
    notes = []
    if not finished:
        notes.append("no warm-up case reached 'resolved': the history clones cases still open")
        finished = set(cases)
    dbs = [d for d in await client.list_database_names()
           if d.startswith(f"{prefix}yima_") and not d.startswith(f"{prefix}yima_bench")]
    templates = await find_templates(client, dbs, {c: cases[c] for c in finished}, intake_db)
    if not templates:
        raise RuntimeError("no template case found in the service databases: cannot load history")
    return templates, notes


async def _expiry(client: AsyncMongoClient[Doc], collections: set[tuple[str, str]]) -> Expiry:
    """The TTL indexes (single field, ``expireAfterSeconds``) of the collections the templates live in."""
    out: Expiry = {}
    for db, coll in collections:
        out[(db, coll)] = [(next(iter(i["key"])), float(i["expireAfterSeconds"]))
                           async for i in await client[db][coll].list_indexes()
                           if "expireAfterSeconds" in i and len(i["key"]) == 1]
    return out


async def _load(client: AsyncMongoClient[Doc], templates: list[Template], n: int, rng: random.Random,
                expiry: Expiry, log: Callable[[str], None]) -> tuple[Counter[str], int]:
    """Insert ``n`` clones in batches, ``IN_FLIGHT`` bulk inserts at once; returns documents loaded and duplicates."""
    t0 = time.monotonic()
    now = datetime.now(UTC)
    loaded: Counter[str] = Counter()
    duplicates = 0
    sem = asyncio.Semaphore(IN_FLIGHT)

    async def insert(db: str, coll: str, docs: list[Doc]) -> None:
        nonlocal duplicates
        async with sem:
            try:
                await client[db][coll].insert_many(docs, ordered=False)
                loaded[f"{db}.{coll}"] += len(docs)
            except BulkWriteError as exc:
                n_ok = exc.details.get("nInserted", 0)
                loaded[f"{db}.{coll}"] += n_ok
                duplicates += len(docs) - n_ok

    done = 0
    last_log = time.monotonic()
    while done < n:
        batch: dict[tuple[str, str], list[Doc]] = defaultdict(list)
        for seq in range(done, min(n, done + BATCH_CLONES)):
            for db, coll, doc in clone_docs(templates[seq % len(templates)], seq, rng, now, expiry):
                batch[(db, coll)].append(doc)
        await asyncio.gather(*(insert(db, coll, docs) for (db, coll), docs in batch.items()))
        await asyncio.sleep(0)  # the watcher's consumer keeps its heartbeats
        done = min(n, done + BATCH_CLONES)
        if time.monotonic() - last_log > 15:
            last_log = time.monotonic()
            log(f"  {done:,} / {n:,} cases ({sum(loaded.values()) / (last_log - t0):,.0f} documents/s)")
    return loaded, duplicates
