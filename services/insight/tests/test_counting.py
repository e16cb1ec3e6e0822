"""The counting core: a case's fact, its counters' deltas, and the table built from them (pure)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from insight_events import (
    COMMITTEE,
    COMMUNITY,
    COMMUNITY2,
    COMMUNITY3,
    DISTRICT,
    PATHS,
    STREET,
    T0,
    assessed,
    assigned,
    closed,
    concluded,
    feedback,
    notice,
    rated,
    submitted,
    transferred,
    work_order,
)
from yima_contracts import Event
from yima_contracts.codes import Category, Channel, FeedbackKind, Outcome, RiskLevel, SupervisionStep
from yima_insight.core import ranking, table
from yima_insight.core.facts import CaseFact, Slice, admin_level, apply, delta, local_day
from yima_insight.core.rollup import ALL, PARTS, add, flat, increments, keys_of, periods_of, tally
from yima_insight.core.scope import OutOfScope, resolve

H = timedelta(hours=1)


def run(events: list[Event]) -> CaseFact:
    f: CaseFact | None = None
    for e in events:
        f = apply(f, e, PATHS)
    assert f is not None
    return f


def counters(events: list[Event]) -> dict:
    """Counters summed from every intermediate delta, as the live consumer applies them."""
    out: dict = {}
    f: CaseFact | None = None
    for e in events:
        after = apply(f, e, PATHS)
        for k, inc in increments(delta(f, after)).items():
            cur = out.setdefault(k, {})
            for field, n in inc.items():
                cur[field] = cur.get(field, 0) + n
        f = after
    return flat(out)


def test_a_resolved_case_counts_once_in_every_measure() -> None:
    c = "c1"
    f = run([submitted(c), assessed(c, RiskLevel.YELLOW, T0 + H), assigned(c, COMMUNITY, T0 + 2 * H),
             work_order(c, COMMUNITY, T0 + 2 * H, in_platform=True),
             feedback(c, COMMUNITY, FeedbackKind.ACCEPTED, T0 + 3 * H),
             concluded(c, COMMUNITY, True, T0 + 4 * H), closed(c, COMMUNITY, True, T0 + 5 * H),
             rated(c, 5, T0 + 6 * H)])
    assert f.vector() == {"received": 1, "accepted": 1, "closed": 1, "resolved": 1, "med_concluded": 1,
                          "med_success": 1, "settled_community": 1, "on_time": 1, "rated": 1, "rating_sum": 5,
                          "satisfied": 1, "yellow": 1}
    s = f.slice()
    assert s is not None and s.unit_path == (DISTRICT, STREET, COMMUNITY) and s.mode == "platform"
    assert s.day == "2026-11-20"


def test_reopened_and_reconcluded_case_is_counted_once_with_its_latest_outcome() -> None:
    c = "c2"
    evs = [submitted(c), assigned(c, COMMUNITY, T0 + H), work_order(c, COMMUNITY, T0 + H),
           feedback(c, COMMUNITY, FeedbackKind.FAILED, T0 + 2 * H), assigned(c, STREET, T0 + 3 * H, "a2"),
           work_order(c, STREET, T0 + 3 * H, "a2"), feedback(c, STREET, FeedbackKind.RESOLVED, T0 + 4 * H, "a2"),
           closed(c, STREET, True, T0 + 5 * H), closed(c, STREET, True, T0 + 6 * H)]
    f = run(evs)
    v = f.vector()
    assert v["received"] == 1 and v["closed"] == 1 and v["resolved"] == 1 and "failed" not in v
    assert v["med_concluded"] == 1 and v["med_success"] == 1 and v["settled_street"] == 1
    # the counters hold the case once, at its final unit, and nothing at its first
    cs = counters(evs)
    assert cs[f"{STREET}|unit|d|2026-11-20|{STREET}"]["received"] == 1
    assert f"{COMMUNITY}|unit|d|2026-11-20|{COMMUNITY}" not in cs
    assert cs[f"{ALL}|level|m|2026-11|blue"]["received"] == 1
    assert sum(v.get("received", 0) for k, v in cs.items() if k.startswith(f"{ALL}|category|d|")) == 1


def test_a_level_change_moves_the_case_between_rows() -> None:
    c = "c3"
    evs = [submitted(c), assessed(c, RiskLevel.RED, T0 + H)]
    assert counters(evs)[f"{ALL}|level|d|2026-11-20|red"] == {"received": 1, "red": 1}
    evs.append(assessed(c, RiskLevel.BLUE, T0 + 2 * H))
    cs = counters(evs)
    assert f"{ALL}|level|d|2026-11-20|red" not in cs
    assert cs[f"{ALL}|level|d|2026-11-20|blue"] == {"received": 1, "blue": 1}


def test_outcome_does_not_depend_on_the_order_topics_deliver_it() -> None:
    c = "c4"
    base = [submitted(c), assigned(c, COMMUNITY, T0 + H), work_order(c, COMMUNITY, T0 + H)]
    fail, win = concluded(c, COMMUNITY, False, T0 + 2 * H), concluded(c, COMMUNITY, True, T0 + 3 * H)
    assert run([*base, fail, win]).vector() == run([*base, win, fail]).vector()
    assert run([*base, win, fail]).outcome == "resolved"


def test_an_older_work_order_does_not_bring_back_an_older_unit() -> None:
    c = "c5"
    f = run([submitted(c), assigned(c, COMMUNITY, T0 + H), assigned(c, STREET, T0 + 2 * H),
             work_order(c, STREET, T0 + 2 * H), work_order(c, COMMUNITY, T0 + H)])
    assert f.unit == STREET and f.unit_path == [DISTRICT, STREET]


def test_events_before_the_submission_count_once_it_arrives() -> None:
    c = "c6"
    evs = [assessed(c, RiskLevel.RED, T0 + H), submitted(c)]
    assert counters(evs[:1]) == {}
    assert counters(evs)[f"{ALL}|level|d|2026-11-20|red"] == {"received": 1, "red": 1}


def test_transfer_overdue_notices_and_withdrawal() -> None:
    c = "c7"
    f = run([submitted(c), assigned(c, COMMITTEE, T0 + H), work_order(c, COMMITTEE, T0 + H),
             notice(c, COMMITTEE, SupervisionStep.WARNING, T0 + 2 * H),
             notice(c, COMMITTEE, SupervisionStep.NOTICE, T0 + 3 * H),
             notice(c, COMMITTEE, SupervisionStep.SECOND_NOTICE, T0 + 4 * H),
             transferred(c, COMMITTEE, T0 + 5 * H), closed(c, COMMITTEE, False, T0 + 6 * H, Outcome.LITIGATION)])
    v = f.vector()
    assert v["transferred"] == 1 and v["overdue"] == 1 and v["notices"] == 2 and "on_time" not in v
    assert v["med_concluded"] == 1 and "med_success" not in v and "failed" not in v
    w = run([submitted("c8"), closed("c8", COMMUNITY, False, T0 + H, Outcome.WITHDRAWN)]).vector()
    assert "med_concluded" not in w and "failed" not in w and w["closed"] == 1


def test_admin_levels() -> None:
    assert admin_level(PATHS[COMMUNITY]) == "community"
    assert admin_level((DISTRICT, STREET, COMMUNITY, f"{COMMUNITY}G01")) == "community"
    assert admin_level((DISTRICT, STREET, f"{STREET}GR05")) == "street"
    assert admin_level(PATHS[COMMITTEE]) == "district"
    assert admin_level(("JSQ-X",)) is None


def test_local_day_is_china_time() -> None:
    assert local_day(T0.replace(hour=16, minute=30)) == "2026-11-21"


def test_scopes_of_a_community_case() -> None:
    f = run([submitted("c9", channel=Channel.GRID), assigned("c9", COMMUNITY, T0), work_order("c9", COMMUNITY, T0)])
    s = f.slice()
    assert s is not None
    units = {(k.scope, values["unit"]) for k, values in keys_of(s) if k.gran == "d" and k.part == "g"}
    assert units == {(ALL, DISTRICT), (DISTRICT, STREET), (STREET, COMMUNITY), (COMMUNITY, COMMUNITY)}
    incs = increments(delta(None, f))
    # 4 scopes × (day, ten days, month, year) × 2 parts: one document each
    assert len(incs) == 32
    assert {k.period for k in incs} == {"2026-11-20", "2026-11~2", "2026-11", "2026"}
    for k, fields in incs.items():  # the unit × category grouping has documents of its own
        assert {f.split(".")[0] for f in fields} == set(PARTS[k.part]), k


def test_split_range_takes_whole_years_months_ten_days_and_edge_days() -> None:
    r = table.split_range(date(2026, 1, 30), date(2026, 4, 2))
    assert r == {"y": [], "m": ["2026-02", "2026-03"], "t": [],
                 "d": ["2026-01-30", "2026-01-31", "2026-04-01", "2026-04-02"]}
    assert table.split_range(date(2026, 2, 1), date(2026, 2, 28)) == {"y": [], "m": ["2026-02"], "t": [], "d": []}
    r = table.split_range(date(2024, 12, 31), date(2026, 2, 1))
    assert r == {"y": ["2025"], "m": ["2026-01"], "t": [], "d": ["2024-12-31", "2026-02-01"]}
    # ten days (旬): 1st–10th, 11th–20th, 21st to the month's end (28 February 2026, 31 March)
    r = table.split_range(date(2026, 2, 9), date(2026, 3, 31))
    assert r == {"y": [], "m": ["2026-03"], "t": ["2026-02~2", "2026-02~3"], "d": ["2026-02-09", "2026-02-10"]}
    r = table.split_range(date(2026, 3, 21), date(2026, 3, 30))  # the third ten days are 11 days in March
    assert r == {"y": [], "m": [], "t": [], "d": [f"2026-03-{d}" for d in range(21, 31)]}
    # every day of a long range is covered exactly once, by few periods
    a, b = date(2023, 2, 17), date(2026, 11, 13)
    r = table.split_range(a, b)
    covered = [d for gran, ps in r.items() for p in ps for d in days_of(gran, p)]
    assert sorted(covered) == [(a + timedelta(days=k)).isoformat() for k in range((b - a).days + 1)]
    assert sum(map(len, r.values())) <= 3 + 22 + 4 + 18
    with pytest.raises(table.BadQuery):
        table.parse_range("2026-02-02", "2026-02-01")
    with pytest.raises(table.BadQuery):
        table.parse_range("2026-13-01", "2026-12-01")


def test_rows_carry_numerator_and_denominator() -> None:
    r = table.row("x", "x", {"received": 4, "med_concluded": 3, "med_success": 2, "rated": 2, "rating_sum": 7,
                             "satisfied": 1, "closed": 2, "settled_community": 1})
    assert r["success_rate"] == {"num": 2, "den": 3, "value": 0.6667}
    assert r["satisfaction"]["avg"] == 3.5 and r["satisfaction"]["satisfied_share"] == 0.5
    assert r["community_share"] == {"num": 1, "den": 2, "value": 0.5}
    assert table.row("y", "y", {"received": 1})["success_rate"] == {"num": 0, "den": 0, "value": None}


def test_ranking_score_is_the_weighted_mean_of_its_parts() -> None:
    good = table.row("a", "A", {"received": 10, "closed": 10, "resolved": 10, "on_time": 10, "rated": 1,
                                "rating_sum": 5, "settled_community": 8})
    poor = table.row("b", "B", {"received": 10, "closed": 10, "resolved": 5, "on_time": 5})
    w = ranking.parse_weights('{"settle_rate": 1, "on_time_rate": 1, "satisfaction": 1, "community_share": 1}')
    out = ranking.rank([poor, good], w, 0.7, 0.95)
    assert [x["key"] for x in out] == ["a", "b"]
    assert out[0]["score"] == pytest.approx(100 * (1 + 1 + 1 + 0.8) / 4)
    assert out[0]["targets"]["community"]["met"] is True and out[1]["targets"]["community"]["met"] is False
    with pytest.raises(ValueError, match="unknown"):
        ranking.parse_weights('{"speed": 1}')


def test_scope_rules() -> None:
    assert resolve(DISTRICT, (DISTRICT,), None, None) == ALL
    assert resolve(DISTRICT, (DISTRICT,), COMMUNITY, PATHS[COMMUNITY]) == COMMUNITY
    assert resolve(STREET, PATHS[STREET], None, None) == STREET
    assert resolve(STREET, PATHS[STREET], COMMUNITY2, PATHS[COMMUNITY2]) == COMMUNITY2
    with pytest.raises(OutOfScope):
        resolve(STREET, PATHS[STREET], "410105002001", (DISTRICT, "410105002", "410105002001"))
    with pytest.raises(OutOfScope):
        resolve(COMMUNITY, PATHS[COMMUNITY], STREET, PATHS[STREET])
    assert resolve(COMMITTEE, PATHS[COMMITTEE], None, None) == COMMITTEE


def test_code_path_reads_division_codes() -> None:
    from yima_insight.core.facts import code_path

    assert code_path(COMMUNITY) == (DISTRICT, STREET, COMMUNITY)
    assert code_path(f"{COMMUNITY}G01") == (DISTRICT, STREET, COMMUNITY, f"{COMMUNITY}G01")
    assert code_path(DISTRICT) == (DISTRICT,)
    assert code_path(COMMITTEE) == (COMMITTEE,)


def test_a_case_settled_on_the_spot_counts_at_its_community() -> None:
    f = run([submitted("c10", settled_on_spot=True)])
    assert f.unit == COMMUNITY and f.mode == "on_spot"
    assert f.vector()["settled_community"] == 1


def test_a_batch_folds_to_the_same_facts_and_counters_as_one_event_at_a_time() -> None:
    """The consumer applies a poll's events at once (fold): cut anywhere, the sum of the batches' changes equals
    the event-by-event counters, and the facts are the same."""
    from yima_insight.core.facts import fold

    a, b = "c11", "c12"
    evs = [submitted(a), assessed(a, RiskLevel.RED, T0 + H), submitted(b, channel=Channel.GRID),
           assigned(a, COMMUNITY, T0 + 2 * H), assigned(b, STREET, T0 + 2 * H), work_order(a, COMMUNITY, T0 + 2 * H),
           assessed(a, RiskLevel.BLUE, T0 + 3 * H), feedback(b, STREET, FeedbackKind.RESOLVED, T0 + 3 * H),
           closed(a, COMMUNITY, True, T0 + 4 * H), rated(a, 4, T0 + 5 * H), closed(b, STREET, True, T0 + 5 * H)]
    expected: dict = {}
    for c in (a, b):
        for k, v in counters([e for e in evs if e.case_id == c]).items():
            cur = expected.setdefault(k, {})
            for m, n in v.items():
                cur[m] = cur.get(m, 0) + n
    for cut in (1, 4, 7, len(evs)):
        stored: dict[str, CaseFact] = {}
        total: dict = {}
        for batch in (evs[:cut], evs[cut:]):
            after, change = fold(stored, batch, PATHS)
            for k, inc in increments(change).items():
                cur = total.setdefault(k, {})
                for field, n in inc.items():
                    cur[field] = cur.get(field, 0) + n
            stored = {**stored, **after}
        assert flat(total) == expected, cut
        assert stored[a] == run([e for e in evs if e.case_id == a])
    blue = expected[f"{ALL}|level|d|2026-11-20|blue"]  # a's red moved to blue; b came blue with its assignment
    assert (blue["received"], blue["resolved"], blue["rating_sum"]) == (2, 2, 4)
    assert f"{ALL}|level|d|2026-11-20|red" not in expected


def test_a_warning_is_shown_at_its_place_and_every_unit_above_it() -> None:
    from yima_contracts.risk_events import WarningRaised
    from yima_insight.core.warnings import from_event, per_cell, row_unit

    e = WarningRaised(case_id="w1", correlation_id="w1", occurred_at=T0.replace(hour=17), warning_id="W1",
                      kind="place_cluster", category=Category.NEIGHBOUR, unit_code=COMMUNITY,
                      case_ids=["w1", "w2", "w3"], window_days=7, threshold=3, message_zh="黄河社区7天内3起邻里纠纷")
    w = from_event(e, PATHS)
    assert w.chain == [COMMUNITY, STREET, DISTRICT] and w.cases == 3 and w.day == "2026-11-21"  # CST
    assert "case_ids" not in w.model_dump()
    assert [row_unit(w, s) for s in (ALL, DISTRICT, STREET, COMMUNITY)] == [DISTRICT, STREET, COMMUNITY, COMMUNITY]
    assert per_cell([w, w], STREET) == {(COMMUNITY, "neighbour"): 2}


def test_a_counter_document_adds_a_batch_and_drops_what_falls_to_zero() -> None:
    from yima_insight.core.rollup import added

    doc = {"level": {"red": {"received": 1, "red": 1}}, "unit": {"x": {"received": 2}}}
    out = added(doc, {"level.red.received": -1, "level.red.red": -1, "level.blue.received": 1, "unit.x.received": 1})
    assert out == {"level": {"blue": {"received": 1}}, "unit": {"x": {"received": 3}}}
    assert doc["level"]["red"] == {"received": 1, "red": 1}  # the stored document is not changed in place


def days_of(gran: str, period: str) -> list[str]:
    """The days a period holds, by the rollup's own ``periods_of``."""
    return PERIOD_DAYS.get((gran, period), [])


