"""The staff console (调解工作台) under /console: server-rendered Chinese pages, plain HTML forms, no JavaScript.

Staff sign in with their routing account (the console calls routing's login and keeps the token in an
HttpOnly, SameSite=Strict cookie); every page verifies the token with the verifier the API uses and calls
the same MediationService methods with the same role sets as the API (adapters/http.py), so the access
rules live in one place. A refusal is shown as a Chinese message on the page. Forms carry a per-session
CSRF token derived from the login token. See docs/adr/0045-mediation-console.md.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from yima_contracts.codes import CATEGORY_NAMES_ZH, Category
from yima_kit.auth import AuthError, StaffClaims, TokenVerifier
from yima_kit.logging import get_logger

from ..config import MediationSettings
from ..core import states
from ..core.schedule import SHANGHAI
from ..insurance import InsuranceClaims
from ..service import EXPERT_KIND_ZH, EXPERT_KINDS, MediationService, Refused
from .console.actions import ACTIONS
from .console.case_view import (
    actions_html,
    agreement_html,
    category_zh,
    details_html,
    invitations_html,
    reveal_html,
    risk_zh,
    sessions_html,
    timeline_html,
)
from .console.inbox import Inbox, inbox_html
from .console.insurance import claims_html, list_html
from .console.ui import (
    COOKIE,
    LOGIN_WHY,
    OK_ZH,
    ROLE_REFUSED,
    SURE_ZH,
    Ctx,
    Staff,
    csrf_of,
    esc,
    form,
    local,
    messages,
    one,
    options,
    page,
    parse,
    read_form,
)
from .http import HANDLE, MANAGE, REGISTRY, PersonIn

__all__ = ["COOKIE", "csrf_of", "router"]

log = get_logger("mediation.console")


def router(service: MediationService, settings: MediationSettings, insurance: InsuranceClaims) -> APIRouter:
    r = APIRouter(prefix="/console", include_in_schema=False)
    verifier = TokenVerifier.from_setting(settings.auth_public_keys)
    inbox = Inbox(settings)

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
        return Staff.model_validate(claims.model_dump() | {"csrf": csrf_of(token), "token": token})

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

    async def show(title: str, body: str, claims: StaffClaims, status: int = 200) -> HTMLResponse:
        """A signed-in page, with the unit's unread messages in the navigation when notify can say."""
        return page(title, body, claims, status, unread=await inbox.unread(claims))

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
            f"<td>{esc(category_zh(c['category']))}</td><td>{esc(risk_zh(c['risk_level']))}</td>"
            f"<td>{esc(c['parties'][0]['name'] if c['parties'] else '')}</td>"
            + (f"<td>{esc(c['unit_name'])}</td>" if below else "")
            + f"<td>{esc(local(c['due_at']))}</td><td><span class=\"state\">{esc(c['state_zh'])}</span></td></tr>"
            for c in items)
        unit_th = "<th>承办单位</th>" if below else ""
        table = (f'<table id="queue"><tr><th>案件编号</th><th>类别</th><th>风险</th><th>申请人</th>{unit_th}'
                 f"<th>办理期限</th><th>状态</th></tr>{rows}</table>" if rows else "<p>没有案件。</p>")
        return await show("待办", f'<h1>待办案件</h1>{messages(errors)}<div class="card tabs">{tabs}</div>'
                                f'<div class="card">{table}</div>', claims)

    # --- a case --------------------------------------------------------------------------------------

    async def case_page(claims: StaffClaims, aid: str, errors: list[str], ok: str = "", status: int = 200,
                        viewed: bool = False, kept: tuple[str, dict[str, list[str]]] = ("", {}),
                        revealed: dict[str, Any] | None = None) -> HTMLResponse:
        """The case; ``revealed``: one party's contact data in full, shown on this answer only (never a redirect
        target, so it is not in the history to reload)."""
        view = "GET /console/cases/{assignment_id}"
        try:
            case = await service.read_case(aid, claims)
        except Refused as exc:
            if viewed:
                await audit(claims, view, "assignment", aid, exc.status)
            body = (f'<h1>未找到</h1>{messages([exc.message])}'
                    '<a class="button secondary" href="/console/queue">返回待办</a>')
            return await show("未找到", body, claims, exc.status)
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
                + details_html(case, revealed) + reveal_html(claims, case, kept)
                + sessions_html(sessions, case)
                + invitations_html(invitations, claims, case, settings.invite_resend_max_per_day)
                + agreement_html(agreement, case)
                + actions_html(claims, case, sessions, invitations, agreement, people, rooms, kept,
                               settings.call_minutes)
                + claims_html(claims, case, await insurance.list_claims(claims, aid), kept)
                + timeline_html(case))
        return await show(f"案件 {case['case_number']}", body, claims, status)

    @r.get("/cases/{aid}", response_class=HTMLResponse)
    async def case_get(request: Request, aid: str, ok: str = "") -> Response:
        claims = signed_in(request)
        if isinstance(claims, str):
            return to_login(claims)
        return await case_page(claims, aid[:64], [], ok[:20], viewed=True)

    # before the generic route below, which would take "reveal" for one of the ACTIONS
    @r.post("/cases/{aid}/reveal", response_class=HTMLResponse)
    async def case_reveal(request: Request, aid: str) -> Response:
        claims = signed_in(request)
        if isinstance(claims, str):
            return to_login(claims)
        aid = aid[:64]
        f = await read_form(request)
        if not csrf_ok(request, f):
            return await case_page(claims, aid, ["页面已失效（缺少安全校验码），请刷新页面后重新提交"], status=403)
        name = "POST /console/cases/{assignment_id}/reveal"
        try:
            party = await service.reveal_contact(aid, claims, one(f, "party_id")[:8], one(f, "reason")[:200])
        except Refused as exc:
            await audit(claims, name, "assignment", aid, exc.status)
            return await case_page(claims, aid, [exc.message], status=exc.status, kept=("reveal", f))
        await audit(claims, name, "assignment", aid, 200)
        return await case_page(claims, aid, [], ok="reveal", revealed=party)

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
            await run(service, Ctx(claims, aid, f, insurance))
        except Refused as exc:
            await audit(claims, name, "assignment", aid, exc.status)
            return await case_page(claims, aid, [exc.message], status=exc.status, kept=(action, f))
        await audit(claims, name, "assignment", aid, 200)
        return RedirectResponse(f"/console/cases/{quote(aid)}?ok={action}", status_code=303)

    async def download(request: Request, aid: str, file: str, field: str, missing: Refused,
                       fetch: Callable[[dict[str, Any], StaffClaims, str], Awaitable[Response]]) -> Response:
        """A case's document in full (``case[field]`` names it; ``missing`` when there is none); ``reason`` (the
        form of case_view.download_html) from those who see the parties masked. A missing reason re-shows the
        case page with the message above the form."""
        claims = signed_in(request)
        if isinstance(claims, str):
            return to_login(claims)
        aid, name = aid[:64], f"GET /console/cases/{{assignment_id}}/{file}"
        try:
            case = await service.get_case(aid, claims)
            if not case.get(field):
                raise missing
            out = await fetch(case, claims, request.query_params.get("reason", "")[:200])
        except Refused as exc:
            await audit(claims, name, "assignment", aid, exc.status)
            if exc.code == "reason_required":
                return await case_page(claims, aid, [exc.message], status=exc.status)
            back = f'<a class="button secondary" href="/console/cases/{esc(aid)}">返回案件</a>'
            return await show("无法下载", messages([exc.message]) + back, claims, exc.status)
        await audit(claims, name, "assignment", aid, 200)
        out.headers["Cache-Control"] = "no-store"  # the parties in full
        return out

    @r.get("/cases/{aid}/agreement.pdf")
    async def agreement_pdf(request: Request, aid: str) -> Response:
        async def pdf(case: dict[str, Any], claims: StaffClaims, reason: str) -> Response:
            data, no = await service.agreement_pdf(case["agreement_id"], claims, reason)
            return Response(data, media_type="application/pdf", headers={
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(f'调解协议书-{no}.pdf')}"})

        return await download(request, aid, "agreement.pdf", "agreement_id",
                              Refused(404, "agreement", "not_found", "本案还没有调解协议"), pdf)

    @r.get("/cases/{aid}/package.zip")
    async def package_zip(request: Request, aid: str) -> Response:
        async def zip_file(case: dict[str, Any], claims: StaffClaims, reason: str) -> Response:
            data, digest = await service.package_zip(case["package_id"], claims, reason)
            return Response(data, media_type="application/zip", headers={
                "Content-Disposition": f'attachment; filename="case-file-{case["case_number"]}.zip"',
                "X-Content-SHA256": digest})

        return await download(request, aid, "package.zip", "package_id",
                              Refused(404, "package", "not_found", "本案还没有移交卷宗"), zip_file)

    # --- people and rooms ----------------------------------------------------------------------------

    async def people_page(claims: StaffClaims, errors: list[str], ok: str = "", status: int = 200) -> HTMLResponse:
        people = await service.list_people(claims, None, None, None)
        rooms = await service.list_rooms(claims)
        rows = "".join(f"<tr><td>{esc(p['kind_zh'])}</td><td>{esc(p['name'])}</td><td>{esc(p['title_zh'])}</td>"
                       f"<td>{esc('、'.join(category_zh(x) for x in p['fields']))}</td></tr>" for p in people)
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
        return await show("调解员与专家", body, claims, status)

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

    # --- the unit's inbox (kept by notify) and the unit's insurance claims ----------------------------------

    @r.get("/inbox", response_class=HTMLResponse)
    async def inbox_get(request: Request, unread: str = "", ok: str = "") -> Response:
        claims = signed_in(request)
        if isinstance(claims, str):
            return to_login(claims)
        return await inbox_page(claims, unread == "1", [], ok[:20])

    async def inbox_page(claims: StaffClaims, unread_only: bool, errors: list[str], ok: str = "",
                         status: int = 200) -> HTMLResponse:
        items = await inbox.messages(claims, unread=unread_only)
        count = await inbox.unread(claims) if not unread_only else (None if items is None else len(items))
        body = (f"<h1>消息</h1>{messages(errors)}{messages([OK_ZH[ok]] if ok in OK_ZH else [], 'ok')}"
                + inbox_html(items, claims, unread_only))
        return page("消息", body, claims, status, unread=count)

    @r.post("/inbox/read", response_class=HTMLResponse)
    async def inbox_read(request: Request) -> Response:
        claims = signed_in(request)
        if isinstance(claims, str):
            return to_login(claims)
        f = await read_form(request)
        if not csrf_ok(request, f):
            return await inbox_page(claims, False, ["页面已失效（缺少安全校验码），请刷新页面后重新提交"], status=403)
        nid = one(f, "notification_id")[:200]
        try:
            await inbox.mark_read(claims, nid)
        except Refused as exc:
            await audit(claims, "POST /console/inbox/read", "notification", nid, exc.status)
            return await inbox_page(claims, False, [exc.message], status=exc.status)
        await audit(claims, "POST /console/inbox/read", "notification", nid, 200)
        return RedirectResponse("/console/inbox?ok=read", status_code=303)

    @r.get("/insurance", response_class=HTMLResponse)
    async def insurance_list(request: Request) -> Response:
        claims = signed_in(request)
        if isinstance(claims, str):
            return to_login(claims)
        stats = None
        if claims.role in MANAGE:  # the API's statistics roles, less analysts (who do not use the console)
            stats = await insurance.stats(claims, datetime.now(SHANGHAI).year, None)
        return await show("保险理赔", list_html(await insurance.list_claims(claims), stats), claims)

    return r
