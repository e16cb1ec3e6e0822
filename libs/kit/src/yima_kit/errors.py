"""One error shape for every service's HTTP API: ``{"message": "<中文>", "errors": [{"field", "code", "message"}]}``.

:func:`yima_kit.runtime.http_app` installs these handlers on every service, so a refusal that no service handler
catches — a missing or expired staff token (401), a role without the right (403), an unknown path (404), a wrong
method (405), a body that fails validation (422) — answers in the same shape as the services' own refusals, never
FastAPI's ``{"detail": …}``. A service may install richer handlers of its own (they replace these); it builds their
bodies with :func:`error_body`, :func:`error_response` and :func:`validation_errors` from here, so the shape is written
once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

INVALID_BODY_ZH = "提交的内容有误，请按提示修改"

# pydantic's built-in error types in Chinese (our own validators already speak it, see yima_contracts.personal).
VALIDATION_MESSAGES_ZH = {
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
    "datetime_parsing": "时间格式不正确",
    "datetime_from_date_parsing": "时间格式不正确",
    "datetime_type": "时间格式不正确",
    "timezone_aware": "时间须带时区",
    "too_short": "至少需要一项",
}

HTTP_MESSAGES_ZH = {
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


def error_body(errors: list[dict[str, Any]], message: str | None = None) -> dict[str, Any]:
    return {"message": message or (errors[0]["message"] if errors else "请求未能处理"), "errors": errors}


def error_response(status: int, field: str, code: str, message: str) -> JSONResponse:
    """One refusal of one field (``field`` empty: of the request as a whole); ``message`` is the headline too."""
    return JSONResponse(status_code=status,
                        content=error_body([{"field": field, "code": code, "message": message}], message))


def validation_errors(exc_errors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """pydantic's errors as ``{"field", "code", "message"}``: a validator's own message when it speaks Chinese
    (ours do), else the Chinese phrase for pydantic's error type."""
    errors = []
    for e in exc_errors:
        loc = [str(p) for p in e.get("loc", ()) if p != "body"]
        ctx_error = (e.get("ctx") or {}).get("error")
        own = str(ctx_error) if ctx_error and not str(ctx_error).isascii() else None
        message = own or VALIDATION_MESSAGES_ZH.get(e["type"], "取值不正确")
        errors.append({"field": ".".join(loc), "code": e["type"], "message": message})
    return errors


def http_error_response(status: int, detail: Any, headers: dict[str, str] | None = None,
                        code: str | None = None) -> JSONResponse:
    """An ``HTTPException`` in the one shape: its detail when it speaks Chinese (our own), else a Chinese phrase."""
    own = detail if isinstance(detail, str) and not detail.isascii() else None
    message = own or HTTP_MESSAGES_ZH.get(status, "请求未能处理")
    return JSONResponse(status_code=status, headers=headers,
                        content=error_body([{"field": "", "code": code or f"http_{status}", "message": message}],
                                           message))


def install_error_shape(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return http_error_response(exc.status_code, exc.detail, getattr(exc, "headers", None),
                                   getattr(exc, "code", None))  # e.g. the staff dependency's password_change_required

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content=error_body(validation_errors(exc.errors()), INVALID_BODY_ZH))
