"""Case numbers in blocks (ADR 0211; pure: the store is a pair of functions given in).

A process reserves ``block`` numbers of a key (``<prefix>-<year>``) with one atomic increment of the key's counter
by ``block`` — the counter then holds the last number reserved by anyone, so two processes' blocks never overlap —
and hands them out from memory, one per submission, until they are spent. Requests of one process take their
numbers under one lock: never the same number twice, increasing in the order they were taken. A new year is a new
key, so its first submission reserves a new block (the old year's remainder goes unused). Unused numbers are gaps:
a block left when the process ends, unless ``release`` can give the remainder back (nobody has reserved after it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Reserve = Callable[[str, int], Awaitable[int]]  # (key, count) -> the last number of the reserved block
GiveBack = Callable[[str, int, int], Awaitable[bool]]  # (key, block's last, first unused) -> given back?


@dataclass
class Block:
    next: int  # the next number to hand out
    last: int  # the last number of the block

    @property
    def spent(self) -> bool:
        return self.next > self.last


class CaseNumbers:
    def __init__(self, reserve: Reserve, block: int = 20, give_back: GiveBack | None = None) -> None:
        if block < 1:
            raise ValueError("a block holds at least one number")
        self.reserve = reserve
        self.give_back = give_back
        self.block = block
        self.blocks: dict[str, Block] = {}
        self.reservations = 0  # round trips to the store so far (tests, metrics)
        self._lock: asyncio.Lock | None = None

    async def take(self, key: str) -> int:
        """The next number of ``key``: from this process's block, or from a new block reserved now."""
        async with self._the_lock():
            block = self.blocks.get(key)
            if block is None or block.spent:
                last = await self.reserve(key, self.block)
                self.reservations += 1
                block = self.blocks[key] = Block(last - self.block + 1, last)
            number = block.next
            block.next += 1
            return number

    async def release(self) -> int:
        """At a clean shutdown: give back the unused rest of each block where nobody reserved after it (the
        counter still at the block's end); the blocks are dropped either way. Returns the numbers given back."""
        given = 0
        async with self._the_lock():
            blocks, self.blocks = self.blocks, {}
            if self.give_back is None:
                return 0
            for key, block in blocks.items():
                if not block.spent and await self.give_back(key, block.last, block.next):
                    given += block.last - block.next + 1
        return given

    def _the_lock(self) -> asyncio.Lock:
        # made on first use, in the loop that serves the requests
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock
