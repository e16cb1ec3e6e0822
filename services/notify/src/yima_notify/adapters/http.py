"""Notify's HTTP API: the in-app inboxes the tracking page and the console read, failures, unit channels — one
router per audience, each route reaching the service through a dependency (``app.state.service``):

- http_applicant.py — the applicant's inbox: the tracking code plus the last four digits of the phone (intake's
  rule), with a lock after repeated wrong checks; the same answer for "no such case" and "wrong phone".
- http_staff.py — a unit's inbox, failed messages and channel settings: a staff token, scoped to the caller's
  own unit.

This module: what both share (errors, the webhook host rule) and ``router``, which puts them together.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ..core.webhook_policy import webhook_allowed
from ..service import NotifyService

__all__ = ["webhook_allowed"]  # the admin's check at setting time (the worker checks again at send time)


def error_body(errors: list[dict[str, Any]], message: str = "请求有误，请按提示修改") -> dict[str, Any]:
    return {"message": message, "errors": errors}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "code": e["type"],
                   "message": "格式不正确" if "pattern" in e["type"] else "取值不正确"} for e in exc.errors()]
        return JSONResponse(status_code=422, content=error_body(errors))


class UnitContacts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    webhook_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://", description="系统对接地址")
    email: str | None = Field(default=None, max_length=200, pattern=r"^[^@\s]+@[^@\s]+$", description="值班邮箱")
    wechat_openid: str | None = Field(default=None, max_length=64, description="值班人员微信 openid")


def the_service(request: Request) -> NotifyService:
    """The routes' way to the service (set by the app factory)."""
    service: NotifyService = request.app.state.service
    return service


def router(service: NotifyService, require_staff: Any) -> APIRouter:
    """Every route of notify's API (``service`` is the one ``app.state.service`` holds)."""
    from . import http_applicant, http_staff

    r = APIRouter()  # each audience's router carries the prefix (the audit records the route's own template)
    r.include_router(http_applicant.router())
    r.include_router(http_staff.router(service.settings.webhook_allowed_hosts, require_staff))
    return r
