"""Run a coroutine to completion from synchronous code, whatever event loop the caller has.

The CLI has no loop, but pytest-asyncio keeps a session loop attached to the main thread; calling
``asyncio.run`` there would detach that loop (``asyncio.run`` resets the thread's current loop on exit).
A private thread with its own loop leaves the caller's loop state untouched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a fresh event loop in a worker thread and return its result (or raise)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="yima-devstack") as pool:
        return pool.submit(asyncio.run, coro).result()
