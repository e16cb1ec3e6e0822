"""The experts screen: invitations, answers recorded by staff, the SMS sent again."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from yima_kit.auth import StaffClaims
from yima_kit.runtime import Runtime

from .deps import Svc, roles
from .models import AnswerIn, InviteIn


def router(rt: Runtime) -> APIRouter:
    r = APIRouter(prefix="/api/v1", tags=["mediation"])
    handle, = roles(rt, "handle")

    # experts
    @r.post("/cases/{assignment_id}/invitations", status_code=201, summary="邀请专家 Invite an expert")
    async def invite(svc: Svc, assignment_id: str, body: InviteIn, claims: StaffClaims = handle) -> Any:
        return await svc.invite(assignment_id, claims, body.person_id, body.session_id)

    @r.get("/cases/{assignment_id}/invitations", summary="邀请情况 Invitations")
    async def invitations(svc: Svc, assignment_id: str, claims: StaffClaims = handle) -> Any:
        return {"items": await svc.list_invitations(assignment_id, claims)}

    @r.post("/invitations/{invitation_id}/answer", summary="专家答复 Accept or decline")
    async def answer(svc: Svc, invitation_id: str, body: AnswerIn, claims: StaffClaims = handle) -> Any:
        return await svc.answer_invitation(invitation_id, claims, body.accept, body.reason)

    @r.post("/invitations/{invitation_id}/resend",
            summary="重新发送邀请短信（新邀请码，旧码失效） Text the expert a new code (24 h limit)")
    async def resend(svc: Svc, invitation_id: str, claims: StaffClaims = handle) -> Any:
        return await svc.resend_invitation(invitation_id[:64], claims)

    return r
