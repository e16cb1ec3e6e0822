"""Case numbers in blocks (core/numbering.py, ADR 0211): the allocator's logic against a fake counter store."""

from __future__ import annotations

import asyncio

import pytest
from yima_intake.core.numbering import CaseNumbers


class FakeCounters:
    """The counter collection as the repository uses it: an atomic ``$inc`` by a block, a conditional give-back.
    ``delay`` lets concurrent callers interleave at the round trip, as a real one would."""

    def __init__(self, delay: float = 0.0) -> None:
        self.seq: dict[str, int] = {}
        self.calls: list[tuple[str, int]] = []
        self.delay = delay

    async def reserve(self, key: str, count: int) -> int:
        self.calls.append((key, count))
        await asyncio.sleep(self.delay)
        self.seq[key] = self.seq.get(key, 0) + count
        return self.seq[key]

    async def give_back(self, key: str, last: int, first_unused: int) -> bool:
        if self.seq.get(key) != last:
            return False
        self.seq[key] = first_unused - 1
        return True


async def test_numbers_come_from_memory_and_one_reservation_per_block() -> None:
    store = FakeCounters()
    numbers = CaseNumbers(store.reserve, block=5)
    got = [await numbers.take("JSQ-2026") for _ in range(12)]
    assert got == list(range(1, 13))
    assert store.calls == [("JSQ-2026", 5)] * 3 and numbers.reservations == 3
    assert store.seq["JSQ-2026"] == 15  # 13..15 reserved, not yet handed out


async def test_a_counter_used_before_continues_where_it_stood() -> None:
    store = FakeCounters()
    store.seq["JSQ-2026"] = 41  # numbers 1..41 taken (by one-at-a-time increments, or another process's blocks)
    numbers = CaseNumbers(store.reserve, block=10)
    assert [await numbers.take("JSQ-2026") for _ in range(3)] == [42, 43, 44]


async def test_each_key_has_its_own_block_and_a_new_year_starts_a_new_one() -> None:
    store = FakeCounters()
    numbers = CaseNumbers(store.reserve, block=10)
    assert [await numbers.take("JSQ-2026") for _ in range(3)] == [1, 2, 3]
    assert await numbers.take("JSQ-2027") == 1  # the new year's first submission reserves the new year's block
    assert await numbers.take("JSQ-2026") == 4  # a late one of the old year still has its block
    assert store.calls == [("JSQ-2026", 10), ("JSQ-2027", 10)]


async def test_concurrent_requests_never_share_a_number_and_refill_once_per_block() -> None:
    store = FakeCounters(delay=0.01)
    numbers = CaseNumbers(store.reserve, block=4)
    got = await asyncio.gather(*(numbers.take("JSQ-2026") for _ in range(30)))
    assert sorted(got) == list(range(1, 31))
    assert list(got) == sorted(got)  # taken in the order the requests asked, under one lock
    assert len(store.calls) == 8  # ceil(30 / 4): never two reservations racing for one empty block


async def test_two_processes_get_disjoint_blocks() -> None:
    store = FakeCounters(delay=0.005)
    a, b = CaseNumbers(store.reserve, block=3), CaseNumbers(store.reserve, block=3)
    got_a, got_b = await asyncio.gather(
        asyncio.gather(*(a.take("JSQ-2026") for _ in range(10))),
        asyncio.gather(*(b.take("JSQ-2026") for _ in range(10))),
    )
    assert not set(got_a) & set(got_b) and len(set(got_a) | set(got_b)) == 20
    assert list(got_a) == sorted(got_a) and list(got_b) == sorted(got_b)  # increasing within a process


async def test_a_failed_reservation_hands_out_nothing_and_the_next_request_tries_again() -> None:
    store = FakeCounters()
    failing = True

    async def reserve(key: str, count: int) -> int:
        if failing:
            raise ConnectionError("database away")
        return await store.reserve(key, count)

    numbers = CaseNumbers(reserve, block=5)
    with pytest.raises(ConnectionError):
        await numbers.take("JSQ-2026")
    failing = False
    assert await numbers.take("JSQ-2026") == 1


async def test_release_gives_back_the_rest_only_when_nobody_reserved_after() -> None:
    store = FakeCounters()
    first = CaseNumbers(store.reserve, block=10, give_back=store.give_back)
    assert [await first.take("JSQ-2026") for _ in range(3)] == [1, 2, 3]
    assert await first.release() == 7 and store.seq["JSQ-2026"] == 3
    restarted = CaseNumbers(store.reserve, block=10, give_back=store.give_back)
    assert await restarted.take("JSQ-2026") == 4  # no gap after a clean restart

    other = CaseNumbers(store.reserve, block=10, give_back=store.give_back)
    assert await other.take("JSQ-2026") == 14  # another process reserved after `restarted`'s block
    assert await restarted.release() == 0 and store.seq["JSQ-2026"] == 23  # its rest 5..13 stays a gap
    assert await restarted.take("JSQ-2026") == 24  # released blocks are dropped: a new block if used again


def test_a_block_holds_at_least_one_number() -> None:
    with pytest.raises(ValueError):
        CaseNumbers(FakeCounters().reserve, block=0)
