"""The working-day calendar (pure): the statutory days, 调休, and the provisional-year fallback."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from yima_kit.calendar import STATUTORY, WorkingCalendar, is_workday

SH = ZoneInfo("Asia/Shanghai")


def sh(*a: int) -> datetime:
    return datetime(*a, tzinfo=SH)


def test_deadline_skips_the_national_day_holiday_and_counts_the_make_up_saturday() -> None:
    # 2026-09-30 (Wed): Oct 1-7 holiday; Oct 8, Oct 9 and Oct 10 (a Saturday, 调休) are working days.
    due, provisional = STATUTORY.add_working_days(datetime(2026, 9, 30, 2, tzinfo=UTC), 3)
    assert due == datetime(2026, 10, 10, 10, 0, tzinfo=UTC)  # 18:00 in Shanghai
    assert not provisional
    assert is_workday(date(2026, 10, 10)) and not is_workday(date(2026, 10, 1))


def test_unpublished_year_falls_back_to_weekdays_and_says_so() -> None:
    due, provisional = STATUTORY.add_working_days(datetime(2026, 12, 31, 2, tzinfo=UTC), 2)
    assert provisional
    assert due.date().isoformat() == "2027-01-04"
    assert not STATUTORY.is_published(date(2027, 1, 1)) and STATUTORY.is_published(date(2026, 10, 1))


def test_admin_entered_days_count_only_in_unpublished_years_and_leave_the_calendar_unchanged() -> None:
    entered = {date(2027, 1, 1): False, date(2026, 10, 1): True}  # the second is ignored: 2026 is published
    cal = STATUTORY.with_days(entered)
    assert cal.day(date(2027, 1, 1)) == (False, True)
    assert cal.day(date(2026, 10, 1)) == (False, False)
    assert STATUTORY.day(date(2027, 1, 1)) == (True, True)  # a new value; the statutory one is untouched
    entered[date(2027, 1, 4)] = False  # the caller's dict changes later: the calendar does not
    assert cal.is_workday(date(2027, 1, 4))
    assert cal.add_working_days(sh(2026, 12, 31, 10), 1) == (sh(2027, 1, 4, 18), True)


def test_the_holiday_source_is_injected() -> None:
    every_day = WorkingCalendar(statutory=lambda d: True)
    assert every_day.add_working_days(sh(2026, 10, 1, 9), 2) == (sh(2026, 10, 3, 18), False)
    unknown = WorkingCalendar(statutory=lambda d: None)
    assert unknown.add_working_days(sh(2026, 10, 1, 9), 2) == (sh(2026, 10, 5, 18), True)  # Fri, (weekend), Mon


def test_working_day_arithmetic_for_pauses() -> None:
    assert STATUTORY.working_days_between(sh(2026, 9, 30, 9), sh(2026, 10, 10, 18)) == 3  # Oct 8, 9, 10
    assert STATUTORY.working_days_between(sh(2026, 10, 10, 18), sh(2026, 10, 1, 9)) == 0
    assert STATUTORY.subtract_working_days(sh(2026, 10, 8, 18), 1)[0] == sh(2026, 9, 30, 18)
