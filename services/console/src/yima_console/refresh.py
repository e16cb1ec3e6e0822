"""Keeping a session alive while its holder works: routing's tokens live 30 minutes and a session not refreshed
for as long ends (idle expiry). Any page the person opens or posts with a token older than
``ConsoleSettings.refresh_after_seconds`` first asks routing for a fresh one (``POST /api/v1/auth/refresh``,
same session), and the page is served and the cookie set with it. The supervision list's own background
refresh (``/supervise/rows``) does not count as activity: an unattended screen ends as routing's policy says.

The session's CSRF token is derived from the session id (``ui.csrf_of``), so forms rendered before a refresh
still post after it."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import Response
from yima_kit.auth import AuthError
from yima_kit.logging import get_logger

from .api import ApiError, SessionEnded
from .ui import COOKIE, PREFIX
from .web import Web

log = get_logger("console.refresh")
QUIET = (f"{PREFIX}/login", f"{PREFIX}/logout", f"{PREFIX}/supervise/rows")  # not the person's activity


async def fresh_token(web: Web, token: str) -> str | None:
    """A new token for the session of ``token`` when it is due for one; None: keep it. AuthError: the session
    is over (idle longer than routing allows, revoked, the account deactivated)."""
    try:
        claims = web.verifier.verify(token, password_change_ok=True)
    except AuthError:
        return None  # the page itself sends the browser to the login page
    due = min(web.settings.refresh_after_seconds, (claims.exp - claims.iat) / 3)
    if not claims.sid or time.time() - claims.iat < due:
        return None
    try:
        res = await web.api.raw("routing", "POST", "/api/v1/auth/refresh", token)
    except SessionEnded as exc:
        raise AuthError("登录已超时，请重新登录") from exc
    except ApiError:
        return None  # routing unreachable: the token is still good for a while, the page goes on
    try:
        new = str(res.json()["access_token"]) if res.status_code == 200 else ""
        web.verifier.verify(new, password_change_ok=True)
    except (ValueError, KeyError, TypeError, AuthError):
        log.warning("token refresh answered without a token", status=res.status_code)
        return None
    return new


def install(app: FastAPI, web: Web) -> None:
    @app.middleware("http")
    async def refresh(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        token = request.cookies.get(COOKIE, "")
        path = request.url.path
        if not token or not path.startswith(PREFIX) or path.startswith(QUIET):
            return await call_next(request)
        try:
            new = await fresh_token(web, token)
        except AuthError:
            return web.to_login("expired")
        if new is None:
            return await call_next(request)
        swap_cookie(request, token, new)
        resp = await call_next(request)
        if COOKIE not in resp.headers.get("set-cookie", ""):  # a sign-out or a new session of the page's own
            web.set_cookie(resp, new)
        return resp


def swap_cookie(request: Request, old: str, new: str) -> None:
    """The request goes on with the new token (the pages read the cookie)."""
    headers = [(k, v.replace(old.encode(), new.encode()) if k == b"cookie" else v)
               for k, v in request.scope["headers"]]
    request.scope["headers"] = headers
