"""The unit's mediation queue (调解待办): by state, the unit's own or with the units below it."""

# ruff: noqa: E501  (HTML with Chinese text: a line's display width is twice its characters)

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ...api import ApiError
from ...ui import (
    PREFIX,
    Staff,
    category_zh,
    esc,
    local,
    messages,
    risk_zh,
)
from ...web import PageWeb
from .kit import (
    HANDLE,
    MANAGE,
    STATE_ZH,
    m,
)

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/queue", response_class=HTMLResponse)
async def queue(request: Request, web: PageWeb, state: str = "", scope: str = "own") -> Response:
    claims = web.staff(request, HANDLE)
    if not isinstance(claims, Staff):
        return claims
    state = state if state in STATE_ZH else ""
    below = scope == "below"
    errors: list[str] = []
    params = {"scope": "below" if below else "own"} | ({"state": state} if state else {})
    try:
        items = (await m(web, claims, "GET", "/api/v1/queue", params=params)).get("items", [])
    except ApiError as exc:
        items, errors = [], [exc.message]
    scope_q = "&scope=below" if below else ""
    tabs = "".join(f'<a href="{PREFIX}/queue?state={s}{scope_q}"{" class=on" if s == state else ""}>{esc(t)}</a>'
                   for s, t in (("", "全部"), *STATE_ZH.items()))
    if claims.role in MANAGE:
        tabs += (f' · <a href="{PREFIX}/queue?state={state}"{"" if below else " class=on"}>本单位</a>'
                 f'<a href="{PREFIX}/queue?state={state}&scope=below"{" class=on" if below else ""}>含下级单位</a>')
    rows = "".join(
        f'<tr><td data-l="案件"><a href="{PREFIX}/cases/{esc(c["assignment_id"])}" class="case">'
        f'{esc(c["case_number"])}</a></td>'
        f"<td data-l=\"类别\">{esc(category_zh(c['category']))}</td><td data-l=\"风险\">{esc(risk_zh(c['risk_level']))}</td>"
        f"<td data-l=\"申请人\">{esc(c['parties'][0]['name'] if c.get('parties') else '')}</td>"
        + (f"<td data-l=\"承办单位\">{esc(c['unit_name'])}</td>" if below else "")
        + f"<td data-l=\"期限\">{esc(local(c['due_at']))}</td><td><span class=\"state\">{esc(c['state_zh'])}</span></td></tr>"
        for c in items)
    unit_th = "<th>承办单位</th>" if below else ""
    table = (f'<table id="queue" class="cards"><tr><th>案件编号</th><th>类别</th><th>风险</th><th>申请人</th>{unit_th}'
             f"<th>办理期限</th><th>状态</th></tr>{rows}</table>" if rows else "<p>没有案件。</p>")
    return await web.show("调解待办", f'<h1>调解待办</h1>{messages(errors)}<div class="card tabs">{tabs}</div>'
                                  f'<div class="card scroll">{table}</div>', claims, here="/queue")
