"""What every page needs: who is signed in (the token in an HttpOnly, SameSite=Strict cookie, verified with the
platform's keys), the API client, the frame with the unit's unread count."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from yima_kit.auth import AuthError, TokenVerifier

from .api import Api, ApiError
from .config import ConsoleSettings
from .ui import COOKIE, PREFIX, ROLE_REFUSED, Staff, csrf_of, messages, page

LOGIN_WHY = {"expired": "登录已过期，请重新登录", "invalid": "身份凭证无效，请重新登录", "none": "请先登录",
             "out": "已退出登录", "changed": "密码已修改，请用新密码重新登录",
             "ended": "登录已失效（已在别处退出、密码已修改或账号已停用），请重新登录"}
FORCED = f"{PREFIX}/password?forced=1"


@dataclass
class Web:
    settings: ConsoleSettings
    api: Api
    verifier: TokenVerifier
    _units: dict[str, dict[str, Any]] = field(default_factory=dict)
    _units_at: float = 0.0

    async def units(self) -> dict[str, dict[str, Any]]:
        """routing's public directory (code → unit), read again every five minutes."""
        if not self._units or time.monotonic() - self._units_at > 300:
            try:
                res = await self.api.call("routing", "GET", "/api/v1/units", None)
                self._units = {u["code"]: u for u in res.get("units", []) if isinstance(u, dict) and "code" in u}
                self._units_at = time.monotonic()
            except ApiError:
                pass  # names fall back to codes
        return self._units

    async def names(self) -> dict[str, str]:
        """code → name of every unit in the directory."""
        return {c: str(u.get("name", c)) for c, u in (await self.units()).items()}

    def forget_units(self) -> None:
        self._units_at = 0.0

    async def unit_name(self, code: str | None) -> str:
        return str((await self.units()).get(code or "", {}).get("name") or code or "")

    def staff(self, request: Request, roles: tuple[str, ...] = (), *,
              password_change_ok: bool = False) -> Staff | Response:
        """The signed-in person, or the answer to give instead (the login page, the password page while the
        token carries routing's "must change the password" mark, or a refusal for the role)."""
        token = request.cookies.get(COOKIE, "")
        if not token:
            return self.to_login("none")
        try:
            claims = self.verifier.verify(token, password_change_ok=True)
        except AuthError as exc:
            return self.to_login("expired" if "过期" in str(exc) else "invalid")
        if claims.pwc and not password_change_ok:
            return RedirectResponse(FORCED, status_code=303)
        staff = Staff.model_validate(claims.model_dump() | {"csrf": csrf_of(token), "token": token})
        if roles and staff.role not in roles:
            return page("无权访问", f"<h1>无权访问</h1>{messages([ROLE_REFUSED])}", staff, 403)
        return staff

    def set_cookie(self, resp: Response, token: str) -> None:
        """The session cookie: HttpOnly, SameSite=Strict, on /console only, for the token's lifetime."""
        exp = self.verifier.verify(token, password_change_ok=True).exp
        resp.set_cookie(COOKIE, token, max_age=max(60, exp - int(time.time())), path=PREFIX, httponly=True,
                        samesite="strict", secure=self.settings.secure_cookie)

    @staticmethod
    def to_login(why: str) -> RedirectResponse:
        resp = RedirectResponse(f"{PREFIX}/login?why={why}", status_code=303)
        resp.delete_cookie(COOKIE, path=PREFIX)
        return resp

    async def unread(self, claims: Staff) -> int | None:
        try:
            res = await self.api.call("notify", "GET", "/api/v1/inbox/unit", claims.token, params={"unread": "true"})
        except ApiError:
            return None
        items = res.get("messages") if isinstance(res, dict) else None
        return len(items) if isinstance(items, list) else None

    async def show(self, title: str, body: str, claims: Staff, *, here: str = "", status: int = 200,
                   script: str = "") -> HTMLResponse:
        return page(title, body, claims, status, here=here, unread=await self.unread(claims), script=script)

    async def call(self, claims: Staff, service: str, method: str, path: str, **kw: Any) -> Any:
        return await self.api.call(service, method, path, claims.token, **kw)


def web_of(request: Request) -> Web:
    """The app's :class:`Web` (``app.state.web``), for the pages' routes."""
    web: Web = request.app.state.web
    return web


PageWeb = Annotated[Web, Depends(web_of)]
