"""The unit's inbox (kept by notify), for every role."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..api import ApiError
from ..ui import PREFIX, STALE_FORM, Staff, csrf_ok, esc, form, local, messages, one, read_form, seg
from ..web import PageWeb, Web

router = APIRouter(prefix=PREFIX, include_in_schema=False)
INBOX_PAGE = 50


def inbox_table(claims: Staff, items: list[dict[str, Any]]) -> str:
    rows = []
    for i, m in enumerate(items):
        read = bool(m.get("read_at"))
        button = "" if read else form("/inbox/read", claims, '<input type="hidden" name="notification_id"'
                                      f' value="{esc(m.get("notification_id"))}">', "标为已读", f"read-{i}", small=True)
        rows.append(
            f'<tr class="{"read" if read else "unread"}"><td class="time" data-l="时间">'
            f'{esc(local(m.get("created_at")))}</td><td data-l="案件">{esc(m.get("case_number") or "")}</td>'
            f'<td><strong>{esc(m.get("title") or "")}</strong><div>{esc(m.get("text") or "")}</div></td>'
            f'<td>{"已读" if read else "未读"}{button}</td></tr>')
    more = f'<p class="hint">只显示最新的{INBOX_PAGE}条。</p>' if len(items) >= INBOX_PAGE else ""
    return ('<div class="card scroll"><table id="inbox" class="cards"><tr><th>时间（北京时间）</th>'
            f'<th>案件编号</th><th>消息</th><th>状态</th></tr>{"".join(rows)}</table>{more}</div>')


async def inbox_page(web: Web, claims: Staff, unread_only: bool, errors: list[str], ok: str = "",
                     status: int = 200) -> HTMLResponse:
    try:
        res = await web.call(claims, "notify", "GET", "/api/v1/inbox/unit", params={"unread": str(unread_only).lower()})
        items: list[dict[str, Any]] | None = [m for m in res.get("messages", []) if isinstance(m, dict)]
    except ApiError:
        items = None
    tabs = (f'<div class="card tabs"><a href="{PREFIX}/inbox"{"" if unread_only else " class=on"}>全部</a>'
            f'<a href="{PREFIX}/inbox?unread=1"{" class=on" if unread_only else ""}>未读</a></div>')
    if items is None:
        body = tabs + messages(["消息暂时无法显示（消息服务暂时无法连接），请稍后刷新；其他工作不受影响"])
    elif not items:
        body = tabs + f'<div class="card"><p>{"没有未读消息" if unread_only else "没有消息"}。</p></div>'
    else:
        body = tabs + inbox_table(claims, items)
    head = f"<h1>消息</h1>{messages(errors)}" + (messages(["已标为已读"], "ok") if ok == "read" else "")
    return await web.show("消息", head + body, claims, here="/inbox", status=status)


@router.get("/inbox", response_class=HTMLResponse)
async def inbox_get(request: Request, web: PageWeb, unread: str = "", ok: str = "") -> Response:
    claims = web.staff(request)
    if not isinstance(claims, Staff):
        return claims
    return await inbox_page(web, claims, unread == "1", [], ok[:20])


@router.post("/inbox/read", response_class=HTMLResponse)
async def inbox_read(request: Request, web: PageWeb) -> Response:
    claims = web.staff(request)
    if not isinstance(claims, Staff):
        return claims
    f = await read_form(request)
    if not csrf_ok(request, f):
        return await inbox_page(web, claims, False, [STALE_FORM], status=403)
    nid = one(f, "notification_id")[:200]
    if not nid:
        return await inbox_page(web, claims, False, ["请选择要标为已读的消息"], status=422)
    try:
        await web.call(claims, "notify", "POST", f"/api/v1/inbox/unit/{seg(nid)}/read")
    except ApiError as exc:
        return await inbox_page(web, claims, False, [exc.message], status=exc.status)
    return RedirectResponse(f"{PREFIX}/inbox?ok=read", status_code=303)
