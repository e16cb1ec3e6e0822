"""Sign-in (routing's login), sign-out (the session ends at routing), the home page by role, and changing one's
password (forced while routing's token carries the "must change" mark)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from yima_kit.auth import AuthError

from ..api import ApiError, SessionEnded
from ..ui import COOKIE, HOME, PREFIX, STALE_FORM, Staff, csrf_ok, esc, form, messages, one, page, read_form
from ..web import FORCED, LOGIN_WHY, PageWeb, Web

router = APIRouter(prefix=PREFIX, include_in_schema=False)
FORCED_WHY = "首次登录（或密码已由管理员重置）：请先修改密码，修改后才能办理业务"


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


def signed_in(web: Web, res: dict[str, Any], ok: str) -> Response | None:
    """routing's token answer (a login's or a password change's) as the session cookie, and on: to the password
    page while the token says the password must be changed, else home. None: the answer is not a token."""
    try:
        token = str(res["access_token"])
        claims = web.verifier.verify(token, password_change_ok=True)
    except (KeyError, TypeError, AuthError):
        return None
    must_change = claims.pwc or bool(res.get("must_change_password"))
    resp = RedirectResponse(FORCED if must_change else PREFIX + HOME.get(claims.role, "/inbox") + ok, status_code=303)
    web.set_cookie(resp, token)
    return resp


@router.get("", response_class=HTMLResponse)
async def home(request: Request, web: PageWeb) -> Response:
    claims = web.staff(request)
    if not isinstance(claims, Staff):
        return claims
    return RedirectResponse(PREFIX + HOME.get(claims.role, "/inbox"), status_code=303)


@router.get("/login", response_class=HTMLResponse)
async def login_get(why: str = "") -> HTMLResponse:
    msg = LOGIN_WHY.get(why[:10])
    if why in ("out", "changed") and msg:
        return login_page([], notice=messages([msg], "ok"))
    return login_page([msg] if msg else [])


@router.post("/login", response_class=HTMLResponse)
async def login_post(request: Request, web: PageWeb) -> Response:
    f = await read_form(request)
    username, password, totp = one(f, "username")[:64], (f.get("password") or [""])[0], one(f, "totp")[:6]
    if not username or not password:
        return login_page(["请填写账号和密码"], username, 422)
    body = {"username": username, "password": password} | ({"totp": totp} if totp else {})
    try:
        res = await web.api.call("routing", "POST", "/api/v1/auth/login", None, json=body)
    except ApiError as exc:
        return login_page([exc.message or "登录失败，请检查账号和密码"], username,
                          exc.status if 400 <= exc.status < 500 else 502)
    done = signed_in(web, res, "") if isinstance(res, dict) else None
    return done or login_page(["登录服务的答复无法识别，请稍后再试"], username, 502)


@router.post("/logout")
async def logout(request: Request, web: PageWeb) -> Response:
    f = await read_form(request)
    token = request.cookies.get(COOKIE)
    if token and not csrf_ok(request, f):
        return page("请求无效", messages(["页面已失效，请刷新后重试"]), status=403)
    if token:  # the session ends at routing too: its token is refused everywhere from now on
        try:
            await web.api.call("routing", "POST", "/api/v1/auth/logout", token)
        except (ApiError, SessionEnded):
            pass  # expired or ended already; the cookie goes all the same
    return web.to_login("out")


# --- change my password (forced at first sign-in) ---------------------------------------------------------


def password_page(claims: Staff, errors: list[str], status: int = 200, forced: bool = False) -> HTMLResponse:
    why = messages([FORCED_WHY]) if forced or claims.pwc else ""
    inner = """<label for="current">原密码</label>
<input type="password" id="current" name="current_password" maxlength="128" autocomplete="current-password" required>
<label for="new">新密码 <span class="hint">（至少10位，含大写字母、小写字母、数字、符号中的三类）</span></label>
<input type="password" id="new" name="new_password" maxlength="128" autocomplete="new-password" required>
<label for="again">再次输入新密码</label>
<input type="password" id="again" name="again" maxlength="128" autocomplete="new-password" required>"""
    body = (f"<h1>修改密码</h1>{why}{messages(errors)}<div class=card style='max-width:520px'>"
            + form("/password", claims, inner, "修改密码", "change-password") + "</div>")
    return page("修改密码", body, claims, status, here="/password")


@router.get("/password", response_class=HTMLResponse)
async def password_get(request: Request, web: PageWeb, forced: str = "") -> Response:
    claims = web.staff(request, password_change_ok=True)
    if not isinstance(claims, Staff):
        return claims
    return password_page(claims, [], forced=forced == "1")


@router.post("/password", response_class=HTMLResponse)
async def password_post(request: Request, web: PageWeb) -> Response:
    claims = web.staff(request, password_change_ok=True)
    if not isinstance(claims, Staff):
        return claims
    f = await read_form(request)
    if not csrf_ok(request, f):
        return password_page(claims, [STALE_FORM], 403)
    current, new, again = ((f.get(k) or [""])[0] for k in ("current_password", "new_password", "again"))
    if not current or not new:
        return password_page(claims, ["请填写原密码和新密码"], 422)
    if new != again:
        return password_page(claims, ["两次输入的新密码不一致"], 422)
    try:
        res = await web.call(claims, "routing", "POST", "/api/v1/auth/password",
                             json={"current_password": current, "new_password": new})
    except ApiError as exc:
        return password_page(claims, [exc.message], exc.status if exc.status < 500 else 502)
    # routing ended every session of the old password and answers with a token of a new one
    return (signed_in(web, res, "?ok=password") if isinstance(res, dict) else None) or web.to_login("changed")
