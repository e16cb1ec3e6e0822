from datetime import UTC, datetime, timedelta

import pytest
from yima_notify.core.policy import (
    CircuitBreaker,
    backoff,
    parse_quiet_hours,
    release_time,
    sms_segments,
)

QUIET = parse_quiet_hours("22:00-08:00")


def bj(h: int, m: int = 0, day: int = 23) -> datetime:
    return datetime(2026, 11, day, h, m, tzinfo=UTC) - timedelta(hours=8)  # Beijing h:m as UTC


@pytest.mark.parametrize(("now", "expected"), [
    (bj(21, 59), bj(21, 59)),  # before the quiet hours: at once
    (bj(22, 0), bj(8, 0, day=24)),  # at 22:00 Beijing: wait for 08:00 next morning
    (bj(23, 30), bj(8, 0, day=24)),
    (bj(3, 0), bj(8, 0)),  # after midnight: the same morning
    (bj(8, 0), bj(8, 0)),
])
def test_quiet_hours_are_beijing_time(now: datetime, expected: datetime) -> None:
    assert release_time(now, QUIET) == expected


def test_quiet_hours_within_one_day_and_none() -> None:
    assert release_time(bj(13, 0), parse_quiet_hours("12:00-14:00")) == bj(14, 0)
    assert release_time(bj(23, 0), None) == bj(23, 0)
    with pytest.raises(ValueError):
        parse_quiet_hours("25:00-08:00")


def test_backoff_grows_and_is_capped() -> None:
    assert [backoff(a, 2, 30).total_seconds() for a in (1, 2, 3, 4, 5, 6)] == [2, 4, 8, 16, 30, 30]


def test_sms_segments_count_seventy_chinese_characters() -> None:
    assert sms_segments("字" * 70) == 1
    assert sms_segments("字" * 71) == 2
    assert sms_segments("字" * 134) == 2
    assert sms_segments("字" * 135) == 3


def test_the_breaker_opens_after_failures_and_probes_after_the_cooldown() -> None:
    now = [0.0]
    b = CircuitBreaker(threshold=3, cooldown=10, clock=lambda: now[0])
    for _ in range(3):
        assert b.allow()
        b.failure()
    assert b.state == "open" and not b.allow()
    now[0] = 11
    assert b.allow()  # one probe…
    assert not b.allow()  # …only one
    b.failure()
    assert b.state == "open"
    now[0] = 22
    assert b.allow()
    b.success()
    assert b.state == "closed" and b.allow()