PERIOD_DAYS: dict[tuple[str, str], list[str]] = {}
for _k in range(366 * 11):  # 2020–2030: each day in its periods
    _d = (date(2020, 1, 1) + timedelta(days=_k)).isoformat()
    for _gp in periods_of(_d):
        PERIOD_DAYS.setdefault(_gp, []).append(_d)


def test_tally_of_many_cases_is_add_case_by_case() -> None:
    """Replay's and check's fast path (``tally``) gives exactly what the consumers' ``add`` gives, case by case."""
    import random

    rng = random.Random(5)
    units = [("-", ()), (DISTRICT, (DISTRICT,)), (STREET, (DISTRICT, STREET)),
             (COMMUNITY, (DISTRICT, STREET, COMMUNITY)), (COMMUNITY2, (DISTRICT, STREET, COMMUNITY2))]
    days = ["2025-12-30", "2025-12-31", "2026-01-01", "2026-01-10", "2026-01-11", "2026-01-31", "2026-02-21"]
    pairs = []
    for _ in range(400):
        unit, path = rng.choice(units)
        s = Slice(rng.choice(days), unit, path, rng.choice(["neighbour", "labour", "land"]),
                  rng.choice(["grid", "web"]), rng.choice(["red", "blue", "-"]), rng.choice(["platform", "pending"]))
        pairs.append((s, {"received": 1, "closed": rng.randint(0, 1), "rating_sum": rng.randint(0, 5), "red": 0}))
    slow: dict = {}
    for s, vec in pairs:
        add(slow, s, vec)
    assert tally(pairs) == slow
    assert len(slow) > 100


