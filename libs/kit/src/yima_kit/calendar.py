"""The working-day calendar, in one place for every service: the Chinese statutory calendar (法定节假日 and
调休 make-up workdays), with the provisional-year fallback.

A year the State Council has not published yet (the ``statutory`` source answers ``None``) falls back to
weekdays plus the days an admin entered (``provisional_days``), and every answer about that year is marked
provisional, so a deadline computed on it can be recomputed when the data arrives (routing does).

Pure and immutable: the holiday source is an injected value (default: the ``chinese_calendar`` package), a
calendar with other admin-entered days is a new value (:meth:`WorkingCalendar.with_days`); no module state.
Deadlines end at 18:00 Asia/Shanghai on their last working day and are returned in UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

import chinese_calendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
END_OF_DAY = time(18, 0)

Statutory = Callable[[date], bool | None]
"""Is ``d`` a working day by the published calendar; ``None`` when its year is not published yet."""


def chinese_statutory(d: date) -> bool | None:
    """The State Council's calendar as the ``chinese_calendar`` package knows it."""
    try:
        return bool(chinese_calendar.is_workday(d))
    except NotImplementedError:
        return None


def _frozen(days: Mapping[date, bool]) -> Mapping[date, bool]:
    return MappingProxyType(dict(days))


@dataclass(frozen=True)
class WorkingCalendar:
    """Working days: the statutory source where it knows the year, else weekdays and the admin's days."""

    provisional_days: Mapping[date, bool] = field(default_factory=dict)
    statutory: Statutory = chinese_statutory

    def __post_init__(self) -> None:
        object.__setattr__(self, "provisional_days", _frozen(self.provisional_days))

    def with_days(self, days: Mapping[date, bool]) -> WorkingCalendar:
        """The same calendar with these admin-entered days (True = working day, False = holiday)."""
        return replace(self, provisional_days=days)

    def day(self, d: date) -> tuple[bool, bool]:
        """(is it a working day, is the answer provisional)."""
        known = self.statutory(d)
        if known is not None:
            return known, False
        return self.provisional_days.get(d, d.weekday() < 5), True

    def is_workday(self, d: date) -> bool:
        return self.day(d)[0]

    def is_published(self, d: date) -> bool:
        """Is ``d``'s year in the statutory source (then an admin-entered day for it makes no sense)."""
        return self.statutory(d) is not None

    def add_working_days(self, start: datetime, days: int) -> tuple[datetime, bool]:
        """The deadline ``days`` working days after ``start`` (the start day itself does not count), and
        whether it is provisional."""
        return self._walk(start, days, 1)

    def subtract_working_days(self, due: datetime, days: int) -> tuple[datetime, bool]:
        """End of the working day ``days`` working days before ``due``'s day."""
        return self._walk(due, days, -1)

    def _walk(self, start: datetime, days: int, step: int) -> tuple[datetime, bool]:
        d = start.astimezone(SHANGHAI).date()
        provisional = False
        counted = 0
        while counted < days:
            d += timedelta(days=step)
            ok, prov = self.day(d)
            provisional |= prov
            counted += ok
        return datetime.combine(d, END_OF_DAY, SHANGHAI).astimezone(UTC), provisional

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """Working days d with start's day < d <= end's day (Asia/Shanghai); 0 if end is not after start."""
        d = start.astimezone(SHANGHAI).date()
        last = end.astimezone(SHANGHAI).date()
        n = 0
        while d < last:
            d += timedelta(days=1)
            n += self.is_workday(d)
        return n


STATUTORY = WorkingCalendar()
"""The statutory calendar without admin-entered days (weekdays beyond the published years)."""


def is_workday(d: date) -> bool:
    """Is ``d`` a working day on the statutory calendar (weekdays beyond the published years)."""
    return STATUTORY.is_workday(d)
