"""Sign-in (routing's login), sign-out, the home page by role, changing one's password, the unit's inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from yima_kit.auth import AuthError

from ..api import ApiError, SessionEnded
from ..ui import COOKIE, HOME, PREFIX, STALE_FORM, Staff, csrf_ok, esc, form, local, messages, one, page, read_form
from ..web import FORCED, LOGIN_WHY, Web

INBOX_PAGE = 50


def login_page(errors: list[str], username: str = "", status: int = 200, notice: str = "") -> HTMLResponse:
    body = f"""<h1>工作人员登录</h1>{messages(errors)}{notice}
<form class="card" method="post" action="{PREFIX}/login" accept-charset="utf-8" style="max-width:520px">
<label for="username">账号</label>
<input type="text" id="username" name="username" value="{esc(username)}" maxlength="64"
 autocomplete="username" required>
<label for="password">密码</label>
<input type="password" id="password" name="password" maxlength="128" autocomplete="current-password" required>
<label for="totp">动态口令 <span class="hint">（管理员填写6位数字，其他人员不填）</span></label>
<input type="text" id="totp" name="totp" maxlength="6" inputmode="numeric" autocomplete="one-time-code">
<button type="submit" id="login">登录</button></form>"""
    return page("登录", body, status=status)


def router(web: Web) -> APIRouter:
    r = APIRouter(prefix=PREFIX, include_in_schema=False)
    api, settings = web.api, web.settings

    def session_cookie(resp: Response, token: str, exp: int) -> None:
        resp.set_cookie(COOKIE, token, max_age=max(60, exp - int(datetime.now().timestamp())), path=PREFIX,
                        httponly=True, samesite="strict", secure=settings.secure_cookie)

    async def login_call(username: str, password: str, totp: str) -> tuple[dict[str, Any] | None, str, int]:
        body = {"username": username, "password": password} | ({"totp": totp} if totp else {})
        try:
            res = await api.call("routing", "POST", "/api/v1/auth/login", None, json=body)
        except ApiError as exc:
            return None, exc.message or "登录失败，请检查账号和密码", exc.status
        return res if isinstance(res, dict) else None, "", 200

    @r.get("", response_class=HTMLResponse)
    async def home(request: Request) -> Response:
        claims = web.staff(request)
        if not isinstance(claims, Staff):
            return claims
        return RedirectResponse(PREFIX + HOME.get(claims.role, "/inbox"), status_code=303)

    @r.get("/login", response_class=HTMLResponse)
    async def login_get(why: str = "") -> HTMLResponse:
        msg = LOGIN_WHY.get(why[:10])
        if why in ("out", "changed") and msg:
            return login_page([], notice=messages([msg], "ok"))
        return login_page([msg] if msg else [])

    @r.post("/login", response_class=HTMLResponse)
    async def login_post(request: Request) -> Response:
        f = await read_form(request)
        username, password, totp = one(f, "username")[:64], (f.get("password") or [""])[0], one(f, "totp")[:6]
        if not username or not password:
            return login_page(["请填写账号和密码"], username, 422)
        res, msg, status = await login_call(username, password, totp)
        if res is None:
            return login_page([msg or "登录服务的答复无法识别，请稍后再试"], username,
                              status if 400 <= status < 500 else 502)
        return signed_in(res, "") or login_page(["登录服务的答复无法识别，请稍后再试"], username, 502)

    def signed_in(res: dict[str, Any], ok: str) -> Response | None:
        """routing's token answer (a login's or a password change's) as the session cookie, and on: to the
        password page while the token says the password must be changed, else home. None: not a token."""
        try:
            token = str(res["access_token"])
            claims = web.verifier.verify(token, password_change_ok=True)
        except (KeyError, TypeError, AuthError):
            return None
        must_change = claims.pwc or bool(res.get("must_change_password"))
        target = FORCED if must_change else PREFIX + HOME.get(claims.role, "/inbox") + ok
        resp = RedirectResponse(target, status_code=303)
        session_cookie(resp, token, claims.exp)
        return resp

    @r.post("/logout")
    async def logout(request: Request) -> Response:
        f = await read_form(request)
        token = request.cookies.get(COOKIE)
        if token and not csrf_ok(request, f):
            return page("请求无效", messages(["页面已失效，请刷新后重试"]), status=403)
        if token:  # the session ends at routing too: its token is refused everywhere from now on
            try:
                await api.call("routing", "POST", "/api/v1/auth/logout", token)
            except (ApiError, SessionEnded):
                pass  # expired or ended already; the cookie goes all the same
        return web.to_login("out")

    # --- change my password (forced at first sign-in) ---------------------------------------------------

    def password_body(claims: Staff, errors: list[str], forced: bool) -> str:
        why = (messages(["首次登录（或密码已由管理员重置）：请先修改密码，修改后才能办理业务"])
               if forced else "")
        inner = """<label for="current">原密码</label>
