"""A case's assignment history (routing): every round with its unit, supervisor, rule, state, deadline and
supervision steps, the 交办单 of each; for dispatchers, reassigning and 吹哨 (summoning other units)."""



from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ..api import ApiError
from ..ui import PREFIX, Staff, category_zh, esc, form, local, messages, risk_html, seg, table
from ..web import PageWeb
from .dispatch import DISPATCHING, dispatch_form
from .supervise import STEP_ZH

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def rounds_table(assignments: list[dict[str, Any]], names: dict[str, str]) -> str:
    rows = [[esc(a.get("round")), esc(names.get(a["unit_code"], a["unit_code"])),
             esc(names.get(a["supervisor_unit_code"], a["supervisor_unit_code"])), esc(a.get("reason_zh")),
             f'{esc(a.get("state"))}{"（暂停计时）" if a.get("paused") else ""}', esc(local(a.get("assigned_at"))),
             esc(local(a.get("due_at"))), esc("、".join(STEP_ZH.get(s, s) for s in a.get("sup_done") or [])),
             f'<a href="{PREFIX}/slip/{esc(a["assignment_id"])}.pdf" target="_blank">交办单</a>'] for a in assignments]
    return table([("轮次", "轮次"), ("承办单位", "承办"), ("督办单位", "督办"), ("依据", "依据"), ("状态", "状态"),
                  ("交办时间", "交办"), ("期限", "期限"), ("督办", "督办"), ("", "")], rows, tid="rounds")


def case_head(case: dict[str, Any], hist: dict[str, Any], names: dict[str, str]) -> str:
    leader = (hist.get("leader") or {}).get("name")
    applicant = case.get("applicant") or {}
    return (f'<h1>案件 {esc(case.get("case_number"))}</h1><div class="card"><p>类别：'
            f'{esc(category_zh(case.get("category")))} · 风险：{risk_html(case.get("risk_level"))} · 当前承办：'
            f'{esc(names.get(case.get("assigned_unit") or "", case.get("assigned_unit") or "—"))}'
            + (f" · 包案领导：{esc(leader)}" if leader else "") + "</p>"
            f'<p>申请人：{esc(applicant.get("name"))} {esc(applicant.get("phone"))} '
            '<span class="hint">（已部分隐藏）</span></p>'
            f'<p>纠纷情况：{esc(case.get("description"))}</p></div>')


def dispatcher_forms(claims: Staff, case_id: str, units: dict[str, dict[str, Any]]) -> str:
    return ('<div class="card" id="reassign"><h2>改派 / 重新分派</h2>'
            + dispatch_form(claims, case_id, units, "", "reassign", "分派") + "</div>"
            + '<details class="card" id="summon"><summary>吹哨：召集其他单位联合处置（本单位承办时）</summary>'
            + form("/joint/summon", claims, f"""<input type="hidden" name="case_id" value="{esc(case_id)}">
<label for="j-units">召集单位代码 <span class="hint">（多个用空格或逗号分隔）</span></label>
<input type="text" id="j-units" name="unit_codes" maxlength="400" required>
<label for="j-reason">召集理由</label><input type="text" id="j-reason" name="reason" maxlength="300" required>""",
                   "吹哨召集", "summon") + "</details>")


@router.get("/case/{case_id}", response_class=HTMLResponse)
async def case_get(request: Request, web: PageWeb, case_id: str) -> Response:
    claims = web.staff(request, ("dispatcher", "admin", "leader", "mediator"))
    if not isinstance(claims, Staff):
        return claims
    cid = seg(case_id[:64])
    try:
        case = await web.call(claims, "routing", "GET", f"/api/v1/cases/{cid}")
        hist = await web.call(claims, "routing", "GET", f"/api/v1/cases/{cid}/assignments")
    except ApiError as exc:
        return await web.show("案件", f"<h1>案件</h1>{messages([exc.message])}", claims, status=exc.status)
    names = await web.names()
    body = (case_head(case, hist, names) + '<div class="card scroll"><h2>交办记录</h2>'
            + rounds_table(hist.get("assignments", []), names) + "</div>")
    if claims.role in DISPATCHING:
        body += dispatcher_forms(claims, case_id, await web.units())
    return await web.show(f"案件 {case.get('case_number')}", body, claims)
