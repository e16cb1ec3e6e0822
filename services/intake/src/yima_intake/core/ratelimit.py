"""Submissions per client per minute, counted in the process (no database round trip on the request path).

Fixed windows: a client's count for the window that started at ``window_start``; windows that ended are
forgotten at the next count. Each replica counts its own requests, so behind R replicas a client may submit up
to R times the limit in the worst case (a load balancer spreading one client's requests evenly); the limit is a
guard against a flood, not a quota (ADR 0060).
"""

from __future__ import annotations

from datetime import datetime


class WindowCounter:
    def __init__(self, max_keys: int = 200_000) -> None:
        self._window: datetime | None = None
        self._counts: dict[str, int] = {}
        self._max_keys = max_keys

    def hit(self, key: str, window_start: datetime) -> int:
        """Count one request of ``key`` in the window starting at ``window_start``; returns its count."""
        if self._window is None or window_start > self._window:
            self._window, self._counts = window_start, {}
        elif window_start < self._window:
            return 1  # a request stamped before the current window (clock step): count it as the first
        if key not in self._counts and len(self._counts) >= self._max_keys:
            return 1  # a flood of distinct addresses: do not grow without bound (each counts as new)
        n = self._counts.get(key, 0) + 1
        self._counts[key] = n
        return n
