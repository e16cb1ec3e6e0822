"""Delivery policy (pure): quiet hours in Asia/Shanghai, retry backoff, SMS segments, digests, circuit breaker."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
SMS_SEGMENT = 70  # Chinese characters in one SMS
SMS_MULTIPART_SEGMENT = 67  # per part of a concatenated (long) SMS
LONG_SMS_MAX_PARTS = 4  # parts the gateways concatenate into one long SMS (and bill as four)
LONG_SMS_MAX_CHARS = LONG_SMS_MAX_PARTS * SMS_MULTIPART_SEGMENT  # a digest longer than this is split


def sms_segments(text: str) -> int:
    n = len(text)
    return 1 if n <= SMS_SEGMENT else math.ceil(n / SMS_MULTIPART_SEGMENT)


def parse_quiet_hours(spec: str) -> tuple[int, int] | None:
    """``"22:00-08:00"`` → minutes of the day (start, end); empty → None."""
    spec = spec.strip()
    if not spec:
        return None
    start, _, end = spec.partition("-")

    def minutes(s: str) -> int:
        h, _, m = s.strip().partition(":")
        value = int(h) * 60 + int(m or 0)
        if not 0 <= value < 24 * 60:
            raise ValueError(f"bad time {s!r} in quiet hours {spec!r}")
        return value

    return minutes(start), minutes(end)


def release_time(now: datetime, quiet: tuple[int, int] | None) -> datetime:
    """When a non-urgent message may go out: ``now``, or the end of the quiet hours it falls into (UTC out)."""
    if quiet is None:
        return now
    start, end = quiet
    local = now.astimezone(SHANGHAI)
    m = local.hour * 60 + local.minute
    inside = (start <= m < end) if start < end else (m >= start or m < end)
    if not inside or start == end:
        return now
    release = local.replace(hour=end // 60, minute=end % 60, second=0, microsecond=0)
    if release <= local:
        release += timedelta(days=1)
    return release.astimezone(now.tzinfo)


def backoff(attempts: int, base: float, cap: float) -> timedelta:
    """Wait before attempt ``attempts + 1`` (exponential, capped)."""
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


@dataclass
class CircuitBreaker:
    """Per channel: after ``threshold`` consecutive failures the channel is left alone for ``cooldown``;
    then one probe goes; success closes it, failure opens it again."""

    threshold: int
    cooldown: float
    clock: object = field(default=time.monotonic)
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False

    def _now(self) -> float:
        return self.clock()  # type: ignore[operator,no-any-return]

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half_open" if self._now() - self.opened_at >= self.cooldown else "open"

    def allow(self) -> bool:
        st = self.state
        if st == "closed":
            return True
        if st == "half_open" and not self.probing:
            self.probing = True
            return True
        return False

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.probing = False

    def failure(self) -> None:
        self.failures += 1
        if self.probing or self.failures >= self.threshold:
            self.opened_at = self._now()
        self.probing = False
