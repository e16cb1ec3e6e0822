"""The applicant's inbox (public): the tracking code plus the last four digits of the phone, behind the lockout."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from yima_kit.throttle import Throttled

from ..service import NotifyService, normalize_tracking_code
from .http import error_body, the_service


def router() -> APIRouter:
    r = APIRouter(prefix="/api/v1")

    @r.get("/inbox/applicant/{tracking_code}", summary="申请人站内信 The applicant's inbox")
    async def applicant_inbox(
        tracking_code: str,
        check: Annotated[str, Query(pattern=r"^\d{4}$", description="申请人手机号后四位")],
        request: Request,
        service: Annotated[NotifyService, Depends(the_service)],
    ) -> Any:
        code = normalize_tracking_code(tracking_code)
        if not code.isalnum() or len(code) > 20:
            return JSONResponse(status_code=400, content=error_body(
                [{"field": "tracking_code", "code": "invalid_tracking_code", "message": "查询码格式不正确"}]))
        client = request.client.host if request.client else "unknown"
        try:  # counted per code and client before the check runs (yima_kit.throttle, as intake's page)
            found = await service.applicant_messages(code, check, client, datetime.now(UTC))
        except Throttled as exc:
            return JSONResponse(status_code=429, content=error_body(
                [{"field": "check", "code": "locked", "message": exc.message_zh()}]))
        if found is None:
            return JSONResponse(status_code=404, content=error_body(
                [{"field": "check", "code": "not_found", "message": "未找到该案件，或手机号后四位不匹配"}]))
        case_number, messages = found
        return {"case_number": case_number, "messages": messages}

    return r
