"""From a case's slice to the counter documents it touches (pure).

One counter document per period (day ``d``, month ``m`` and year ``y``) × scope (all cases ``*`` and every unit on the
case's unit path, so a street's figures include its communities'), holding every grouping:
``{dim: {key: {measure: n}}}`` for dim in :data:`DIMENSIONS`. An event changes at most 3 × (path length + 1)
documents (12 for a community's case), and a table query reads one document per whole year, whole month and
remaining day of its range, whatever the grouping (at most ~90 for any range: a year's edges are ≤ 22 months and
≤ 60 days).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .facts import NO_UNIT, Delta, Slice

ALL = "*"
DIMENSIONS: tuple[str, ...] = ("unit", "category", "channel", "level", "mode", "unit_category")


@dataclass(frozen=True)
class CounterKey:
    scope: str
    gran: str  # d | m | y
    period: str  # YYYY-MM-DD | YYYY-MM | YYYY

    @property
    def id(self) -> str:
        return f"{self.scope}|{self.gran}|{self.period}"


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
        for gran, period in (("d", s.day), ("m", s.day[:7]), ("y", s.day[:4])):
            yield CounterKey(scope, gran, period), values


def add(out: Increments, s: Slice, vec: dict[str, int]) -> None:
    for k, values in keys_of(s):
        cur = out.setdefault(k, {})
        for dim, key in values.items():
            for m, n in vec.items():
                f = f"{dim}.{key}.{m}"
                cur[f] = cur.get(f, 0) + n


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
