"""Times as the service stores and shows them (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from .schedule import SHANGHAI


def aware(dt: datetime | None) -> datetime | None:
    """Mongo gives back naive UTC unless the client is tz_aware: normalise."""
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def fmt_local(dt: datetime) -> str:
    return dt.astimezone(SHANGHAI).strftime("%Y年%m月%d日 %H:%M")
