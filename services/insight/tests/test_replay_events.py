"""The full replay bench's messages (bench/replay_events.py): the bytes rendered from templates are what the
contract models dump, and the events fold into the fact the 1 M history counts (no servers)."""

from __future__ import annotations

import random
import sys
from datetime import timedelta
from pathlib import Path
from uuid import UUID

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

from insight_history import draw, fact_of, tree
from replay_events import Renderer, case_events, cases, days_of, encoded, event_fields, real_values
from yima_insight.core.facts import fold


def test_rendered_bytes_are_the_models_own_dumps_and_fold_into_the_historys_fact():
    renderer = Renderer()
    rng, paths = random.Random(11), tree()
    start, days = days_of(3)
    kinds = set()
    for i in range(400):  # every outcome, pending cases, notices and ratings among them
        day = start + timedelta(days=rng.randrange(days))
        d = draw(rng, paths)
        events = []
        for j, (kind, variant, v) in enumerate(case_events(i, day, d, "t")):
            event_id = f"12345678-9abc-4def-8{j:03x}-{i:012x}"
            et, raw = renderer.render(kind, variant, encoded(v, event_id))
            model = renderer.models[kind]
            want = model(**event_fields(kind, variant, real_values(v, UUID(event_id))))
            assert raw == want.model_dump_json().encode(), (kind, variant)
            parsed = model.model_validate_json(raw)
            assert parsed == want and et == want.event_type
            events.append(parsed)
            kinds.add(kind)
        after, _ = fold({}, sorted(events, key=lambda e: e.occurred_at), {})
        fact = after[f"t{i:08d}"]
        expected = fact_of(i, day, d)
        if expected.outcome == "transferred":  # closed as litigation: the mediation concluded, not successful
            expected.med_concluded = True
        assert fact.slice() == expected.slice() and fact.vector() == expected.vector(), d
    assert len(kinds) == 8


def test_cases_stream_is_deterministic_and_partitions_the_range():
    renderer = Renderer()
    whole = [m for msgs in cases(0, 60, 60, 1, 5, "r", renderer) for m in msgs]
    again = [m for msgs in cases(0, 60, 60, 1, 5, "r", renderer) for m in msgs]
    assert [m[:3] for m in whole] == [m[:3] for m in again]
    assert len({m[3] for m in whole}) == len(whole)  # event ids unique
    halves = [m for lo, hi in ((0, 30), (30, 60)) for msgs in cases(lo, hi, 60, 1, 5, "r", renderer) for m in msgs]
    assert {m[1] for m in halves} == {m[1] for m in whole} and len({m[1] for m in whole}) == 60


def test_a_slice_folds_with_the_collector_paused_and_running_again_after(tmp_path):
    import gc

    from yima_insight.adapters.slices import HEAD, fold_file

    path, n = tmp_path / "slice.bin", 0
    with path.open("wb") as f:
        for msgs in cases(0, 50, 50, 1, 3, "s", Renderer()):
            for m in msgs:
                f.write(HEAD.pack(n, len(m[2])) + m[2])
                n += 1
    done = fold_file(path, {}, None)
    assert (done.events, done.cases, done.unparsable) == (n, 50, 0) and gc.isenabled()
    gc.disable()  # a caller's choice is left as it was
    try:
        fold_file(path, {}, None)
        assert not gc.isenabled()
    finally:
        gc.enable()
