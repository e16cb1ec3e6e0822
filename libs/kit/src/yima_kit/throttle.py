"""Throttling a guessable check (a tracking code's four phone digits) per code *and* client, with growing
delays — one implementation for every service that asks the question (intake's tracking page, notify's
applicant inbox).

A counter per key (a code with one client; the code alone, with a much higher allowance, against guessing
from many addresses). Each attempt is counted by one atomic update *before* the check runs, so parallel
attempts cannot all slip through: the first ``free`` go at once, then every attempt must wait until
``next_allowed_at``, which each attempt pushes out (``base``, then doubled with every further wrong check, up
to ``max_delay``). A right check clears its client's counter. A stranger who knows a code slows down only
their own attempts; the applicant, from their own phone, is not locked out (unless the code is being guessed
from very many addresses, when the code-wide allowance makes everyone wait).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

T = TypeVar("T")


@dataclass(frozen=True)
class Allowance:
    free: int = 5  # attempts before any delay
    base: timedelta = timedelta(seconds=30)  # the first delay
    max_delay: timedelta = timedelta(hours=1)
    forget_after: timedelta = timedelta(hours=24)  # a counter left alone this long starts again

    def delay(self, attempt: int) -> timedelta:
        """How long after ``attempt`` (1-based count of attempts) the next one may come."""
        over = attempt - self.free
        if over < 0:
            return timedelta(0)
        return min(self.base * (2 ** min(over, 30)), self.max_delay)

    @classmethod
    def lockout(cls, max_failures: int, lock_minutes: int) -> Allowance:
        """A service's ``track_max_failures`` / ``track_lock_minutes`` settings as a per-client allowance."""
        return cls(free=max_failures, max_delay=timedelta(minutes=lock_minutes))


PER_CLIENT = Allowance()
PER_CODE = Allowance(free=60, base=timedelta(seconds=10), max_delay=timedelta(minutes=30))


@dataclass(frozen=True)
class Ticket:
    key: str
    attempt: int


class Throttled(Exception):
    def __init__(self, retry_after: timedelta) -> None:
        super().__init__(f"retry after {retry_after}")
        self.retry_after = retry_after

    def minutes_zh(self) -> str:
        seconds = max(1, int(self.retry_after.total_seconds()))
        return f"{seconds}秒" if seconds < 60 else f"{(seconds + 59) // 60}分钟"

    def message_zh(self) -> str:
        """What the applicant reads (intake's tracking page and notify's inbox say the same)."""
        return f"核对失败次数过多，请{self.minutes_zh()}后再试"


class CheckThrottle:
    """The counters in one collection (TTL on ``expires_at``). ``guard`` runs a check the whole way: ``take``
    before it, then ``settle`` (right or wrong) or ``release`` (not a guess) after it."""

    def __init__(self, col: AsyncCollection[Any], per_client: Allowance = PER_CLIENT,
                 per_code: Allowance = PER_CODE) -> None:
        self.col = col
        self.per_client = per_client
        self.per_code = per_code

    async def setup(self) -> None:
        await self.col.create_index("expires_at", expireAfterSeconds=0)

    async def _take(self, key: str, a: Allowance, now: datetime) -> Ticket:
        try:  # the counter exists before anyone increments it (parallel upserts would race)
            await self.col.update_one({"_id": key}, {"$setOnInsert": {"attempts": 0, "next_allowed_at": now}},
                                      upsert=True)
        except DuplicateKeyError:
            pass
        await self.col.update_one({"_id": key, "expires_at": {"$lte": now}},
                                  {"$set": {"attempts": 0, "next_allowed_at": now}})
        doc = await self.col.find_one_and_update(
            {"_id": key, "$or": [{"attempts": {"$lt": a.free}}, {"next_allowed_at": {"$lte": now}}]},
            {"$inc": {"attempts": 1}, "$max": {"next_allowed_at": now + a.delay(a.free)},
             "$set": {"expires_at": now + a.forget_after}},
            return_document=ReturnDocument.AFTER)
        if doc is None:
            current = await self.col.find_one({"_id": key}) or {}
            wait = (current.get("next_allowed_at") or now) - now
            raise Throttled(max(wait, timedelta(seconds=1)))
        return Ticket(key, int(doc["attempts"]))

    async def take(self, code_key: str, client: str, now: datetime) -> list[Ticket]:
        """Count one attempt for the code from this client (and for the code overall); Throttled if it
        must wait."""
        mine = await self._take(f"{code_key}|{client}", self.per_client, now)
        overall = await self._take(f"{code_key}|*", self.per_code, now)
        return [mine, overall]

    async def release(self, tickets: list[Ticket]) -> None:
        """Give the attempt back (it turned out not to be a guess of the check)."""
        for t in tickets:
            await self.col.update_one({"_id": t.key, "attempts": {"$gt": 0}}, {"$inc": {"attempts": -1}})

    async def settle(self, tickets: list[Ticket], right: bool, now: datetime) -> None:
        if right:
            await self.col.delete_one({"_id": tickets[0].key})  # the applicant's own client starts afresh
            return
        for t, a in zip(tickets, (self.per_client, self.per_code), strict=True):
            await self.col.update_one({"_id": t.key}, {"$max": {"next_allowed_at": now + a.delay(t.attempt)}})

    async def guard(self, code_key: str, client: str, now: datetime,
                    check: Callable[[], Awaitable[tuple[T, bool | None]]]) -> tuple[T, bool | None]:
        """The one way to run a guessable check: count the attempt first (``Throttled`` when this client must
        wait; the check does not run then), run ``check`` — it returns its result and whether the check was
        right (True), wrong (False) or no guess at all (None: say the code is not known here yet, so the
        attempt is given back) — and record the outcome. Returns what ``check`` returned."""
        tickets = await self.take(code_key, client, now)
        result, right = await check()
        if right is None:
            await self.release(tickets)
        else:
            await self.settle(tickets, right, now)
        return result, right
