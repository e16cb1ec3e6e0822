"""吹哨报到 for every working role (routing's API): the lead unit summons units to a case, each summoned unit
sees the summons and reports in; the lead unit sees who has reported."""



from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..api import ApiError
from ..ui import PREFIX, STALE_FORM, Staff, csrf_ok, esc, form, local, messages, ok_message, one, read_form, seg
from ..web import PageWeb, Web
from .leader import OK_ZH

router = APIRouter(prefix=PREFIX, include_in_schema=False)
WORKING = ("dispatcher", "leader", "mediator", "admin")
SUMMONING = ("dispatcher", "leader", "admin")
SUMMON_FORM = """<div class="row"><div><label for="j-case">案件ID <span class="hint">
（在案件页面上也可直接吹哨）</span></label><input type="text" id="j-case" name="case_id" maxlength="64" required></div>
<div><label for="j-units">召集单位代码 <span class="hint">（多个用空格或逗号分隔）</span></label>
<input type="text" id="j-units" name="unit_codes" maxlength="400" required></div></div>
<label for="j-reason">召集理由</label><input type="text" id="j-reason" name="reason" maxlength="300" required>"""


def status_of(j: dict[str, Any], names: dict[str, str]) -> str:
    return "".join(
        f"<li>{esc(names.get(u, u))}：" + (f"已报到（{esc(local(x.get('reported_at')))}）{esc(x.get('note'))}"
                                           if x.get("reported_at") else '<span class="red">未报到</span>')
        + "</li>" for u, x in (j.get("units") or {}).items())


def led_card(j: dict[str, Any], names: dict[str, str]) -> str:
    return (f'<div class="card"><h2>{esc(j.get("case_number"))}</h2><p>召集理由：{esc(j.get("reason"))}；'
            f'报到期限：{esc(local(j.get("report_by")))}</p><ul>{status_of(j, names)}</ul></div>')


def summoned_card(j: dict[str, Any], claims: Staff, names: dict[str, str]) -> str:
    me = (j.get("units") or {}).get(claims.unit) or {}
    jid = j["joint_id"]
    act = (f"<p>本单位已于 {esc(local(me.get('reported_at')))} 报到：{esc(me.get('note'))}</p>"
           if me.get("reported_at") else form(
               f"/joint/{seg(jid)}/report", claims,
               f'<label for="note-{esc(jid)}">报到情况</label><input type="text" id="note-{esc(jid)}" name="note"'
               ' maxlength="500" required placeholder="如：已派员到场，负责……">', "报到", f"report-{jid}"))
    return (f'<div class="card"><h2>{esc(j.get("case_number"))} · 牵头单位：'
            f'{esc(names.get(j["lead_unit_code"], j["lead_unit_code"]))}</h2><p>召集理由：'
            f'{esc(j.get("reason"))}；请于 {esc(local(j.get("report_by")))} 前报到</p>{act}</div>')


async def joint_page(web: Web, claims: Staff, errors: list[str], ok: str = "", status: int = 200) -> HTMLResponse:
    names = await web.names()
    try:
        items = (await web.call(claims, "routing", "GET", f"/api/v1/units/{claims.unit}/joint")).get("joint", [])
    except ApiError as exc:
        items, errors = [], [*errors, exc.message]
    led_html = "".join(led_card(j, names) for j in items if j.get("lead"))
    mine_html = "".join(summoned_card(j, claims, names) for j in items if not j.get("lead"))
    body = (f"<h1>吹哨报到</h1>{messages(errors)}{ok_message(ok, OK_ZH)}<h2>召集本单位的（请报到）</h2>"
            + (mine_html or '<div class="card"><p>没有召集本单位的联合处置。</p></div>')
            + "<h2>本单位牵头的</h2>" + (led_html or '<div class="card"><p>本单位没有牵头的联合处置。</p></div>')
            + '<details class="card"><summary>发起吹哨（本单位承办的案件）</summary>'
            + form("/joint/summon", claims, SUMMON_FORM, "吹哨召集", "summon") + "</details>")
    return await web.show("吹哨报到", body, claims, here="/joint", status=status)


@router.get("/joint", response_class=HTMLResponse)
async def joint_get(request: Request, web: PageWeb, ok: str = "") -> Response:
    claims = web.staff(request, WORKING)
    if not isinstance(claims, Staff):
        return claims
    return await joint_page(web, claims, [], ok[:20])


@router.post("/joint/summon", response_class=HTMLResponse)
async def joint_summon(request: Request, web: PageWeb) -> Response:
    claims = web.staff(request, SUMMONING)
    if not isinstance(claims, Staff):
        return claims
    f = await read_form(request)
    if not csrf_ok(request, f):
        return await joint_page(web, claims, [STALE_FORM], status=403)
    codes = [c for c in one(f, "unit_codes").replace("，", " ").replace(",", " ").split() if c][:20]
    if not codes or len(one(f, "reason")) < 2:
        return await joint_page(web, claims, ["请填写召集单位和召集理由"], status=422)
    try:
        await web.call(claims, "routing", "POST", f"/api/v1/cases/{seg(one(f, 'case_id')[:64])}/joint",
                       json={"unit_codes": codes, "reason": one(f, "reason")[:300]})
    except ApiError as exc:
        return await joint_page(web, claims, [f"召集未成功：{exc.message}"], status=exc.status)
    return RedirectResponse(f"{PREFIX}/joint?ok=summon", status_code=303)


@router.post("/joint/{joint_id}/report", response_class=HTMLResponse)
async def joint_report(request: Request, web: PageWeb, joint_id: str) -> Response:
    claims = web.staff(request, WORKING)
    if not isinstance(claims, Staff):
        return claims
    f = await read_form(request)
    if not csrf_ok(request, f):
        return await joint_page(web, claims, [STALE_FORM], status=403)
    if not one(f, "note"):
        return await joint_page(web, claims, ["请填写报到情况"], status=422)
    try:
        await web.call(claims, "routing", "POST", f"/api/v1/joint/{seg(joint_id[:64])}/report",
                       json={"note": one(f, "note")[:500]})
    except ApiError as exc:
        return await joint_page(web, claims, [f"报到未成功：{exc.message}"], status=exc.status)
    return RedirectResponse(f"{PREFIX}/joint?ok=report", status_code=303)
