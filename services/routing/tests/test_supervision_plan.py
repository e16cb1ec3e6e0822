"""The supervision chain's times on the Chinese statutory calendar (pure)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from yima_contracts.codes import SupervisionStep as S
from yima_kit.calendar import STATUTORY
from yima_routing.core.rules import SupervisionPolicy
from yima_routing.core.supervision import next_step, plan

SH = ZoneInfo("Asia/Shanghai")


def sh(*a: int) -> datetime:
    return datetime(*a, tzinfo=SH)


def test_chain_across_national_day_a_weekend_and_a_make_up_saturday() -> None:
    # Assigned Monday 2026-09-28, 5 working days: Sep 29, Sep 30, (Oct 1-7 holiday), Oct 8, Oct 9 and
    # Saturday Oct 10 — a make-up workday (调休). Sunday Oct 11 is a rest day.
    due, provisional = STATUTORY.add_working_days(sh(2026, 9, 28, 10), 5)
    assert due == sh(2026, 10, 10, 18) and not provisional
    steps = {p.step: p.at for p in plan(due, SupervisionPolicy(), STATUTORY, not_before=sh(2026, 9, 28, 10))}
    assert steps == {
        S.WARNING: sh(2026, 10, 9, 18),  # the working day before the deadline
        S.NOTICE: sh(2026, 10, 10, 18),  # 督办 at the deadline, on the 调休 Saturday
        S.SECOND_NOTICE: sh(2026, 10, 12, 18),  # Sunday skipped
        S.ESCALATED: sh(2026, 10, 13, 18),
        S.LEADER: sh(2026, 10, 14, 18),
    }


def test_next_step_skips_what_is_done_and_a_warning_that_is_already_past() -> None:
    due = sh(2026, 10, 10, 18)
    assert next_step(due, SupervisionPolicy(), STATUTORY, ["warning"]).step is S.NOTICE
    # assigned the evening before the deadline: no warning in the past
    assert next_step(due, SupervisionPolicy(), STATUTORY, [], not_before=sh(2026, 10, 9, 19)).step is S.NOTICE

