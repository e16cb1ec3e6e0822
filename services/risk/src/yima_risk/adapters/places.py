"""Places by name: the org directory's public part (``GET /api/v1/units`` on routing), kept in memory.

An early warning names its place as people know it ("建设路社区第一网格", not its code) and reaches the units the
place sits under (grid → community → street → district). Risk holds no directory of its own: it reads routing's
public one at start and every ``refresh_seconds``, and at once when a warning is about to name a place it does not
know (after a failed read at most every second, after a good one every ``miss_retry_seconds``: a risk started
before routing names its first warnings all the same). If
routing cannot be reached, a warning is still raised, with the code and the place's own unit only — never lost for a
missing name.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

import httpx
from yima_kit.logging import get_logger

log = get_logger(__name__)
MAX_CHAIN = 6  # grid, community, street, district, city: enough for any place


class PlaceDirectory:
    def __init__(self, routing_url: str, refresh_seconds: float = 300.0, timeout: float = 3.0,
                 transport: httpx.AsyncBaseTransport | None = None, miss_retry_seconds: float = 30.0) -> None:
        self.transport = transport
        self.miss_retry_seconds = miss_retry_seconds
        self._tried_at: float | None = None  # monotonic time of the last refresh attempt
        self._read_ok = False  # did the last attempt read the directory?
        self.url = f"{routing_url.rstrip('/')}/api/v1/units" if routing_url else ""
        self.refresh_seconds = refresh_seconds
        self.timeout = timeout
        self.units: dict[str, tuple[str, str | None]] = {}  # code → (name, parent)

    def load(self, units: list[dict[str, Any]]) -> None:
        self.units = {u["code"]: (u["name"], u.get("parent")) for u in units if u.get("code") and u.get("name")}

    async def refresh(self) -> bool:
        if not self.url:
            return False
        self._tried_at = time.monotonic()
        try:
            async with httpx.AsyncClient(timeout=self.timeout, transport=self.transport) as http:
                r = await http.get(self.url)
                r.raise_for_status()
                self.load(r.json()["units"])
            self._read_ok = True
            return True
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            log.warning("org directory not reachable: warnings name places by code", error=type(exc).__name__)
            self._read_ok = False
            return False

    async def refresher(self) -> None:
        while True:
            ok = await self.refresh()  # routing may start after risk: try again soon until it answers
            await asyncio.sleep(self.refresh_seconds if ok else min(self.refresh_seconds, 5.0))

    async def know(self, codes: Iterable[str]) -> None:
        """Make sure the directory is read before naming these places: a code it does not know (a unit added since,
        or a directory not read yet because routing started after risk) reads it again: after a failed read at most
        every second, after a good one at most every ``miss_retry_seconds``."""
        if all(c in self.units for c in codes):
            return
        wait = self.miss_retry_seconds if self._read_ok else 1.0
        if self._tried_at is not None and time.monotonic() - self._tried_at < wait:
            return
        await self.refresh()

    def name(self, code: str) -> str | None:
        unit = self.units.get(code)
        return unit[0] if unit else None

    def chain(self, code: str) -> list[str]:
        """The place's unit and the units above it, the place first (unknown place: itself only)."""
        out = [code]
        parent = self.units.get(code, ("", None))[1]
        while parent and parent not in out and len(out) < MAX_CHAIN:
            out.append(parent)
            parent = self.units.get(parent, ("", None))[1]
        return out
