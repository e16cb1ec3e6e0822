"""The retention sweeper's logic (batches, cutoff, failures, races) and the erasure helpers, without a database."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from yima_kit.crypto import FieldCipher
from yima_kit.retention import DUE_BACKLOG, ERASE_FAILURES, ERASED, ERASED_ZH, RetentionSweeper, blanked, marker

NOW = datetime(2032, 6, 1, tzinfo=UTC)
PERIOD = timedelta(days=1826)


class FakeStore:
    """Cases by the time they ended; ``erase`` removes a case if it is still due (like the conditional update)."""

    def __init__(self, ended: dict[str, datetime], failing: set[str] | None = None) -> None:
        self.ended = dict(ended)
        self.failing = failing or set()
        self.erased: list[str] = []
        self.cutoffs: list[datetime] = []
        self.emitted: list[tuple[str, float]] = []

    async def due(self, cutoff: datetime, limit: int) -> list[str]:
        self.cutoffs.append(cutoff)
        return [c for c, at in sorted(self.ended.items(), key=lambda kv: kv[1]) if at <= cutoff][:limit]

    async def count_due(self, cutoff: datetime) -> int:
        return sum(1 for at in self.ended.values() if at <= cutoff)

    async def erase(self, case_id: str, cutoff: datetime, retention: timedelta, tx: Any) -> bool:
        if case_id in self.failing:
            raise RuntimeError("database went away")
        at = self.ended.get(case_id)
        if at is None or at > cutoff:
            return False
        del self.ended[case_id]
        self.erased.append(case_id)
        self.emitted.append((case_id, retention.total_seconds() / 86400))
        return True


async def run(work: Callable[[Any], Awaitable[Any]]) -> Any:
    return await work(object())


def sweeper(store: FakeStore, batch: int = 3) -> RetentionSweeper:
    return RetentionSweeper("kit-test", store, run, PERIOD, clock=lambda: NOW, batch=batch)


def counter(metric: Any, service: str = "kit-test") -> float:
    return float(metric.labels(service)._value.get())


async def test_erases_only_cases_past_the_period_oldest_first_in_batches() -> None:
    old = {f"old{i}": NOW - PERIOD - timedelta(days=10 - i) for i in range(7)}
    young = {"young": NOW - PERIOD + timedelta(hours=1), "today": NOW}
    store = FakeStore({**old, **young})
    before = counter(ERASED)

    assert await sweeper(store).sweep() == 7

    assert store.erased == [f"old{i}" for i in range(7)]  # oldest first, three batches (3 + 3 + 1)
    assert set(store.ended) == {"young", "today"}
    assert store.cutoffs[0] == NOW - PERIOD
    assert all(days == pytest.approx(1826) for _, days in store.emitted)
    assert counter(ERASED) - before == 7
    assert counter(DUE_BACKLOG) == 0
    assert await sweeper(store).sweep() == 0  # idempotent: nothing left to do


async def test_a_failing_case_is_left_for_the_next_pass_and_does_not_spin() -> None:
    store = FakeStore({f"c{i}": NOW - PERIOD - timedelta(days=i) for i in range(5)}, failing={"c4"})
    failures = counter(ERASE_FAILURES)

    erased = await sweeper(store, batch=3).sweep()

    # c4 (the oldest) fails in the first batch: that batch ends the pass after erasing the other two.
    assert erased == 2
    assert counter(ERASE_FAILURES) - failures == 1
    assert "c4" in store.ended and counter(DUE_BACKLOG) == 3
    store.failing.clear()
    assert await sweeper(store, batch=3).sweep() == 3
    assert store.ended == {}


async def test_as_of_moves_the_cutoff_and_a_lost_race_is_not_counted() -> None:
    store = FakeStore({"a": NOW - timedelta(days=30)})
    assert await sweeper(store).sweep() == 0  # ended a month ago: kept
    assert await sweeper(store).sweep(as_of=NOW + PERIOD) == 1
    raced = FakeStore({"b": NOW - PERIOD - timedelta(days=1)})
    s = sweeper(raced)

    async def other_replica_first(cutoff: datetime, limit: int) -> list[str]:
        ids = await FakeStore.due(raced, cutoff, limit)
        raced.ended.clear()  # another replica erased it between the read and the erasure
        return ids

    raced.due = other_replica_first  # type: ignore[method-assign]
    assert await s.run_once() == (0, 1)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        RetentionSweeper("kit-test", FakeStore({}), run, timedelta(0))
    with pytest.raises(ValueError, match="at least 1"):
        RetentionSweeper("kit-test", FakeStore({}), run, PERIOD, batch=0)


def test_blanked_replaces_named_fields_at_any_depth_and_markers_are_stable() -> None:
    cipher = FieldCipher.from_hex("")
    name = marker(cipher, "t.name")
    party = {"party_id": "p1", "name": cipher.encrypt("张三", context="t.name"), "phone": "x"}
    doc = {"case_number": "JSQ-2026-000001", "parties": [party],
           "terms": [cipher.encrypt("一", context="t.name"), cipher.encrypt("二", context="t.name")], "phone": None}
    fields = {"name": name, "phone": None, "terms": name}

    once = blanked(doc, fields)

    assert once["case_number"] == "JSQ-2026-000001" and once["parties"][0]["party_id"] == "p1"
    assert cipher.decrypt(once["parties"][0]["name"], context="t.name") == ERASED_ZH
    assert once["parties"][0]["phone"] is None and once["phone"] is None
    assert len(once["terms"]) == 1 and cipher.decrypt(once["terms"][0], context="t.name") == ERASED_ZH
    assert blanked(once, fields) == once  # a second erasure changes nothing (the marker is kept, not re-encrypted)
