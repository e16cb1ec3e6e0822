"""Early warnings on generated streams of cases."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from yima_contracts.codes import Category as C
from yima_risk.core.warnings import CaseRef, WindowReads, detect, normalize_org, reads_for

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def run(stream: list[CaseRef], ws) -> list:
    """Feed a stream in order, remembering when each warning key was last raised (as the service does)."""
    seen: list[CaseRef] = []
    last: dict[str, datetime] = {}
    raised = []
    for c in stream:
        for f in detect(c, seen, ws, last, known_since=stream[0].at):
            last[f.key] = c.at
            raised.append((c.case_id, f))
        seen.append(c)
    return raised


def background(n: int, days: int, seed: int) -> list[CaseRef]:
    """Ordinary traffic: categories and communities spread out, about n cases over days."""
    rnd = random.Random(seed)
    cats = [C.NEIGHBOUR, C.CONTRACT_DEBT, C.CONSUMER, C.ROAD_TRAFFIC, C.MARRIAGE_FAMILY]
    out = [CaseRef(f"bg-{i}", rnd.choice(cats), T0 + timedelta(minutes=rnd.randrange(days * 24 * 60)),
                   f"41010500{rnd.randrange(10)}{rnd.randrange(100):03d}") for i in range(n)]
    return sorted(out, key=lambda c: c.at)


def test_ordinary_traffic_raises_nothing(rules) -> None:
    assert run(background(120, 30, seed=1), rules.warnings) == []


def test_a_cluster_of_one_category_in_one_community_is_raised_once(rules) -> None:
    ws = rules.warnings
    cluster = [CaseRef(f"env-{i}", C.ENVIRONMENT, T0 + timedelta(days=10, hours=6 * i), "410105001001")
               for i in range(5)]
    stream = sorted(background(120, 30, seed=2) + cluster, key=lambda c: c.at)
    raised = [(cid, f) for cid, f in run(stream, ws) if f.kind == "place_cluster"]
    assert len(raised) == 1  # the third case crosses the threshold; the 4th and 5th are within the window
    cid, f = raised[0]
    assert cid == "env-2" and f.case_ids == ("env-0", "env-1", "env-2")
    assert f.unit_code == "410105001001" and f.category is C.ENVIRONMENT and f.threshold == 3
    assert "环境污染" in f.message_zh


def test_cases_spread_beyond_the_window_are_no_cluster(rules) -> None:
    ws = rules.warnings
    spread = [CaseRef(f"env-{i}", C.ENVIRONMENT, T0 + timedelta(days=8 * i), "410105001001") for i in range(5)]
    assert [f for _, f in run(spread, ws) if f.kind == "place_cluster"] == []


def test_thresholds_differ_by_category(rules) -> None:
    ws = rules.warnings
    three = [CaseRef(f"n-{i}", C.NEIGHBOUR, T0 + timedelta(hours=i), "410105001002") for i in range(3)]
    assert [f for _, f in run(three, ws) if f.kind == "place_cluster"] == []  # neighbour threshold is 4
    four = [*three, CaseRef("n-3", C.NEIGHBOUR, T0 + timedelta(hours=3), "410105001002")]
    assert [f.threshold for _, f in run(four, ws) if f.kind == "place_cluster"] == [4]


def test_one_employer_in_several_places(rules) -> None:
    ws = rules.warnings
    name = normalize_org("郑州某某建筑劳务有限公司")
    assert normalize_org(" 郑州某某建筑劳务有限公司 ") == name
    wages = [CaseRef(f"w-{i}", C.LABOUR_WAGES, T0 + timedelta(days=3 * i), f"41010500{i}001", name)
             for i in range(3)]
    stream = sorted(background(80, 30, seed=3) + wages, key=lambda c: c.at)
    raised = [f for _, f in run(stream, ws) if f.kind == "respondent_cluster"]
    assert len(raised) == 1
    assert raised[0].respondent == name and raised[0].case_ids == ("w-0", "w-1", "w-2")
    # the same employer three times in ONE place is a place matter, not a cross-place warning
    one_place = [CaseRef(f"x-{i}", C.LABOUR_WAGES, T0 + timedelta(days=i), "410105001001", "某物业公司")
                 for i in range(3)]
    assert [f for _, f in run(one_place, ws) if f.kind == "respondent_cluster"] == []


def test_a_sudden_rise_against_the_usual_rate(rules) -> None:
    ws = rules.warnings
    # usual: one consumer dispute a day for four weeks; then eight in one day
    usual = [CaseRef(f"u-{d}", C.CONSUMER, T0 + timedelta(days=d, hours=9), f"4101050{d % 7}1001") for d in range(28)]
    burst = [CaseRef(f"b-{i}", C.CONSUMER, T0 + timedelta(days=28, hours=10, minutes=20 * i), f"4101050{i}2001")
             for i in range(8)]
    raised = [(cid, f) for cid, f in run(usual + burst, ws) if f.kind == "surge"]
    assert len(raised) == 1
    cid, f = raised[0]
    assert f.threshold == max(ws.surge.min_cases, int(ws.surge.factor * 1.0) + 1)
    assert cid == f"b-{f.threshold - 1}" and f.case_ids == tuple(f"b-{i}" for i in range(f.threshold))
    assert "平时约1.0起" in f.message_zh


def test_a_new_platform_has_no_usual_rate_yet(rules) -> None:
    burst = [CaseRef(f"b-{i}", C.CONSUMER, T0 + timedelta(minutes=i), "410105001001") for i in range(10)]
    assert [f for _, f in run(burst, rules.warnings) if f.kind == "surge"] == []


def test_a_steady_high_rate_is_no_surge(rules) -> None:
    ws = rules.warnings
    steady = [CaseRef(f"s-{d}-{k}", C.CONSUMER, T0 + timedelta(days=d, hours=k + 1), f"41010500{k}001")
              for d in range(35) for k in range(8)]
    assert [f for _, f in run(steady, ws) if f.kind == "surge"] == []


def test_a_cluster_read_out_of_submission_order_is_still_found_once(rules) -> None:
    """Kafka orders one case's events, not different cases': the third case of a cluster may be read before the
    second. Whichever is read last finds the cluster, once; a later case of the same window raises nothing new."""
    ws = rules.warnings
    c = [CaseRef(f"land-{i}", C.LAND_FOREST, T0 + timedelta(minutes=i), "410105017013G03") for i in range(4)]
    seen: list[CaseRef] = []
    last: dict[str, datetime] = {}
    raised = []
    for case in (c[0], c[2], c[1], c[3]):  # read order
        for f in detect(case, seen, ws, last):
            if f.kind == "place_cluster":
                last[f.key] = max(case.at, last.get(f.key, case.at))
                raised.append((case.case_id, f))
        seen.append(case)
    threshold = ws.place_cluster.threshold(C.LAND_FOREST)
    assert threshold == 3
    assert [cid for cid, _ in raised] == ["land-1"]
    assert raised[0][1].case_ids == ("land-0", "land-1", "land-2")
    # the same cases read in submission order give the same warning
    assert [(cid, f.case_ids) for cid, f in run(c[:3], ws) if f.kind == "place_cluster"] == [
        ("land-2", ("land-0", "land-1", "land-2"))]


def _read(new: CaseRef, seen: list[CaseRef], reads: WindowReads) -> list[CaseRef]:
    """What the repository's three indexed ranges return (adapters/mongo_repo.recent_cases), in plain Python."""
    def after(c: CaseRef, days: int | None) -> bool:
        return days is not None and c.at > new.at - timedelta(days=days)

    return [c for c in seen
            if (c.category == new.category and c.unit_code == new.unit_code and after(c, reads.place_days))
            or (new.respondent_org and c.respondent_org == new.respondent_org and after(c, reads.respondent_days))
            or (c.category == new.category and after(c, reads.surge_days))]


