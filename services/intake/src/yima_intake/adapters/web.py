"""The applicant's web pages (served by intake): submit a dispute, see the tracking code and its QR code,
track a case, rate it. Chinese, mobile-first, large text, plain HTML forms: no JavaScript at all.

The pages use the same use cases as the API (one rule set), and never show personal data back except what
the applicant just typed into the form they are correcting.
"""

from __future__ import annotations

import base64
import html
import io
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import segno
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from yima_contracts.codes import CATEGORY_NAMES_ZH, Category
from yima_contracts.topics import UNIT_CODE_PATTERN

from ..core.identity import TrackingCodeError, display_tracking_code, normalize_tracking_code
from ..core.submission import ChannelRuleError, SubmitCase
from ..service import (
    IdempotencyConflict,
    IntakeService,
    RatingRefused,
    TrackLocked,
    TrackNotFound,
)
from .http import client_address, validation_errors

MAX_FORM_BYTES = 64 * 1024

CSS = """
*{box-sizing:border-box}
body{margin:0;font-family:"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif;font-size:20px;
line-height:1.6;color:#1a1a1a;background:#f4f6f8}
header{background:#b71c1c;color:#fff;padding:14px 18px}
header a{color:#fff;text-decoration:none;font-size:24px;font-weight:bold}
main{max-width:640px;margin:0 auto;padding:16px}
h1{font-size:26px;margin:8px 0 16px}
.card{background:#fff;border-radius:10px;padding:16px;margin-bottom:16px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
label{display:block;font-weight:bold;margin:14px 0 6px}
.hint{font-weight:normal;color:#555;font-size:17px}
input[type=text],input[type=tel],textarea,select{width:100%;font-size:20px;padding:12px;border:2px solid #888;
border-radius:8px;background:#fff}
textarea{min-height:160px}
input:focus,textarea:focus,select:focus{outline:3px solid #1565c0;border-color:#1565c0}
.check{display:flex;gap:10px;align-items:flex-start;font-weight:normal}
.check input{width:28px;height:28px;flex:none;margin-top:4px}
button,.button{display:block;width:100%;font-size:22px;padding:14px;margin-top:20px;border:0;border-radius:10px;
background:#b71c1c;color:#fff;font-weight:bold;text-align:center;text-decoration:none}
.button.secondary{background:#455a64}
.errors{background:#fdecea;border:2px solid #b71c1c;border-radius:8px;padding:10px 14px;margin-bottom:12px}
.errors li{margin:4px 0}
.code{font-size:34px;font-weight:bold;letter-spacing:3px;font-family:monospace;text-align:center;
background:#fff8e1;border:2px dashed #f9a825;border-radius:8px;padding:12px;margin:10px 0}
.qr{text-align:center}.qr img{width:240px;height:240px}
.unit{background:#e3f2fd;border-radius:8px;padding:10px}
ol.timeline{list-style:none;padding:0;margin:0}
ol.timeline li{border-left:4px solid #b71c1c;padding:6px 0 12px 14px;margin-left:6px}
.time{color:#555;font-size:17px}
.next{background:#e8f5e9;border-radius:8px;padding:10px;margin-top:10px}
.stars{display:flex;flex-wrap:wrap;gap:8px}
.stars label{font-weight:normal;border:2px solid #888;border-radius:8px;padding:8px 12px;margin:0;display:flex;
gap:6px;align-items:center}
.stars input{width:24px;height:24px}
ul.messages{list-style:none;padding:0;margin:0}
ul.messages li{border-bottom:1px solid #ddd;padding:10px 0}
ul.messages li:last-child{border-bottom:0}
h2{font-size:22px;margin:0 0 10px}
footer{text-align:center;color:#666;font-size:16px;padding:20px}
"""


def messages_card(view: dict[str, Any]) -> str:
    """消息通知: what notify told the applicant, newest first; a plain sentence when notify cannot say."""
    if view["messages"] is None:
        inner = '<p class="next" id="messages-unavailable">消息暂时无法显示，请稍后刷新</p>'
    elif not view["messages"]:
        inner = '<p id="no-messages">暂时没有消息</p>'
    else:
        inner = '<ul class="messages" id="messages">' + "".join(
            f'<li><div class="time">{esc(m["at_local"])} · {esc(m["channel_name"])}</div>'
            + (f"<strong>{esc(m['title'])}</strong>" if m["title"] else "")
            + f"<div>{esc(m['text'])}</div></li>"
            for m in view["messages"]
        ) + "</ul>"
    return f'<div class="card"><h2>消息通知</h2>{inner}</div>'


