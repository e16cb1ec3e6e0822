"""分流 (the dispatcher): cases returned and awaiting re-dispatch with the rules' suggestion and why, the new
cases the unit assigned (reassign with a reason, print the 交办单). A case's assignment history is in
``case.py``, walk-in and proxy (代办) registration in ``walkin.py``."""

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
    table,
)
from ..web import PageWeb, Web
from .supervise import OK_ZH, countdown

router = APIRouter(prefix=PREFIX, include_in_schema=False)
DISPATCHING = ("dispatcher", "admin", "leader")


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
    return form(f"/dispatch/{seg(case_id)}", claims, inner, label, bid)


def waiting_card(claims: Staff, c: dict[str, Any], units: dict[str, dict[str, Any]], names: dict[str, str]) -> str:
    """A returned case: who returned it and why, the rules' suggestion (not a unit that returned it), re-dispatch."""
    sug = c.get("suggested_unit_code") or ""
    why = c.get("suggested_reason_zh") or "按现行分流规则"
    excluded = "、".join(names.get(u, u) for u in c.get("excluded_units", []))
    return (f'<div class="card" id="waiting-{esc(c["case_id"])}"><h2><a href="{PREFIX}/case/{esc(c["case_id"])}">'
            f'{esc(c["case_number"])}</a> {esc(category_zh(c.get("category")))} {risk_html(c.get("risk_level"))}'
            f'</h2><p>{esc(names.get(c["returned_by"], c["returned_by"]))} 于 {esc(local(c.get("at")))} 退回：'
            f'{esc(c.get("reason"))}</p>'
            f'<p>建议分派给：<strong class="suggested">{esc(names.get(sug, sug) or "（规则没有合适的单位，请人工选择）")}'
            f'</strong><br><span class="hint">依据：{esc(why)}'
            + (f"；已排除退回过的单位：{esc(excluded)}" if excluded else "") + "</span></p>"
            + dispatch_form(claims, c["case_id"], units, sug, f"redispatch-{c['case_id']}", "重新分派")
            + "</div>")


def fresh_table(items: list[dict[str, Any]], names: dict[str, str]) -> str:
    rows = [[f'<a href="{PREFIX}/case/{esc(i["case_id"])}">{esc(i.get("case_number"))}</a>',
             esc(names.get(i["unit_code"], i["unit_code"])), esc(category_zh(i.get("category"))),
             risk_html(i.get("risk_level")), esc(local(i.get("assigned_at"))), esc(countdown(i)),
             f'<a class="button small secondary" href="{PREFIX}/slip/{esc(i["assignment_id"])}.pdf"'
             f' target="_blank">交办单</a> <a class="button small" href="{PREFIX}/case/{esc(i["case_id"])}#reassign">改派'
             "</a>"] for i in items]
    return table([("案件编号", "案件"), ("承办单位", "承办单位"), ("类别", "类别"), ("风险", "风险"),
                  ("交办时间", "交办"), ("期限", "期限"), ("", "")], rows, tid="fresh", empty="没有新分派的案件。")


async def dispatch_page(web: Web, claims: Staff, errors: list[str], ok: str = "", status: int = 200) -> HTMLResponse:
    units = await web.units()
    names = await web.names()
    try:
        data = await web.call(claims, "routing", "GET", f"/api/v1/units/{claims.unit}/queue",
                              params={"scope": "supervised"})
    except ApiError as exc:
        data, errors = {"items": [], "awaiting_redispatch": []}, [*errors, exc.message]
    waiting = [waiting_card(claims, c, units, names) for c in data.get("awaiting_redispatch", [])]
    fresh = [i for i in data.get("items", []) if i.get("new")]
    body = (f"<h1>分流</h1>{messages(errors)}{ok_message(ok, OK_ZH)}"
            f'<h2>待重新分派（已被退回） <span class="badge">{len(waiting)}</span></h2>'
            + ("".join(waiting) or '<div class="card"><p>没有待重新分派的案件。</p></div>')
            + f'<h2>新分派、尚未受理</h2><div class="card scroll">{fresh_table(fresh, names)}'
            + f'</div><p><a class="button" href="{PREFIX}/walkin" id="to-walkin">窗口登记 / 代办登记</a></p>')
    return await web.show("分流", body, claims, here="/dispatch", status=status)


@router.get("/dispatch", response_class=HTMLResponse)
async def dispatch_get(request: Request, web: PageWeb, ok: str = "") -> Response:
    claims = web.staff(request, DISPATCHING)
    if not isinstance(claims, Staff):
        return claims
    return await dispatch_page(web, claims, [], ok[:20])


def dispatch_errors(unit: str, reason: str, days: str) -> list[str]:
    errors = []
    if not unit:
        errors.append("请选择要分派的单位")
    if len(reason) < 2:
        errors.append("请填写分派理由（至少2个字）")
    if days and not (days.isdigit() and 1 <= int(days) <= 60):
        errors.append("办理期限须为1至60个工作日")
    return errors


@router.post("/dispatch/{case_id}", response_class=HTMLResponse)
async def dispatch_post(request: Request, web: PageWeb, case_id: str) -> Response:
    claims = web.staff(request, DISPATCHING)
    if not isinstance(claims, Staff):
        return claims
    f = await read_form(request)
    if not csrf_ok(request, f):
        return await dispatch_page(web, claims, [STALE_FORM], status=403)
    unit, reason, days = one(f, "unit_code")[:64], one(f, "reason")[:300], one(f, "working_days")
    errors = dispatch_errors(unit, reason, days)
    if not errors:
        units = await web.units()
        if unit not in units:  # a name typed instead of a code
            unit = next((c for c, u in units.items() if u.get("name") == unit), unit)
        body: dict[str, Any] = {"unit_code": unit, "reason": reason} | ({"working_days": int(days)} if days else {})
        try:
            await web.call(claims, "routing", "POST", f"/api/v1/cases/{seg(case_id[:64])}/dispatch", json=body)
        except ApiError as exc:
            errors.append(f"分派未成功：{exc.message}")
    if errors:
        return await dispatch_page(web, claims, errors, status=422)
    return RedirectResponse(f"{PREFIX}/dispatch?ok=dispatch", status_code=303)
