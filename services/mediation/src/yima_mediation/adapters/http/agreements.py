"""The agreement screen: draft, confirmations, signing, the signed PDF."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from yima_kit.auth import StaffClaims
from yima_kit.runtime import Runtime

from .deps import NO_STORE, Reason, Svc, roles
from .models import AgreementIn, ConfirmIn


def router(rt: Runtime) -> APIRouter:
    r = APIRouter(prefix="/api/v1", tags=["mediation"])
    handle, = roles(rt, "handle")

    # agreement
    @r.post("/cases/{assignment_id}/agreement", status_code=201, summary="起草调解协议 Draft the agreement")
    async def draft(svc: Svc, assignment_id: str, body: AgreementIn, claims: StaffClaims = handle) -> Any:
        return await svc.draft_agreement(assignment_id, claims, body.facts_zh, body.terms)

    @r.get("/agreements/{agreement_id}", summary="调解协议（文本、确认情况、法院案号） The agreement as staff see it")
    async def agreement(svc: Svc, agreement_id: str, claims: StaffClaims = handle) -> Any:
        return await svc.agreement_view(agreement_id, claims)

    @r.post("/agreements/{agreement_id}/confirmations", summary="当事人确认 A party confirms")
    async def confirm(svc: Svc, agreement_id: str, body: ConfirmIn, claims: StaffClaims = handle) -> Any:
        return await svc.confirm(agreement_id, claims, body.party_id, body.method)

    @r.post("/agreements/{agreement_id}/sign", summary="签署并归档 Sign and archive (PDF, SHA-256)")
    async def sign(svc: Svc, agreement_id: str, claims: StaffClaims = handle) -> Any:
        return await svc.sign(agreement_id, claims)

    @r.get("/agreements/{agreement_id}/pdf", summary="协议书PDF The signed agreement")
    async def pdf(svc: Svc, agreement_id: str, claims: StaffClaims = handle, reason: Reason = None) -> Response:
        data, _ = await svc.agreement_pdf(agreement_id, claims, reason)
        return Response(data, media_type="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="agreement-{agreement_id}.pdf"', **NO_STORE})

    return r
