"""The intake HTTP API (public and staff channels). Errors answer in a machine-readable list and in Chinese."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ..core.identity import TrackingCodeError, display_tracking_code, validate_tracking_code
from ..core.submission import SubmitCase
from ..service import IdempotencyConflict, IntakeService, public_view

_MSG_ZH = {
    "missing": "缺少必填项",
    "extra_forbidden": "不认识的字段",
    "string_too_short": "内容太短",
    "string_too_long": "内容太长",
    "enum": "取值不在允许范围内",
    "string_pattern_mismatch": "格式不正确",
    "literal_error": "取值不在允许范围内",
    "json_invalid": "请求体不是合法的JSON",
    "model_attributes_type": "应为对象",
    "dict_type": "应为对象",
    "string_type": "应为文字",
}


class CaseCreated(BaseModel):
    case_id: str
    case_number: str
    tracking_code: str | None
    tracking_url: str | None
    category: str
    needs_review: bool


def error_body(errors: list[dict[str, Any]]) -> dict[str, Any]:
    return {"message": "提交的内容有误，请按提示修改", "errors": errors}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for e in exc.errors():
            loc = [str(p) for p in e.get("loc", ()) if p != "body"]
            ctx_error = (e.get("ctx") or {}).get("error")
            # Our validators already speak Chinese (personal.py); pydantic's built-ins get a translation.
            message = str(ctx_error) if ctx_error else _MSG_ZH.get(e["type"], e.get("msg", "取值不正确"))
            errors.append({"field": ".".join(loc), "code": e["type"], "message": message})
        return JSONResponse(status_code=422, content=error_body(errors))


def router(service: IntakeService) -> APIRouter:
    r = APIRouter(prefix="/api/v1")
    settings = service.settings

    @r.post("/cases", status_code=201, response_model=CaseCreated, summary="登记纠纷 Submit a dispute")
    async def submit_case(
        body: SubmitCase,
        idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
    ) -> Any:
        try:
            result = await service.submit(body, idempotency_key=idempotency_key)
        except IdempotencyConflict:
            return JSONResponse(
                status_code=409,
                content=error_body([{"field": "Idempotency-Key", "code": "idempotency_conflict",
                                     "message": "同一个Idempotency-Key已用于另一份不同的申请"}]),
            )
        code = result.tracking_code
        payload = CaseCreated(
            case_id=result.case_id,
            case_number=result.case_number,
            tracking_code=display_tracking_code(code) if code else None,
            tracking_url=f"{settings.public_base_url}/track/{code}" if code else None,
            category=result.category,
            needs_review=result.needs_review,
        )
        return JSONResponse(status_code=201 if result.created else 200, content=payload.model_dump())

    @r.get("/track/{tracking_code}", summary="查询进度 Track a case")
    async def track(
        tracking_code: str,
        check: Annotated[str, Query(pattern=r"^\d{4}$", description="申请人手机号后四位")],
    ) -> Any:
        try:
            code = validate_tracking_code(tracking_code)
        except TrackingCodeError as exc:
            return JSONResponse(
                status_code=400,
                content=error_body([{"field": "tracking_code", "code": "invalid_tracking_code", "message": str(exc)}]),
            )
        now = datetime.now(UTC)
        th = service.tracking_hash(code)
        repo = service.repo
        if await repo.count_failures(th, now) >= settings.track_max_failures:  # type: ignore[attr-defined]
            return JSONResponse(
                status_code=429,
                content=error_body([{"field": "check", "code": "locked",
                                     "message": f"核对失败次数过多，请{settings.track_lock_minutes}分钟后再试"}]),
            )
        case = await repo.find_by_tracking_hash(th)
        if case is None or not await service.check_phone(case, check):
            await repo.add_failure(th, now + timedelta(minutes=settings.track_lock_minutes))  # type: ignore[attr-defined]
            # Same answer for "no such case" and "wrong phone": a guesser learns nothing.
            return JSONResponse(
                status_code=404,
                content=error_body([{"field": "check", "code": "not_found",
                                     "message": "未找到该案件，或手机号后四位不匹配"}]),
            )
        return public_view(case, await repo.timeline(case["_id"]))

    return r
