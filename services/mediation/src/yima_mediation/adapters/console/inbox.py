"""The unit's in-app inbox (站内信) in the console: notify keeps it, the console reads it server-side.

The console calls notify's ``GET /api/v1/inbox/unit`` and ``POST /api/v1/inbox/unit/{id}/read`` with the
signed-in staff member's own token, so notify applies its own rule (the caller's unit only). Notify being
slow or down must not take the console with it: a short timeout, and the page says the messages cannot be
shown while everything else keeps working.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
from yima_kit.auth import StaffClaims
from yima_kit.logging import get_logger

from ...config import MediationSettings
from ...service import Refused
from .ui import INBOX_PAGE, esc, form, local, messages

log = get_logger("mediation.console.inbox")

UNAVAILABLE = "消息暂时无法显示"


class Inbox:
    def __init__(self, settings: MediationSettings) -> None:
        self.base = settings.notify_url.rstrip("/")
        self.timeout = settings.notify_timeout_seconds

    async def _call(self, method: str, path: str, claims: StaffClaims, **kw: Any) -> httpx.Response | None:
        """notify's answer, or None when it cannot be reached in time (logged without any content)."""
        token = getattr(claims, "token", "")
        if not self.base or not token:
            return None
        try:
            async with httpx.AsyncClient(base_url=self.base, timeout=self.timeout) as client:
                return await client.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kw)
        except httpx.HTTPError as exc:
            log.warning("notify unreachable", error=type(exc).__name__)
            return None

    async def messages(self, claims: StaffClaims, unread: bool = False) -> list[dict[str, Any]] | None:
        """The unit's newest messages (at most INBOX_PAGE), or None when notify cannot say."""
        res = await self._call("GET", "/api/v1/inbox/unit", claims, params={"unread": str(unread).lower()})
        if res is None or res.status_code != 200:
            if res is not None:
                log.warning("notify refused the inbox", status=res.status_code)
            return None
        try:
            items = res.json()["messages"]
            return [m for m in items if isinstance(m, dict) and m.get("notification_id")]
        except (ValueError, KeyError, TypeError):
            log.warning("notify's inbox answer not understood")
            return None

    async def unread(self, claims: StaffClaims) -> int | None:
        items = await self.messages(claims, unread=True)
        return None if items is None else len(items)

    async def mark_read(self, claims: StaffClaims, notification_id: str) -> None:
        if not notification_id or len(notification_id) > 200:
            raise Refused(422, "notification_id", "missing", "请选择要标为已读的消息")
        res = await self._call("POST", f"/api/v1/inbox/unit/{quote(notification_id, safe='')}/read", claims)
        if res is None:
            raise Refused(502, "notify", "unavailable", "消息服务暂时无法连接，请稍后再试")
        if res.status_code == 404:
            raise Refused(404, "notification_id", "not_found", "本单位没有这条消息")
        if res.status_code != 200:
            log.warning("notify refused mark-read", status=res.status_code)
            raise Refused(502, "notify", "refused", "消息服务暂时无法处理，请稍后再试")


def _when(v: Any) -> str:
    """notify's ISO time (naive = UTC, as its store keeps it) in Beijing time."""
    try:
        dt = datetime.fromisoformat(str(v))
    except ValueError:
        return ""
    return local(dt if dt.tzinfo else dt.replace(tzinfo=UTC))


def inbox_html(items: list[dict[str, Any]] | None, claims: StaffClaims, unread_only: bool) -> str:
    tabs = (f'<div class="card tabs"><a href="/console/inbox"{"" if unread_only else " class=on"}>全部</a>'
            f'<a href="/console/inbox?unread=1"{" class=on" if unread_only else ""}>未读</a></div>')
    if items is None:
        return tabs + messages([f"{UNAVAILABLE}（消息服务暂时无法连接），请稍后刷新；其他工作不受影响"])
    if not items:
        return tabs + f'<div class="card"><p>{"没有未读消息" if unread_only else "没有消息"}。</p></div>'
    rows = []
    for i, m in enumerate(items):
        read = bool(m.get("read_at"))
        button = "" if read else form("/console/inbox/read", claims, '<input type="hidden" name="notification_id"'
                                      f' value="{esc(m["notification_id"])}">', "标为已读", f"read-{i}")
        rows.append(f'<tr class="{"read" if read else "unread"}"><td class="time">{esc(_when(m.get("created_at")))}'
                    f'</td><td>{esc(m.get("case_number") or "")}</td><td><strong>{esc(m.get("title") or "")}</strong>'
                    f'<div>{esc(m.get("text") or "")}</div></td><td>{"已读" if read else "未读"}{button}</td></tr>')
    more = (f'<p class="hint">只显示最新的{INBOX_PAGE}条。</p>' if len(items) >= INBOX_PAGE else "")
    return (tabs + '<div class="card"><table id="inbox"><tr><th>时间（北京时间）</th><th>案件编号</th><th>消息</th>'
            f'<th>状态</th></tr>{"".join(rows)}</table>{more}</div>')
