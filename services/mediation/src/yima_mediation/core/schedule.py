"""Scheduling rules for mediation sessions, pure: working hours in Asia/Shanghai, the parties'
availability, room slots (no double booking), and the turns of an asynchronous session (错时异步)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from yima_kit.calendar import is_workday  # the statutory calendar (调休 included); weekdays beyond it

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Working hours of the centres: morning and afternoon blocks (Asia/Shanghai).
WORK_BLOCKS: tuple[tuple[time, time], ...] = ((time(8, 30), time(12, 0)), (time(14, 0), time(18, 0)))
SLOT = timedelta(minutes=30)
MAX_SESSION = timedelta(hours=4)
ASYNC_MIN = timedelta(hours=4)
ASYNC_MAX = timedelta(days=15)


class ScheduleError(ValueError):
    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    def covers(self, start: datetime, end: datetime) -> bool:
        return self.start <= start and end <= self.end


def check_live_session(start: datetime, end: datetime, now: datetime, *, working_hours: bool = True) -> None:
    """An online or offline session: in the future, within one working block of a working day (``working_hours``;
    a centre that also holds evening and weekend sessions turns that off)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ScheduleError("starts_at", "timezone_required", "时间须带时区")
    if end <= start:
        raise ScheduleError("ends_at", "end_before_start", "结束时间须晚于开始时间")
    if end - start > MAX_SESSION:
        raise ScheduleError("ends_at", "too_long", "单次调解不超过4小时")
    if start <= now:
        raise ScheduleError("starts_at", "in_the_past", "调解时间须晚于当前时间")
    if not working_hours:
        return
    ls, le = start.astimezone(SHANGHAI), end.astimezone(SHANGHAI)
    if ls.date() != le.date() or not is_workday(ls.date()):
        raise ScheduleError("starts_at", "not_a_workday", "调解须安排在工作日（北京时间）")
    if not any(b0 <= ls.time() and le.time() <= b1 for b0, b1 in WORK_BLOCKS):
        raise ScheduleError("starts_at", "outside_working_hours",
                            "调解须安排在工作时间内（北京时间 8:30–12:00、14:00–18:00）")


def check_async_window(opens: datetime, closes: datetime, now: datetime) -> None:
    if closes <= opens:
        raise ScheduleError("ends_at", "end_before_start", "截止时间须晚于开始时间")
    if closes <= now:
        raise ScheduleError("ends_at", "in_the_past", "截止时间须晚于当前时间")
    if not ASYNC_MIN <= closes - opens <= ASYNC_MAX:
        raise ScheduleError("ends_at", "window_length", "错时调解的答复期须在4小时至15天之间")


def unavailable_parties(start: datetime, end: datetime, availability: dict[str, list[Window]]) -> list[str]:
    """Parties that declared when they can come and whose windows do not cover the session."""
    return [pid for pid, windows in availability.items() if windows and not any(w.covers(start, end) for w in windows)]


def room_slots(start: datetime, end: datetime) -> list[datetime]:
    """The 30-minute slots a booking occupies (each claimed under a unique index: no double booking)."""
    s = start.astimezone(UTC)
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    first = epoch + ((s - epoch) // SLOT) * SLOT
    out = []
    t = first
    while t < end.astimezone(UTC):
        out.append(t)
        t += SLOT
    return out


def next_turn(order: list[str], turns: list[str]) -> str:
    """Whose turn it is in an asynchronous session: the parties answer in the given order, round after round."""
    return order[len(turns) % len(order)]
