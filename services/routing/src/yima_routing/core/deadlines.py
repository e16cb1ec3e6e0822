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


def is_workday(d: date) -> tuple[bool, bool]:
    """(is it a working day, is the answer provisional)."""
    try:
        return chinese_calendar.is_workday(d), False
    except NotImplementedError:
        return d.weekday() < 5, True


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
