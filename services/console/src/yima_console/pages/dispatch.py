"""分流 (the dispatcher): cases returned and awaiting re-dispatch with the rules' suggestion and why, the new
cases the unit assigned (reassign with a reason), a case's assignment history, and registering a walk-in or a
proxy (代办) submission through intake's staff channels."""

# ruff: noqa: E501  (HTML with Chinese text: a line's display width is twice its characters)

from __future__ import annotations

from typing import Any
from urllib.parse import quote as _quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from yima_contracts.codes import CATEGORY_NAMES_ZH

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
    options,
    read_form,
    risk_html,
)
from ..web import Web
from .supervise import OK_ZH, STEP_ZH, countdown


def quote(v: str) -> str:
    """One path segment: every character that could change the path ("/", "..", "?") is escaped."""
    return _quote(v, safe="")

DISPATCHING = ("dispatcher", "admin", "leader")
REGISTERING = (*DISPATCHING, "grid_worker")  # intake's staff channels: the desk, proxies, grid reports
CHANNELS_ZH = {"reception": "窗口接待（申请人到场）", "proxy": "代办（他人代为申请）", "grid": "网格员上报"}


def channels_for(role: str) -> list[tuple[str, str]]:
    """The staff channels intake lets this role use (grid: grid workers, dispatchers, admins)."""
    if role == "grid_worker":
        return [("grid", CHANNELS_ZH["grid"])]
    allowed = ("reception", "proxy", "grid") if role in ("dispatcher", "admin") else ("reception", "proxy")
    return [(c, CHANNELS_ZH[c]) for c in allowed]
CONSENT_ZH = {"written": "书面同意", "verbal_recorded": "口头同意（已录音）", "in_person": "申请人在场同意"}


def unit_picker(fid: str, units: dict[str, dict[str, Any]], chosen: str = "") -> str:
    """A unit by code or name (a datalist of the active units: typing filters it)."""
    opts = "".join(f'<option value="{esc(c)}">{esc(u.get("name", c))}</option>'
                   for c, u in units.items() if u.get("active", True))
    return (f'<input type="text" id="{fid}" name="unit_code" list="{fid}-list" value="{esc(chosen)}" maxlength="64"'
            f' placeholder="输入单位名称或代码" required><datalist id="{fid}-list">{opts}</datalist>')


def dispatch_form(claims: Staff, case_id: str, units: dict[str, dict[str, Any]], chosen: str, bid: str,
                  label: str) -> str:
    inner = f"""<div class="row"><div><label for="{bid}-unit">分派给</label>{unit_picker(bid + "-unit", units, chosen)}
</div><div><label for="{bid}-days">办理期限 <span class="hint">（工作日，可不填：按风险等级）</span></label>
<input type="number" id="{bid}-days" name="working_days" min="1" max="60"></div></div>
<label for="{bid}-reason">理由 <span class="hint">（必填，记入交办记录并告知承办单位）</span></label>
<input type="text" id="{bid}-reason" name="reason" maxlength="300" required>"""
    return form(f"/dispatch/{quote(case_id)}", claims, inner, label, bid)