def test_replay_parses_a_message_as_parse_event_does() -> None:
    from pydantic import ValidationError
    from yima_contracts import parse_event
    from yima_insight.adapters.rebuild import parse

    c = "c7"
    for e in [submitted(c), assessed(c, RiskLevel.RED, T0 + H), assigned(c, COMMUNITY, T0 + H),
              work_order(c, COMMUNITY, T0 + H), concluded(c, COMMUNITY, False, T0 + 2 * H), rated(c, 2, T0 + 3 * H)]:
        raw = e.model_dump_json().encode()
        assert parse(raw) == parse_event(raw) == e
    bad = submitted(c).model_dump_json().replace('"case_id":"c7"', '"case_id":7').encode()
    with pytest.raises(ValidationError):
        parse(bad)
    with pytest.raises(ValueError, match="unknown event_type"):
        parse(b'{"event_type": "case.unheard_of.v1"}')
    with pytest.raises(ValueError):
        parse(b"[1, 2]")


def test_replay_in_slices_gives_what_the_one_shot_recount_and_add_case_by_case_give() -> None:
    """The replay folds the cases one slice at a time (a hash of the case id) with the units' paths learnt from
    every slice first; the counters summed over the slices, the facts, units and warnings are exactly the
    one-shot recount's, and the counters are ``add`` case by case — also for a unit whose path only a work order
    in another slice carries."""
    import random

    from yima_contracts import parse_event
    from yima_insight.adapters.rebuild import Totals, _carries_path, fold_slice, parse, recount, slice_of
    from yima_insight.core.facts import units_in

    rng = random.Random(11)
    events: list[Event] = []
    committee_assigned: list[str] = []
    for i in range(300):
        cid = f"c{i:05d}"
        at = T0 + timedelta(days=rng.randint(0, 60), hours=rng.randint(0, 23))
        events.append(submitted(cid, at=at, channel=rng.choice(list(Channel)),
                                category=rng.choice(list(Category)[:4])))
        events.append(assessed(cid, rng.choice(list(RiskLevel)), at + timedelta(minutes=1)))
        unit = rng.choice([COMMUNITY, COMMUNITY2, COMMUNITY3, STREET, COMMITTEE])
        if unit == COMMITTEE and i != 7:
            committee_assigned.append(cid)  # its path only from case 7's work order, elsewhere
            events.append(assigned(cid, unit, at + timedelta(minutes=2)))
        else:
            events.append(work_order(cid, COMMITTEE if i == 7 else unit, at + timedelta(minutes=2)))
        end = rng.random()
        if end < 0.3:
            events.append(concluded(cid, unit, rng.random() < 0.7, at + timedelta(days=2)))
            events.append(closed(cid, unit, True, at + timedelta(days=3)))
            events.append(rated(cid, rng.randint(1, 5), at + timedelta(days=4)))
        elif end < 0.5:
            events.append(transferred(cid, unit, at + timedelta(days=5)))
        elif end < 0.6:
            events.append(notice(cid, STREET if unit == COMMITTEE else unit, SupervisionStep.NOTICE,
                                 at + timedelta(days=11)))
    rng.shuffle(events)  # topics interleave cases; each case's order is its events' occurred_at
    values = [e.model_dump_json().encode() for e in events]
    values += rng.sample(values, 30)  # messages published twice count once
    one = recount([parse_event(v) for v in values])
    assert len(one.facts) == 300 and one.facts["c00007"].unit_path == [DISTRICT, COMMITTEE]
    slow: dict = {}
    for f in one.facts.values():
        if (s := f.slice()) is not None:
            add(slow, s, f.vector())
    assert one.counters == slow

    paths = {u.code: u.path for v in values if _carries_path(v) for u in units_in(parse(v)) if u.path}
    for n in (1, 3, 7):
        slices: list[list[tuple[int, Event]]] = [[] for _ in range(n)]
        for seq, v in enumerate(values):
            slices[slice_of(v, n)].append((seq, parse(v)))
        assert all(slices) and sum(map(len, slices)) == len(values)
        totals, facts = Totals(paths), {}
        for records in slices:
            part = fold_slice(records, paths)
            assert not set(part.facts) & set(facts)  # a case lies in one slice only
            facts.update(part.facts)
            totals.add(part)
        if n == 7:  # the committee's path reached slices without its work order
            order_slice = slice_of(values[[e.case_id for e in events].index("c00007")], n)
            assert {slice_of(f"\"case_id\":\"{c}\"".encode(), n) for c in committee_assigned} - {order_slice}
        assert totals.counters == one.counters == slow, n
        assert facts == one.facts
        assert totals.units() == one.units
        assert [w for _, w in totals.warnings.values()] == one.warnings
        assert totals.cases == 300
    assert {f.unit_path[-1] for f in one.facts.values() if f.case_id in committee_assigned} == {COMMITTEE}
    assert all(one.facts[c].unit_path == [DISTRICT, COMMITTEE] for c in committee_assigned)


