"""From a case's slice to the counter documents it touches (pure).

Counters are kept per period (day ``d`` and month ``m``) × scope (all cases ``*`` and every unit on the case's
unit path, so a street's figures include its communities') × one grouping dimension × that dimension's key.
One grouping per document keeps the table's query to a few documents per row whatever the period: a range is
its whole months from the month counters plus the days at its ends from the day counters.
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
    dim: str
    gran: str  # d | m
    period: str  # YYYY-MM-DD | YYYY-MM
    key: str

    @property
    def id(self) -> str:
        return f"{self.scope}|{self.dim}|{self.gran}|{self.period}|{self.key}"


def scopes(s: Slice) -> list[tuple[str, str]]:
    """(scope, the row key of the unit dimension in that scope): the child on the way down, or the unit."""
    if s.unit == NO_UNIT or not s.unit_path:
        return [(ALL, NO_UNIT)]
    path = s.unit_path
    out = [(ALL, path[0])]
    for i, code in enumerate(path):
        out.append((code, path[i + 1] if i + 1 < len(path) else code))
    return out


def keys_of(s: Slice) -> Iterator[CounterKey]:
    for scope, child in scopes(s):
        values = {"unit": child, "category": s.category, "channel": s.channel, "level": s.level, "mode": s.mode,
                  "unit_category": f"{child}|{s.category}"}
        for gran, period in (("d", s.day), ("m", s.day[:7])):
            for dim in DIMENSIONS:
                yield CounterKey(scope, dim, gran, period, values[dim])


def increments(d: Delta) -> dict[CounterKey, dict[str, int]]:
    """Every counter document's change for a fact's delta, merged."""
    out: dict[CounterKey, dict[str, int]] = {}
    for s, vec in d.items():
        for k in keys_of(s):
            cur = out.setdefault(k, {})
            for m, n in vec.items():
                cur[m] = cur.get(m, 0) + n
    return {k: {m: n for m, n in v.items() if n} for k, v in out.items() if any(v.values())}
