"""Registering a dispute: ``POST /api/v1/cases``, by the public (their own channels) or by staff with a token
(the desk, the hotline, a grid worker ...). Rate-limited per client, idempotent per Idempotency-Key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from prometheus_client import Counter
from pydantic import BaseModel, Field
from yima_contracts.codes import CATEGORY_NAMES_ZH, Category
from yima_kit.auth import AuthError, StaffClaims, TokenVerifier
from yima_kit.errors import INVALID_BODY_ZH, error_body, error_response

from ...core.identity import display_tracking_code
from ...core.submission import CHANNEL_NAMES_ZH, ChannelRuleError, SubmitCase
from ...core.taxonomy import sub_item_name
from ...results import IdempotencyConflict, StaffForbidden, StaffRequired, Submitted
from ...service import IntakeService
from .common import Intake, client_address

router = APIRouter()

# Accepted submissions by channel: "created" (a new case) or "repeat" (the same Idempotency-Key, or joined to a
# case already registered). Refusals are counted by status in yima_http_request_seconds (route /api/v1/cases).
SUBMISSIONS = Counter("yima_intake_submissions_total", "Accepted submissions by channel and outcome",
                      ["channel", "outcome"])


class CaseCreated(BaseModel):
    case_id: str
    case_number: str
    tracking_code: str | None = Field(description="只在首次登记时返回一次；重复提交时为空（已通过短信告知）")
    tracking_url: str | None
    category: str
    category_name: str
    sub_item: str | None
    sub_item_name: str | None
    needs_review: bool
    state: str
    repeat: bool = Field(description="本次是对已有案件的再次反映，已并入该案件")
    repeat_count: int
    message: str


class StaffAuthFailed(Exception):
    pass


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


@router.post("/cases", status_code=201, response_model=CaseCreated, summary="登记纠纷 Submit a dispute",
             responses={200: {"model": CaseCreated, "description": "已登记过（同一Idempotency-Key）或并入已有案件"},
                        401: {}, 403: {}, 409: {}, 422: {}, 429: {}})
async def submit_case(
    request: Request,
    body: SubmitCase,
    service: Intake,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
    authorization: Annotated[str | None, Header(description="工作人员渠道：Bearer 令牌")] = None,
) -> Any:
    try:
        staff = optional_staff(request, service)
    except StaffAuthFailed as exc:
        return error_response(401, "Authorization", "invalid_token", str(exc))
    try:
        await rate_limit(request, service, staff)
    except RateLimited as exc:
        resp = error_response(429, "", "rate_limited", "提交太频繁，请稍后再试")
        resp.headers["Retry-After"] = str(exc.retry_after)
        return resp
    try:
        result = await service.submit(body, idempotency_key=idempotency_key, staff=staff)
    except StaffRequired:
        return error_response(401, "Authorization", "staff_required",
                              f"“{CHANNEL_NAMES_ZH[body.channel]}”渠道须由工作人员登录后登记")
    except StaffForbidden:
        return error_response(403, "channel", "role_not_allowed",
                              f"当前岗位不能通过“{CHANNEL_NAMES_ZH[body.channel]}”渠道登记")
    except ChannelRuleError as exc:
        return JSONResponse(status_code=422, content=error_body(
            [{"field": f, "code": c, "message": m} for f, c, m in exc.errors], INVALID_BODY_ZH))
    except IdempotencyConflict:
        return error_response(409, "Idempotency-Key", "idempotency_conflict",
                              "同一个Idempotency-Key已用于另一份不同的申请")
    payload = created_payload(result, service.settings.public_base_url)
    SUBMISSIONS.labels(body.channel.value, "created" if result.created else "repeat").inc()
    return JSONResponse(status_code=201 if result.created else 200, content=payload.model_dump())


def optional_staff(request: Request, service: IntakeService) -> StaffClaims | None:
    """A staff token when one is given (a bad one is refused, never ignored); None for the public."""
    header = request.headers.get("authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise StaffAuthFailed("身份凭证格式不正确，应为 Bearer 令牌")
    state = request.app.state
    if getattr(state, "intake_verifier", None) is None:  # the runtime's: it refuses revoked sessions (ADR 0130)
        rt = getattr(state, "runtime", None)
        state.intake_verifier = rt.verifier if rt is not None else \
            TokenVerifier.from_setting(service.settings.auth_public_keys)
    verifier: TokenVerifier = state.intake_verifier
    try:
        return verifier.verify(token)
    except AuthError as exc:
        raise StaffAuthFailed(str(exc)) from exc


async def rate_limit(request: Request, service: IntakeService, staff: StaffClaims | None) -> None:
    settings = service.settings
    now = datetime.now(UTC)
    window = now.replace(second=0, microsecond=0)
    if staff is not None:
        key, limit = f"staff:{staff.sub}", settings.staff_submit_rate_per_minute
    else:
        key, limit = f"ip:{client_address(request, settings.trust_forwarded_for)}", settings.submit_rate_per_minute
    n = await service.hit_rate_limit(key, window, window + timedelta(minutes=2))
    if n > limit:
        raise RateLimited(60 - now.second)


def created_payload(result: Submitted, base_url: str) -> CaseCreated:
    code = result.tracking_code
    cat = Category(result.category)
    if result.repeat:
        message = f"您反映的纠纷已在案件{result.case_number}中登记，本次反映已并入该案件（第{result.repeat_count}次）"
    elif result.created:
        message = f"登记成功，案件编号{result.case_number}，请保存查询码"
    else:
        message = f"这份申请已经登记过了，案件编号{result.case_number}"
    return CaseCreated(
        case_id=result.case_id,
        case_number=result.case_number,
        tracking_code=display_tracking_code(code) if code else None,
        tracking_url=f"{base_url}/track/{code}" if code else None,
        category=result.category,
        category_name=CATEGORY_NAMES_ZH[cat],
        sub_item=result.sub_item,
        sub_item_name=sub_item_name(cat, result.sub_item),
        needs_review=result.needs_review,
        state=result.state,
        repeat=result.repeat,
        repeat_count=result.repeat_count,
        message=message,
    )