def test_reading_only_the_warnings_that_can_still_be_raised_raises_the_same_warnings(rules) -> None:
    """The check reads the cases of a warning only while it can be raised (not raised within its window; a surge
    once a window of record exists): on streams with clusters, surges, employers and ordinary traffic, what it
    raises is exactly what reading every recent case raises — and a burst stops reading once its warnings are up."""
    ws = rules.warnings
    rnd = random.Random(7)
    orgs = ["某建筑公司", "某物业公司", None, None, None]
    for seed in range(4):
        stream = background(300, 40, seed=seed)
        stream += [CaseRef(f"c{seed}-{i}", C.ENVIRONMENT, T0 + timedelta(days=12 + i // 6, hours=i % 6),
                           f"4101050010{i % 3:02d}", rnd.choice(orgs)) for i in range(30)]
        stream += [CaseRef(f"s{seed}-{i}", C.CONSUMER, T0 + timedelta(days=33, minutes=7 * i), "410105002001",
                           rnd.choice(orgs)) for i in range(25)]
        stream = sorted(stream, key=lambda c: c.at)
        full, lean = [], []
        last_full: dict[str, datetime] = {}
        last_lean: dict[str, datetime] = {}
        skipped = 0
        for i, c in enumerate(stream):
            seen = stream[:i]
            for f in detect(c, seen, ws, last_full, known_since=stream[0].at):
                last_full[f.key] = c.at
                full.append((c.case_id, f))
            reads = reads_for(c, ws, last_lean, stream[0].at)
            skipped += sum(d is None for d in (reads.place_days, reads.respondent_days, reads.surge_days))
            for f in detect(c, _read(c, seen, reads), ws, last_lean, known_since=stream[0].at):
                last_lean[f.key] = c.at
                lean.append((c.case_id, f))
        assert lean == full
        assert {f.kind for _, f in full} >= {"place_cluster", "surge"}
        assert skipped > len(stream)  # reads left out: a new platform's surges, and every warning while it is up


def test_a_new_platforms_first_day_reads_no_surge_baseline(rules) -> None:
    ws = rules.warnings
    new = CaseRef("n", C.CONSUMER, T0 + timedelta(hours=20), "410105001001", "某公司")
    reads = reads_for(new, ws, {}, known_since=T0)
    assert reads.surge_days is None and reads.place_days == ws.place_cluster.window_days
    assert reads.respondent_days == ws.respondent_cluster.window_days
    later = CaseRef("m", C.CONSUMER, T0 + timedelta(days=3), "410105001001")
    assert reads_for(later, ws, {}, known_since=T0).surge_days == ws.surge.window_days + ws.surge.baseline_days
    assert reads_for(later, ws, {}, known_since=T0).respondent_days is None  # no organisation named
    raised = {"place_cluster|consumer|410105001001": later.at - timedelta(days=1)}
    assert reads_for(later, ws, raised, known_since=T0).place_days is None
