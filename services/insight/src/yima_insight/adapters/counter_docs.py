"""The counter documents' stored layout, packed (ADR 0206): the one place that writes and reads it.

A counter document is ``{_id, s, k, g, p, u, m, c}``: scope, part, granularity, period, the time of its last
change, ``m`` the order of the measures in its vectors and ``c`` one string per grouping:
``{dim: '{"key":[n, n, …], …}'}`` (JSON; a key's vector in the order ``m`` names, trailing zeros left out).
``m`` is a number, an order of :data:`ORDERS` (frozen: a measure added to ``MEASURES`` makes a new order, and
until then a document naming it spells its measures out, ``m`` a space-separated string). A document thus has
~10 BSON fields instead of one per (grouping, key, measure) — ~77 on average, hundreds in a district's years at
1 M cases — and far fewer bytes: this server pays for both when it inserts, renames or returns one. The table
still projects one grouping (``c.<dim>``, plus ``m``); everything else sees ``{dim: {key: {measure: n}}}``
(:func:`unpack`). A document of the earlier layout (``c`` nested sub-documents, no ``m``) is read as it is.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ..core.rollup import CounterKey

Nested = dict[str, dict[str, dict[str, int]]]
_DUMP = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_LOAD = json.JSONDecoder().decode

# the measures' orders a stored ``m`` names, never changed once written (the newest is written)
ORDERS: dict[int, tuple[str, ...]] = {
    1: ("received", "accepted", "closed", "resolved", "failed", "transferred", "med_concluded", "med_success",
        "settled_community", "settled_street", "settled_district", "overdue", "notices", "on_time",
        "rated", "rating_sum", "satisfied", "red", "yellow", "blue"),
}
CURRENT = max(ORDERS)
_INDEX = {m: i for i, m in enumerate(ORDERS[CURRENT])}


def pack(c: Nested) -> tuple[int | str, dict[str, str]]:
    """``{dim: {key: {measure: n}}}`` -> (the order ``m``, ``{dim: packed}``)."""
    m: int | str = CURRENT
    index = _INDEX
    if any(x not in index for keys in c.values() for ms in keys.values() for x in ms):  # a measure not in ORDERS
        seen: dict[str, None] = {}
        for keys in c.values():
            for ms in keys.values():
                seen.update(dict.fromkeys(ms))
        m, index = " ".join(seen), {x: i for i, x in enumerate(seen)}
    out: dict[str, str] = {}
    for dim, keys in c.items():
        rows: dict[str, list[int]] = {}
        for key, ms in keys.items():
            vec = [0] * (1 + max((index[x] for x in ms), default=-1))
            for x, n in ms.items():
                vec[index[x]] = n
            while vec and not vec[-1]:
                vec.pop()
            rows[key] = vec
        out[dim] = _DUMP(rows)
    return m, out


def unpack_dim(doc: dict[str, Any], dim: str) -> dict[str, dict[str, int]]:
    """One grouping of a stored counter document as ``{key: {measure: n}}`` (zeros left out)."""
    v = (doc.get("c") or {}).get(dim)
    if not v:
        return {}
    if isinstance(v, dict):  # the earlier layout
        return v
    m = doc.get("m")
    order = ORDERS[m] if isinstance(m, int) else (m or "").split(" ")
    out = {key: {m: n for m, n in zip(order, vec, strict=False) if n} for key, vec in _LOAD(v).items()}
    return {key: ms for key, ms in out.items() if ms}


def unpack(doc: dict[str, Any]) -> Nested:
    """A stored counter document's counters as ``{dim: {key: {measure: n}}}``."""
    out = {dim: unpack_dim(doc, dim) for dim in doc.get("c") or {}}
    return {dim: keys for dim, keys in out.items() if keys}


def counter_doc(k: CounterKey, c: Nested, now: datetime) -> dict[str, Any]:
    """A counter document of ``c`` (``{dim: {key: {measure: n}}}``), stamped ``now``."""
    m, packed = pack(c)
    return {"_id": k.id, "s": k.scope, "k": k.part, "g": k.gran, "p": k.period, "m": m, "c": packed, "u": now}