<input type="password" id="current" name="current_password" maxlength="128" autocomplete="current-password" required>
<label for="new">新密码 <span class="hint">（至少10位，含大写字母、小写字母、数字、符号中的三类）</span></label>
<input type="password" id="new" name="new_password" maxlength="128" autocomplete="new-password" required>
<label for="again">再次输入新密码</label>
<input type="password" id="again" name="again" maxlength="128" autocomplete="new-password" required>"""
        return (f"<h1>修改密码</h1>{why}{messages(errors)}<div class=card style='max-width:520px'>"
                + form("/password", claims, inner, "修改密码", "change-password") + "</div>")

    @r.get("/password", response_class=HTMLResponse)
    async def password_get(request: Request, forced: str = "") -> Response:
        claims = web.staff(request, password_change_ok=True)
        if not isinstance(claims, Staff):
            return claims
        return page("修改密码", password_body(claims, [], forced == "1" or claims.pwc), claims, here="/password")

    @r.post("/password", response_class=HTMLResponse)
    async def password_post(request: Request) -> Response:
        claims = web.staff(request, password_change_ok=True)
        if not isinstance(claims, Staff):
            return claims
        f = await read_form(request)
        if not csrf_ok(request, f):
            return page("修改密码", password_body(claims, [STALE_FORM], claims.pwc), claims, 403)
        current, new, again = ((f.get(k) or [""])[0] for k in ("current_password", "new_password", "again"))
        if not current or not new:
            return page("修改密码", password_body(claims, ["请填写原密码和新密码"], claims.pwc), claims, 422)
        if new != again:
            return page("修改密码", password_body(claims, ["两次输入的新密码不一致"], claims.pwc), claims, 422)
        try:
            res = await api.call("routing", "POST", "/api/v1/auth/password", claims.token,
                                 json={"current_password": current, "new_password": new})
        except ApiError as exc:
            return page("修改密码", password_body(claims, [exc.message], claims.pwc), claims,
                        exc.status if exc.status < 500 else 502)
        # routing ended every session of the old password and answers with a token of a new one
        return (signed_in(res, "?ok=password") if isinstance(res, dict) else None) or web.to_login("changed")

    # --- the unit's inbox (kept by notify) ---------------------------------------------------------------

    async def inbox_page(claims: Staff, unread_only: bool, errors: list[str], ok: str = "",
                         status: int = 200) -> HTMLResponse:
        try:
            res = await web.call(claims, "notify", "GET", "/api/v1/inbox/unit",
                                 params={"unread": str(unread_only).lower()})
            items: list[dict[str, Any]] | None = [m for m in res.get("messages", []) if isinstance(m, dict)]
        except ApiError:
            items = None
        tabs = (f'<div class="card tabs"><a href="{PREFIX}/inbox"{"" if unread_only else " class=on"}>全部</a>'
                f'<a href="{PREFIX}/inbox?unread=1"{" class=on" if unread_only else ""}>未读</a></div>')
        if items is None:
            body = tabs + messages(["消息暂时无法显示（消息服务暂时无法连接），请稍后刷新；其他工作不受影响"])
        elif not items:
            body = tabs + f'<div class="card"><p>{"没有未读消息" if unread_only else "没有消息"}。</p></div>'
        else:
            rows = []
            for i, m in enumerate(items):
                read = bool(m.get("read_at"))
                button = "" if read else form("/inbox/read", claims, '<input type="hidden" name="notification_id"'
                                              f' value="{esc(m.get("notification_id"))}">', "标为已读",
                                              f"read-{i}", small=True)
                rows.append(
                    f'<tr class="{"read" if read else "unread"}"><td class="time" data-l="时间">'
                    f'{esc(local(m.get("created_at")))}</td><td data-l="案件">{esc(m.get("case_number") or "")}</td>'
                    f'<td><strong>{esc(m.get("title") or "")}</strong><div>{esc(m.get("text") or "")}</div></td>'
                    f'<td>{"已读" if read else "未读"}{button}</td></tr>')
            more = f'<p class="hint">只显示最新的{INBOX_PAGE}条。</p>' if len(items) >= INBOX_PAGE else ""
            body = (tabs + '<div class="card scroll"><table id="inbox" class="cards"><tr><th>时间（北京时间）</th>'
                    f'<th>案件编号</th><th>消息</th><th>状态</th></tr>{"".join(rows)}</table>{more}</div>')
        head = f"<h1>消息</h1>{messages(errors)}" + (messages(["已标为已读"], "ok") if ok == "read" else "")
        return await web.show("消息", head + body, claims, here="/inbox", status=status)

    @r.get("/inbox", response_class=HTMLResponse)
    async def inbox_get(request: Request, unread: str = "", ok: str = "") -> Response:
        claims = web.staff(request)
        if not isinstance(claims, Staff):
            return claims
        return await inbox_page(claims, unread == "1", [], ok[:20])

    @r.post("/inbox/read", response_class=HTMLResponse)
    async def inbox_read(request: Request) -> Response:
        claims = web.staff(request)
        if not isinstance(claims, Staff):
            return claims
        f = await read_form(request)
        if not csrf_ok(request, f):
            return await inbox_page(claims, False, [STALE_FORM], status=403)
        nid = one(f, "notification_id")[:200]
        if not nid:
            return await inbox_page(claims, False, ["请选择要标为已读的消息"], status=422)
        try:
            await web.call(claims, "notify", "POST", f"/api/v1/inbox/unit/{quote(nid, safe='')}/read")
        except ApiError as exc:
            return await inbox_page(claims, False, [exc.message], status=exc.status)
        return RedirectResponse(f"{PREFIX}/inbox?ok=read", status_code=303)

    return r
