"""History for bench_insight.py: a million cases' counter documents, exactly the service's own, loaded in bulk.

The cases are drawn at random (``draw``; ``fact_of`` makes the ``CaseFact`` the consumers would have built);
``FastCounters`` computes the counter documents of many cases at once and ``check_fast_counters`` compares them
with the service's own ``rollup.add`` + ``nest`` (docs/adr/0160-insight-at-a-million-cases.md).
"""

from __future__ import annotations

import random
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from yima_contracts.codes import Category, Channel

CATEGORIES = [c.value for c in Category]
CHANNELS = [c.value for c in Channel]
DISTRICT = "410105"


def tree() -> list[tuple[str, ...]]:
    """Unit paths: 17 streets with 12–13 communities each (214), 16 departments under the district."""
    paths: list[tuple[str, ...]] = []
    n = 0
    for s in range(1, 18):
        street = f"{DISTRICT}{s:03d}"
        paths.append((DISTRICT, street))
        for c in range(1, 13 + (s <= 10)):
            n += 1
            if n > 214:
                break
            paths.append((DISTRICT, street, f"{street}{c:03d}"))
    paths += [(DISTRICT, f"JSQ-D{d:02d}") for d in range(16)]
    return paths


LEVELS, LEVEL_CUM = ["red", "yellow", "blue"], [1, 5, 20]  # weights 1 : 4 : 15
RATINGS, RATING_CUM = [5, 4, 3, 2, 1], [60, 85, 93, 97, 100]  # weights 60 : 25 : 8 : 4 : 3
# (random.choices with cum_weights draws exactly what it draws with the weights they accumulate)


def draw(rng: random.Random, paths: list[tuple[str, ...]]) -> tuple[Any, ...]:
    """One history case's random choices: (path, minute, channel, category, level, and for an assigned case
    (in_platform, accepted, outcome 0 resolved | 1 failed | 2 transferred | 3 open, overdue, notices, rating))."""
    path = rng.choice(paths) if rng.random() > 0.02 else ()
    minute = rng.randrange(600)
    channel, category = rng.choice(CHANNELS), rng.choice(CATEGORIES)
    level = rng.choices(LEVELS, cum_weights=LEVEL_CUM)[0]
    if not path:
        return path, minute, channel, category, level, None
    in_platform = rng.random() < 0.6
    accepted = rng.random() < 0.95
    r = rng.random()
    outcome = 0 if r < 0.8 else 1 if r < 0.88 else 2 if r < 0.92 else 3
    overdue = rng.random() < 0.05
    notices = int(overdue) * rng.randint(1, 3)
    rating = (rng.choices(RATINGS, cum_weights=RATING_CUM)[0]
              if outcome in (0, 2) and rng.random() < 0.6 else None)
    return path, minute, channel, category, level, (in_platform, accepted, outcome, overdue, notices, rating)


def fact_of(i: int, day: date, d: tuple[Any, ...]) -> Any:
    """The case's fact (what the consumers would have built from its events)."""
    from yima_insight.core.facts import CaseFact, admin_level

    path, minute, channel, category, level, rest = d
    at = datetime(day.year, day.month, day.day, 2, tzinfo=UTC) + timedelta(minutes=minute)
    f = CaseFact(case_id=f"h{i:08d}", case_number=f"JSQ-{day.year}-{i:07d}", received_at=at,
                 channel=channel, category=category, level=level)
    if rest is not None:
        in_platform, accepted, outcome, overdue, notices, rating = rest
        f.unit, f.unit_path, f.in_platform = path[-1], list(path), in_platform
        f.assignment_id, f.assigned_at = f"a{i}", at
        f.accepted = accepted
        if outcome == 0:
            f.closed, f.outcome, f.settled_level = True, "resolved", admin_level(path)
            f.med_concluded, f.med_success = True, True
        elif outcome == 1:
            f.outcome, f.med_concluded = "failed", True
        elif outcome == 2:
            f.closed, f.outcome = True, "transferred"
        f.overdue, f.notices, f.rating = overdue, notices, rating
    return f


def fake_fact(i: int, day: date, rng: random.Random, paths: list[tuple[str, ...]]) -> Any:
    return fact_of(i, day, draw(rng, paths))


