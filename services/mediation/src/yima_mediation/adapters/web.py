"""The staff console (调解工作台) under /console: server-rendered Chinese pages, plain HTML forms, no JavaScript.

Staff sign in with their routing account (the console calls routing's login and keeps the token in an
HttpOnly, SameSite=Strict cookie); every page verifies the token with the verifier the API uses and calls
the same MediationService methods with the same role sets as the API (adapters/http.py), so the access
rules live in one place. A refusal is shown as a Chinese message on the page. Forms carry a per-session
CSRF token derived from the login token. See docs/adr/0045-mediation-console.md.
"""

from __future__ import annotations

import hashlib
import hmac
import html
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, quote

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from yima_contracts.codes import CATEGORY_NAMES_ZH, RISK_LEVEL_NAMES_ZH, Category, RiskLevel, StaffRole
from yima_kit.auth import AuthError, StaffClaims, TokenVerifier
from yima_kit.logging import get_logger

from ..config import MediationSettings
from ..core import states
from ..core.schedule import SHANGHAI
from ..service import EXPERT_KIND_ZH, EXPERT_KINDS, KIND_ZH, MODE_ZH, TRANSFER_ZH, MediationService, Refused
from .http import (
    _MSG_ZH,
    HANDLE,
    MANAGE,
    REGISTRY,
    AgreementIn,
    FailIn,
    PartyIn,
    PersonIn,
    RecordIn,
    ReturnIn,
    SessionIn,
    TransferIn,
)

log = get_logger("mediation.console")

COOKIE = "yima_console"
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
            "employer": "工作单位", "fields": "擅长领域", "kind": "类别", "to": "转往", "next": "后续"}
OK_ZH = {"accept": "已受理", "return": "已退回", "party": "已登记当事人", "mediators": "已指定调解员",
         "invite": "已发出邀请", "answer": "已记录专家答复", "schedule": "已安排调解", "record": "已记录调解情况",
         "agreement": "已保存协议草稿", "confirm": "已记录当事人确认", "sign": "协议已签署并归档",
         "judicial": "已申请司法确认", "court": "已记录法院答复", "availability": "已记录可参加时间",
         "close": "已结案", "fail": "已记录调解不成", "transfer": "已移交，卷宗已生成",
         "person": "已登记", "room": "已登记调解室"}

