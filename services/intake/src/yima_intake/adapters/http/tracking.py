"""The applicant's tracking code: progress (with notify's messages), the rating of a closed case, its QR code.
Every answer needs the code and the last four digits of the applicant's phone; wrong checks are throttled."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from yima_kit.errors import error_response

from ...core.identity import TrackingCodeError, validate_tracking_code
from ...results import RatingRefused, TrackLocked, TrackNotFound
from ...service import IntakeService
from .common import Intake, TrackingCode, client_address, qr_response

router = APIRouter()


class RatingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    check: str = Field(pattern=r"^\d{4}$", description="申请人手机号后四位")
    score: int = Field(ge=1, le=5, description="满意度 1–5")
    comment: str | None = Field(default=None, max_length=500)


async def open_case(service: IntakeService, tracking_code: str, check: str,
                    request: Request) -> dict[str, Any] | JSONResponse:
    """The case behind the code and check, or the refusal to answer with."""
    try:
        return await service.open_case(tracking_code, check,
                                       client=client_address(request, service.settings.trust_forwarded_for))
    except TrackingCodeError as exc:
        return error_response(400, "tracking_code", "invalid_tracking_code", str(exc))
    except TrackLocked as exc:
        return error_response(429, "check", "locked", exc.message_zh())
    except TrackNotFound:
        # Same answer for "no such case" and "wrong phone": a guesser learns nothing.
        return error_response(404, "check", "not_found", "未找到该案件，或手机号后四位不匹配")


@router.get("/track/{tracking_code}", summary="查询进度 Track a case", responses={400: {}, 404: {}, 429: {}},
            description="办理进度、调解安排和站内消息（messages，最新的在前）。消息来自通知服务，"
            "暂时取不到时 messages 为 null、messages_unavailable 为 true，其余内容照常返回。")
async def track(
    tracking_code: TrackingCode,
    check: Annotated[str, Query(pattern=r"^\d{4}$", description="申请人手机号后四位")],
    request: Request,
    service: Intake,
) -> Any:
    case = await open_case(service, tracking_code, check, request)
    if isinstance(case, JSONResponse):
        return case
    return await service.tracking_view(case, tracking_code, check)


@router.post("/track/{tracking_code}/rating", status_code=201, summary="满意度评价 Rate a closed case",
             responses={400: {}, 404: {}, 409: {}, 429: {}})
async def rate(tracking_code: TrackingCode, body: RatingRequest, request: Request, service: Intake) -> Any:
    case = await open_case(service, tracking_code, body.check, request)
    if isinstance(case, JSONResponse):
        return case
    try:
        await service.rate(case, body.score, body.comment or None)
    except RatingRefused as exc:
        return error_response(409, "score", exc.code, exc.message)
    return JSONResponse(status_code=201, content={"message": "感谢您的评价", "score": body.score})


@router.get("/track/{tracking_code}/qr", summary="查询页二维码 QR code of the tracking page",
            responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}}, 400: {}})
async def tracking_qr(
    tracking_code: TrackingCode, service: Intake, format: Annotated[Literal["svg", "png"], Query()] = "svg"
) -> Response:
    try:
        code = validate_tracking_code(tracking_code)
    except TrackingCodeError as exc:
        return error_response(400, "tracking_code", "invalid_tracking_code", str(exc))
    return qr_response(f"{service.settings.public_base_url}/track/{code}", format)
