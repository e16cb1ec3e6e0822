"""Mediation's staff API (every path scoped to the caller's unit) and the public agreement check, one router
per screen (docs/adr/0100). Errors answer ``{"message", "errors": [{"field", "code", "message"}]}`` in Chinese;
an illegal move of a case (the domain's IllegalMove) is answered 409 here, once."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from yima_kit.runtime import Runtime

from ...application import IllegalMove, Refused
from . import agreements, cases, closing, experts, insurance, public, registry, sessions
from .deps import error

_MSG_ZH = {
    "missing": "缺少必填项", "extra_forbidden": "不认识的字段", "string_too_short": "内容太短",
    "string_too_long": "内容太长", "enum": "取值不在允许范围内", "literal_error": "取值不在允许范围内",
    "string_pattern_mismatch": "格式不正确", "json_invalid": "请求体不是合法的JSON",
    "datetime_parsing": "时间格式不正确",
    "datetime_from_date_parsing": "时间格式不正确", "too_short": "至少需要一项", "too_long": "项数过多",
    "timezone_aware": "时间须带时区", "bool_parsing": "应为是或否",
}


def install(app: FastAPI, rt: Runtime) -> None:
    """The error answers and every router (the service and the claims are on ``app.state``)."""
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for e in exc.errors():
            loc = [str(p) for p in e.get("loc", ()) if p != "body"]
            ctx_error = (e.get("ctx") or {}).get("error")
            message = str(ctx_error) if ctx_error else _MSG_ZH.get(e["type"], "取值不正确")
            errors.append({"field": ".".join(loc), "code": e["type"], "message": message})
        return error(422, errors, "提交的内容有误，请按提示修改")

    @app.exception_handler(Refused)
    async def _refused(_: Request, exc: Refused) -> JSONResponse:
        return error(exc.status, exc.errors, exc.message)

    @app.exception_handler(IllegalMove)
    async def _illegal(_: Request, exc: IllegalMove) -> JSONResponse:
        # The one domain error of a case's moves (core/case.py), answered here once.
        return error(409, [{"field": "state", "code": "illegal_transition", "message": str(exc)}])

    for module in (cases, registry, experts, sessions, agreements, public, closing, insurance):
        app.include_router(module.router(rt))
