"""Mediation's staff API (every path scoped to the caller's unit) and the public agreement check, one router
per screen (docs/adr/0100). Errors answer ``{"message", "errors": [{"field", "code", "message"}]}`` in Chinese
(a body that does not validate: the kit's one answer, ``yima_kit.errors``); an illegal move of a case (the
domain's IllegalMove) is answered 409 here, once."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from yima_kit.runtime import Runtime

from ...application import IllegalMove, Refused
from . import agreements, cases, closing, experts, insurance, public, registry, sessions
from .deps import error


def install(app: FastAPI, rt: Runtime) -> None:
    """The refusals and every router (the service and the claims are on ``app.state``)."""
    @app.exception_handler(Refused)
    async def _refused(_: Request, exc: Refused) -> JSONResponse:
        return error(exc.status, exc.errors, exc.message)

    @app.exception_handler(IllegalMove)
    async def _illegal(_: Request, exc: IllegalMove) -> JSONResponse:
        # The one domain error of a case's moves (core/case.py), answered here once.
        return error(409, [{"field": "state", "code": "illegal_transition", "message": str(exc)}])

    for module in (cases, registry, experts, sessions, agreements, public, closing, insurance):
        app.include_router(module.router(rt))