class FastCounters:
    """The counter documents of many history cases: exactly what the service's ``rollup.add`` case by case and
    ``nest`` give (``check_fast_counters`` compares the two), at a fraction of the cost. The service's core works
    on one case's slice and vector (every measure of every grouping of every document as a ``dim.key.measure``
    string: ~700 formatted additions a case); here each distinct (slice, vector) is counted, the documents hold
    counts of vector kinds, and measures are multiplied out once per document when it is written."""

    def __init__(self) -> None:
        # (scope, gran, period) -> {(dim, key): {vector kind: cases}}
        self.docs: dict[tuple[str, str, str], dict[tuple[str, str], dict[int, int]]] = {}
        self._vec_ids: dict[tuple[Any, ...], int] = {}
        self.vectors: list[tuple[tuple[str, int], ...]] = []  # vector kind -> its (measure, n) pairs
        self._places: dict[tuple[Any, ...], list[tuple[str, tuple[str, str], tuple[str, str]]]] = {}
        self._day: dict[tuple[Any, ...], int] = {}  # (slice, vector kind) -> cases, one day at a time
        self._settled: dict[tuple[str, ...], str] = {}

    def add(self, day: date, d: tuple[Any, ...]) -> None:
        from yima_insight.core.facts import admin_level

        path, _minute, channel, category, level, rest = d
        if rest is None:
            vkey: tuple[Any, ...] = (level,)
            mode = "pending"
        else:
            in_platform, accepted, outcome, overdue, notices, rating = rest
            # what the vector depends on: the settled level is the path's administrative level
            settled = self._settled.get(path)
            if settled is None:
                settled = self._settled[path] = admin_level(path) or ""
            vkey = (level, settled, accepted, outcome, overdue, notices, rating)
            mode = "platform" if in_platform else "own_system"
        vid = self._vec_ids.get(vkey)
        if vid is None:
            vid = self._vec_ids[vkey] = len(self.vectors)
            self.vectors.append(tuple(fact_of(0, day, d).vector().items()))
        k = (path, channel, category, level, mode, vid)
        self._day[k] = self._day.get(k, 0) + 1

    def end_day(self, day: date) -> None:
        """Spread the day's cases over their documents (day, ten days, month, year × every scope on the way
        down)."""
        from yima_insight.core.facts import NO_UNIT, Slice
        from yima_insight.core.rollup import periods_of, scopes

        ds = day.isoformat()
        periods = periods_of(ds)
        docs = self.docs
        places = self._places
        for (path, channel, category, level, mode, vid), n in self._day.items():
            here = places.get((path, category))
            if here is None:  # (scope, the unit dimension's key there, the unit × category key)
                s = Slice(ds, path[-1] if path else NO_UNIT, path, category, channel, level, mode)
                here = places[(path, category)] = [(scope, ("unit", child), ("unit_category", f"{child}|{category}"))
                                                   for scope, child in scopes(s)]
            same = (("category", category), ("channel", channel), ("level", level), ("mode", mode))
            for scope, unit_key, uc_key in here:
                for gran, period in periods:
                    dk = (scope, gran, period)
                    doc = docs.get(dk)
                    if doc is None:
                        doc = docs[dk] = {}
                    for key in (unit_key, uc_key, *same):
                        e = doc.get(key)
                        if e is None:
                            doc[key] = {vid: n}
                        else:
                            e[vid] = e.get(vid, 0) + n
        self._day.clear()

    def pop(self, gran_kept: str = "y") -> list[tuple[tuple[str, str, str, str], dict[str, Any]]]:
        """The documents counted so far as ((scope, gran, period, part), nested counters), except those of
        ``gran_kept`` (kept counting); each period's groupings split into the service's parts."""
        from yima_insight.core.rollup import PART_OF

        out = []
        vectors = self.vectors
        for dk in [dk for dk in self.docs if dk[1] != gran_kept]:
            parts: dict[str, dict[str, dict[str, dict[str, int]]]] = {}
            for (dim, key), kinds in self.docs.pop(dk).items():
                if len(kinds) == 1:  # most keys of a day's document: one kind of case
                    [(vid, n)] = kinds.items()
                    ms = dict(vectors[vid]) if n == 1 else {m: n * x for m, x in vectors[vid]}
                else:
                    ms = {}
                    for vid, n in kinds.items():
                        for m, x in vectors[vid]:
                            ms[m] = ms.get(m, 0) + n * x
                parts.setdefault(PART_OF[dim], {}).setdefault(dim, {})[key] = ms
            out += [((*dk, part), c) for part, c in parts.items()]
        return out


