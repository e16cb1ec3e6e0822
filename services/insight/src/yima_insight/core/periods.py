"""The reports' periods (pure): 日会商 one day, 周研判 a Monday-to-Sunday week, 月分析 a calendar month."""

from __future__ import annotations

from datetime import date, timedelta

KINDS = {"daily": "日会商", "weekly": "周研判", "monthly": "月分析"}


def period(kind: str, day: date) -> tuple[date, date]:
    """The period of kind ``kind`` that contains ``day``."""
    if kind == "daily":
        return day, day
    if kind == "weekly":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=6)
    if kind == "monthly":
        first = day.replace(day=1)
        return first, (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    raise ValueError(f"unknown report kind {kind!r}")


def last_complete(kind: str, today: date) -> tuple[date, date]:
    """The newest period of ``kind`` that has ended before ``today`` (what the schedule writes)."""
    if kind == "daily":
        return period(kind, today - timedelta(days=1))
    if kind == "weekly":
        return period(kind, today - timedelta(days=today.weekday() + 1))
    return period(kind, today.replace(day=1) - timedelta(days=1))
