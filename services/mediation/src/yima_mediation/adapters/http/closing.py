"""Closing and transfer: judicial confirmation, closing, failure, the transfer with its case file."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from yima_kit.auth import StaffClaims
from yima_kit.runtime import Runtime

from .deps import NO_STORE, Reason, Svc, roles
from .models import FailIn, JudicialAnswerIn, JudicialIn, TransferIn


def router(rt: Runtime) -> APIRouter:
    r = APIRouter(prefix="/api/v1", tags=["mediation"])
    manage, handle = roles(rt, "manage", "handle")

    # judicial confirmation, closing, failure
    @r.post("/cases/{assignment_id}/judicial-confirmation", summary="申请司法确认 Send for judicial confirmation")
    async def judicial(svc: Svc, assignment_id: str, body: JudicialIn, claims: StaffClaims = handle) -> Any:
        return await svc.request_judicial(assignment_id, claims, body.court_zh)

    @r.post("/cases/{assignment_id}/judicial-confirmation/answer", summary="法院答复 The court's answer")
    async def judicial_answer(svc: Svc, assignment_id: str, body: JudicialAnswerIn,
                              claims: StaffClaims = handle) -> Any:
        return await svc.judicial_answer(assignment_id, claims, body.confirmed, body.ruling_no, body.reason)

    @r.post("/cases/{assignment_id}/close", summary="结案 Close after an agreement")
    async def close(svc: Svc, assignment_id: str, claims: StaffClaims = handle) -> Any:
        return await svc.close(assignment_id, claims)

    @r.post("/cases/{assignment_id}/fail", summary="调解不成 Mediation failed")
    async def fail(svc: Svc, assignment_id: str, body: FailIn, claims: StaffClaims = handle) -> Any:
        return await svc.fail(assignment_id, claims, body.reason, body.next)

    @r.post("/cases/{assignment_id}/transfer", summary="诉调对接 Transfer with the case file")
    async def transfer(svc: Svc, assignment_id: str, body: TransferIn, claims: StaffClaims = manage) -> Any:
        return await svc.transfer(assignment_id, claims, body.to, body.receiving_body_zh)

    @r.get("/packages/{package_id}", summary="卷宗包 The case file package (zip)")
    async def package(svc: Svc, package_id: str, claims: StaffClaims = handle, reason: Reason = None) -> Response:
        data, digest = await svc.package_zip(package_id, claims, reason)
        return Response(data, media_type="application/zip", headers={
            "Content-Disposition": f'attachment; filename="case-file-{package_id}.zip"', "X-Content-SHA256": digest,
            **NO_STORE})

    return r
