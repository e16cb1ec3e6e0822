"""Staff: the caller's unit inbox, the messages that finally failed, the unit's own channels (scoped to the
caller's unit)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from yima_contracts.codes import StaffRole
from yima_kit.auth import StaffClaims

from ..service import NotifyService
from .http import UnitContacts, error_body, the_service, webhook_allowed

Service = Annotated[NotifyService, Depends(the_service)]


def router(webhook_allowed_hosts: list[str], require_staff: Any) -> APIRouter:
    r = APIRouter(prefix="/api/v1")
    any_staff = require_staff()
    managers = require_staff(StaffRole.ADMIN, StaffRole.DISPATCHER, StaffRole.LEADER)
    admins = require_staff(StaffRole.ADMIN)

    @r.get("/inbox/unit", summary="本单位站内信 The caller's unit inbox")
    async def unit_inbox(service: Service, claims: StaffClaims = any_staff, unread: bool = False) -> Any:
        return {"unit_code": claims.unit, "messages": await service.unit_inbox(claims.unit, unread=unread)}

    @r.post("/inbox/unit/{notification_id:path}/read", summary="标记已读 Mark read")
    async def mark_read(notification_id: str, service: Service, claims: StaffClaims = any_staff) -> Any:
        if not await service.mark_read(claims.unit, notification_id):
            return JSONResponse(status_code=404, content=error_body(
                [{"field": "notification_id", "code": "not_found", "message": "本单位没有这条消息"}]))
        return {"notification_id": notification_id, "read": True}

    @r.get("/failures", summary="发送失败的通知 Messages that finally failed")
    async def list_failures(service: Service, claims: StaffClaims = managers) -> Any:
        return {"unit_code": claims.unit, "failures": await service.failures(claims.unit)}

    @r.put("/units/{unit_code}/contacts", summary="本单位接收渠道 The unit's webhook / e-mail / WeChat")
    async def put_contacts(unit_code: str, body: UnitContacts, service: Service,
                           claims: StaffClaims = admins) -> Any:
        if unit_code != claims.unit:
            return JSONResponse(status_code=403, content=error_body(
                [{"field": "unit_code", "code": "forbidden", "message": "只能设置本单位的接收渠道"}],
                message="无权操作"))
        if body.webhook_url and not webhook_allowed(body.webhook_url, webhook_allowed_hosts):
            return JSONResponse(status_code=422, content=error_body(
                [{"field": "webhook_url", "code": "webhook_not_allowed",
                  "message": "对接地址须为 https，且主机在运维人员设定的允许名单内"}]))
        doc = {k: v or "" for k, v in body.model_dump().items()}
        await service.set_unit_contacts(unit_code, doc, claims.sub)
        return {"unit_code": unit_code, **doc}

    return r