def test_slices_folded_in_worker_processes_give_what_one_process_gives(tmp_path) -> None:
    """The replay folds its slice files in worker processes and sums each slice's share as it comes back, in
    whatever order (ADR 0195): the day rows, counters, names, warnings and cases equal one process's fold of the
    same files and the one-shot recount's counters."""
    import asyncio
    import random

    from yima_contracts import parse_event
    from yima_insight.adapters import rebuild
    from yima_insight.adapters.slices import HEAD, slice_of
    from yima_insight.core.facts import units_in

    rng = random.Random(5)
    events: list[Event] = []
    for i in range(120):
        cid = f"w{i:04d}"
        at = T0 + timedelta(days=rng.randint(0, 40), hours=rng.randint(0, 23))
        unit = rng.choice([COMMUNITY, COMMUNITY2, STREET])
        events += [submitted(cid, at=at, channel=rng.choice(list(Channel)), category=rng.choice(list(Category)[:4])),
                   assessed(cid, rng.choice(list(RiskLevel)), at + timedelta(minutes=1)),
                   work_order(cid, unit, at + timedelta(minutes=2))]
        if rng.random() < 0.5:
            events += [closed(cid, unit, rng.random() < 0.8, at + timedelta(days=2)),
                       rated(cid, rng.randint(1, 5), at + timedelta(days=3))]
    rng.shuffle(events)
    values = [e.model_dump_json().encode() for e in events]
    values += rng.sample(values, 10)  # published twice
    files = [tmp_path / f"slice-{i}.bin" for i in range(5)]
    outs = [f.open("wb") for f in files]
    for seq, v in enumerate(values):
        outs[slice_of(v, len(files))].write(HEAD.pack(seq, len(v)) + v)
    for out in outs:
        out.close()
    paths = {u.code: u.path for v in values for u in units_in(parse_event(v)) if u.path}
    sp = rebuild.Spilled(files, {}, len(values), len(values), paths)

    one, one_stats = asyncio.run(rebuild._fold_all(sp, None, None))
    pool = rebuild._pool(2)
    assert pool is not None
    try:
        two, two_stats = asyncio.run(rebuild._fold_all(sp, pool, None))
    finally:
        pool.shutdown()
    assert two.rows == one.rows and two.counters == one.counters
    assert two.counters == rebuild.recount([parse_event(v) for v in values]).counters
    assert (two.names, two.warnings, two.cases) == (one.names, one.warnings, one.cases) and two.cases == 120
    assert two_stats["events"] == one_stats["events"] == len(values)
