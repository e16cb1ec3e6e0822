"""The counter documents spread from day rows (pure): the replay's nested spreading is the field-path one's."""

from __future__ import annotations

import random

from yima_insight.core.rollup import nest, spread, spread_nested

DIMS = ("unit", "category", "channel", "level", "mode", "unit_category")
MEASURES = ("received", "accepted", "closed", "resolved", "failed", "overdue", "rated", "rating_sum")


def rows(rng: random.Random, n: int) -> dict[tuple[str, str, str], dict[str, int]]:
    out: dict[tuple[str, str, str], dict[str, int]] = {}
    for _ in range(n):
        day = f"20{rng.randint(30, 31)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        # zeros and negatives too: a vector may hold them, and two rows' sum may come to 0
        out[(rng.choice(DIMS), f"k{rng.randint(1, 6)}", day)] = {
            m: rng.choice((0, 0, 1, 2, 5, -1, -2)) for m in rng.sample(MEASURES, rng.randint(1, 5))}
    return out


def test_spread_nested_gives_the_documents_spread_and_nest_give() -> None:
    rng = random.Random(215)
    for n in (0, 1, 40, 3000):
        r = rows(rng, n)
        before = {k: dict(v) for k, v in r.items()}
        want = {k: nest(m) for k, m in spread("S1", r).items() if any(m.values())}
        got = spread_nested("S1", r)
        assert got == want
        assert all(got.values()) and all(keys for doc in got.values() for keys in doc.values())
        if n >= 40:
            assert any(k.gran == "y" for k in got) and any(k.part == "uc" for k in got)
        assert r == before  # the rows are not changed (a worker may be handed them again on a retry)
