"""The console's page kit: labels, CSS, the page frame, form helpers, the session's CSRF token."""

from __future__ import annotations

import hashlib
import hmac
import html
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, ValidationError
from yima_kit.auth import StaffClaims

from ...core.schedule import SHANGHAI
from ...insurance import InsuranceClaims
from ...service import Refused
from ..http import _MSG_ZH

COOKIE = "yima_console"
INBOX_PAGE = 50  # notify answers at most this many messages: the badge shows "50+" beyond
MAX_FORM_BYTES = 64 * 1024
ROLE_ZH = {"admin": "管理员", "dispatcher": "调度", "leader": "领导", "mediator": "调解员", "analyst": "分析员"}
ROLE_REFUSED = "当前岗位无权进行此操作"
LOGIN_WHY = {"expired": "登录已过期，请重新登录", "invalid": "身份凭证无效，请重新登录", "none": "请先登录",
             "out": "已退出登录", "role": "当前岗位不能使用调解工作台"}
METHOD_ZH = {"signature": "签字", "sms_code": "短信验证码", "video": "视频确认", "in_person": "当面确认"}
PARTY_ROLE_ZH = {"applicant": "申请人", "respondent": "被申请人", "third_party": "第三人"}
SESSION_STATE_ZH = {"scheduled": "已安排", "held": "已举行", "no_show": "当事人未到场"}
INVITE_STATE_ZH = {"invited": "已邀请，待答复", "accepted": "已同意", "declined": "已谢绝", "refused": "因回避未邀请"}
FIELD_ZH = {"reason": "理由", "name": "姓名", "phone": "电话", "summary": "调解情况", "next_step": "下一步",
            "facts_zh": "基本事实", "terms": "协议条款", "receiving_body_zh": "接收机关", "starts_at": "开始时间",
            "ends_at": "结束时间", "room_id": "调解室", "join_url": "视频链接", "title_zh": "职务",
            "employer": "工作单位", "fields": "擅长领域", "kind": "类别", "to": "转往", "next": "后续",
            "paid_fen": "赔付金额", "claimed_fen": "申请金额", "cover": "险种", "incident_at": "出险时间",
            "satisfaction": "满意度", "comment": "意见", "statement": "答复内容", "party_id": "当事人",
            "unit": "单位代码", "party_order": "答复顺序"}
OK_ZH = {"accept": "已受理", "return": "已退回", "party": "已登记当事人", "mediators": "已指定调解员",
         "invite": "已发出邀请", "answer": "已记录专家答复",
         "resend": "已重新发送邀请短信（原短信中的链接已失效）", "schedule": "已安排调解", "record": "已记录调解情况",
         "agreement": "已保存协议草稿", "confirm": "已记录当事人确认", "sign": "协议已签署并归档",
         "judicial": "已申请司法确认", "court": "已记录法院答复", "availability": "已记录可参加时间",
         "close": "已结案", "fail": "已记录调解不成", "transfer": "已移交，卷宗已生成",
         "person": "已登记", "room": "已登记调解室", "read": "已标为已读",
         "call": "已接通在线呼叫，视频链接见调解场次", "end_call": "已结束在线呼叫，被呼叫人已释放",
         "turn": "已登记当事人的答复",
         "reveal": "已显示该当事人的完整信息（本次查看及理由已记入审计日志）",
         "claim": "已登记理赔申请", "decide": "已作出理赔决定",
         "dispute": "已登记异议，待复核", "redecide": "已作出复核决定（最终结果）", "evaluate": "已登记理赔评价"}

# Steps that cannot be undone: the form asks for a tick, and the server checks it (a misclick changes nothing).
SURE_ZH = {"sign": "我已核对协议内容，各方均已确认；签署后不可修改", "close": "我已核对，结案后不可撤回",
           "fail": "我已核对，确认本案调解不成", "transfer": "我已核对接收机关；移交后本单位的办理即告结束",
           "redecide": "我已核对，复核决定为最终结果，不能再提出异议"}

