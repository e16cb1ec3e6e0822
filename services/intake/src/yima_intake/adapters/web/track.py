"""Tracking a case by form: the code and the phone check, the progress page (steps, mediation sessions, notify's
messages) and the rating of a closed case. Never shows personal data."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ...core.identity import TrackingCodeError, display_tracking_code, normalize_tracking_code
from ...results import RatingRefused, TrackLocked, TrackNotFound
from ...service import IntakeService
from ..http.common import Intake, client_address
from .layout import error_list, esc, page, read_form

router = APIRouter(include_in_schema=False)

RATING_LABELS = ((5, "非常满意"), (4, "满意"), (3, "一般"), (2, "不满意"), (1, "非常不满意"))


@router.get("/track", response_class=HTMLResponse)
async def track_page() -> HTMLResponse:
    return track_form("", [])


@router.get("/track/{code}", response_class=HTMLResponse)
async def track_code_page(code: str) -> HTMLResponse:
    shown = normalize_tracking_code(code[:40])
    return track_form(display_tracking_code(shown) if len(shown) == 12 else shown, [])


@router.post("/track", response_class=HTMLResponse)
async def track_post(request: Request, service: Intake) -> Response:
    form = await read_form(request)
    code, check = form.get("code", "").strip()[:40], form.get("check", "").strip()
    case = await open_case(service, code, check, request)
    if isinstance(case, HTMLResponse):
        return case
    view = await service.tracking_view(case, code, check)
    return case_page(normalize_tracking_code(code), check, view)


@router.post("/track/{code}/rate", response_class=HTMLResponse)
async def rate_post(code: str, request: Request, service: Intake) -> Response:
    form = await read_form(request)
    check = form.get("check", "").strip()
    case = await open_case(service, code[:40], check, request)
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
    view = await service.tracking_view(await service.reload(case), code[:40], check)
    if notice.startswith('<div class="next"'):
        view["can_rate"] = False
    return case_page(normalize_tracking_code(code), check, view, notice)


async def open_case(service: IntakeService, code: str, check: str,
                    request: Request) -> dict[str, Any] | HTMLResponse:
    """The case behind the code and check, or the form again with what went wrong."""
    if not (len(check) == 4 and check.isdigit()):
        return track_form(code, ["请填写手机号的后四位数字"], 422)
    try:
        return await service.open_case(code, check,
                                       client=client_address(request, service.settings.trust_forwarded_for))
    except TrackingCodeError as exc:
        return track_form(code, [str(exc)], 400)
    except TrackLocked as exc:
        return track_form(code, [exc.message_zh()], 429)
    except TrackNotFound:
        return track_form(code, ["未找到该案件，或手机号后四位不匹配"], 404)


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


def case_page(code: str, check: str, view: dict[str, Any], notice: str = "") -> HTMLResponse:
    nxt = f'<div class="next">下一步：{esc(view["next_step"])}</div>' if view["next_step"] else ""
    unit = f"<p>当前办理单位：{esc(view['current_unit'])}</p>" if view["current_unit"] else ""
    rating = rating_form(code, check) if view["can_rate"] and view["state"] != "rated" else ""
    body = f"""<h1>办理进度</h1>{notice}
<div class="card"><p>案件编号：<strong id="case-number">{esc(view['case_number'])}</strong></p>
<p>类别：{esc(view['category_name'])}{(' · ' + esc(view['sub_item_name'])) if view['sub_item_name'] else ''}</p>
{unit}{nxt}</div>{sessions_card(view)}{messages_card(view)}
<div class="card"><h2>办理经过</h2><ol class="timeline" id="timeline">{timeline_items(view)}</ol></div>{rating}"""
    return page("办理进度", body)


def timeline_items(view: dict[str, Any]) -> str:
    return "".join(
        f"<li><div class=\"time\">{esc(s['at_local'])}</div><strong>{esc(s['title'])}</strong>"
        + (f"<div>{esc(s['detail'])}</div>" if s["detail"] else "")
        + (f"<div>办理单位：{esc(s['unit'])}</div>" if s["unit"] else "")
        + (f"<div>办理期限：{esc(s['due_at_local'])}</div>" if s.get("due_at_local") else "")
        + "</li>"
        for s in reversed(view["timeline"])
    )


def rating_form(code: str, check: str) -> str:
    stars = "".join(
        f'<label><input type="radio" name="score" value="{n}"{" checked" if n == 5 else ""}> '
        f"{'★' * n} {label}</label>"
        for n, label in RATING_LABELS
    )
    return f"""<form class="card" method="post" action="/track/{esc(code)}/rate" accept-charset="utf-8">
<h2>请您评价</h2><input type="hidden" name="check" value="{esc(check)}">
<div class="stars">{stars}</div>
<label for="comment">意见建议 <span class="hint">（可不填）</span></label>
<textarea id="comment" name="comment" maxlength="500" style="min-height:90px"></textarea>
<button type="submit" id="rate">提交评价</button></form>"""


def sessions_card(view: dict[str, Any]) -> str:
    meetings = "".join(
        f"<li><strong>{esc(m['mode_name'])}</strong> {esc(m['starts_at_local'])}"
        + (f"<div>地点：{esc(m['place'])}</div>" if m["place"] else "")
        + (f'<div><a class="join" href="{esc(m["join_url"])}" rel="noopener">进入视频调解</a></div>'
           if m["join_url"] else "")
        + ("<div class=\"hint\">已结束</div>" if m["over"] else "")
        + "</li>"
        for m in view["sessions"]
    )
    return f'<div class="card"><h2>调解安排</h2><ul id="sessions">{meetings}</ul></div>' if meetings else ""


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
