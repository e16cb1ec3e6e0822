"""From a case's slice to the counter documents it touches (pure).

One counter document per period (day ``d``, ten days ``t``, month ``m`` and year ``y``) × scope (all cases ``*``
and every unit on the case's unit path, so a street's figures include its communities') × part, holding the part's
groupings: ``{dim: {key: {measure: n}}}`` for dim in ``PARTS[part]``. The unit × category grouping (the heat table)
is a part of its own: it is 75–85 % of a district's document (ADR 0160), and a table by unit, category, channel,
level or mode never reads it (ADR 0175). An event changes at most 4 × 2 × (path length + 1) documents, and a table
query reads one document per whole year, whole month, whole ten days and remaining day of its range, of one part
(at most ~55 for any range: a year's edges are ≤ 22 months, ≤ 4 ten-days and ≤ 18 days).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .facts import NO_UNIT, Delta, Slice

ALL = "*"
DIMENSIONS: tuple[str, ...] = ("unit", "category", "channel", "level", "mode", "unit_category")
# the counter documents' parts: which groupings each holds (a query reads the one part of its grouping)
PARTS: dict[str, tuple[str, ...]] = {"g": ("unit", "category", "channel", "level", "mode"), "uc": ("unit_category",)}
PART_OF: dict[str, str] = {dim: part for part, dims in PARTS.items() for dim in dims}
GRANS: tuple[str, ...] = ("d", "t", "m", "y")


@dataclass(frozen=True)
class CounterKey:
    scope: str
    gran: str  # d | t | m | y
    period: str  # YYYY-MM-DD | YYYY-MM~1..3 | YYYY-MM | YYYY
    part: str = "g"  # a key of PARTS

    @property
    def id(self) -> str:
        return f"{self.scope}|{self.gran}|{self.period}|{self.part}"


def ten_days(day: str) -> str:
    """The ten days (旬) of a ``YYYY-MM-DD``: ``YYYY-MM~1`` (1st–10th), ``~2`` (11th–20th), ``~3`` (21st–end)."""
    d = int(day[8:10])
    return f"{day[:7]}~{1 if d <= 10 else 2 if d <= 20 else 3}"


def periods_of(day: str) -> tuple[tuple[str, str], ...]:
    """Every (granularity, period) a day counts in."""
    return (("d", day), ("t", ten_days(day)), ("m", day[:7]), ("y", day[:4]))


# field path inside a counter document ("<dim>.<key>.<measure>") -> change
Increments = dict[CounterKey, dict[str, int]]


def scopes(s: Slice) -> list[tuple[str, str]]:
    """(scope, the row key of the unit dimension in that scope): the child on the way down, or the unit."""
    if s.unit == NO_UNIT or not s.unit_path:
        return [(ALL, NO_UNIT)]
    path = s.unit_path
    out = [(ALL, path[0])]
    for i, code in enumerate(path):
        out.append((code, path[i + 1] if i + 1 < len(path) else code))
    return out


def keys_of(s: Slice) -> Iterator[tuple[CounterKey, dict[str, str]]]:
    """Each counter document of the slice, with the key the slice has in each grouping there."""
    for scope, child in scopes(s):
        values = {"unit": child, "category": s.category, "channel": s.channel, "level": s.level, "mode": s.mode,
                  "unit_category": f"{child}|{s.category}"}
        for gran, period in periods_of(s.day):
            for part, dims in PARTS.items():
                yield CounterKey(scope, gran, period, part), {dim: values[dim] for dim in dims}


def add(out: Increments, s: Slice, vec: dict[str, int]) -> None:
    for k, values in keys_of(s):
        cur = out.setdefault(k, {})
        for dim, key in values.items():
            for m, n in vec.items():
                f = f"{dim}.{key}.{m}"
                cur[f] = cur.get(f, 0) + n


Rows = dict[str, dict[tuple[str, str, str], dict[str, int]]]  # scope -> (dim, key, day) -> {measure: n}


def tally(pairs: Iterable[tuple[Slice, dict[str, int]]]) -> Increments:
    """What :func:`add` of every (slice, vector) gives, for many cases at once (replay, check): each case's
    vector is added once per (scope, grouping, key) of its day — not once per period and measure string — and
    the days are spread over their ten days, months and years at the end, once per distinct row."""
    out: Increments = {}
    for scope, rows in day_rows(pairs).items():
        out.update(spread(scope, rows))
    return out


def day_rows(pairs: Iterable[tuple[Slice, dict[str, int]]], rows: Rows | None = None) -> Rows:
    """Each case's vector added to its day's row of each (scope, grouping, key), into ``rows`` if given (the
    replay sums its slices of cases there: rows grow with days × scopes × keys, not with cases)."""
    rows = {} if rows is None else rows
    scoped: dict[tuple[str, tuple[str, ...]], list[tuple[str, str]]] = {}
    for s, vec in pairs:
        here = scoped.get((s.unit, s.unit_path))
        if here is None:
            here = scoped[(s.unit, s.unit_path)] = scopes(s)
        for scope, child in here:
            mine = rows.get(scope)
            if mine is None:
                mine = rows[scope] = {}
            for dim, key in (("unit", child), ("category", s.category), ("channel", s.channel), ("level", s.level),
                             ("mode", s.mode), ("unit_category", f"{child}|{s.category}")):
                row = mine.get((dim, key, s.day))
                if row is None:
                    mine[(dim, key, s.day)] = dict(vec)
                else:
                    for m, n in vec.items():
                        row[m] = row.get(m, 0) + n
    return rows


def spread(scope: str, rows: dict[tuple[str, str, str], dict[str, int]]) -> Increments:
    """One scope's day rows over their days, ten days, months and years: its counter documents' fields."""
    out: Increments = {}
    periods: dict[str, tuple[tuple[str, str], ...]] = {}
    for (dim, key, day), ms in rows.items():
        ps = periods.get(day)
        if ps is None:
            ps = periods[day] = periods_of(day)
        part = PART_OF[dim]
        for gran, period in ps:
            cur = out.setdefault(CounterKey(scope, gran, period, part), {})
            for m, n in ms.items():
                f = f"{dim}.{key}.{m}"
                cur[f] = cur.get(f, 0) + n
    return out


Nested = dict[str, dict[str, dict[str, int]]]  # a counter document's {dim: {key: {measure: n}}}


def spread_nested(scope: str, rows: dict[tuple[str, str, str], dict[str, int]]) -> dict[CounterKey, Nested]:
    """What ``{k: nest(v) for k, v in spread(scope, rows).items()}`` gives (zeros left out, and so is a document
    left empty), built nested at once: no field path written per (period, measure) and split again — the replay
    spreads millions of day rows this way."""
    docs: dict[tuple[str, str, str], Nested] = {}
    periods: dict[str, tuple[tuple[str, str], ...]] = {}
    for (dim, key, day), ms in rows.items():
        ps = periods.get(day)
        if ps is None:
            ps = periods[day] = periods_of(day)
        part = PART_OF[dim]
        for gran, period in ps:
            doc = docs.get((gran, period, part))
            if doc is None:
                doc = docs[(gran, period, part)] = {}
            keys = doc.get(dim)
            if keys is None:
                keys = doc[dim] = {}
            cur = keys.get(key)
            if cur is None:  # a day's row is its day document's own (one row a day): the others' sums are copies
                keys[key] = ms if gran == "d" else dict(ms)
            else:
                for m, n in ms.items():
                    cur[m] = cur.get(m, 0) + n
    out: dict[CounterKey, Nested] = {}
    for (gran, period, part), doc in docs.items():
        for dim, keys in list(doc.items()):
            for key, ms in list(keys.items()):
                if 0 in ms.values():
                    kept = {m: n for m, n in ms.items() if n}
                    if kept:
                        keys[key] = kept
                    else:
                        del keys[key]
            if not keys:
                del doc[dim]
        if doc:
            out[CounterKey(scope, gran, period, part)] = doc
    return out


def increments(d: Delta) -> Increments:
    """Every counter document's change for a fact's delta, merged."""
    out: Increments = {}
    for s, vec in d.items():
        add(out, s, vec)
    return {k: {f: n for f, n in v.items() if n} for k, v in out.items() if any(v.values())}


def flat(incs: Increments) -> dict[str, dict[str, int]]:
    """``scope|dim|gran|period|key`` -> {measure: n}: the counters one row at a time (check, tests)."""
    out: dict[str, dict[str, int]] = {}
    for k, fields in incs.items():
        for f, n in fields.items():
            dim, key, m = f.split(".")
            cur = out.setdefault(f"{k.scope}|{dim}|{k.gran}|{k.period}|{key}", {})
            cur[m] = cur.get(m, 0) + n
    return {k: {m: n for m, n in v.items() if n} for k, v in out.items() if any(v.values())}


def nest(fields: dict[str, int]) -> dict[str, dict[str, dict[str, int]]]:
    """Flat field paths to the document's nested ``{dim: {key: {measure: n}}}``."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for f, n in fields.items():
        if n:
            dim, key, m = f.split(".")
            out.setdefault(dim, {}).setdefault(key, {})[m] = n
    return out


def added(nested: dict[str, dict[str, dict[str, int]]], fields: dict[str, int]) -> dict[str, dict[str, dict[str, int]]]:
    """A counter document's ``{dim: {key: {measure: n}}}`` after adding the flat ``fields`` (a measure that falls
    to 0 is left out, and so is a key or dimension left empty)."""
    out = {dim: {key: dict(ms) for key, ms in keys.items()} for dim, keys in nested.items()}
    for f, n in fields.items():
        dim, key, m = f.split(".")
        ms = out.setdefault(dim, {}).setdefault(key, {})
        ms[m] = ms.get(m, 0) + n
        if not ms[m]:
            del ms[m]
            if not ms:
                del out[dim][key]
                if not out[dim]:
                    del out[dim]
    return out