def router(web: Web) -> APIRouter:
    r = APIRouter(prefix=PREFIX, include_in_schema=False)

    async def dispatch_page(claims: Staff, errors: list[str], ok: str = "", status: int = 200) -> HTMLResponse:
        units = await web.units()
        names = {c: u.get("name", c) for c, u in units.items()}
        try:
            data = await web.call(claims, "routing", "GET", f"/api/v1/units/{claims.unit}/queue",
                                  params={"scope": "supervised"})
        except ApiError as exc:
            data, errors = {"items": [], "awaiting_redispatch": []}, [*errors, exc.message]
        waiting = []
        for c in data.get("awaiting_redispatch", []):
            sug = c.get("suggested_unit_code") or ""
            why = c.get("suggested_reason_zh") or "按现行分流规则"
            excluded = "、".join(names.get(u, u) for u in c.get("excluded_units", []))
            waiting.append(
                f'<div class="card" id="waiting-{esc(c["case_id"])}"><h2><a href="{PREFIX}/case/{esc(c["case_id"])}">'
                f'{esc(c["case_number"])}</a> {esc(category_zh(c.get("category")))} {risk_html(c.get("risk_level"))}'
                f'</h2><p>{esc(names.get(c["returned_by"], c["returned_by"]))} 于 {esc(local(c.get("at")))} 退回：'
                f'{esc(c.get("reason"))}</p>'
                f'<p>建议分派给：<strong class="suggested">{esc(names.get(sug, sug) or "（规则没有合适的单位，请人工选择）")}'
                f'</strong><br><span class="hint">依据：{esc(why)}'
                + (f"；已排除退回过的单位：{esc(excluded)}" if excluded else "") + "</span></p>"
                + dispatch_form(claims, c["case_id"], units, sug, f"redispatch-{c['case_id']}", "重新分派")
                + "</div>")
        fresh = [i for i in data.get("items", []) if i.get("new")]
        rows = "".join(
            f'<tr><td data-l="案件"><a href="{PREFIX}/case/{esc(i["case_id"])}">{esc(i.get("case_number"))}</a></td>'
            f'<td data-l="承办单位">{esc(names.get(i["unit_code"], i["unit_code"]))}</td>'
            f'<td data-l="类别">{esc(category_zh(i.get("category")))}</td><td data-l="风险">{risk_html(i.get("risk_level"))}'
            f'</td><td data-l="交办">{esc(local(i.get("assigned_at")))}</td><td data-l="期限">{esc(countdown(i))}</td>'
            f'<td><a class="button small secondary" href="{PREFIX}/slip/{esc(i["assignment_id"])}.pdf"'
            f' target="_blank">交办单</a> <a class="button small" href="{PREFIX}/case/{esc(i["case_id"])}#reassign">改派'
            "</a></td></tr>" for i in fresh)
        body = (f"<h1>分流</h1>{messages(errors)}{ok_message(ok, OK_ZH)}"
                f'<h2>待重新分派（已被退回） <span class="badge">{len(waiting)}</span></h2>'
                + ("".join(waiting) or '<div class="card"><p>没有待重新分派的案件。</p></div>')
                + '<h2>新分派、尚未受理</h2><div class="card scroll">'
                + (f'<table id="fresh" class="cards"><tr><th>案件编号</th><th>承办单位</th><th>类别</th><th>风险</th>'
                   f"<th>交办时间</th><th>期限</th><th></th></tr>{rows}</table>" if rows else "<p>没有新分派的案件。</p>")
                + f'</div><p><a class="button" href="{PREFIX}/walkin" id="to-walkin">窗口登记 / 代办登记</a></p>')
        return await web.show("分流", body, claims, here="/dispatch", status=status)

    @r.get("/dispatch", response_class=HTMLResponse)
    async def dispatch_get(request: Request, ok: str = "") -> Response:
        claims = web.staff(request, DISPATCHING)
        if not isinstance(claims, Staff):
            return claims
        return await dispatch_page(claims, [], ok[:20])

    @r.post("/dispatch/{case_id}", response_class=HTMLResponse)
    async def dispatch_post(request: Request, case_id: str) -> Response:
        claims = web.staff(request, DISPATCHING)
        if not isinstance(claims, Staff):
            return claims
        f = await read_form(request)
        if not csrf_ok(request, f):
            return await dispatch_page(claims, [STALE_FORM], status=403)
        unit, reason, days = one(f, "unit_code")[:64], one(f, "reason")[:300], one(f, "working_days")
        errors = []
        if not unit:
            errors.append("请选择要分派的单位")
        if len(reason) < 2:
            errors.append("请填写分派理由（至少2个字）")
        if days and not (days.isdigit() and 1 <= int(days) <= 60):
            errors.append("办理期限须为1至60个工作日")
        if not errors:
            units = await web.units()
            if unit not in units:  # a name typed instead of a code
                unit = next((c for c, u in units.items() if u.get("name") == unit), unit)
            body: dict[str, Any] = {"unit_code": unit, "reason": reason}
            if days:
                body["working_days"] = int(days)
            try:
                await web.call(claims, "routing", "POST", f"/api/v1/cases/{quote(case_id[:64])}/dispatch", json=body)
            except ApiError as exc:
                errors.append(f"分派未成功：{exc.message}")
        if errors:
            return await dispatch_page(claims, errors, status=422)
        return RedirectResponse(f"{PREFIX}/dispatch?ok=dispatch", status_code=303)

    # --- a case's assignment history (routing) ----------------------------------------------------------

    @r.get("/case/{case_id}", response_class=HTMLResponse)
    async def case_get(request: Request, case_id: str) -> Response:
        claims = web.staff(request, ("dispatcher", "admin", "leader", "mediator"))
        if not isinstance(claims, Staff):
            return claims
        cid = quote(case_id[:64])
        try:
            case = await web.call(claims, "routing", "GET", f"/api/v1/cases/{cid}")
            hist = await web.call(claims, "routing", "GET", f"/api/v1/cases/{cid}/assignments")
        except ApiError as exc:
            return await web.show("案件", f"<h1>案件</h1>{messages([exc.message])}", claims, status=exc.status)
        units = await web.units()
        names = {c: u.get("name", c) for c, u in units.items()}
        rounds = "".join(
            f'<tr><td data-l="轮次">{esc(a.get("round"))}</td><td data-l="承办">{esc(names.get(a["unit_code"], a["unit_code"]))}'
            f'</td><td data-l="督办">{esc(names.get(a["supervisor_unit_code"], a["supervisor_unit_code"]))}</td>'
            f'<td data-l="依据">{esc(a.get("reason_zh"))}</td><td data-l="状态">{esc(a.get("state"))}'
            f'{"（暂停计时）" if a.get("paused") else ""}</td><td data-l="交办">{esc(local(a.get("assigned_at")))}</td>'
            f'<td data-l="期限">{esc(local(a.get("due_at")))}</td>'
            f'<td data-l="督办">{esc("、".join(STEP_ZH.get(s, s) for s in a.get("sup_done") or []))}</td>'
            f'<td><a href="{PREFIX}/slip/{esc(a["assignment_id"])}.pdf" target="_blank">交办单</a></td></tr>'
            for a in hist.get("assignments", []))
        leader = (hist.get("leader") or {}).get("name")
        applicant = case.get("applicant") or {}
        body = (f'<h1>案件 {esc(case.get("case_number"))}</h1><div class="card"><p>类别：'
                f'{esc(category_zh(case.get("category")))} · 风险：{risk_html(case.get("risk_level"))} · 当前承办：'
                f'{esc(names.get(case.get("assigned_unit") or "", case.get("assigned_unit") or "—"))}'
                + (f" · 包案领导：{esc(leader)}" if leader else "") + "</p>"
                f'<p>申请人：{esc(applicant.get("name"))} {esc(applicant.get("phone"))} '
                '<span class="hint">（已部分隐藏）</span></p>'
                f'<p>纠纷情况：{esc(case.get("description"))}</p></div>'
                f'<div class="card scroll"><h2>交办记录</h2><table class="cards" id="rounds"><tr><th>轮次</th><th>承办单位</th>'
                "<th>督办单位</th><th>依据</th><th>状态</th><th>交办时间</th><th>期限</th><th>督办</th><th></th></tr>"
                f"{rounds}</table></div>")
        if claims.role in DISPATCHING:
            body += ('<div class="card" id="reassign"><h2>改派 / 重新分派</h2>'
                     + dispatch_form(claims, case_id, units, "", "reassign", "分派") + "</div>")
            body += ('<details class="card" id="summon"><summary>吹哨：召集其他单位联合处置（本单位承办时）</summary>'
                     + form("/joint/summon", claims, f"""<input type="hidden" name="case_id" value="{esc(case_id)}">
<label for="j-units">召集单位代码 <span class="hint">（多个用空格或逗号分隔）</span></label>
<input type="text" id="j-units" name="unit_codes" maxlength="400" required>
<label for="j-reason">召集理由</label><input type="text" id="j-reason" name="reason" maxlength="300" required>""",
                                 "吹哨召集", "summon") + "</details>")
        return await web.show(f"案件 {case.get('case_number')}", body, claims)

    # --- walk-in and proxy (代办) submissions through intake's staff channels ---------------------------

    def walkin_body(claims: Staff, errors: list[str], f: dict[str, list[str]], created: dict[str, Any] | None = None
                    ) -> str:
        def k(key: str) -> str:
            return esc(one(f, key))
        done = ""
        if created:
            done = messages([f"已登记：案件编号 {created.get('case_number')}，查询码 {created.get('tracking_code') or '（已短信告知）'}"
                             "，请告知申请人凭查询码查询进度"], "ok")
        proxy = one(f, "channel") == "proxy"
        inner = f"""<div class="row"><div><label for="w-channel">登记方式</label><select id="w-channel" name="channel">
{options(channels_for(claims.role), one(f, "channel"))}</select></div>
<div><label for="w-category">纠纷类别 <span class="hint">（可不选，系统智能分类）</span></label>
<select id="w-category" name="category">{options([("", "智能分类"), *((c.value, n) for c, n in CATEGORY_NAMES_ZH.items())],
                                                  one(f, "category"))}</select></div></div>
<div class="row"><div><label for="w-name">申请人姓名</label><input type="text" id="w-name" name="name" maxlength="50"
 value="{k("name")}" required></div><div><label for="w-phone">申请人电话</label><input type="tel" id="w-phone" name="phone"
 maxlength="20" value="{k("phone")}" required></div></div>
<label for="w-desc">纠纷情况</label><textarea id="w-desc" name="description" maxlength="5000" required>{k("description")}
</textarea>
<div class="row"><div><label for="w-unit">纠纷发生地（社区/网格代码，可不填）</label>
<input type="text" id="w-unit" name="location_unit" maxlength="64" value="{k("location_unit")}"></div>
<div><label for="w-address">地址（可不填）</label><input type="text" id="w-address" name="address" maxlength="200"
 value="{k("address")}"></div></div>
<details{" open" if proxy else ""}><summary>代办信息（选择“代办”时必填）</summary><div class="row">
<div><label for="w-sub-name">代办人姓名</label><input type="text" id="w-sub-name" name="submitter_name" maxlength="50"
 value="{k("submitter_name")}"></div><div><label for="w-sub-phone">代办人电话</label><input type="tel" id="w-sub-phone"
 name="submitter_phone" maxlength="20" value="{k("submitter_phone")}"></div>
<div><label for="w-relation">与申请人关系</label><input type="text" id="w-relation" name="relation" maxlength="40"
 value="{k("relation")}" placeholder="如：子女、社区工作人员"></div>
<div><label for="w-consent">申请人同意方式</label><select id="w-consent" name="consent">
{options(CONSENT_ZH.items(), one(f, "consent"))}</select></div></div></details>"""
        title = "网格上报" if claims.role == "grid_worker" else "窗口登记 / 代办登记"
        return (f"<h1>{title}</h1>{messages(errors)}{done}<div class='card'>"
                + form("/walkin", claims, inner, "登记", "walkin-submit") + "</div>")

    @r.get("/walkin", response_class=HTMLResponse)
    async def walkin_get(request: Request) -> Response:
        claims = web.staff(request, REGISTERING)
        if not isinstance(claims, Staff):
            return claims
        return await web.show("窗口登记", walkin_body(claims, [], {}), claims, here="/walkin")

    @r.post("/walkin", response_class=HTMLResponse)
    async def walkin_post(request: Request) -> Response:
        claims = web.staff(request, REGISTERING)
        if not isinstance(claims, Staff):
            return claims
        f = await read_form(request)
        if not csrf_ok(request, f):
            return await web.show("窗口登记", walkin_body(claims, [STALE_FORM], f), claims, status=403)
        allowed = [c for c, _ in channels_for(claims.role)]
        channel = one(f, "channel") if one(f, "channel") in allowed else allowed[0]
        body: dict[str, Any] = {"channel": channel, "description": one(f, "description"),
                                "applicant": {"name": one(f, "name"), "phone": one(f, "phone")},
                                "location": {"unit_code": one(f, "location_unit") or None,
                                             "address": one(f, "address") or None}}
        if one(f, "category"):
            body["category"] = one(f, "category")
        if channel == "proxy":
            body["proxy"] = {"submitter": {"name": one(f, "submitter_name"), "phone": one(f, "submitter_phone")},
                             "relation": one(f, "relation"), "consent": one(f, "consent") or "in_person"}
        try:
            created = await web.call(claims, "intake", "POST", "/api/v1/cases", json=body)
        except ApiError as exc:
            return await web.show("窗口登记", walkin_body(claims, [f"登记未成功：{exc.message}"], f), claims,
                                  status=exc.status)
        return await web.show("窗口登记", walkin_body(claims, [], {}, created), claims, here="/walkin")

    return r
