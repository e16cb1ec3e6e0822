"""What the intake routes share: the service (a FastAPI dependency), the client's address, QR images, path types."""

from __future__ import annotations

import io
from typing import Annotated, cast

import segno
from fastapi import Depends, Path, Request
from fastapi.responses import Response
from yima_contracts.topics import UNIT_CODE_PATTERN

from ...service import IntakeService


def get_service(request: Request) -> IntakeService:
    return cast(IntakeService, request.app.state.intake)


Intake = Annotated[IntakeService, Depends(get_service)]

TrackingCode = Annotated[str, Path(min_length=1, max_length=40, description="查询码（12位，可带“-”）")]
UnitCodePath = Annotated[str, Path(pattern=UNIT_CODE_PATTERN, description="单位编码")]


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
