"""The counter documents' packed layout (ADR 0206): what is written reads back the same, an earlier document too."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import bson
from yima_insight.adapters.counter_docs import CURRENT, ORDERS, counter_doc, pack, unpack, unpack_dim
from yima_insight.core.facts import MEASURES
from yima_insight.core.rollup import CounterKey, added, nest

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def _random_nested(rng: random.Random) -> dict[str, dict[str, dict[str, int]]]:
    out: dict[str, dict[str, dict[str, int]]] = {}
    for dim in ("unit", "category", "channel", "level", "mode"):
        for k in range(rng.randint(0, 6)):
            ms = {m: rng.choice((1, 2, 7, 130, -1)) for m in rng.sample(MEASURES, rng.randint(1, 8))}
            out.setdefault(dim, {})[f"键{k}|\"q\"" if k % 3 == 0 else f"k{k}"] = ms
    return out


def test_a_packed_document_reads_back_the_same_counters() -> None:
    rng = random.Random(5)
    for _ in range(300):
        c = _random_nested(rng)
        doc = bson.decode(bson.encode(counter_doc(CounterKey("x", "d", "2026-01-02"), c, NOW)))
        assert unpack(doc) == c
        for dim in ("unit", "category", "mode", "unit_category"):
            assert unpack_dim(doc, dim) == c.get(dim, {})


def test_a_packed_document_is_a_few_fields_and_smaller() -> None:
    c = {dim: {f"k{k}": {m: 1 for m in MEASURES[:12]} for k in range(10)} for dim in ("unit", "category")}
    doc = counter_doc(CounterKey("x", "y", "2026"), c, NOW)
    assert all(isinstance(v, str) for v in doc["c"].values())
    old = {**{k: v for k, v in doc.items() if k not in ("m", "c")}, "c": c}
    assert len(bson.encode(doc)) * 4 < len(bson.encode(old))


def test_an_earlier_document_reads_as_it_was_and_is_rewritten_packed() -> None:
    earlier = {"_id": "x|d|2026-01-02|g", "c": {"level": {"red": {"received": 2, "red": 1}}}}
    assert unpack_dim(earlier, "level") == {"red": {"received": 2, "red": 1}}
    after = added(unpack(earlier), {"level.red.red": -1, "unit.a.received": 1})
    doc = counter_doc(CounterKey("x", "d", "2026-01-02"), after, NOW)
    assert unpack(doc) == {"level": {"red": {"received": 2}}, "unit": {"a": {"received": 1}}}


def test_zeros_are_left_out_both_ways() -> None:
    m, packed = pack(nest({"unit.a.received": 1, "unit.a.closed": 0, "unit.b.closed": 3}))
    assert m == CURRENT
    assert packed == {"unit": '{"a":[1],"b":[0,0,3]}'}


def test_every_measure_has_its_place_in_the_newest_order() -> None:
    # a measure added to MEASURES needs a new order in ORDERS (the stored ones never change)
    assert set(MEASURES) <= set(ORDERS[CURRENT])
    assert len(set(ORDERS[CURRENT])) == len(ORDERS[CURRENT])


def test_a_measure_no_order_knows_is_spelled_out() -> None:
    c = {"unit": {"a": {"received": 1, "brand_new": 2}}}
    doc = bson.decode(bson.encode(counter_doc(CounterKey("x", "d", "2026-01-02"), c, NOW)))
    assert doc["m"] == "received brand_new"
    assert unpack(doc) == c
