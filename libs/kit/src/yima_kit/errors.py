"""One error shape for every service's HTTP API: ``{"message": "<中文>", "errors": [{"field", "code", "message"}]}``.

:func:`yima_kit.runtime.http_app` installs these handlers on every service, so a refusal that no service handler
catches — a missing or expired staff token (401), a role without the right (403), an unknown path (404), a wrong
method (405), a body that fails validation (422) — answers in the same shape as the services' own refusals, never
FastAPI's ``{"detail": …}``. A service may install richer handlers of its own (they replace these)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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
        errors = [{"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "code": e["type"],
                   "message": "缺少必填项" if e["type"] == "missing" else "取值不正确"} for e in exc.errors()]
        return JSONResponse(status_code=422, content=error_body(errors, "提交的内容有误，请按提示修改"))
