"""分包领导 (the leader): my red cases, each with the risk's why in the rules' own words, the level history,
the next follow-up visit (回头看), and recording a visit (risk's API); 吹哨报到 for every working role:
the lead unit summons units, each summoned unit sees the summons and reports in (routing's API)."""

# ruff: noqa: E501  (HTML with Chinese text: a line's display width is twice its characters)

from __future__ import annotations

from typing import Any
from urllib.parse import quote as _quote

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
)
from ..web import Web


def quote(v: str) -> str:
    """One path segment: every character that could change the path ("/", "..", "?") is escaped."""
    return _quote(v, safe="")

FOLLOWUP_ZH = {"pending": "待回访", "fired": "已到期，待回访", "visited": "已回访"}
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
            + form(f"/leader/{quote(cid)}/visit", claims, inner, "登记回访", f"visit-{cid}") + "</details></div>")


def router(web: Web) -> APIRouter:
    r = APIRouter(prefix=PREFIX, include_in_schema=False)

    async def leader_page(claims: Staff, errors: list[str], ok: str = "", status: int = 200) -> HTMLResponse:
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

    @r.get("/leader", response_class=HTMLResponse)
    async def leader_get(request: Request, ok: str = "") -> Response:
        claims = web.staff(request, ("leader", "admin"))
        if not isinstance(claims, Staff):
            return claims
        return await leader_page(claims, [], ok[:20])

    @r.post("/leader/{case_id}/visit", response_class=HTMLResponse)
    async def visit(request: Request, case_id: str) -> Response:
        claims = web.staff(request, ("leader", "admin"))
        if not isinstance(claims, Staff):
            return claims
        f = await read_form(request)
        if not csrf_ok(request, f):
            return await leader_page(claims, [STALE_FORM], status=403)
        note = one(f, "note")[:1000]
        if len(note) < 4:
            return await leader_page(claims, ["回访情况：请至少写4个字"], status=422)
        try:
            await web.call(claims, "risk", "POST", f"/api/v1/cases/{quote(case_id[:64])}/visits",
                           json={"note": note, "rebounded": one(f, "rebounded") == "1"})
        except ApiError as exc:
            return await leader_page(claims, [f"登记未成功：{exc.message}"], status=exc.status)
        return RedirectResponse(f"{PREFIX}/leader?ok=visit", status_code=303)

    # --- 吹哨报到 -----------------------------------------------------------------------------------------

    async def joint_page(claims: Staff, errors: list[str], ok: str = "", status: int = 200) -> HTMLResponse:
        names = {c: u.get("name", c) for c, u in (await web.units()).items()}
        try:
            items = (await web.call(claims, "routing", "GET", f"/api/v1/units/{claims.unit}/joint")).get("joint", [])
        except ApiError as exc:
            items, errors = [], [*errors, exc.message]
        led, summoned = [j for j in items if j.get("lead")], [j for j in items if not j.get("lead")]

        def status_of(j: dict[str, Any]) -> str:
            return "".join(
                f"<li>{esc(names.get(u, u))}：" + (f"已报到（{esc(local(x.get('reported_at')))}）{esc(x.get('note'))}"
                                                   if x.get("reported_at") else '<span class="red">未报到</span>')
                + "</li>" for u, x in (j.get("units") or {}).items())

        led_html = "".join(
            f'<div class="card"><h2>{esc(j.get("case_number"))}</h2><p>召集理由：{esc(j.get("reason"))}；'
            f'报到期限：{esc(local(j.get("report_by")))}</p><ul>{status_of(j)}</ul></div>' for j in led)
        mine_html = ""
        for j in summoned:
            me = (j.get("units") or {}).get(claims.unit) or {}
            act = (f"<p>本单位已于 {esc(local(me.get('reported_at')))} 报到：{esc(me.get('note'))}</p>"
                   if me.get("reported_at") else form(
                       f"/joint/{quote(j['joint_id'])}/report", claims,
                       f'<label for="note-{esc(j["joint_id"])}">报到情况</label><input type="text" '
                       f'id="note-{esc(j["joint_id"])}" name="note" maxlength="500" required '
                       'placeholder="如：已派员到场，负责……">', "报到", f"report-{j['joint_id']}"))
            mine_html += (f'<div class="card"><h2>{esc(j.get("case_number"))} · 牵头单位：'
                          f'{esc(names.get(j["lead_unit_code"], j["lead_unit_code"]))}</h2><p>召集理由：'
                          f'{esc(j.get("reason"))}；请于 {esc(local(j.get("report_by")))} 前报到</p>{act}</div>')
        summon = form("/joint/summon", claims, """<div class="row"><div><label for="j-case">案件ID <span class="hint">
（在案件页面上也可直接吹哨）</span></label><input type="text" id="j-case" name="case_id" maxlength="64" required></div>
<div><label for="j-units">召集单位代码 <span class="hint">（多个用空格或逗号分隔）</span></label>
<input type="text" id="j-units" name="unit_codes" maxlength="400" required></div></div>
<label for="j-reason">召集理由</label><input type="text" id="j-reason" name="reason" maxlength="300" required>""",
                      "吹哨召集", "summon")
        body = (f"<h1>吹哨报到</h1>{messages(errors)}{ok_message(ok, OK_ZH)}<h2>召集本单位的（请报到）</h2>"
                + (mine_html or '<div class="card"><p>没有召集本单位的联合处置。</p></div>')
                + "<h2>本单位牵头的</h2>" + (led_html or '<div class="card"><p>本单位没有牵头的联合处置。</p></div>')
                + f'<details class="card"><summary>发起吹哨（本单位承办的案件）</summary>{summon}</details>')
        return await web.show("吹哨报到", body, claims, here="/joint", status=status)

    @r.get("/joint", response_class=HTMLResponse)
    async def joint_get(request: Request, ok: str = "") -> Response:
        claims = web.staff(request, ("dispatcher", "leader", "mediator", "admin"))
        if not isinstance(claims, Staff):
            return claims
        return await joint_page(claims, [], ok[:20])

    @r.post("/joint/summon", response_class=HTMLResponse)
    async def joint_summon(request: Request) -> Response:
        claims = web.staff(request, ("dispatcher", "leader", "admin"))
        if not isinstance(claims, Staff):
            return claims
        f = await read_form(request)
        if not csrf_ok(request, f):
            return await joint_page(claims, [STALE_FORM], status=403)
        codes = [c for c in one(f, "unit_codes").replace("，", " ").replace(",", " ").split() if c][:20]
        if not codes or len(one(f, "reason")) < 2:
            return await joint_page(claims, ["请填写召集单位和召集理由"], status=422)
        try:
            await web.call(claims, "routing", "POST", f"/api/v1/cases/{quote(one(f, 'case_id')[:64])}/joint",
                           json={"unit_codes": codes, "reason": one(f, "reason")[:300]})
        except ApiError as exc:
            return await joint_page(claims, [f"召集未成功：{exc.message}"], status=exc.status)
        return RedirectResponse(f"{PREFIX}/joint?ok=summon", status_code=303)

    @r.post("/joint/{joint_id}/report", response_class=HTMLResponse)
    async def joint_report(request: Request, joint_id: str) -> Response:
        claims = web.staff(request, ("dispatcher", "leader", "mediator", "admin"))
        if not isinstance(claims, Staff):
            return claims
        f = await read_form(request)
        if not csrf_ok(request, f):
            return await joint_page(claims, [STALE_FORM], status=403)
        if not one(f, "note"):
            return await joint_page(claims, ["请填写报到情况"], status=422)
        try:
            await web.call(claims, "routing", "POST", f"/api/v1/joint/{quote(joint_id[:64])}/report",
                           json={"note": one(f, "note")[:500]})
        except ApiError as exc:
            return await joint_page(claims, [f"报到未成功：{exc.message}"], status=exc.status)
        return RedirectResponse(f"{PREFIX}/joint?ok=report", status_code=303)

    return r
