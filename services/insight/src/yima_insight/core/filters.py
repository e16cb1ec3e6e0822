"""The few query conditions the cases behind a number use, checked on a fact document (pure; ADR 0205).

The facts keep two indexes, by (unit in the path, day) and by day; the stand-in's planner serves a query only
when every field it names is in one index (equalities, then one range), so the store asks for a unit's (or
everyone's) facts in a period, index-served, and checks the rest of the query here: the clicked measure's flags,
a grouping's key, a unit of the path. The same meaning as the server's for these shapes: equality (an array field
matches if it holds the value; a missing field equals None; a boolean is not a number), ``$gt`` / ``$gte`` /
``$lt`` / ``$lte`` (never true of a missing value or of another type), ``$ne``, ``$in`` and ``$and``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def fields_of(query: Mapping[str, Any]) -> set[str]:
    """The document fields a query reads (to project them)."""
    out: set[str] = set()
    for k, v in query.items():
        if k == "$and":
            for sub in v:
                out |= fields_of(sub)
        else:
            out.add(k)
    return out


def matches(doc: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    for k, cond in query.items():
        if k == "$and":
            if not all(matches(doc, sub) for sub in cond):
                return False
        elif not _holds(doc.get(k), cond):
            return False
    return True


def _holds(value: Any, cond: Any) -> bool:
    if isinstance(cond, Mapping) and cond and all(str(op).startswith("$") for op in cond):
        return all(_op(value, op, arg) for op, arg in cond.items())
    return _equal(value, cond)


def _equal(value: Any, wanted: Any) -> bool:
    if isinstance(value, list) and not isinstance(wanted, list):
        return any(_same(v, wanted) for v in value)
    return _same(value, wanted)


def _same(a: Any, b: Any) -> bool:
    return isinstance(a, bool) == isinstance(b, bool) and a == b


_ORDER = {"$gt": lambda a, b: a > b, "$gte": lambda a, b: a >= b, "$lt": lambda a, b: a < b,
          "$lte": lambda a, b: a <= b}


def _op(value: Any, op: str, arg: Any) -> bool:
    if op == "$ne":
        return not _equal(value, arg)
    if op == "$in":
        return any(_equal(value, a) for a in arg)
    if op in _ORDER:
        values = value if isinstance(value, list) else [value]
        return any(_comparable(v, arg) and _ORDER[op](v, arg) for v in values)
    raise ValueError(f"unsupported operator {op}")


def _comparable(a: Any, b: Any) -> bool:
    if a is None or b is None or isinstance(a, bool) != isinstance(b, bool):
        return False
    numbers = (int, float)
    return (isinstance(a, numbers) and isinstance(b, numbers)) or type(a) is type(b)
