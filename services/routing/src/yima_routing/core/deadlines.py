"""Deadlines in working days on the Chinese statutory calendar (调休 make-up workdays included).

Time zone: deadlines end at 18:00 Asia/Shanghai on the last working day; stored in UTC. A year the State
Council has not yet published (chinese-calendar raises NotImplementedError) falls back to plain
weekends and the deadline is marked provisional, to be recomputed when the data arrives.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
END_OF_DAY = time(18, 0)

# Days an admin entered for years the package does not know yet (True = working day, False = holiday).
_provisional_days: dict[date, bool] = {}


def set_provisional_days(days: dict[date, bool]) -> None:
    """Replace the admin-entered days (the routing service loads them from its ``calendar`` collection)."""
    _provisional_days.clear()
    _provisional_days.update(days)


def is_workday(d: date) -> tuple[bool, bool]:
    """(is it a working day, is the answer provisional). A year the State Council has not published yet:
    weekends plus the days an admin entered, and the answer is provisional."""
    try:
        return chinese_calendar.is_workday(d), False
    except NotImplementedError:
        return _provisional_days.get(d, d.weekday() < 5), True


def add_working_days(start: datetime, days: int) -> tuple[datetime, bool]:
    """The deadline ``days`` working days after ``start`` (the start day itself does not count)."""
    d = start.astimezone(SHANGHAI).date()
    provisional = False
    counted = 0
    while counted < days:
        d += timedelta(days=1)
        ok, prov = is_workday(d)
        provisional |= prov
        counted += ok
    return datetime.combine(d, END_OF_DAY, SHANGHAI).astimezone(UTC), provisional


def subtract_working_days(due: datetime, days: int) -> tuple[datetime, bool]:
    """End of the working day ``days`` working days before ``due``'s day."""
    d = due.astimezone(SHANGHAI).date()
    provisional = False
    counted = 0
    while counted < days:
        d -= timedelta(days=1)
        ok, prov = is_workday(d)
        provisional |= prov
        counted += ok
    return datetime.combine(d, END_OF_DAY, SHANGHAI).astimezone(UTC), provisional


def working_days_between(start: datetime, end: datetime) -> int:
    """Working days d with start's day < d <= end's day (Asia/Shanghai); 0 if end is not after start."""
    d = start.astimezone(SHANGHAI).date()
    last = end.astimezone(SHANGHAI).date()
    n = 0
    while d < last:
        d += timedelta(days=1)
        n += is_workday(d)[0]
    return n
