"""The home page and registering a dispute by form: the form (a unit's QR code fills in the unit), its
corrections, and the tracking code with its QR code once registered. The same use case as the API."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from yima_contracts.codes import CATEGORY_NAMES_ZH, Category
from yima_contracts.topics import UNIT_CODE_PATTERN
from yima_kit.errors import validation_errors

from ...core.identity import display_tracking_code
from ...core.submission import ChannelRuleError, SubmitCase
from ...results import IdempotencyConflict, Submitted
from ..http.common import Intake, client_address
from .layout import error_list, esc, page, qr_data_uri, read_form

router = APIRouter(include_in_schema=False)

UNIT_RE = re.compile(UNIT_CODE_PATTERN)
FIELD_NAMES_ZH = {
    "applicant.name": "姓名", "applicant.phone": "手机号", "description": "纠纷情况", "category": "类别",
    "location.unit_code": "所在社区", "location.address": "地址", "": "",
}


@router.get("/", response_class=HTMLResponse)
async def home() -> HTMLResponse:
    return page("首页", """<h1>有纠纷，一码解</h1>
<div class="card"><p>邻里、家庭、欠薪、物业、交通……遇到纠纷，在这里登记，平台会交给负责的单位调解，
每一步都会通知您。</p>
<a class="button" href="/submit">我要登记纠纷</a>
<a class="button secondary" href="/track">查询办理进度</a></div>""")


@router.get("/submit", response_class=HTMLResponse)
async def submit_page(unit: str = "") -> HTMLResponse:
    return submit_form({"unit": unit[:64]}, [])


@router.post("/submit", response_class=HTMLResponse)
async def submit_post(request: Request, service: Intake) -> HTMLResponse:
    form = await read_form(request)
    settings = service.settings
    now = datetime.now(UTC)
    window = now.replace(second=0, microsecond=0)
    n = await service.hit_rate_limit(f"ip:{client_address(request, settings.trust_forwarded_for)}",
                                     window, window + timedelta(minutes=2))
    if n > settings.submit_rate_per_minute:
        return submit_form(form, ["提交太频繁，请一分钟后再试"], 429)
    try:
        cmd = SubmitCase.model_validate(submission_of(form))
        form_id = form.get("form_id", "")[:64]
        result = await service.submit(cmd, idempotency_key=f"web:{form_id}" if form_id else None)
    except ValidationError as exc:
        msgs = [f"{FIELD_NAMES_ZH.get(e['field'], e['field'])}：{e['message']}".lstrip("：")
                for e in validation_errors(exc.errors())]
        return submit_form(form, msgs, 422)
    except ChannelRuleError as exc:
        return submit_form(form, [m for _, _, m in exc.errors], 422)
    except IdempotencyConflict:
        form["form_id"] = str(uuid.uuid4())
        return submit_form(form, ["这张表已经提交过，内容又有改动：请确认后再提交一次"], 409)
    if result.tracking_code is None:
        return already_registered(result)
    return registered(result, result.tracking_code, cmd.emergency, settings.public_base_url)


def submission_of(form: dict[str, str]) -> dict[str, Any]:
    """The form's fields as a ``SubmitCase`` of the self-service channel."""
    location: dict[str, str] = {}
    if form.get("unit"):
        location["unit_code"] = form["unit"].strip()
    if form.get("address", "").strip():
        location["address"] = form["address"].strip()
    data: dict[str, Any] = {
        "channel": "self_service",
        "applicant": {"name": form.get("name", ""), "phone": form.get("phone", "")},
        "description": form.get("description", ""),
        "location": location,
        "emergency": bool(form.get("emergency")),
    }
    if form.get("category"):
        data["category"] = form["category"]
    return data


