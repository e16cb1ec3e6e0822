"""Audit of every staff call (等保: time, actor, action, object, success/failure). Paths carry ids only,
never personal data; records are append-only (no API changes or deletes them)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request, Response
from pymongo.asynchronous.database import AsyncDatabase
from yima_kit.auth import AuthError, TokenVerifier

from ..logging_util import log


def install_audit(app: FastAPI, db: AsyncDatabase[Any], verifier: TokenVerifier) -> None:
    col = db["audit"]

    @app.middleware("http")
    async def audit(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        header = request.headers.get("authorization", "")
        if not request.url.path.startswith("/api/v1/") or not header.lower().startswith("bearer "):
            return response
        try:
            claims = verifier.verify(header.split(" ", 1)[1])
            who = {"staff_id": claims.sub, "unit": claims.unit, "role": claims.role.value}
        except AuthError:
            who = {"staff_id": None, "unit": None, "role": None}
        try:
            await col.insert_one({"at": datetime.now(UTC), **who, "method": request.method,
                                  "path": request.url.path, "status": response.status_code,
                                  "success": response.status_code < 400})
        except Exception as exc:  # the audit store failing must be visible, and must not hide the answer
            log.error("audit record not written", error=type(exc).__name__)
        return response