def check_fast_counters(n_days: int = 40, per_day: int = 60, seed: int = 3) -> int:
    """The fast path against the service's own ``rollup.add`` + ``nest`` on the same cases: every document
    equal, or the bench stops (its figures would not be the service's)."""
    from yima_insight.core.rollup import add, nest

    rng, paths = random.Random(seed), tree()
    slow: dict[Any, dict[str, int]] = {}
    fast = FastCounters()
    start = date(2025, 12, 20)  # across a month's and a year's end
    i = 0
    for k in range(n_days):
        day = start + timedelta(days=k)
        for _ in range(per_day):
            d = draw(rng, paths)
            f = fact_of(i, day, d)
            i += 1
            s = f.slice()
            assert s is not None and s.day == day.isoformat(), "a history case must fall on its own day (CST)"
            add(slow, s, f.vector())
            fast.add(day, d)
        fast.end_day(day)
    want = {(k.scope, k.gran, k.period, k.part): nest(m) for k, m in slow.items()}
    got = dict(fast.pop(gran_kept="-"))
    if got != want:
        diff = sorted(k for k in want.keys() | got.keys() if want.get(k) != got.get(k))
        raise AssertionError(f"the fast counters differ from the service's rollup in {len(diff)} documents, "
                             f"e.g. {diff[:3]}")
    return len(want)


async def load_history(db: Any, n: int, years: int, with_facts: bool, seed: int = 7) -> tuple[float, int, int]:
    """Facts and counters of n cases, month by month; returns (seconds, facts, counter documents)."""
    from yima_insight.adapters.counter_docs import counter_doc
    from yima_insight.adapters.mongo_store import MongoInsightStore, fact_doc
    from yima_insight.core.rollup import CounterKey

    store = MongoInsightStore(db)
    await store.setup()
    rng = random.Random(seed)
    paths = tree()
    await db["units"].insert_many([{"_id": p[-1], "name": f"单位{p[-1]}", "path": list(p)} for p in paths])
    start = date.today().replace(day=1) - timedelta(days=365 * years)
    days = (date.today() - start).days
    per_day = n / days
    t0 = time.perf_counter()
    i = 0
    n_counters = 0
    counters = FastCounters()
    facts: list[dict[str, Any]] = []
    cur_month = start.isoformat()[:7]
    timing = {"count": 0.0, "nest": 0.0, "insert": 0.0}

    async def flush(final: bool = False) -> None:
        nonlocal n_counters
        t = time.perf_counter()
        now = datetime.now(UTC)  # as the service's increment stamps a document it writes
        docs = [counter_doc(CounterKey(*k), c, now)
                for k, c in counters.pop(gran_kept="-" if final else "y")]  # years once, at the end
        t1 = time.perf_counter()
        timing["nest"] += t1 - t
        await insert_all(db["counters"], docs)
        await insert_all(db["facts"], facts)
        timing["insert"] += time.perf_counter() - t1
        n_counters += len(docs)
        facts.clear()

    carry = 0.0
    for d in range(days):
        day = start + timedelta(days=d)
        if day.isoformat()[:7] != cur_month:
            await flush()
            cur_month = day.isoformat()[:7]
            if cur_month.endswith(("01", "04", "07", "10")) or i < 60_000:
                print(f"  loaded {i:,} cases up to {cur_month} ({time.perf_counter() - t0:.0f} s: counting "
                      f"{timing['count']:.0f}, documents {timing['nest']:.0f}, insert_many {timing['insert']:.0f})",
                      flush=True)
        carry += per_day
        t = time.perf_counter()
        for _ in range(int(carry)):
            c = draw(rng, paths)
            counters.add(day, c)
            if with_facts:
                facts.append(fact_doc(fact_of(i, day, c)))
            i += 1
        counters.end_day(day)
        timing["count"] += time.perf_counter() - t
        carry -= int(carry)
    await flush(final=True)
    print(f"  load's time: counting {timing['count']:.0f} s, building documents {timing['nest']:.0f} s, "
          f"insert_many {timing['insert']:.0f} s", flush=True)
    return time.perf_counter() - t0, i, n_counters


async def insert_all(col: Any, docs: list[dict[str, Any]], chunk: int = 2000) -> None:
    """insert_many in chunks; a chunk the driver retried after a timeout (a loaded box) finds its first attempt's
    documents there: those duplicates are the same documents, not an error."""
    from pymongo.errors import BulkWriteError

    for j in range(0, len(docs), chunk):
        try:
            await col.insert_many(docs[j:j + chunk], ordered=False)
        except BulkWriteError as exc:
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise
