"""分包领导 (the leader): my red cases, each with the risk's why in the rules' own words, the level history,
the next follow-up visit (回头看), and recording a visit (risk's API). 吹哨报到 is in ``joint.py``."""

# ruff: noqa: E501  (HTML with Chinese text: a line's display width is twice its characters)

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..api import ApiError
from ..ui import (
    PREFIX,
    STALE_FORM,
    Staff,
    category_zh,
    csrf_ok,
    esc,
    form,
    local,
    messages,
    ok_message,
    one,
    read_form,
    risk_html,
    seg,
)
from ..web import PageWeb, Web

FOLLOWUP_ZH = {"pending": "待回访", "fired": "已到期，待回访", "visited": "已回访"}
router = APIRouter(prefix=PREFIX, include_in_schema=False)
OK_ZH = {"visit": "已登记回访", "summon": "已发出召集", "report": "已报到", "password": "密码已修改"}


def case_card(c: dict[str, Any], claims: Staff) -> str:
    levels = " → ".join(f"{risk_html(x.get('level'))}<span class='time'>（{esc(local(x.get('at')))}）</span>"
                        for x in c.get("levels", []))
    rules = "、".join(esc(r.get("name_zh")) for r in c.get("rules", []) if r.get("rule_id") != "score")
    fu = c.get("followup")
    if fu:
        nxt = (f"回头看：{esc(FOLLOWUP_ZH.get(fu.get('state'), fu.get('state')))}，应于 {esc(local(fu.get('due_at')))} 前回访"
               f"<div class='hint'>{esc(fu.get('reason_zh'))}</div>")
    elif c.get("closed"):
        nxt = "回头看：结案后安排"
    else:
        nxt = "回头看：案件办结后30天内回访（尚未结案，可随时登记走访）"
    visits = "".join(f"<li><span class='time'>{esc(local(v.get('at')))}</span> {esc(v.get('name') or v.get('by'))}："
                     f"{esc(v.get('note'))}{'（有反弹迹象）' if v.get('rebounded') else ''}</li>"
                     for v in c.get("visits", []))
    cid = c["case_id"]
    inner = f"""<label for="note-{esc(cid)}">回访情况 <span class="hint">（至少4个字；不要写当事人的号码）</span></label>
<textarea id="note-{esc(cid)}" name="note" maxlength="1000" required></textarea>
<label class="check"><input type="checkbox" name="rebounded" value="1">矛盾有反弹迹象</label>"""
    return (f'<div class="card" id="red-{esc(cid)}"><h2>{esc(c.get("case_number") or cid)} '
            f'{esc(category_zh(c.get("category")))} 当前：{risk_html(c.get("level"))}</h2>'
            f'<p><strong>为什么是红色：</strong>{esc(c.get("reason_zh"))}'
            + (f"<br><span class='hint'>触发规则：{rules}</span>" if rules else "") + "</p>"
            f"<p><strong>等级变化：</strong>{levels or '—'}</p><p>{nxt}</p>"
            + (f"<h2>已登记的回访</h2><ul class='visits'>{visits}</ul>" if visits else "")
            + "<details><summary>登记回访</summary>"
            + form(f"/leader/{seg(cid)}/visit", claims, inner, "登记回访", f"visit-{cid}") + "</details></div>")


async def leader_page(web: Web, claims: Staff, errors: list[str], ok: str = "", status: int = 200) -> HTMLResponse:
    try:
        cases = (await web.call(claims, "risk", "GET", "/api/v1/leader/cases")).get("cases", [])
    except ApiError as exc:
        cases, errors = [], [*errors, exc.message]
    open_ = [c for c in cases if not c.get("closed")]
    done = [c for c in cases if c.get("closed")]
    body = (f"<h1>我的红色案件</h1>{messages(errors)}{ok_message(ok, OK_ZH)}"
            f'<p>包案 {len(cases)} 件：办理中 {len(open_)} 件，已结案待回头看 {len(done)} 件。</p>'
            + "".join(case_card(c, claims) for c in open_ + done)
            + ("" if cases else '<div class="card"><p>目前没有由您包案的红色风险案件。</p></div>'))
    return await web.show("我的红色案件", body, claims, here="/leader", status=status)


@router.get("/leader", response_class=HTMLResponse)
async def leader_get(request: Request, web: PageWeb, ok: str = "") -> Response:
    claims = web.staff(request, ("leader", "admin"))
    if not isinstance(claims, Staff):
        return claims
    return await leader_page(web, claims, [], ok[:20])


@router.post("/leader/{case_id}/visit", response_class=HTMLResponse)
async def visit(request: Request, web: PageWeb, case_id: str) -> Response:
    claims = web.staff(request, ("leader", "admin"))
    if not isinstance(claims, Staff):
        return claims
    f = await read_form(request)
    if not csrf_ok(request, f):
        return await leader_page(web, claims, [STALE_FORM], status=403)
    note = one(f, "note")[:1000]
    if len(note) < 4:
        return await leader_page(web, claims, ["回访情况：请至少写4个字"], status=422)
    try:
        await web.call(claims, "risk", "POST", f"/api/v1/cases/{seg(case_id[:64])}/visits",
                       json={"note": note, "rebounded": one(f, "rebounded") == "1"})
    except ApiError as exc:
        return await leader_page(web, claims, [f"登记未成功：{exc.message}"], status=exc.status)
    return RedirectResponse(f"{PREFIX}/leader?ok=visit", status_code=303)