def esc(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    doc = f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{esc(title)} · 一码解纠纷</title><style>{CSS}</style></head>
<body><header><a href="/">一码解纠纷</a></header><main>{body}</main>
<footer>有困难请到社区服务中心窗口，工作人员可以代办</footer></body></html>"""
    return HTMLResponse(doc, status_code=status, headers={"Cache-Control": "no-store"})


def error_list(errors: Iterable[str]) -> str:
    items = "".join(f"<li>{esc(e)}</li>" for e in errors)
    return f'<div class="errors" role="alert"><strong>请修改以下内容：</strong><ul>{items}</ul></div>' if items else ""


def qr_data_uri(url: str) -> str:
    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="png", scale=8, border=2)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


FIELD_NAMES_ZH = {
    "applicant.name": "姓名", "applicant.phone": "手机号", "description": "纠纷情况", "category": "类别",
    "location.unit_code": "所在社区", "location.address": "地址", "": "",
}


async def read_form(request: Request) -> dict[str, str]:
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        return {}
    try:
        parsed = parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {k: v[0] for k, v in parsed.items() if v}


def router(service: IntakeService) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    settings = service.settings
    unit_re = re.compile(UNIT_CODE_PATTERN)

    def submit_form(values: dict[str, str], errors: list[str], status: int = 200) -> HTMLResponse:
        unit = values.get("unit", "")
        unit_ok = bool(unit) and bool(unit_re.match(unit))
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

    def track_form(code: str, errors: list[str], status: int = 200) -> HTMLResponse:
        body = f"""<h1>查询进度</h1>{error_list(errors)}
<form class="card" method="post" action="/track" accept-charset="utf-8">
<label for="code">查询码</label>
<input type="text" id="code" name="code" value="{esc(code)}" maxlength="40" autocapitalize="characters"
 autocomplete="off" required>
<label for="check">手机号后四位</label>
<input type="tel" id="check" name="check" maxlength="4" inputmode="numeric" autocomplete="off" required>
<button type="submit" id="track">查询</button>
</form>"""
        return page("查询进度", body, status)

    @r.get("/", response_class=HTMLResponse)
    async def home() -> HTMLResponse:
        return page("首页", """<h1>有纠纷，一码解</h1>
<div class="card"><p>邻里、家庭、欠薪、物业、交通……遇到纠纷，在这里登记，平台会交给负责的单位调解，
每一步都会通知您。</p>
<a class="button" href="/submit">我要登记纠纷</a>
<a class="button secondary" href="/track">查询办理进度</a></div>""")

    @r.get("/submit", response_class=HTMLResponse)
    async def submit_page(unit: str = "") -> HTMLResponse:
        return submit_form({"unit": unit[:64]}, [])

    @r.post("/submit", response_class=HTMLResponse)
    async def submit_post(request: Request) -> HTMLResponse:
        form = await read_form(request)
        now = datetime.now(UTC)
        window = now.replace(second=0, microsecond=0)
        n = await service.hit_rate_limit(f"ip:{client_address(request, settings.trust_forwarded_for)}",
                                              window, window + timedelta(minutes=2))
        if n > settings.submit_rate_per_minute:
            return submit_form(form, ["提交太频繁，请一分钟后再试"], 429)
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
        try:
            cmd = SubmitCase.model_validate(data)
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
        cat = CATEGORY_NAMES_ZH[Category(result.category)]
        if result.tracking_code is None:
            what = (f"您反映的纠纷已经在案件 <strong>{esc(result.case_number)}</strong> 中登记，"
                    f"本次反映已并入该案件（第{result.repeat_count}次），会一并处理。"
                    if result.repeat
                    else f"这份申请已经提交过了，案件编号 <strong>{esc(result.case_number)}</strong>。")
            return page("已登记", f"""<h1>已经登记过了</h1><div class="card"><p>{what}</p>
<p>请用第一次登记时拿到的查询码查询进度；查询码也已通过短信发给您。</p>
<a class="button secondary" href="/track">查询进度</a></div>""")
        code = result.tracking_code
        shown = display_tracking_code(code)
        url = f"{settings.public_base_url}/track/{code}"
        emergency = ('<p class="next"><strong>已启动应急联办。</strong>如有人身危险请立即拨打110。</p>'
                     if cmd.emergency else "")
        return page("登记成功", f"""<h1>登记成功</h1>{emergency}
<div class="card"><p>案件编号：<strong id="case-number">{esc(result.case_number)}</strong></p>
<p>类别：{esc(cat)}</p>
<p>请记下查询码（或截图保存），凭它和手机号后四位查询进度：</p>
<div class="code" id="tracking-code">{esc(shown)}</div>
<div class="qr"><img id="qr" src="{qr_data_uri(url)}" alt="查询二维码"><br>扫码查看办理进度</div>
<a class="button" href="/track/{esc(code)}">查看进度</a></div>""", 201)

    @r.get("/track", response_class=HTMLResponse)
    async def track_page() -> HTMLResponse:
        return track_form("", [])

    @r.get("/track/{code}", response_class=HTMLResponse)
    async def track_code_page(code: str) -> HTMLResponse:
        shown = normalize_tracking_code(code[:40])
        return track_form(display_tracking_code(shown) if len(shown) == 12 else shown, [])

    async def open_case(code: str, check: str, request: Request) -> dict[str, Any] | HTMLResponse:
        if not (len(check) == 4 and check.isdigit()):
            return track_form(code, ["请填写手机号的后四位数字"], 422)
        try:
            return await service.open_case(code, check, client=client_address(request, settings.trust_forwarded_for))
        except TrackingCodeError as exc:
            return track_form(code, [str(exc)], 400)
        except TrackLocked as exc:
            return track_form(code, [exc.message_zh()], 429)
        except TrackNotFound:
            return track_form(code, ["未找到该案件，或手机号后四位不匹配"], 404)

    def case_page(code: str, check: str, view: dict[str, Any], notice: str = "") -> HTMLResponse:
        steps = "".join(
            f"<li><div class=\"time\">{esc(s['at_local'])}</div><strong>{esc(s['title'])}</strong>"
            + (f"<div>{esc(s['detail'])}</div>" if s["detail"] else "")
            + (f"<div>办理单位：{esc(s['unit'])}</div>" if s["unit"] else "")
            + (f"<div>办理期限：{esc(s['due_at_local'])}</div>" if s.get("due_at_local") else "")
            + "</li>"
            for s in reversed(view["timeline"])
        )
        nxt = f'<div class="next">下一步：{esc(view["next_step"])}</div>' if view["next_step"] else ""
        rating = ""
        if view["can_rate"] and view["state"] != "rated":
            stars = "".join(
                f'<label><input type="radio" name="score" value="{n}"{" checked" if n == 5 else ""}> '
                f"{'★' * n} {label}</label>"
                for n, label in ((5, "非常满意"), (4, "满意"), (3, "一般"), (2, "不满意"), (1, "非常不满意"))
            )
            rating = f"""<form class="card" method="post" action="/track/{esc(code)}/rate" accept-charset="utf-8">
<h2>请您评价</h2><input type="hidden" name="check" value="{esc(check)}">
<div class="stars">{stars}</div>
<label for="comment">意见建议 <span class="hint">（可不填）</span></label>
<textarea id="comment" name="comment" maxlength="500" style="min-height:90px"></textarea>
<button type="submit" id="rate">提交评价</button></form>"""
        unit = f"<p>当前办理单位：{esc(view['current_unit'])}</p>" if view["current_unit"] else ""
        meetings = "".join(
            f"<li><strong>{esc(m['mode_name'])}</strong> {esc(m['starts_at_local'])}"
            + (f"<div>地点：{esc(m['place'])}</div>" if m["place"] else "")
            + (f'<div><a class="join" href="{esc(m["join_url"])}" rel="noopener">进入视频调解</a></div>'
               if m["join_url"] else "")
            + ("<div class=\"hint\">已结束</div>" if m["over"] else "")
            + "</li>"
            for m in view["sessions"]
        )
        sessions = (f'<div class="card"><h2>调解安排</h2><ul id="sessions">{meetings}</ul></div>'
                    if meetings else "")
        body = f"""<h1>办理进度</h1>{notice}
<div class="card"><p>案件编号：<strong id="case-number">{esc(view['case_number'])}</strong></p>
<p>类别：{esc(view['category_name'])}{(' · ' + esc(view['sub_item_name'])) if view['sub_item_name'] else ''}</p>
{unit}{nxt}</div>{sessions}{messages_card(view)}
<div class="card"><h2>办理经过</h2><ol class="timeline" id="timeline">{steps}</ol></div>{rating}"""
        return page("办理进度", body)

    @r.post("/track", response_class=HTMLResponse)
    async def track_post(request: Request) -> Response:
        form = await read_form(request)
        code, check = form.get("code", "").strip()[:40], form.get("check", "").strip()
        case = await open_case(code, check, request)
        if isinstance(case, HTMLResponse):
            return case
        view = await service.tracking_view(case, code, check)
        return case_page(normalize_tracking_code(code), check, view)

    @r.post("/track/{code}/rate", response_class=HTMLResponse)
    async def rate_post(code: str, request: Request) -> Response:
        form = await read_form(request)
        check = form.get("check", "").strip()
        case = await open_case(code[:40], check, request)
        if isinstance(case, HTMLResponse):
            return case
        try:
            score = int(form.get("score", ""))
        except ValueError:
            score = 0
        if not 1 <= score <= 5:
            notice = error_list(["请选择1到5星"])
        else:
            try:
                await service.rate(case, score, (form.get("comment") or "").strip()[:500] or None)
                notice = '<div class="next" id="thanks">感谢您的评价！</div>'
            except RatingRefused as exc:
                notice = error_list([exc.message])
        case = await service.repo.get_case(case["_id"]) or case
        view = await service.tracking_view(case, code[:40], check)
        if notice.startswith('<div class="next"'):
            view["can_rate"] = False
        return case_page(normalize_tracking_code(code), check, view, notice)

    @r.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(status_code=204)

    return r
