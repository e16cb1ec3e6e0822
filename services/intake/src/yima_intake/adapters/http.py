"""The intake HTTP API (public and staff channels). Errors answer in a machine-readable list and in Chinese."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import segno
from fastapi import APIRouter, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from yima_contracts.codes import CATEGORY_NAMES_ZH
from yima_contracts.topics import UNIT_CODE_PATTERN
from yima_kit.auth import AuthError, StaffClaims, TokenVerifier

from ..core.classify import classify
from ..core.identity import TrackingCodeError, display_tracking_code
from ..core.submission import CHANNEL_NAMES_ZH, ChannelRuleError, SubmitCase
from ..core.taxonomy import SUB_ITEMS, sub_item_name
from ..service import (
    IdempotencyConflict,
    IntakeService,
    RatingRefused,
    StaffForbidden,
    StaffRequired,
    Submitted,
    TrackLocked,
    TrackNotFound,
)

# Accepted submissions by channel: "created" (a new case) or "repeat" (the same Idempotency-Key, or joined to a
# case already registered). Refusals are counted by status in yima_http_request_seconds (route /api/v1/cases).
SUBMISSIONS = Counter("yima_intake_submissions_total", "Accepted submissions by channel and outcome",
                      ["channel", "outcome"])

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
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "bool_type": "应为是或否（true/false）",
    "bool_parsing": "应为是或否（true/false）",
    "list_type": "应为列表",
    "too_long": "项目太多",
    "greater_than_equal": "数值太小",
    "less_than_equal": "数值太大",
    "finite_number": "应为有限的数字",
    "value_error": "取值不正确",
}
_HTTP_ZH = {
    400: "请求有误",
    401: "需要工作人员登录",
    403: "无权进行此操作",
    404: "没有这个地址",
    405: "不支持这种请求方式",
    406: "不支持请求的格式",
    409: "与已有数据冲突",
    413: "请求内容太大",
    415: "不支持的内容类型",
    429: "请求太频繁，请稍后再试",
}


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


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=5000, description="纠纷描述")


class ClassifyResult(BaseModel):
    category: str
    category_name: str
    sub_item: str | None
    sub_item_name: str | None
    confidence: float
    sub_item_confidence: float
    needs_review: bool = Field(description="把握不大：按“其他”处理并请分流员人工确认")
    words: list[str] = Field(description="起决定作用的词")


class RatingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    check: str = Field(pattern=r"^\d{4}$", description="申请人手机号后四位")
    score: int = Field(ge=1, le=5, description="满意度 1–5")
    comment: str | None = Field(default=None, max_length=500)


def error_body(errors: list[dict[str, Any]], message: str = "提交的内容有误，请按提示修改") -> dict[str, Any]:
    return {"message": message, "errors": errors}


def error(status: int, field: str, code: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content=error_body([{"field": field, "code": code, "message": message}],
                                                                message))


def validation_errors(exc_errors: Any) -> list[dict[str, Any]]:
    errors = []
    for e in exc_errors:
        loc = [str(p) for p in e.get("loc", ()) if p != "body"]
        ctx_error = (e.get("ctx") or {}).get("error")
        # Our validators already speak Chinese (personal.py); pydantic's built-ins get a translation.
        message = str(ctx_error) if ctx_error else _MSG_ZH.get(e["type"], "取值不正确")
        errors.append({"field": ".".join(loc), "code": e["type"], "message": message})
    return errors


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content=error_body(validation_errors(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) and not exc.detail.isascii() else None
        message = detail or _HTTP_ZH.get(exc.status_code, "请求未能处理")
        return JSONResponse(status_code=exc.status_code, headers=getattr(exc, "headers", None),
                            content=error_body([{"field": "", "code": f"http_{exc.status_code}", "message": message}],
                                               message))


def client_address(request: Request, trust_forwarded_for: bool) -> str:
    if trust_forwarded_for:
        fwd = request.headers.get("x-forwarded-for", "")
        if fwd:
            return fwd.split(",")[0].strip()[:64]
    return request.client.host if request.client else "unknown"


def qr_response(url: str, fmt: str) -> Response:
    qr = segno.make(url, error="m")
    buf = io.BytesIO()
    if fmt == "png":
        qr.save(buf, kind="png", scale=10, border=2)
        return Response(buf.getvalue(), media_type="image/png")
    qr.save(buf, kind="svg", scale=10, border=2, xmldecl=False, title="扫码")
    return Response(buf.getvalue(), media_type="image/svg+xml")


def created_payload(result: Submitted, base_url: str) -> CaseCreated:
    from yima_contracts.codes import Category

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


TrackingCode = Annotated[str, Path(min_length=1, max_length=40, description="查询码（12位，可带“-”）")]
UnitCodePath = Annotated[str, Path(pattern=UNIT_CODE_PATTERN, description="单位编码")]


def router(service: IntakeService, verifier: TokenVerifier | None = None) -> APIRouter:
    """``verifier``: the runtime's, which refuses revoked sessions (docs/adr/0130)."""
    r = APIRouter(prefix="/api/v1")
    settings = service.settings
    verifier = verifier or TokenVerifier.from_setting(settings.auth_public_keys)

    async def optional_staff(request: Request) -> StaffClaims | None:
        """A staff token when one is given (a bad one is refused, never ignored); None for the public."""
        header = request.headers.get("authorization", "")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise StaffAuthFailed("身份凭证格式不正确，应为 Bearer 令牌")
        try:
            return verifier.verify(token)
        except AuthError as exc:
            raise StaffAuthFailed(str(exc)) from exc

    async def rate_limit(request: Request, staff: StaffClaims | None) -> None:
        now = datetime.now(UTC)
        window = now.replace(second=0, microsecond=0)
        if staff is not None:
            key, limit = f"staff:{staff.sub}", settings.staff_submit_rate_per_minute
        else:
            key, limit = f"ip:{client_address(request, settings.trust_forwarded_for)}", settings.submit_rate_per_minute
        n = await service.hit_rate_limit(key, window, window + timedelta(minutes=2))
        if n > limit:
            raise RateLimited(60 - now.second)

    @r.post("/cases", status_code=201, response_model=CaseCreated, summary="登记纠纷 Submit a dispute",
            responses={200: {"model": CaseCreated, "description": "已登记过（同一Idempotency-Key）或并入已有案件"},
                       401: {}, 403: {}, 409: {}, 422: {}, 429: {}})
    async def submit_case(
        request: Request,
        body: SubmitCase,
        idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
        authorization: Annotated[str | None, Header(description="工作人员渠道：Bearer 令牌")] = None,
    ) -> Any:
        try:
            staff = await optional_staff(request)
        except StaffAuthFailed as exc:
            return error(401, "Authorization", "invalid_token", str(exc))
        try:
            await rate_limit(request, staff)
        except RateLimited as exc:
            resp = error(429, "", "rate_limited", "提交太频繁，请稍后再试")
            resp.headers["Retry-After"] = str(exc.retry_after)
            return resp
        try:
            result = await service.submit(body, idempotency_key=idempotency_key, staff=staff)
        except StaffRequired:
            return error(401, "Authorization", "staff_required",
                         f"“{CHANNEL_NAMES_ZH[body.channel]}”渠道须由工作人员登录后登记")
        except StaffForbidden:
            return error(403, "channel", "role_not_allowed",
                         f"当前岗位不能通过“{CHANNEL_NAMES_ZH[body.channel]}”渠道登记")
        except ChannelRuleError as exc:
            return JSONResponse(status_code=422, content=error_body(
                [{"field": f, "code": c, "message": m} for f, c, m in exc.errors]))
        except IdempotencyConflict:
            return error(409, "Idempotency-Key", "idempotency_conflict", "同一个Idempotency-Key已用于另一份不同的申请")
        payload = created_payload(result, settings.public_base_url)
        SUBMISSIONS.labels(body.channel.value, "created" if result.created else "repeat").inc()
        return JSONResponse(status_code=201 if result.created else 200, content=payload.model_dump())

    @r.post("/classify", response_model=ClassifyResult, summary="智能分类 Classify a description",
            responses={422: {}})
    async def classify_text(body: ClassifyRequest) -> ClassifyResult:
        c = classify(body.text)
        return ClassifyResult(
            category=c.category.value,
            category_name=CATEGORY_NAMES_ZH[c.category],
            sub_item=c.sub_item,
            sub_item_name=sub_item_name(c.category, c.sub_item),
            confidence=c.confidence,
            sub_item_confidence=c.sub_item_confidence,
            needs_review=c.needs_review,
            words=list(c.matched),
        )

    @r.get("/categories", summary="纠纷类别与细类 Categories and sub-items")
    async def categories() -> list[dict[str, Any]]:
        return [
            {"code": cat.value, "name": CATEGORY_NAMES_ZH[cat],
             "sub_items": [{"code": k, "name": v} for k, v in subs.items()]}
            for cat, subs in SUB_ITEMS.items()
        ]

    async def _open(tracking_code: str, check: str, request: Request) -> dict[str, Any] | JSONResponse:
        try:
            return await service.open_case(tracking_code, check,
                                           client=client_address(request, settings.trust_forwarded_for))
        except TrackingCodeError as exc:
            return error(400, "tracking_code", "invalid_tracking_code", str(exc))
        except TrackLocked as exc:
            return error(429, "check", "locked", exc.message_zh())
        except TrackNotFound:
            # Same answer for "no such case" and "wrong phone": a guesser learns nothing.
            return error(404, "check", "not_found", "未找到该案件，或手机号后四位不匹配")

    @r.get("/track/{tracking_code}", summary="查询进度 Track a case", responses={400: {}, 404: {}, 429: {}},
           description="办理进度、调解安排和站内消息（messages，最新的在前）。消息来自通知服务，"
           "暂时取不到时 messages 为 null、messages_unavailable 为 true，其余内容照常返回。")
    async def track(
        tracking_code: TrackingCode,
        check: Annotated[str, Query(pattern=r"^\d{4}$", description="申请人手机号后四位")],
        request: Request,
    ) -> Any:
        case = await _open(tracking_code, check, request)
        if isinstance(case, JSONResponse):
            return case
        return await service.tracking_view(case, tracking_code, check)

    @r.post("/track/{tracking_code}/rating", status_code=201, summary="满意度评价 Rate a closed case",
            responses={400: {}, 404: {}, 409: {}, 429: {}})
    async def rate(tracking_code: TrackingCode, body: RatingRequest, request: Request) -> Any:
        case = await _open(tracking_code, body.check, request)
        if isinstance(case, JSONResponse):
            return case
        try:
            await service.rate(case, body.score, body.comment or None)
        except RatingRefused as exc:
            return error(409, "score", exc.code, exc.message)
        return JSONResponse(status_code=201, content={"message": "感谢您的评价", "score": body.score})

    @r.get("/track/{tracking_code}/qr", summary="查询页二维码 QR code of the tracking page",
           responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}}, 400: {}})
    async def tracking_qr(
        tracking_code: TrackingCode, format: Annotated[Literal["svg", "png"], Query()] = "svg"
    ) -> Response:
        from ..core.identity import validate_tracking_code

        try:
            code = validate_tracking_code(tracking_code)
        except TrackingCodeError as exc:
            return error(400, "tracking_code", "invalid_tracking_code", str(exc))
        return qr_response(f"{settings.public_base_url}/track/{code}", format)

    @r.get("/units/{unit_code}/qr", summary="单位二维码：扫码打开已填好单位的登记页 QR code of a unit",
           responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}}})
    async def unit_qr(unit_code: UnitCodePath, format: Annotated[Literal["svg", "png"], Query()] = "svg") -> Response:
        return qr_response(f"{settings.public_base_url}/submit?unit={unit_code}", format)

    return r


class StaffAuthFailed(Exception):
    pass


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after

