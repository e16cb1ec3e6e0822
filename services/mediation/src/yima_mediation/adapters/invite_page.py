"""The invited expert's own page (专家邀请页), public, at /invite: reached from the expert's SMS by the
invitation code, opened with the last four digits of the expert's phone (intake's tracking-page rule: a lock
after repeated wrong checks, one answer for "no such code" and "wrong digits").

Plain server-rendered Chinese HTML for a phone, no JavaScript. The code and the check travel in POSTed
forms (hidden fields), never in the address of an answer; the answer forms also carry a token bound to the
invitation and its check (MediationService.invite_form_token). The page never shows the parties: see
docs/adr/0052-experts-hear-of-invitations-and-the-dev-gateway.md.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from yima_contracts.codes import CATEGORY_NAMES_ZH, Category

from ..application import IllegalMove, InviteLocked, InviteNotFound, MediationService, Refused
from ..core.invite_code import InviteCodeError, display_invite_code, normalize_invite_code
from .page_kit import esc, local, one, read_form

STATE_ZH = {"invited": "待您答复", "accepted": "您已同意参加", "declined": "您已谢绝参加",
            "refused": "因存在应当回避的情形，不参加本案调解"}

CSS = """
*{box-sizing:border-box}
body{margin:0;font-family:"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif;font-size:20px;
line-height:1.7;color:#1a1a1a;background:#f4f6f8}
header{background:#0d47a1;color:#fff;padding:12px 16px;font-size:22px;font-weight:bold}
main{max-width:640px;margin:0 auto;padding:14px}
h1{font-size:26px;margin:6px 0 14px}h2{font-size:22px;margin:4px 0 10px}
.card{background:#fff;border-radius:10px;padding:16px;margin-bottom:16px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
label{display:block;font-weight:bold;margin:12px 0 6px}
.hint{font-weight:normal;color:#555;font-size:17px}
input[type=text],input[type=tel],textarea{width:100%;font-size:22px;padding:12px;border:2px solid #888;
border-radius:8px;background:#fff}
textarea{min-height:100px;font-size:19px}
input:focus,textarea:focus{outline:3px solid #1565c0;border-color:#1565c0}
button,.join{display:block;width:100%;font-size:22px;padding:14px;margin-top:16px;border:0;border-radius:10px;
background:#0d47a1;color:#fff;font-weight:bold;text-align:center;text-decoration:none;cursor:pointer}
button.decline{background:#b71c1c}.join{background:#2e7d32}
.errors{background:#fdecea;border:2px solid #b71c1c;border-radius:8px;padding:10px 14px;margin-bottom:12px}
.ok{background:#e8f5e9;border:2px solid #2e7d32;border-radius:8px;padding:10px 14px;margin-bottom:12px}
.state{display:inline-block;background:#fff8e1;border:2px solid #f9a825;border-radius:6px;padding:0 8px}
ul.sessions{list-style:none;padding:0;margin:0}ul.sessions li{border-left:4px solid #0d47a1;padding:4px 0 10px 12px}
"""

# No frames (an answer button cannot be overlaid), no referrer (the address holds the code), nothing cached.
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
           "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                                      "frame-ancestors 'none'"}


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    doc = f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{esc(title)} · 一码解纠纷</title><style>{CSS}</style></head>
<body><header>一码解纠纷 · 专家邀请</header><main>{body}</main></body></html>"""
    return HTMLResponse(doc, status_code=status, headers=HEADERS)


def _errors(errors: list[str], css: str = "errors") -> str:
    items = "".join(f"<li>{esc(e)}</li>" for e in errors)
    return f'<div class="{css}" role="alert"><ul>{items}</ul></div>' if items else ""


def check_form(code: str, errors: list[str], status: int = 200) -> HTMLResponse:
    shown = display_invite_code(code) if len(code) == 12 else code
    body = f"""<h1>查看专家邀请</h1>{_errors(errors)}
<form class="card" method="post" action="/invite" accept-charset="utf-8">
<label for="code">邀请码 <span class="hint">（短信中的12位邀请码）</span></label>
<input type="text" id="code" name="code" value="{esc(shown)}" maxlength="20" autocomplete="off" required>
<label for="check">手机号后四位 <span class="hint">（接收邀请短信的手机号）</span></label>
<input type="tel" id="check" name="check" maxlength="4" inputmode="numeric" pattern="[0-9]{{4}}"
 autocomplete="off" required>
<button type="submit" id="open">查看邀请</button></form>"""
    return _page("查看专家邀请", body, status)


def invitation_page(code: str, check: str, view: dict[str, Any], token: str, notice: str = "",
                    errors: list[str] | None = None, status: int = 200) -> HTMLResponse:
    try:
        category = CATEGORY_NAMES_ZH[Category(view["category"])]
    except ValueError:
        category = ""
    who = f"{view['name']}{view['kind_zh'] if not view['name'].endswith(view['kind_zh']) else ''}"
    items = "".join(
        f"<li><strong>{esc(m['mode_zh'])}</strong> {esc(local(m['starts_at']))}"
        + (f"至{esc(local(m['ends_at'])[-5:])}" if m["ends_at"] else "")
        + (f"<div>地点：{esc(m['place_zh'])}</div>" if m["place_zh"] else "")
        + (f'<a class="join" id="join" href="{esc(m["join_url"])}" rel="noopener noreferrer">进入视频调解</a>'
           if m["join_url"] else "")
        + ('<div class="hint">接受邀请后，这里会显示视频调解入口</div>'
           if m["mode"] == "online" and not m["over"] and view["state"] == "invited" else "")
        + ('<div class="hint">已结束</div>' if m["over"] else "")
        + "</li>"
        for m in view["sessions"])
    sessions = (f'<div class="card"><h2>调解安排</h2><ul class="sessions" id="sessions">{items}</ul></div>'
                if items else '<div class="card"><h2>调解安排</h2><p>调解时间尚未确定，确定后将短信通知您。</p></div>')
    hidden = (f'<input type="hidden" name="code" value="{esc(code)}"><input type="hidden" name="check" '
              f'value="{esc(check)}"><input type="hidden" name="token" value="{esc(token)}">')
    answer = ""
    if view["state"] == "invited" and view["case_open"]:
        answer = f"""<div class="card"><h2>请您答复</h2>
<form method="post" action="/invite/answer" accept-charset="utf-8">{hidden}
<input type="hidden" name="decision" value="accept"><button type="submit" id="accept">同意参加</button></form>
<form method="post" action="/invite/answer" accept-charset="utf-8">{hidden}
<input type="hidden" name="decision" value="decline">
<label for="reason">不能参加的原因 <span class="hint">（谢绝时请填写）</span></label>
<textarea id="reason" name="reason" maxlength="500" required minlength="2"></textarea>
<button type="submit" id="decline" class="decline">谢绝参加</button></form></div>"""
    elif view["state"] == "invited":
        answer = '<div class="card"><p>本案调解已结束，无需答复。</p></div>'
    reason = (f"<p>谢绝原因：{esc(view['answer_reason'])}</p>"
              if view["state"] == "declined" and view["answer_reason"] else "")
    body = f"""<h1>专家邀请</h1>{_errors(errors or [])}{_errors([notice], "ok") if notice else ""}
<div class="card"><p>{esc(who)}您好：{esc(view['unit_name'])}邀请您参与案件{esc(view['case_number'])}
（{esc(category)}）的调解。</p>
<p>当前状态：<span class="state" id="state">{esc(STATE_ZH.get(view['state'], view['state']))}</span></p>{reason}</div>
{answer}{sessions}
<p class="hint">本页只显示您参与调解所需的信息；案情和当事人情况由调解员在调解前向您介绍。如有疑问，请联系
{esc(view['unit_name'])}。请勿将本页链接和邀请码转给他人。</p>"""
    return _page("专家邀请", body, status)


async def _opened(service: MediationService, code: str, check: str) -> dict[str, Any] | HTMLResponse:
    """The invitation behind the code and check, or the check form again with why not."""
    if not (len(check) == 4 and check.isdigit()):
        return check_form(code, ["请填写接收邀请短信的手机号的后四位数字"], 422)
    try:
        return await service.open_invitation(code, check)
    except InviteCodeError as exc:
        return check_form(code, [str(exc)], 400)
    except InviteLocked:
        return check_form(code, [f"核对失败次数过多，请{service.settings.invite_lock_minutes}分钟后再试"], 429)
    except InviteNotFound:
        return check_form(code, ["未找到该邀请，或手机号后四位不匹配"], 404)


async def _show(service: MediationService, inv: dict[str, Any], code: str, check: str, notice: str = "",
                errors: list[str] | None = None, status: int = 200) -> HTMLResponse:
    view = await service.expert_view(inv)
    return invitation_page(code, check, view, service.invite_form_token(inv["_id"], check), notice, errors, status)


async def _answer(service: MediationService, inv: dict[str, Any], code: str, check: str, f: dict[str, list[str]]
                  ) -> HTMLResponse:
    """The expert's answer from a page this service rendered for the invitation (its token), checked."""
    if not hmac.compare_digest(one(f, "token"), service.invite_form_token(inv["_id"], check)):
        return await _show(service, inv, code, check, errors=["页面已过期，请重新操作"], status=403)
    decision, reason = one(f, "decision"), one(f, "reason")[:500]
    if decision not in ("accept", "decline"):
        return await _show(service, inv, code, check, errors=["请选择同意或谢绝"], status=422)
    if decision == "decline" and len(reason) < 2:
        return await _show(service, inv, code, check, errors=["谢绝时请填写不能参加的原因"], status=422)
    try:
        done = await service.answer_as_expert(inv, decision == "accept", reason if decision == "decline" else None)
    except (Refused, IllegalMove) as exc:
        message, status = (exc.message, exc.status) if isinstance(exc, Refused) else (str(exc), 409)
        inv = await service.invitation(inv["_id"]) or inv
        return await _show(service, inv, code, check, errors=[message], status=status)
    inv = await service.invitation(inv["_id"]) or inv
    notice = ("已记录您的答复：同意参加。谢谢！" if done["state"] == "accepted"
              else "已记录您的答复：谢绝参加。谢谢告知！")
    return await _show(service, inv, code, check, notice)


def _service(request: Request) -> MediationService:
    return request.app.state.service  # type: ignore[no-any-return]


Svc = Annotated[MediationService, Depends(_service)]


def router() -> APIRouter:
    r = APIRouter(prefix="/invite", include_in_schema=False)

    @r.get("", response_class=HTMLResponse)
    async def blank() -> HTMLResponse:
        return check_form("", [])

    @r.get("/{code}", response_class=HTMLResponse)
    async def from_sms(code: str) -> HTMLResponse:
        # The check comes first: the code alone shows nothing, not even whether it exists.
        return check_form(normalize_invite_code(code), [])

    @r.post("", response_class=HTMLResponse)
    async def open_page(service: Svc, request: Request) -> HTMLResponse:
        f = await read_form(request)
        code, check = normalize_invite_code(one(f, "code")), one(f, "check")
        inv = await _opened(service, code, check)
        return inv if isinstance(inv, HTMLResponse) else await _show(service, inv, code, check)

    @r.post("/answer", response_class=HTMLResponse)
    async def answer(service: Svc, request: Request) -> HTMLResponse:
        f = await read_form(request)
        code, check = normalize_invite_code(one(f, "code")), one(f, "check")
        inv = await _opened(service, code, check)
        return inv if isinstance(inv, HTMLResponse) else await _answer(service, inv, code, check, f)

    return r