CSS = """
*{box-sizing:border-box}
body{margin:0;font-family:"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif;font-size:19px;
line-height:1.6;color:#1a1a1a;background:#f4f6f8}
header{background:#0d47a1;color:#fff;padding:12px 18px;display:flex;flex-wrap:wrap;gap:18px;align-items:center}
header a{color:#fff;text-decoration:none;font-weight:bold}
header .brand{font-size:23px}header .who{margin-left:auto;font-size:17px}
header form{display:inline}header button{width:auto;margin:0;padding:6px 12px;font-size:17px;background:#1565c0}
main{max-width:1000px;margin:0 auto;padding:16px}
h1{font-size:26px;margin:8px 0 16px}h2{font-size:22px;margin:4px 0 10px}
.card{background:#fff;border-radius:10px;padding:16px;margin-bottom:16px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
label{display:block;font-weight:bold;margin:12px 0 4px}
.hint{font-weight:normal;color:#555;font-size:16px}
input[type=text],input[type=tel],input[type=password],input[type=date],input[type=time],textarea,select{
width:100%;font-size:19px;padding:10px;border:2px solid #888;border-radius:8px;background:#fff}
textarea{min-height:110px}
input:focus,textarea:focus,select:focus{outline:3px solid #1565c0;border-color:#1565c0}
.row{display:flex;flex-wrap:wrap;gap:12px}.row>div{flex:1;min-width:150px}
.check{display:inline-flex;gap:8px;align-items:center;font-weight:normal;margin-right:18px}
.check input{width:24px;height:24px}
button,.button{display:inline-block;font-size:20px;padding:10px 22px;margin-top:14px;border:0;border-radius:8px;
background:#0d47a1;color:#fff;font-weight:bold;text-decoration:none;cursor:pointer}
button.danger{background:#b71c1c}.button.secondary{background:#455a64}
#invitations button{font-size:17px;padding:6px 14px;margin:4px 0 8px;background:#455a64}
table{width:100%;border-collapse:collapse}th,td{text-align:left;padding:8px;border-bottom:1px solid #ddd;
vertical-align:top}th{background:#e3f2fd}
.errors{background:#fdecea;border:2px solid #b71c1c;border-radius:8px;padding:10px 14px;margin-bottom:12px}
.ok{background:#e8f5e9;border:2px solid #2e7d32;border-radius:8px;padding:10px 14px;margin-bottom:12px}
.state{display:inline-block;background:#fff8e1;border:2px solid #f9a825;border-radius:6px;padding:0 8px}
.tabs a{margin-right:14px}.tabs a.on{font-weight:bold;text-decoration:underline}
ol.timeline{list-style:none;padding:0;margin:0}
ol.timeline li{border-left:4px solid #0d47a1;padding:4px 0 10px 12px;margin-left:6px}
.time{color:#555;font-size:16px}
.badge{display:inline-block;background:#ffb300;color:#1a1a1a;border-radius:12px;padding:0 8px;margin-left:4px;
font-size:16px}
tr.unread td{font-weight:bold;background:#fffde7}
details{margin-top:8px}summary{font-weight:bold;cursor:pointer;font-size:20px;color:#0d47a1}
"""


