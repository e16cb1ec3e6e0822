"""The applicant's messages from notify's in-app inbox, for the tracking page and the tracking API.

Asked only after intake's own tracking-code and phone check passed, with the same code and check (notify
applies the same rule). Best effort: one try within a short time limit; whatever goes wrong, the answer is
``None`` ("messages unavailable") and the tracking page shows its progress without them.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

import httpx
from yima_kit.logging import get_logger
from yima_kit.tracing import inject

log = get_logger(__name__)

# httpx logs every request's full URL at INFO, and this URL carries the tracking code and the phone's last
# four digits: only httpx's warnings may reach the log.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)


class NotifyInbox:
    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    async def messages(self, tracking_code: str, check: str) -> list[dict[str, Any]] | None:
        """notify's messages for this case (as notify gives them), or None if notify cannot say."""
        headers: dict[str, str] = {}
        inject(headers)  # notify's part of the request joins this trace
        try:
            async with asyncio.timeout(self.timeout):
                async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout) as client:
                    res = await client.get(f"/api/v1/inbox/applicant/{tracking_code}", params={"check": check},
                                           headers=headers)
        except (httpx.HTTPError, TimeoutError) as exc:
            # The exception's text may quote the URL (code and check): its type is enough.
            log.warning("notify_inbox_unavailable", reason=type(exc).__name__)
            return None
        if res.status_code != 200:
            log.warning("notify_inbox_unavailable", reason=f"http_{res.status_code}")
            return None
        try:
            messages = res.json()["messages"]
        except (ValueError, KeyError, TypeError):
            messages = None
        if not isinstance(messages, list) or not all(_is_message(m) for m in messages):
            log.warning("notify_inbox_unavailable", reason="unexpected_answer")
            return None
        return messages


def _is_message(m: Any) -> bool:
    if not (isinstance(m, dict) and isinstance(m.get("text"), str) and isinstance(m.get("created_at"), str)):
        return False
    try:
        datetime.fromisoformat(m["created_at"])
    except ValueError:
        return False
    return True
