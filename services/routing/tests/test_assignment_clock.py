"""The assignment's clock (pure): its due date and next supervision step when assigned, resumed after a pause,
recomputed with admin-entered days, and after a step fired."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from yima_contracts.codes import SupervisionStep as S
from yima_kit.calendar import STATUTORY
from yima_routing.core.assignment import Assignment, DeadlineRules
from yima_routing.core.rules import SupervisionPolicy

SH = ZoneInfo("Asia/Shanghai")
RULES = DeadlineRules(STATUTORY, SupervisionPolicy())


def sh(*a: int) -> datetime:
    return datetime(*a, tzinfo=SH)


def assignment(**kw: Any) -> Assignment:
    return Assignment.model_validate({
        "_id": "a1", "case_id": "c1", "round": 1, "unit_code": "u", "supervisor_unit_code": "s", "rule_id": "r",
        "reason_zh": "属地", "risk_level": "yellow", "state": "assigned", "assigned_at": sh(2026, 9, 28, 10),
        "working_days": 5, "due_at": sh(2026, 10, 10, 18), **kw})


def test_a_new_assignment_is_due_after_its_working_days_and_is_warned_the_day_before() -> None:
    term = Assignment.first_term(sh(2026, 9, 28, 10), 5, RULES)  # across the National Day holiday
    assert (term.due_at, term.provisional) == (sh(2026, 10, 10, 18), False)
    assert term.next is not None and (term.next.step, term.next.at) == (S.WARNING, sh(2026, 10, 9, 18))


def test_a_resumption_counts_the_working_days_left_at_the_pause_again() -> None:
    a = assignment(paused=True, paused_at=sh(2026, 9, 30, 9), sup_done=["warning"])
    term, left = a.resumed_term(sh(2026, 10, 12, 9), RULES)
    assert left == 3  # Oct 8, 9, 10 were left
    assert term.due_at == sh(2026, 10, 15, 18)
    assert term.next is not None and term.next.step is S.NOTICE  # the warning was done already


def test_a_provisional_deadline_moves_with_an_admin_entered_holiday_and_not_otherwise() -> None:
    a = assignment(assigned_at=sh(2026, 12, 28, 10), due_at=sh(2027, 1, 4, 18), due_provisional=True)
    assert a.recomputed_term(sh(2026, 12, 28, 11), RULES) is None  # the same calendar: nothing changes
    holiday = DeadlineRules(STATUTORY.with_days({date(2027, 1, 1): False}), SupervisionPolicy())
    term = a.recomputed_term(sh(2026, 12, 28, 11), holiday)
    assert term is not None and (term.due_at, term.provisional) == (sh(2027, 1, 5, 18), True)
    resumed = a.model_copy(update={"history": [{"change": "resumed", "at": sh(2026, 12, 30, 9),
                                                "working_days_left": 1}]})
    later = resumed.recomputed_term(sh(2026, 12, 30, 10), holiday)
    assert later is not None and later.due_at == sh(2026, 12, 31, 18)  # counted from the resumption


def test_the_chain_runs_on_while_the_unit_works_and_stops_once_it_is_over() -> None:
    a = assignment(sup_done=["warning"])
    nxt = a.chain_after(S.NOTICE, RULES)
    assert nxt is not None and (nxt.step, nxt.at) == (S.SECOND_NOTICE, sh(2026, 10, 12, 18))
    assert assignment(state="resolved").chain_after(S.NOTICE, RULES) is None
    escalated = assignment(state="escalated", sup_done=["warning", "notice", "second_notice"])
    after = escalated.chain_after(S.ESCALATED, RULES)
    assert after is not None and after.step is S.LEADER  # the leader still follows an escalation


def test_the_queue_counts_working_days_left_or_overdue() -> None:
    a = assignment()
    assert a.working_days_left(sh(2026, 10, 8, 9), STATUTORY) == 2  # Oct 9, 10
    assert a.working_days_left(sh(2026, 10, 13, 9), STATUTORY) == -2 and a.overdue(sh(2026, 10, 13, 9))
    assert assignment(paused=True).working_days_left(sh(2026, 10, 13, 9), STATUTORY) is None