def esc(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def local(dt: datetime | None) -> str:
    return dt.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if dt else ""


def page(title: str, body: str, claims: StaffClaims | None = None, status: int = 200,
         unread: int | None = None) -> HTMLResponse:
    """The frame; ``unread``: the unit's unread messages for the navigation (None: notify could not say)."""
    nav = ""
    if claims is not None:
        badge = (f'<span class="badge" id="unread">{unread if unread < INBOX_PAGE else f"{INBOX_PAGE}+"}</span>'
                 if unread else "")
        nav = (f'<a href="/console/queue">待办</a><a href="/console/inbox" id="nav-inbox">消息{badge}</a>'
               f'<a href="/console/insurance">保险理赔</a><a href="/console/people">调解员与专家</a>'
               f'<span class="who">{esc(claims.name or claims.sub)}（{esc(ROLE_ZH.get(claims.role, claims.role))}，'
               f'{esc(claims.unit)}）</span><form method="post" action="/console/logout" accept-charset="utf-8">'
               f'{csrf_field(claims)}<button type="submit" id="logout">退出</button></form>')
    doc = f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{esc(title)} · 调解工作台</title><style>{CSS}</style></head>
<body><header><a class="brand" href="/console/queue">一码解纠纷 · 调解工作台</a>{nav}</header>
<main>{body}</main></body></html>"""
    return HTMLResponse(doc, status_code=status, headers={"Cache-Control": "no-store"})


def messages(errors: Iterable[str], css: str = "errors") -> str:
    items = "".join(f"<li>{esc(e)}</li>" for e in errors)
    return f'<div class="{css}" role="alert"><ul>{items}</ul></div>' if items else ""


def options(pairs: Iterable[tuple[str, str]], selected: str = "") -> str:
    return "".join(f'<option value="{esc(v)}"{" selected" if v == selected else ""}>{esc(t)}</option>'
                   for v, t in pairs)


def form(action: str, claims: StaffClaims, inner: str, button: str, bid: str, danger: bool = False) -> str:
    cls = ' class="danger"' if danger else ""
    sure = SURE_ZH.get(action.rsplit("/", 1)[-1])
    if sure:
        inner += f'<label class="check"><input type="checkbox" name="sure" value="1" required>{esc(sure)}</label>'
    return (f'<form method="post" action="{esc(action)}" accept-charset="utf-8">{csrf_field(claims)}{inner}'
            f'<button type="submit" id="{esc(bid)}"{cls}>{esc(button)}</button></form>')


# --- session and CSRF --------------------------------------------------------------------------------


class Staff(StaffClaims):
    """The signed-in staff member's claims, the session's CSRF token for the forms, and the login token itself:
    the console calls notify on the staff member's behalf with it (never shown, logged or dumped)."""

    csrf: str = ""
    token: str = Field(default="", exclude=True, repr=False)


def csrf_of(token: str) -> str:
    """The session's CSRF token: a MAC of the login token (which page scripts and other sites cannot read)."""
    return hmac.new(token.encode(), b"yima-console-csrf", hashlib.sha256).hexdigest()[:32]


def csrf_field(claims: StaffClaims) -> str:
    return f'<input type="hidden" name="csrf" value="{esc(getattr(claims, "csrf", ""))}">'


async def read_form(request: Request) -> dict[str, list[str]]:
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        return {}
    try:
        return parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=100)
    except (UnicodeDecodeError, ValueError):
        return {}


def one(f: dict[str, list[str]], key: str) -> str:
    return (f.get(key) or [""])[0].strip()


def invalid(exc: ValidationError) -> list[str]:
    out = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e.get("loc", ()) if not isinstance(p, int))
        ctx_error = (e.get("ctx") or {}).get("error")
        msg = str(ctx_error) if ctx_error else _MSG_ZH.get(e["type"], "取值不正确")
        out.append(f"{FIELD_ZH.get(loc, loc)}：{msg}" if loc else msg)
    return out


def parse(model: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Refused(422, "form", "invalid", "；".join(invalid(exc))) from exc


def beijing(date: str, time: str, what: str) -> datetime:
    try:
        return datetime.fromisoformat(f"{date}T{time}").replace(tzinfo=SHANGHAI)
    except ValueError as exc:
        label = f"{FIELD_ZH[what]}：" if what in FIELD_ZH else ""  # which of the page's forms it was
        raise Refused(422, what, "bad_time", f"{label}请填写完整的日期和时间（北京时间）") from exc


@dataclass
class Ctx:
    """One console action: who, which case, the submitted form."""

    claims: StaffClaims
    aid: str
    form: dict[str, list[str]]
    insurance: InsuranceClaims

    def get(self, key: str) -> str:
        return one(self.form, key)