def already_registered(result: Submitted) -> HTMLResponse:
    what = (f"您反映的纠纷已经在案件 <strong>{esc(result.case_number)}</strong> 中登记，"
            f"本次反映已并入该案件（第{result.repeat_count}次），会一并处理。"
            if result.repeat
            else f"这份申请已经提交过了，案件编号 <strong>{esc(result.case_number)}</strong>。")
    return page("已登记", f"""<h1>已经登记过了</h1><div class="card"><p>{what}</p>
<p>请用第一次登记时拿到的查询码查询进度；查询码也已通过短信发给您。</p>
<a class="button secondary" href="/track">查询进度</a></div>""")


def registered(result: Submitted, code: str, emergency: bool, base_url: str) -> HTMLResponse:
    cat = CATEGORY_NAMES_ZH[Category(result.category)]
    url = f"{base_url}/track/{code}"
    urgent = ('<p class="next"><strong>已启动应急联办。</strong>如有人身危险请立即拨打110。</p>'
              if emergency else "")
    return page("登记成功", f"""<h1>登记成功</h1>{urgent}
<div class="card"><p>案件编号：<strong id="case-number">{esc(result.case_number)}</strong></p>
<p>类别：{esc(cat)}</p>
<p>请记下查询码（或截图保存），凭它和手机号后四位查询进度：</p>
<div class="code" id="tracking-code">{esc(display_tracking_code(code))}</div>
<div class="qr"><img id="qr" src="{qr_data_uri(url)}" alt="查询二维码"><br>扫码查看办理进度</div>
<a class="button" href="/track/{esc(code)}">查看进度</a></div>""", 201)


def submit_form(values: dict[str, str], errors: list[str], status: int = 200) -> HTMLResponse:
    unit = values.get("unit", "")
    unit_ok = bool(unit) and bool(UNIT_RE.match(unit))
    options = '<option value="">不确定，由系统判断</option>' + "".join(
        f'<option value="{c.value}"{" selected" if values.get("category") == c.value else ""}>'
        f"{esc(CATEGORY_NAMES_ZH[c])}</option>"
        for c in Category
    )
    unit_html = (
        f'<div class="unit">所在社区/单位编码：<strong id="unit">{esc(unit)}</strong></div>'
        f'<input type="hidden" name="unit" value="{esc(unit)}">'
        if unit_ok
        else '<label for="unit">所在社区编码 <span class="hint">（扫社区二维码会自动填写，可不填）</span></label>'
        f'<input type="text" id="unit" name="unit" value="{esc(unit)}" maxlength="64">'
    )
    body = f"""<h1>登记纠纷</h1>{error_list(errors)}
<form class="card" method="post" action="/submit" accept-charset="utf-8">
<input type="hidden" name="form_id" value="{esc(values.get("form_id") or uuid.uuid4())}">
{unit_html}
<label for="name">您的姓名</label>
<input type="text" id="name" name="name" value="{esc(values.get("name"))}" maxlength="50" autocomplete="name" required>
<label for="phone">手机号 <span class="hint">（用来查询进度和接收通知）</span></label>
<input type="tel" id="phone" name="phone" value="{esc(values.get("phone"))}" maxlength="20" autocomplete="tel"
 inputmode="tel" required>
<label for="description">遇到了什么纠纷？ <span class="hint">（说清楚什么事、和谁、在哪里）</span></label>
<textarea id="description" name="description" maxlength="5000" required>{esc(values.get("description"))}</textarea>
<label for="category">纠纷类别 <span class="hint">（可不选）</span></label>
<select id="category" name="category">{options}</select>
<label for="address">地址 <span class="hint">（可不填）</span></label>
<input type="text" id="address" name="address" value="{esc(values.get("address"))}" maxlength="200">
<label class="check"><input type="checkbox" name="emergency" value="1"{" checked" if values.get("emergency") else ""}>
<span>情况紧急（正在发生打斗、有人聚集等）。如有人身危险请立即拨打110</span></label>
<button type="submit" id="submit">提交</button>
</form>"""
    return page("登记纠纷", body, status)
