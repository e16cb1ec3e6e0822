"""Calls to the services' HTTP APIs with the signed-in person's own token: every scope and role check stays in
the service that owns the data. A refusal comes back as :class:`ApiError` with the service's own Chinese
message; a service that cannot be reached in time is a 502 with a Chinese message, never a crash of the page."""

from __future__ import annotations

from typing import Any

import httpx
from yima_kit.logging import get_logger

from .config import ConsoleSettings

log = get_logger("console.api")

SERVICE_ZH = {"routing": "分流督办服务", "intake": "登记服务", "risk": "风险服务", "mediation": "调解服务",
              "notify": "消息服务", "insight": "考核分析服务"}
PASSWORD_CHANGE = "password_change_required"
WRONG_PASSWORD = "invalid_credentials"  # routing's answer to a wrong current password: the session goes on


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.errors = errors or []  # the service's per-field errors ({"field", "code", "message"}), if any


class PasswordChangeRequired(Exception):
    """The service refuses every staff call until the person has changed the initial password: not an
    ApiError, so that no page shows it as a refusal; the app sends the browser to the password page."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SessionEnded(Exception):
    """A service no longer accepts the person's token (the session was logged out, ended by a password change
    or a deactivation, or has expired): the app sends the browser to the login page."""


def _message(res: httpx.Response) -> tuple[str, str]:
    try:
        body = res.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    errors: list[Any] = body["errors"] if isinstance(body.get("errors"), list) else []
    code = str((errors[0] or {}).get("code") or "") if errors and isinstance(errors[0], dict) else ""
    code = str(body.get("code") or code)
    detail = body.get("detail")
    if isinstance(detail, dict):
        code = str(detail.get("code") or code)
        detail = detail.get("message")
    msg = str(body.get("message") or (detail if isinstance(detail, str) else "") or "")
    if isinstance(detail, list) and not msg:  # FastAPI's own validation answer
        msg = "提交的内容有误，请按提示修改"
    details = [str(e["message"]) for e in errors if isinstance(e, dict) and e.get("message")
               and str(e["message"]) != msg]
    if details:  # which fields, in the service's words
        msg = f"{msg}：{'；'.join(dict.fromkeys(details))}" if msg else "；".join(dict.fromkeys(details))
    return msg[:500], code


def _errors(res: httpx.Response) -> list[dict[str, Any]]:
    try:
        body = res.json()
    except ValueError:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


class Api:
    def __init__(self, settings: ConsoleSettings,
                 transports: dict[str, httpx.AsyncBaseTransport] | None = None) -> None:
        """``transports``: a service reached through the given transport (tests: an app in the same process)."""
        self.urls = {"routing": settings.routing_url, "intake": settings.intake_url, "risk": settings.risk_url,
                     "mediation": settings.mediation_url, "notify": settings.notify_url,
                     "insight": settings.insight_url}
        self.timeout = settings.api_timeout_seconds
        self._client: httpx.AsyncClient | None = None
        self._own = {name: httpx.AsyncClient(transport=t, timeout=self.timeout)
                     for name, t in (transports or {}).items()}

    def client_for(self, service: str) -> httpx.AsyncClient:
        if service in self._own:
            return self._own[service]
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
        return self._client

    async def close(self) -> None:
        for c in [self._client, *self._own.values()]:
            if c is not None:
                await c.aclose()
        self._client = None

    async def raw(self, service: str, method: str, path: str, token: str | None, *,
                  json: Any = None, params: dict[str, Any] | None = None,
                  headers: dict[str, str] | None = None) -> httpx.Response:
        """The service's answer as it is (any status); ApiError(502) when it cannot be reached."""
        base = self.urls[service].rstrip("/")
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        try:
            res = await self.client_for(service).request(method, base + path, json=json, params=params, headers=h)
        except httpx.HTTPError as exc:
            log.warning("service unreachable", service=service, error=type(exc).__name__)
            raise ApiError(502, "unavailable", f"{SERVICE_ZH.get(service, service)}暂时无法连接，请稍后再试") from exc
        if res.status_code == 403:
            msg, code = _message(res)
            if code == PASSWORD_CHANGE:
                raise PasswordChangeRequired(msg or "请先修改初始密码")
        elif res.status_code == 401 and token and _message(res)[1] != WRONG_PASSWORD:
            raise SessionEnded()
        return res

    async def call(self, service: str, method: str, path: str, token: str | None, *,
                   json: Any = None, params: dict[str, Any] | None = None) -> Any:
        """The decoded JSON of a 2xx answer; otherwise ApiError with the service's message (in Chinese)."""
        res = await self.raw(service, method, path, token, json=json, params=params)
        self.check(service, res)
        if res.status_code == 204 or not res.content:
            return None
        try:
            return res.json()
        except ValueError as exc:
            raise ApiError(502, "bad_answer", f"{SERVICE_ZH.get(service, service)}的答复无法识别") from exc

    @staticmethod
    def check(service: str, res: httpx.Response) -> None:
        """ApiError with the service's message (in Chinese) unless the answer is a success."""
        if res.status_code >= 400:
            msg, code = _message(res)
            if res.status_code >= 500:
                log.warning("service failed", service=service, status=res.status_code)
                raise ApiError(502, code or "failed", f"{SERVICE_ZH.get(service, service)}暂时无法处理，请稍后再试")
            if res.status_code == 401 and not msg:
                msg = "登录已过期，请重新登录"
            raise ApiError(res.status_code, code or "refused", msg or "操作未成功", _errors(res))