# Steps that cannot be undone: the form asks for a tick, and the server checks it (a misclick changes nothing).
SURE_ZH = {"sign": "我已核对协议内容，各方均已确认；签署后不可修改", "close": "我已核对，结案后不可撤回",
           "fail": "我已核对，确认本案调解不成", "transfer": "我已核对接收机关；移交后本单位的办理即告结束"}

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
table{width:100%;border-collapse:collapse}th,td{text-align:left;padding:8px;border-bottom:1px solid #ddd;
vertical-align:top}th{background:#e3f2fd}
.errors{background:#fdecea;border:2px solid #b71c1c;border-radius:8px;padding:10px 14px;margin-bottom:12px}
.ok{background:#e8f5e9;border:2px solid #2e7d32;border-radius:8px;padding:10px 14px;margin-bottom:12px}
.state{display:inline-block;background:#fff8e1;border:2px solid #f9a825;border-radius:6px;padding:0 8px}
.tabs a{margin-right:14px}.tabs a.on{font-weight:bold;text-decoration:underline}
ol.timeline{list-style:none;padding:0;margin:0}
ol.timeline li{border-left:4px solid #0d47a1;padding:4px 0 10px 12px;margin-left:6px}
.time{color:#555;font-size:16px}
details{margin-top:8px}summary{font-weight:bold;cursor:pointer;font-size:20px;color:#0d47a1}
"""


def esc(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def local(dt: datetime | None) -> str:
    return dt.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if dt else ""


def page(title: str, body: str, claims: StaffClaims | None = None, status: int = 200) -> HTMLResponse:
    nav = ""
    if claims is not None:
        nav = (f'<a href="/console/queue">待办</a><a href="/console/people">调解员与专家</a>'
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
    """The signed-in staff member's claims and the session's CSRF token for the forms."""

    csrf: str = ""


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
        raise Refused(422, what, "bad_time", "请填写完整的日期和时间（北京时间）") from exc


@dataclass
class Ctx:
    """One console action: who, which case, the submitted form."""

    claims: StaffClaims
    aid: str
    form: dict[str, list[str]]

    def get(self, key: str) -> str:
        return one(self.form, key)


def router(service: MediationService, settings: MediationSettings) -> APIRouter:
    r = APIRouter(prefix="/console", include_in_schema=False)
    verifier = TokenVerifier.from_setting(settings.auth_public_keys)

    def signed_in(request: Request) -> StaffClaims | str:
        token = request.cookies.get(COOKIE, "")
        if not token:
            return "none"
        try:
            claims = verifier.verify(token)
        except AuthError as exc:
            return "expired" if "过期" in str(exc) else "invalid"
        if claims.role not in HANDLE:
            return "role"
        return Staff.model_validate(claims.model_dump() | {"csrf": csrf_of(token)})

    def to_login(why: str) -> RedirectResponse:
        resp = RedirectResponse(f"/console/login?why={why}", status_code=303)
        resp.delete_cookie(COOKIE, path="/console")
        return resp

    def csrf_ok(request: Request, f: dict[str, list[str]]) -> bool:
        return hmac.compare_digest(one(f, "csrf"), csrf_of(request.cookies.get(COOKIE, "")))

    async def audit(claims: StaffClaims, action: str, object_type: str, object_id: str, status: int) -> None:
        # the console's calls join the API's in the audit chain (ids and codes only)
        try:
            await service.audit.append_alone(service.client, actor=claims, action=action, object_type=object_type,
                                             object_id=object_id, success=status < 400, detail=f"HTTP {status}")
        except Exception as exc:  # as the API's middleware: a failing audit store is logged, not hidden
            log.error("audit record not written", error=type(exc).__name__, action=action)

    # --- login ---------------------------------------------------------------------------------------

    def login_page(errors: list[str], username: str = "", status: int = 200, notice: str = "") -> HTMLResponse:
        body = f"""<h1>工作人员登录</h1>{messages(errors)}{notice}
<form class="card" method="post" action="/console/login" accept-charset="utf-8">
<label for="username">账号</label>
<input type="text" id="username" name="username" value="{esc(username)}" maxlength="64"
 autocomplete="username" required>
<label for="password">密码</label>
<input type="password" id="password" name="password" maxlength="128" autocomplete="current-password" required>
<label for="totp">动态口令 <span class="hint">（管理员填写6位数字，其他人员不填）</span></label>
<input type="text" id="totp" name="totp" maxlength="6" inputmode="numeric" autocomplete="one-time-code">
<button type="submit" id="login">登录</button></form>"""
        return page("登录", body, status=status)

    @r.get("", response_class=HTMLResponse)
    async def home() -> Response:
        return RedirectResponse("/console/queue", status_code=303)

    @r.get("/login", response_class=HTMLResponse)
    async def login_get(why: str = "") -> HTMLResponse:
        msg = LOGIN_WHY.get(why[:10])
        if why == "out" and msg:
            return login_page([], notice=messages([msg], "ok"))
        return login_page([msg] if msg else [])

    @r.post("/login", response_class=HTMLResponse)
    async def login_post(request: Request) -> Response:
        f = await read_form(request)
        username, password, totp = one(f, "username")[:64], (f.get("password") or [""])[0], one(f, "totp")
        if not username or not password:
            return login_page(["请填写账号和密码"], username, 422)
        body = {"username": username, "password": password} | ({"totp": totp} if totp else {})
        try:
            async with httpx.AsyncClient(base_url=settings.routing_url, timeout=10) as client:
                res = await client.post("/api/v1/auth/login", json=body)
        except httpx.HTTPError:
            return login_page(["暂时无法连接登录服务，请稍后再试"], username, 502)
        if res.status_code != 200:
            try:
                msg = str(res.json().get("message") or "")
            except ValueError:
                msg = ""
            # routing's own words (wrong password, locked, TOTP needed); its failures are not ours to echo as 5xx
            return login_page([msg or "登录失败，请检查账号和密码"], username,
                              res.status_code if res.status_code < 500 else 502)
        try:
            token = str(res.json()["access_token"])
            claims = verifier.verify(token)
        except (ValueError, KeyError, TypeError):
            return login_page(["登录服务的答复无法识别，请稍后再试"], username, 502)
        except AuthError as exc:
            return login_page([str(exc)], username, 401)
        if claims.role not in HANDLE:
            return login_page([LOGIN_WHY["role"]], username, 403)
        resp = RedirectResponse("/console/queue", status_code=303)
        resp.set_cookie(COOKIE, token, max_age=max(60, claims.exp - int(datetime.now().timestamp())),
                        path="/console", httponly=True, samesite="strict", secure=settings.console_secure_cookie)
        return resp

    @r.post("/logout")
    async def logout(request: Request) -> Response:
        f = await read_form(request)
        if request.cookies.get(COOKIE) and not csrf_ok(request, f):
            return page("请求无效", messages(["页面已失效，请刷新后重试"]), status=403)
        return to_login("out")

    # --- queue ---------------------------------------------------------------------------------------

    @r.get("/queue", response_class=HTMLResponse)
    async def queue(request: Request, state: str = "", scope: str = "own") -> Response:
        claims = signed_in(request)
        if isinstance(claims, str):
            return to_login(claims)
        state = state if state in states.STATE_ZH else ""
        below = scope == "below"
        errors: list[str] = []
        try:
            items = await service.queue(claims, state or None, below=below)
        except Refused as exc:
            items, errors = [], [exc.message]
        scope_q = "&scope=below" if below else ""
        tabs = "".join(f'<a href="/console/queue?state={s}{scope_q}"{" class=on" if s == state else ""}>{esc(t)}</a>'
                       for s, t in (("", "全部"), *states.STATE_ZH.items()))
        if claims.role in MANAGE:
            tabs += (f' · <a href="/console/queue?state={state}"{"" if below else " class=on"}>本单位</a>'
                     f'<a href="/console/queue?state={state}&scope=below"{" class=on" if below else ""}>含下级单位</a>')
        rows = "".join(
            f'<tr><td><a href="/console/cases/{esc(c["assignment_id"])}" class="case">{esc(c["case_number"])}</a></td>'
            f"<td>{esc(_category(c['category']))}</td><td>{esc(_risk(c['risk_level']))}</td>"
            f"<td>{esc(c['parties'][0]['name'] if c['parties'] else '')}</td>"
            + (f"<td>{esc(c['unit_name'])}</td>" if below else "")
            + f"<td>{esc(local(c['due_at']))}</td><td><span class=\"state\">{esc(c['state_zh'])}</span></td></tr>"
            for c in items)
        unit_th = "<th>承办单位</th>" if below else ""
        table = (f'<table id="queue"><tr><th>案件编号</th><th>类别</th><th>风险</th><th>申请人</th>{unit_th}'
                 f"<th>办理期限</th><th>状态</th></tr>{rows}</table>" if rows else "<p>没有案件。</p>")
        return page("待办", f'<h1>待办案件</h1>{messages(errors)}<div class="card tabs">{tabs}</div>'
                          f'<div class="card">{table}</div>', claims)

    # --- a case --------------------------------------------------------------------------------------

    async def case_page(claims: StaffClaims, aid: str, errors: list[str], ok: str = "", status: int = 200,
                        viewed: bool = False, kept: tuple[str, dict[str, list[str]]] = ("", {})) -> HTMLResponse:
        view = "GET /console/cases/{assignment_id}"
        try:
            case = await service.get_case(aid, claims)
        except Refused as exc:
            if viewed:
                await audit(claims, view, "assignment", aid, exc.status)
            return page("未找到", f'<h1>未找到</h1>{messages([exc.message])}'
                                 f'<a class="button secondary" href="/console/queue">返回待办</a>', claims, exc.status)
        if viewed:  # a post that is refused re-shows the page: its record is the post's
            await audit(claims, view, "assignment", aid, 200)
        sessions = await service.list_sessions(aid, claims)
        invitations = await service.list_invitations(aid, claims)
        agreement = await service.agreement_view(case["agreement_id"], claims) if case.get("agreement_id") else None
        people = await service.list_people(claims, None, None, case["unit_code"])
        rooms = await service.list_rooms(claims, case["unit_code"])
        state = f'<span class="state" id="state">{esc(case["state_zh"])}</span>'
        body = (f'<h1>案件 {esc(case["case_number"])} {state}</h1>'
                + messages(errors) + messages([OK_ZH[ok]] if ok in OK_ZH else [], "ok")
                + _details(case) + _sessions_html(sessions) + _invitations_html(invitations)
                + _agreement_html(agreement, case)
                + _actions(claims, case, sessions, invitations, agreement, people, rooms, kept)
                + _timeline(case))
        return page(f"案件 {case['case_number']}", body, claims, status)

    @r.get("/cases/{aid}", response_class=HTMLResponse)
    async def case_get(request: Request, aid: str, ok: str = "") -> Response:
        claims = signed_in(request)
        if isinstance(claims, str):
            return to_login(claims)
        return await case_page(claims, aid[:64], [], ok[:20], viewed=True)

    @r.post("/cases/{aid}/{action}", response_class=HTMLResponse)
    async def case_post(request: Request, aid: str, action: str) -> Response:
        claims = signed_in(request)
        if isinstance(claims, str):
            return to_login(claims)
        aid = aid[:64]
        f = await read_form(request)
        if not csrf_ok(request, f):
            return await case_page(claims, aid, ["页面已失效（缺少安全校验码），请刷新页面后重新提交"], status=403)
        act = ACTIONS.get(action)
        name = f"POST /console/cases/{{assignment_id}}/{action if act else '(unknown)'}"
        try:
            if act is None:
                raise Refused(404, "action", "not_found", "没有这项操作")
            roles, run = act
            if claims.role not in roles:
                raise Refused(403, "role", "forbidden", ROLE_REFUSED)
            if action in SURE_ZH and one(f, "sure") != "1":
                raise Refused(422, "sure", "unconfirmed", "这一步不可撤回：请先勾选确认，再提交")
            await run(service, Ctx(claims, aid, f))
        except Refused as exc:
            await audit(claims, name, "assignment", aid, exc.status)
            return await case_page(claims, aid, [exc.message], status=exc.status, kept=(action, f))
        await audit(claims, name, "assignment", aid, 200)
        return RedirectResponse(f"/console/cases/{quote(aid)}?ok={action}", status_code=303)

    async def download(request: Request, what: Callable[[StaffClaims], Awaitable[Response]], aid: str) -> Response:
        claims = signed_in(request)
        if isinstance(claims, str):
            return to_login(claims)
        try:
            return await what(claims)
        except Refused as exc:
            return page("无法下载", messages([exc.message]) + f'<a class="button secondary" href="/console/cases/'
                        f'{esc(aid)}">返回案件</a>', claims, exc.status)

    @r.get("/cases/{aid}/agreement.pdf")
    async def agreement_pdf(request: Request, aid: str) -> Response:
        async def get(claims: StaffClaims) -> Response:
            case = await service.get_case(aid[:64], claims)
            if not case.get("agreement_id"):
                raise Refused(404, "agreement", "not_found", "本案还没有调解协议")
            data, no = await service.agreement_pdf(case["agreement_id"], claims)
            return Response(data, media_type="application/pdf", headers={
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(f'调解协议书-{no}.pdf')}"})

        return await download(request, get, aid)

    @r.get("/cases/{aid}/package.zip")
    async def package_zip(request: Request, aid: str) -> Response:
        async def get(claims: StaffClaims) -> Response:
            case = await service.get_case(aid[:64], claims)
            if not case.get("package_id"):
                raise Refused(404, "package", "not_found", "本案还没有移交卷宗")
            data, digest = await service.package_zip(case["package_id"], claims)
            return Response(data, media_type="application/zip", headers={
                "Content-Disposition": f'attachment; filename="case-file-{case["case_number"]}.zip"',
                "X-Content-SHA256": digest})

        return await download(request, get, aid)

    # --- people and rooms ----------------------------------------------------------------------------

    async def people_page(claims: StaffClaims, errors: list[str], ok: str = "", status: int = 200) -> HTMLResponse:
        people = await service.list_people(claims, None, None, None)
        rooms = await service.list_rooms(claims)
        rows = "".join(f"<tr><td>{esc(p['kind_zh'])}</td><td>{esc(p['name'])}</td><td>{esc(p['title_zh'])}</td>"
                       f"<td>{esc('、'.join(_category(x) for x in p['fields']))}</td></tr>" for p in people)
        table = (f'<table id="people"><tr><th>类别</th><th>姓名</th><th>职务</th><th>擅长领域</th></tr>{rows}</table>'
                 if rows else "<p>本单位还没有登记调解员或专家。</p>")
        room_list = "、".join(esc(x["name_zh"]) for x in rooms) or "尚未登记"
        forms = ""
        if claims.role in REGISTRY:
            kinds = options([("mediator", "调解员")] + [(k, EXPERT_KIND_ZH[k]) for k in EXPERT_KINDS])
            cats = "".join(f'<label class="check"><input type="checkbox" name="fields" value="{c.value}">'
                           f"{esc(CATEGORY_NAMES_ZH[c])}</label>" for c in Category)
            forms = form("/console/people", claims, f"""<h2>登记调解员或专家</h2>
<div class="row"><div><label for="p-kind">类别</label><select id="p-kind" name="kind">{kinds}</select></div>
<div><label for="p-name">姓名</label><input type="text" id="p-name" name="name" maxlength="50" required></div>
<div><label for="p-phone">电话 <span class="hint">（可不填）</span></label>
<input type="tel" id="p-phone" name="phone" maxlength="20"></div></div>
<div class="row"><div><label for="p-title">职务 <span class="hint">（如：某律师事务所律师）</span></label>
<input type="text" id="p-title" name="title_zh" maxlength="100"></div>
<div><label for="p-employer">工作单位 <span class="hint">（用于回避审查）</span></label>
<input type="text" id="p-employer" name="employer" maxlength="100"></div>
<div><label for="p-staff">工作人员账号 <span class="hint">（调解员填写）</span></label>
<input type="text" id="p-staff" name="staff_id" maxlength="64"></div></div>
<label>擅长领域</label>{cats}
<label for="p-rel">亲友关系 <span class="hint">（用于回避审查；每行一个，如：张三 亲属）</span></label>
<textarea id="p-rel" name="relations" maxlength="3000" style="min-height:70px"></textarea>""", "登记", "register")
            forms = f'<div class="card">{forms}</div><div class="card">' + form(
                "/console/rooms", claims, '<h2>登记调解室</h2><label for="room-name">调解室名称</label>'
                '<input type="text" id="room-name" name="name_zh" maxlength="100" required>', "登记调解室",
                "add-room") + "</div>"
        body = (f"<h1>调解员与专家</h1>{messages(errors)}{messages([OK_ZH[ok]] if ok in OK_ZH else [], 'ok')}"
                f'<div class="card">{table}<p>调解室：{room_list}</p></div>{forms}')
        return page("调解员与专家", body, claims, status)

    @r.get("/people", response_class=HTMLResponse)
    async def people_get(request: Request, ok: str = "") -> Response:
        claims = signed_in(request)
        if isinstance(claims, str):
            return to_login(claims)
        return await people_page(claims, [], ok[:20])

    async def registry_post(request: Request, what: str,
                            run: Callable[[StaffClaims, dict[str, list[str]]], Awaitable[Any]]) -> Response:
        claims = signed_in(request)
        if isinstance(claims, str):
            return to_login(claims)
        f = await read_form(request)
        if not csrf_ok(request, f):
            return await people_page(claims, ["页面已失效（缺少安全校验码），请刷新页面后重新提交"], status=403)
        action = f"POST /console/{what}"
        try:
            if claims.role not in REGISTRY:
                raise Refused(403, "role", "forbidden", ROLE_REFUSED)
            await run(claims, f)
        except Refused as exc:
            await audit(claims, action, "", "", exc.status)
            return await people_page(claims, [exc.message], status=exc.status)
        await audit(claims, action, "", "", 200)
        return RedirectResponse(f"/console/people?ok={'room' if what == 'rooms' else 'person'}", status_code=303)

    @r.post("/people", response_class=HTMLResponse)
    async def people_post(request: Request) -> Response:
        async def run(claims: StaffClaims, f: dict[str, list[str]]) -> None:
            relations = []
            for line in one(f, "relations").splitlines():
                name, _, rel = line.strip().partition(" ")
                if name:
                    relations.append({"name": name, "relation_zh": rel.strip() or "亲友"})
            p = parse(PersonIn, {"kind": one(f, "kind"), "name": one(f, "name"), "phone": one(f, "phone") or None,
                                 "title_zh": one(f, "title_zh") or None, "fields": f.get("fields", []),
                                 "relations": relations, "employer": one(f, "employer") or None,
                                 "staff_id": one(f, "staff_id") or None})
            await service.register_person(claims, p.kind, p.name, p.phone, p.fields,
                                          [(x.name, x.relation_zh) for x in p.relations], p.employer, p.staff_id,
                                          p.title_zh)

        return await registry_post(request, "people", run)

    @r.post("/rooms", response_class=HTMLResponse)
    async def rooms_post(request: Request) -> Response:
        async def run(claims: StaffClaims, f: dict[str, list[str]]) -> None:
            name = one(f, "name_zh")
            if not 1 <= len(name) <= 100:
                raise Refused(422, "name_zh", "invalid", "请填写调解室名称（不超过100字）")
            await service.add_room(claims, name)

        return await registry_post(request, "rooms", run)

    return r


# --- the actions on a case: (roles as in the API, what to do) ---------------------------------------------


async def _accept(s: MediationService, c: Ctx) -> None:
    kind = c.get("kind") or "people"
    if kind not in KIND_ZH:
        raise Refused(422, "kind", "enum", "调解类型：取值不在允许范围内")
    await s.accept(c.aid, c.claims, kind)


async def _return(s: MediationService, c: Ctx) -> None:
    await s.give_back(c.aid, c.claims, parse(ReturnIn, {"reason": c.get("reason")}).reason)


async def _party(s: MediationService, c: Ctx) -> None:
    p = parse(PartyIn, {"role": c.get("role") or "respondent", "name": c.get("name"),
                        "phone": c.get("phone") or None, "is_organisation": c.get("is_organisation") == "1"})
    await s.add_party(c.aid, c.claims, p.role, p.name, p.phone, p.is_organisation)


async def _mediators(s: MediationService, c: Ctx) -> None:
    chosen = [x for x in c.form.get("person_ids", []) if x][:10]
    if not chosen:
        raise Refused(422, "person_ids", "too_short", "请至少选择一名调解员")
    await s.assign_mediators(c.aid, c.claims, chosen)


async def _invite(s: MediationService, c: Ctx) -> None:
    if not c.get("person_id"):
        raise Refused(422, "person_id", "missing", "请选择要邀请的专家")
    await s.invite(c.aid, c.claims, c.get("person_id")[:64], None)


async def _answer(s: MediationService, c: Ctx) -> None:
    await s.answer_invitation(c.get("invitation_id")[:64], c.claims, c.get("accept") == "1",
                              c.get("reason")[:500] or None)


async def _schedule(s: MediationService, c: Ctx) -> None:
    start = beijing(c.get("date"), c.get("start"), "starts_at")
    end = beijing(c.get("end_date") or c.get("date"), c.get("end"), "ends_at")
    mode = c.get("mode")
    body = {"mode": mode, "format": c.get("format") or "joint", "starts_at": start, "ends_at": end,
            "room_id": (c.get("room_id") or None) if mode == "offline" else None,
            "caucus_party_id": c.get("caucus_party_id") or None}
    x = parse(SessionIn, body)
    await s.schedule(c.aid, c.claims, mode=x.mode, fmt=x.format, starts_at=x.starts_at, ends_at=x.ends_at,
                     room_id=x.room_id, join_url=None, caucus_party_id=x.caucus_party_id, party_order=None)


async def _record(s: MediationService, c: Ctx) -> None:
    x = parse(RecordIn, {"attended": c.form.get("attended", []), "absent": c.form.get("absent", []),
                         "summary": c.get("summary"), "next_step": c.get("next_step")})
    if set(x.attended) & set(x.absent):
        raise Refused(422, "absent", "both", "同一当事人不能既到场又缺席")
    await s.record_session(c.get("session_id")[:64], c.claims, x.attended, x.absent, x.summary, x.next_step)


async def _agreement(s: MediationService, c: Ctx) -> None:
    terms = [t.strip() for t in c.get("terms").splitlines() if t.strip()]
    x = parse(AgreementIn, {"facts_zh": c.get("facts_zh"), "terms": terms})
    await s.draft_agreement(c.aid, c.claims, x.facts_zh, x.terms)


async def _agreement_id(s: MediationService, c: Ctx) -> str:
    case = await s.get_case(c.aid, c.claims)
    if not case.get("agreement_id"):
        raise Refused(409, "agreement", "not_found", "请先起草调解协议")
    return str(case["agreement_id"])


async def _confirm(s: MediationService, c: Ctx) -> None:
    method = c.get("method")
    if method not in METHOD_ZH or not c.get("party_id"):
        raise Refused(422, "party_id", "missing", "请选择确认的当事人和确认方式")
    await s.confirm(await _agreement_id(s, c), c.claims, c.get("party_id")[:8], method)


async def _sign(s: MediationService, c: Ctx) -> None:
    await s.sign(await _agreement_id(s, c), c.claims)


async def _judicial(s: MediationService, c: Ctx) -> None:
    court = c.get("court_zh")
    if not 2 <= len(court) <= 100:
        raise Refused(422, "court_zh", "invalid", "请填写受理司法确认的法院（2至100字）")
    await s.request_judicial(c.aid, c.claims, court)


async def _court(s: MediationService, c: Ctx) -> None:
    ruling, reason = c.get("ruling_no")[:64] or None, c.get("reason")[:500] or None
    await s.judicial_answer(c.aid, c.claims, c.get("confirmed") == "1", ruling, reason)


async def _availability(s: MediationService, c: Ctx) -> None:
    windows = []
    for line in filter(None, (x.strip() for x in c.get("windows").splitlines())):
        day, _, span = line.partition(" ")
        start, _, end = span.strip().partition("-")
        a, b = beijing(day, start.strip(), "windows"), beijing(day, end.strip(), "windows")
        if b <= a:
            raise Refused(422, "windows", "bad_window", f"“{line}”：结束须晚于开始")
        windows.append((a, b))
    if not 1 <= len(windows) <= 50:
        raise Refused(422, "windows", "too_short", "请至少填写一个时间段（每行一个，如 2026-11-24 09:00-12:00）")
    await s.set_availability(c.aid, c.claims, c.get("party_id")[:8], windows)


async def _close(s: MediationService, c: Ctx) -> None:
    await s.close(c.aid, c.claims)


async def _fail(s: MediationService, c: Ctx) -> None:
    x = parse(FailIn, {"reason": c.get("reason"), "next": c.get("next") or "transfer"})
    await s.fail(c.aid, c.claims, x.reason, x.next)


async def _transfer(s: MediationService, c: Ctx) -> None:
    x = parse(TransferIn, {"to": c.get("to"), "receiving_body_zh": c.get("receiving_body_zh")})
    await s.transfer(c.aid, c.claims, x.to, x.receiving_body_zh)


Action = tuple[tuple[StaffRole, ...], Callable[[MediationService, Ctx], Awaitable[None]]]
ACTIONS: dict[str, Action] = {
    "accept": (MANAGE, _accept), "return": (MANAGE, _return), "party": (HANDLE, _party),
    "mediators": (MANAGE, _mediators), "invite": (HANDLE, _invite), "answer": (HANDLE, _answer),
    "schedule": (HANDLE, _schedule), "record": (HANDLE, _record), "agreement": (HANDLE, _agreement),
    "confirm": (HANDLE, _confirm), "sign": (HANDLE, _sign), "judicial": (HANDLE, _judicial),
    "court": (HANDLE, _court), "availability": (HANDLE, _availability), "close": (HANDLE, _close),
    "fail": (HANDLE, _fail), "transfer": (MANAGE, _transfer),
}


# --- rendering a case ----------------------------------------------------------------------------------


def _category(v: str) -> str:
    try:
        return CATEGORY_NAMES_ZH[Category(v)]
    except ValueError:
        return v


def _risk(v: str) -> str:
    try:
        return RISK_LEVEL_NAMES_ZH[RiskLevel(v)] + "色"
    except ValueError:
        return v


def _party_name(case: dict[str, Any], pid: str) -> str:
    p = next((p for p in case["parties"] if p["party_id"] == pid), None)
    return f"{PARTY_ROLE_ZH.get(p['role'], p['role'])} {p['name']}" if p else pid


def _details(case: dict[str, Any]) -> str:
    parties = "".join(
        f"<tr><td>{esc(p['party_id'])}</td><td>{esc(PARTY_ROLE_ZH.get(p['role'], p['role']))}</td>"
        f"<td>{esc(p['name'])}{'（单位）' if p['is_organisation'] else ''}</td><td>{esc(p['phone'])}</td></tr>"
        for p in case["parties"])
    mediators = "、".join(esc(m["name"]) for m in case["mediators"]) or "尚未指定"
    return f"""<div class="card" id="details"><h2>基本情况</h2>
<p>类别：{esc(_category(case['category']))} · 风险：{esc(_risk(case['risk_level']))} ·
调解类型：{esc(KIND_ZH.get(case['kind'], case['kind']))}</p>
<p>承办单位：{esc(case['unit_name'])} · 督办单位：{esc(case['supervisor_unit_name'])} ·
办理期限：{esc(local(case['due_at']))}</p>
<p>纠纷情况：{esc(case['description'])}</p>
<h2>当事人</h2><table id="parties"><tr><th>编号</th><th>身份</th><th>姓名</th><th>电话</th></tr>{parties}</table>
<p>调解员：<span id="mediators">{mediators}</span></p></div>"""


def _sessions_html(sessions: list[dict[str, Any]]) -> str:
    if not sessions:
        return ""
    rows = "".join(
        f"<tr><td>{esc(MODE_ZH.get(x['mode'], x['mode']))}{'（背靠背）' if x['format'] == 'caucus' else ''}</td>"
        f"<td>{esc(local(x['starts_at']))} 至 {esc(local(x['ends_at']))}</td>"
        f"<td>{esc(x['place_zh'] or '')}"
        + (f'<a href="{esc(x["join_url"])}" rel="noopener">视频链接</a>' if x.get("join_url") else "")
        + f"</td><td>{esc(SESSION_STATE_ZH.get(x['state'], x['state']))}"
        + (f"<div class=\"hint\">下一步：{esc(x['record']['next_step'])}</div>" if x.get("record") else "")
        + "</td></tr>" for x in sessions)
    return (f'<div class="card"><h2>调解场次</h2><table id="sessions"><tr><th>方式</th><th>时间（北京时间）</th>'
            f"<th>地点</th><th>情况</th></tr>{rows}</table></div>")


def _invitations_html(invitations: list[dict[str, Any]]) -> str:
    if not invitations:
        return ""
    rows = "".join(f"<li>{esc(EXPERT_KIND_ZH.get(i['kind'], i['kind']))}{esc(i['name'])}："
                   f"{esc(INVITE_STATE_ZH.get(i['state'], i['state']))}"
                   + (f"（{esc('；'.join(i['reasons']))}）" if i.get("reasons") else "") + "</li>"
                   for i in invitations)
    return f'<div class="card"><h2>专家邀请</h2><ul id="invitations">{rows}</ul></div>'


def _agreement_html(ag: dict[str, Any] | None, case: dict[str, Any]) -> str:
    if ag is None:
        return ""
    terms = "".join(f"<li>{esc(t)}</li>" for t in ag["terms"])
    done = "".join(f"<li>{esc(_party_name(case, x['party_id']))}：{esc(METHOD_ZH.get(x['method'], x['method']))}"
                   f"（{esc(local(x['at']))}）</li>" for x in ag["confirmations"]) or "<li>尚无当事人确认</li>"
    pdf = f'/console/cases/{esc(case["assignment_id"])}/agreement.pdf'
    head = (f"<p>状态：<strong>已签署</strong> 编号 {esc(ag['agreement_no'])}</p><p>SHA-256：{esc(ag['sha256'])}</p>"
            f'<a class="button" id="pdf" href="{pdf}">下载协议书PDF</a>'
            if ag["state"] == "signed" else "<p>状态：<strong>草稿</strong>（各方当事人确认后签署）</p>")
    return (f'<div class="card" id="agreement"><h2>调解协议</h2>{head}<p>基本事实：{esc(ag["facts_zh"])}</p>'
            f"<ol>{terms}</ol><h2>当事人确认</h2><ul id=\"confirmations\">{done}</ul></div>")


def _timeline(case: dict[str, Any]) -> str:
    steps = "".join(f'<li><div class="time">{esc(local(t.get("at")))}</div>{esc(t.get("text_zh", ""))}</li>'
                    for t in reversed(case.get("timeline", [])))
    return f'<div class="card"><h2>办理过程</h2><ol class="timeline" id="timeline">{steps}</ol></div>'


def _may(move: str, case: dict[str, Any]) -> bool:
    return case["state"] in states.MOVES[move]


def _box(title: str, inner: str, bid: str, open_: bool = False) -> str:
    return (f'<details class="card" id="box-{bid}"{" open" if open_ else ""}><summary>{esc(title)}</summary>'
            f"{inner}</details>")


def _actions(claims: StaffClaims, case: dict[str, Any], sessions: list[dict[str, Any]],
             invitations: list[dict[str, Any]], ag: dict[str, Any] | None, people: list[dict[str, Any]],
             rooms: list[dict[str, Any]], kept: tuple[str, dict[str, list[str]]] = ("", {})) -> str:
    """The forms that fit the case's state and the staff member's role; a refused form (``kept``: the action
    and what was typed) is shown open with the typed text kept."""
    failed, values = kept

    def k(action: str, key: str, default: str = "") -> str:
        return esc(one(values, key) if action == failed else default)

    def opened(action: str, default: bool = False) -> bool:
        return default or action == failed
    aid = case["assignment_id"]
    url = f"/console/cases/{aid}/"
    manage = claims.role in MANAGE
    parties = [(p["party_id"], _party_name(case, p["party_id"])) for p in case["parties"]]
    out = []
    if _may("accept", case) and manage:
        out.append('<div class="card" id="box-accept"><h2>受理</h2>' + form(
            url + "accept", claims, '<label for="kind">调解类型</label><select id="kind" name="kind">'
            f"{options(KIND_ZH.items())}</select>", "受理", "accept") + "</div>")
        out.append(_box("退回", form(url + "return", claims, '<label for="reason">退回理由 <span class="hint">'
                                   "（必填，会告知督办单位）</span></label>"
                                   '<textarea id="reason" name="reason" maxlength="1000">'
                                   f"{k('return', 'reason')}</textarea>",
                                   "退回", "return", True), "return"))
    if _may("add_party", case):
        out.append(_box("登记当事人", form(url + "party", claims, f"""<div class="row">
<div><label for="party-role">身份</label><select id="party-role" name="role">
{options([("respondent", "被申请人"), ("third_party", "第三人")])}</select></div>
<div><label for="party-name">姓名或单位名称</label><input type="text" id="party-name" name="name" maxlength="100"
 value="{k('party', 'name')}"></div>
<div><label for="party-phone">电话 <span class="hint">（可不填）</span></label>
<input type="tel" id="party-phone" name="phone" maxlength="20" value="{k('party', 'phone')}"></div></div>
<label class="check"><input type="checkbox" name="is_organisation" value="1">是单位（公司、机关等）</label>""",
            "登记", "add-party"), "party", opened("party")))
    if _may("assign_mediators", case) and manage:
        mediators = "".join(f'<label class="check"><input type="checkbox" name="person_ids"'
                            f' value="{esc(p["person_id"])}"'
                            f'{" checked" if any(m["person_id"] == p["person_id"] for m in case["mediators"]) else ""}>'
                            f"{esc(p['name'])}</label>" for p in people if p["kind"] == "mediator")
        inner = (form(url + "mediators", claims, mediators, "指定", "assign") if mediators
                 else '<p>本单位还没有登记调解员，请先到<a href="/console/people">调解员与专家</a>登记。</p>')
        out.append(_box("指定调解员", inner, "mediators", not case["mediators"]))
    if _may("invite", case):
        experts = options((p["person_id"], f"{p['kind_zh']} {p['name']} {p['title_zh'] or ''}")
                          for p in people if p["kind"] != "mediator")
        out.append(_box("邀请专家", form(url + "invite", claims,
                                     f'<select name="person_id" id="expert">{experts}</select>'
                                     '<p class="hint">与当事人有亲属、雇佣等关系的专家会被自动拒绝并说明原因。</p>',
                                     "邀请", "invite"), "invite"))
    answerable = [i for i in invitations if i["state"] == "invited"]
    if answerable:
        pick = options((i["invitation_id"], f"{EXPERT_KIND_ZH.get(i['kind'], i['kind'])}{i['name']}")
                       for i in answerable)
        out.append(_box("登记专家答复", form(url + "answer", claims, f"""<select name="invitation_id">{pick}</select>
<label class="check"><input type="radio" name="accept" value="1" checked>同意参加</label>
<label class="check"><input type="radio" name="accept" value="0">谢绝</label>
<label for="answer-reason">说明 <span class="hint">（可不填）</span></label>
<input type="text" id="answer-reason" name="reason" maxlength="500">""", "登记答复", "answer"), "answer"))
    if _may("schedule", case):
        out.append(_box("当事人可参加时间", form(url + "availability", claims, f"""
<label for="avail-party">当事人</label><select id="avail-party" name="party_id">{options(parties)}</select>
<label for="windows">可参加的时间段 <span class="hint">（北京时间，每行一个，如 2026-11-24 09:00-12:00；
安排调解时会核对）</span></label><textarea id="windows" name="windows" maxlength="3000">
{k("availability", "windows")}</textarea>""",
                                           "保存", "availability"), "availability", opened("availability")))
        out.append(_box("安排调解", form(url + "schedule", claims, f"""<div class="row">
<div><label for="mode">方式</label><select id="mode" name="mode">{options(MODE_ZH.items())}</select></div>
<div><label for="format">形式</label><select id="format" name="format">
{options([("joint", "面对面"), ("caucus", "背靠背（单独会见）")])}</select></div>
<div><label for="caucus">单独会见的当事人 <span class="hint">（背靠背时）</span></label>
<select id="caucus" name="caucus_party_id"><option value="">—</option>{options(parties)}</select></div></div>
<div class="row"><div><label for="date">日期</label><input type="date" id="date" name="date"
 value="{k('schedule', 'date')}"></div>
<div><label for="start">开始（北京时间）</label><input type="time" id="start" name="start"
 value="{k('schedule', 'start')}"></div>
<div><label for="end-date">结束日期 <span class="hint">（错时调解的截止日；其他不填）</span></label>
<input type="date" id="end-date" name="end_date" value="{k('schedule', 'end_date')}"></div>
<div><label for="end">结束（北京时间）</label><input type="time" id="end" name="end"
 value="{k('schedule', 'end')}"></div></div>
<label for="room">调解室 <span class="hint">（线下调解）</span></label>
<select id="room" name="room_id"><option value="">—</option>
{options((x["room_id"], x["name_zh"]) for x in rooms)}</select>
<p class="hint">线上、线下调解须在工作日 8:30–12:00 或 14:00–18:00；线上调解自动生成视频链接。</p>""",
                                     "安排", "schedule"), "schedule", opened("schedule", not sessions)))
    for x in sessions:
        if x["state"] == "scheduled" and _may("record", case):
            checks = "".join(f'<label class="check"><input type="checkbox" name="{{n}}" value="{esc(p)}">'
                             f"{esc(t)}</label>" for p, t in parties)
            out.append(_box(f"记录调解情况（{local(x['starts_at'])}）", form(url + "record", claims, f"""
<input type="hidden" name="session_id" value="{esc(x['session_id'])}">
<label>到场的当事人</label>{checks.replace('{n}', 'attended')}
<label>缺席的当事人</label>{checks.replace('{n}', 'absent')}
<label for="summary">调解情况</label><textarea id="summary" name="summary" maxlength="5000">
{k("record", "summary")}</textarea>
<label for="next-step">下一步</label><input type="text" id="next-step" name="next_step" maxlength="300"
 value="{k('record', 'next_step')}">""", "保存记录", "record"), "record", opened("record")))
    if _may("draft_agreement", case) and not (ag and ag["state"] == "signed"):
        facts = k("agreement", "facts_zh", ag["facts_zh"] if ag else "")
        terms = k("agreement", "terms", "\n".join(ag["terms"]) if ag else "")
        out.append(_box("起草调解协议", form(url + "agreement", claims, f"""
<label for="facts">基本事实</label><textarea id="facts" name="facts_zh" maxlength="3000">{facts}</textarea>
<label for="terms">协议条款 <span class="hint">（每行一条）</span></label>
<textarea id="terms" name="terms" maxlength="20000">{terms}</textarea>""", "保存草稿", "draft"), "agreement",
                        opened("agreement")))
    if ag and ag["state"] == "draft":
        done = {x["party_id"] for x in ag["confirmations"]}
        todo = [(p, t) for p, t in parties if p not in done]
        inner = ""
        if todo:
            inner += form(url + "confirm", claims, f"""<div class="row">
<div><label for="confirm-party">当事人</label><select id="confirm-party" name="party_id">{options(todo)}</select></div>
<div><label for="confirm-method">确认方式</label><select id="confirm-method" name="method">
{options(METHOD_ZH.items())}</select></div></div>""", "记录确认", "confirm")
        inner += form(url + "sign", claims, "<p>各方当事人均确认后签署，生成协议书PDF并归档。</p>", "签署协议", "sign")
        out.append(_box("当事人确认与签署", inner, "sign", True))
    if _may("judicial", case) and not case.get("judicial"):
        out.append(_box("申请司法确认", form(url + "judicial", claims, '<label for="court">法院</label>'
                                       '<input type="text" id="court" name="court_zh" maxlength="100"'
                                       f' value="{k("judicial", "court_zh")}">',
                                       "申请", "judicial"), "judicial", opened("judicial")))
    j = case.get("judicial") or {}
    if j.get("state") == "sent":
        out.append(_box(f"登记法院答复（{j.get('court_zh', '')}）", form(url + "court", claims, f"""
<label class="check"><input type="radio" name="confirmed" value="1" checked>裁定确认协议有效</label>
<label class="check"><input type="radio" name="confirmed" value="0">裁定不予确认</label>
<div class="row"><div><label for="ruling">裁定书编号</label><input type="text" id="ruling" name="ruling_no"
 maxlength="64" value="{k('court', 'ruling_no')}"></div>
<div><label for="court-reason">说明 <span class="hint">（可不填）</span></label>
<input type="text" id="court-reason" name="reason" maxlength="500"></div></div>""", "登记答复", "court"),
            "court", True))
    if _may("close", case):
        out.append(f'<div class="card"><h2>结案</h2>{form(url + "close", claims, "", "结案", "close")}</div>')
    if _may("fail", case):
        out.append(_box("调解不成", form(url + "fail", claims, f"""
<label for="fail-reason">原因</label><textarea id="fail-reason" name="reason" maxlength="500">
{k("fail", "reason")}</textarea>
<label for="fail-next">后续</label><select id="fail-next" name="next">
{options([("transfer", "转入仲裁、诉讼或行政途径"), ("escalate", "提交上一级调解组织")])}</select>""",
                                             "确认调解不成", "fail", danger=True), "fail",
                        opened("fail")))
    if _may("transfer", case) and manage:
        out.append(_box("移交（诉调对接）", form(url + "transfer", claims, f"""<div class="row">
<div><label for="to">转往</label><select id="to" name="to">{options(TRANSFER_ZH.items())}</select></div>
<div><label for="body">接收机关</label><input type="text" id="body" name="receiving_body_zh" maxlength="100"
 placeholder="如：金水区人民法院" value="{k('transfer', 'receiving_body_zh')}"></div></div>""",
                        "移交并生成卷宗", "transfer"), "transfer", True))
    if case.get("package_id"):
        out.append(f'<div class="card"><a class="button" id="package" href="{esc(url)}package.zip">'
                   "下载移交卷宗</a></div>")
    return "".join(out)
