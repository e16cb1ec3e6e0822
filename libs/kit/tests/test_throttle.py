"""The tracking-code lockout (yima_kit.throttle) against the real MongoDB-wire server: one flow for intake's
tracking page and notify's applicant inbox — counted before the check, a wrong check slows its client, no guess
(a code not known yet) is given back, a right check starts the client afresh."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from yima_kit.mongo import connect
from yima_kit.throttle import Allowance, CheckThrottle, Throttled

pytestmark = pytest.mark.integration


async def test_guard_counts_wrong_checks_gives_back_no_guesses_and_clears_on_a_right_one(yima_infra, mongo_db_prefix):
    client = connect(yima_infra.mongo_url)
    throttle = CheckThrottle(client[f"{mongo_db_prefix}kit"][f"throttle_{uuid.uuid4().hex[:6]}"],
                             per_client=Allowance.lockout(max_failures=2, lock_minutes=15))
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    runs: list[str] = []

    def check(verdict: bool | None):
        async def run() -> tuple[str, bool | None]:
            runs.append("ran")
            return "answer", verdict
        return run

    try:
        await throttle.setup()
        for _ in range(5):  # not a guess (the code is not known here yet): never counted
            assert await throttle.guard("code", "1.2.3.4", now, check(None)) == ("answer", None)
        assert await throttle.guard("code", "1.2.3.4", now, check(False)) == ("answer", False)
        assert await throttle.guard("code", "1.2.3.4", now, check(False)) == ("answer", False)
        ran = len(runs)
        with pytest.raises(Throttled) as locked:  # the third wrong check must wait; the check does not run
            await throttle.guard("code", "1.2.3.4", now, check(True))
        assert len(runs) == ran
        assert locked.value.message_zh() == "核对失败次数过多，请30秒后再试"  # the first delay: 30 s
        # another client (the applicant's own phone) is not locked out by a stranger's guesses
        assert await throttle.guard("code", "5.6.7.8", now, check(True)) == ("answer", True)
        later = now + timedelta(seconds=31)
        assert await throttle.guard("code", "1.2.3.4", later, check(True)) == ("answer", True)
        # a right check started the client afresh: two wrong ones are free again
        for _ in range(2):
            await throttle.guard("code", "1.2.3.4", later, check(False))
    finally:
        await client.close()


def test_lockout_allowance_from_a_services_settings() -> None:
    a = Allowance.lockout(max_failures=5, lock_minutes=15)
    assert a.free == 5 and a.max_delay == timedelta(minutes=15)
    assert a.delay(4) == timedelta(0) and a.delay(5) == timedelta(seconds=30) and a.delay(30) == timedelta(minutes=15)
