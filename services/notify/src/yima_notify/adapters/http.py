"""Notify's HTTP API: the in-app inboxes the tracking page and the console read, failures, unit channels.

- The applicant's inbox: the tracking code plus the last four digits of the phone (intake's rule), with
  a lock after repeated wrong checks; the same answer for "no such case" and "wrong phone".
- A unit's inbox, failed messages and channel settings: a staff token, scoped to the caller's own unit.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from yima_contracts.codes import StaffRole
from yima_kit.auth import StaffClaims
from yima_kit.throttle import Allowance, CheckThrottle, Throttled

from ..core.webhook_policy import webhook_allowed
from ..service import UNIT_CONTACTS, NotifyService, normalize_tracking_code

TRACK_FAILURES = "track_failures"  # the old per-code counters (expire by themselves)
TRACK_THROTTLE = "track_throttle"
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


def router(service: NotifyService, require_staff: Any) -> APIRouter:
    r = APIRouter(prefix="/api/v1")
    settings = service.settings
    throttle = CheckThrottle(service.db[TRACK_THROTTLE], per_client=Allowance(
        free=settings.track_max_failures, max_delay=timedelta(minutes=settings.track_lock_minutes)))
    any_staff = require_staff()
    managers = require_staff(StaffRole.ADMIN, StaffRole.DISPATCHER, StaffRole.LEADER)
    admins = require_staff(StaffRole.ADMIN)

    @r.get("/inbox/applicant/{tracking_code}", summary="申请人站内信 The applicant's inbox")
    async def applicant_inbox(
        tracking_code: str,
        check: Annotated[str, Query(pattern=r"^\d{4}$", description="申请人手机号后四位")],
        request: Request,
    ) -> Any:
        code = normalize_tracking_code(tracking_code)
        if not code.isalnum() or len(code) > 20:
            return JSONResponse(status_code=400, content=error_body(
                [{"field": "tracking_code", "code": "invalid_tracking_code", "message": "查询码格式不正确"}]))
        key = service.cipher.blind_index(code, context="track_failures")
        now = datetime.now(UTC)
        client = request.client.host if request.client else "unknown"
        try:  # counted per code and client before the check runs (yima_kit.throttle, as intake's page)
            tickets = await throttle.take(key, client, now)
        except Throttled as exc:
            return JSONResponse(status_code=429, content=error_body(
                [{"field": "check", "code": "locked", "message": f"核对失败次数过多，请{exc.minutes_zh()}后再试"}]))
        record, wrong_check = await service.applicant_case(code, check)
        if record is None and not wrong_check:
            # Only a wrong check counts: the 4 digits are what can be guessed (a code is 60 random bits). A code
            # notify has not heard of yet (case.submitted still on its way, while intake's tracking page already
            # asks) must not slow the applicant down after a few refreshes.
            await throttle.release(tickets)
        else:
            await throttle.settle(tickets, record is not None, now)
        if record is None:
            return JSONResponse(status_code=404, content=error_body(
                [{"field": "check", "code": "not_found", "message": "未找到该案件，或手机号后四位不匹配"}]))
        return {"case_number": record["case_number"], "messages": await service.applicant_inbox(record["_id"])}

    @r.get("/inbox/unit", summary="本单位站内信 The caller's unit inbox")
    async def unit_inbox(claims: StaffClaims = any_staff, unread: bool = False) -> Any:
        return {"unit_code": claims.unit, "messages": await service.unit_inbox(claims.unit, unread=unread)}

    @r.post("/inbox/unit/{notification_id:path}/read", summary="标记已读 Mark read")
    async def mark_read(notification_id: str, claims: StaffClaims = any_staff) -> Any:
        if not await service.mark_read(claims.unit, notification_id):
            return JSONResponse(status_code=404, content=error_body(
                [{"field": "notification_id", "code": "not_found", "message": "本单位没有这条消息"}]))
        return {"notification_id": notification_id, "read": True}

    @r.get("/failures", summary="发送失败的通知 Messages that finally failed")
    async def list_failures(claims: StaffClaims = managers) -> Any:
        return {"unit_code": claims.unit, "failures": await service.failures(claims.unit)}

    @r.put("/units/{unit_code}/contacts", summary="本单位接收渠道 The unit's webhook / e-mail / WeChat")
    async def put_contacts(unit_code: str, body: UnitContacts, claims: StaffClaims = admins) -> Any:
        if unit_code != claims.unit:
            return JSONResponse(status_code=403, content=error_body(
                [{"field": "unit_code", "code": "forbidden", "message": "只能设置本单位的接收渠道"}],
                message="无权操作"))
        if body.webhook_url and not webhook_allowed(body.webhook_url, settings.webhook_allowed_hosts):
            return JSONResponse(status_code=422, content=error_body(
                [{"field": "webhook_url", "code": "webhook_not_allowed",
                  "message": "对接地址须为 https，且主机在运维人员设定的允许名单内"}]))
        doc = {k: v or "" for k, v in body.model_dump().items()}
        await service.db[UNIT_CONTACTS].update_one(
            {"_id": unit_code}, {"$set": {**doc, "updated_by": claims.sub, "updated_at": datetime.now(UTC)}},
            upsert=True)
        return {"unit_code": unit_code, **doc}

    return r
