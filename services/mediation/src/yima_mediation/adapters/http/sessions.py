"""The sessions screen: scheduling, 在线呼叫, answers in turn, the record of a session."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from yima_kit.auth import StaffClaims
from yima_kit.runtime import Runtime

from ...application import Refused
from .deps import Svc, roles
from .models import CallIn, RecordIn, SessionIn, TurnIn


def router(rt: Runtime) -> APIRouter:
    r = APIRouter(prefix="/api/v1", tags=["mediation"])
    handle, = roles(rt, "handle")

    # sessions
    @r.post("/cases/{assignment_id}/sessions", status_code=201, summary="安排调解 Schedule a session")
    async def schedule(svc: Svc, assignment_id: str, body: SessionIn, claims: StaffClaims = handle) -> Any:
        if body.starts_at.tzinfo is None or body.ends_at.tzinfo is None:
            raise Refused(422, "starts_at", "timezone_required", "时间须带时区")
        return await svc.schedule(
            assignment_id, claims, mode=body.mode, fmt=body.format, starts_at=body.starts_at, ends_at=body.ends_at,
            room_id=body.room_id, join_url=body.join_url, caucus_party_id=body.caucus_party_id,
            party_order=body.party_order)

    @r.post("/cases/{assignment_id}/calls", status_code=201, summary="在线呼叫 Call someone in online, now")
    async def call(svc: Svc, assignment_id: str, body: CallIn, claims: StaffClaims = handle) -> Any:
        return await svc.call(assignment_id, claims, body.kind, body.party_id, body.unit)

    @r.post("/sessions/{session_id}/end-call", status_code=204, summary="结束在线呼叫 Free the person called")
    async def end_call(svc: Svc, session_id: str, claims: StaffClaims = handle) -> Response:
        await svc.end_call(session_id, claims)
        return Response(status_code=204)

    @r.get("/sessions/{session_id}", summary="调解场次 A session")
    async def get_session(svc: Svc, session_id: str, claims: StaffClaims = handle) -> Any:
        s = await svc.get_session(session_id, claims)
        s.pop("turns", None)
        if s.get("record"):
            s["record"] = {k: v for k, v in s["record"].items() if k != "summary"}
        return s

    @r.get("/cases/{assignment_id}/sessions", summary="案件的调解场次 A case's sessions, oldest first")
    async def sessions(svc: Svc, assignment_id: str, claims: StaffClaims = handle) -> Any:
        return {"items": await svc.list_sessions(assignment_id, claims)}

    @r.post("/sessions/{session_id}/turns", status_code=201, summary="错时调解答复 An answer in turn")
    async def turn(svc: Svc, session_id: str, body: TurnIn, claims: StaffClaims = handle) -> Any:
        return await svc.add_turn(session_id, claims, body.party_id, body.statement)

    @r.post("/sessions/{session_id}/record", summary="调解记录 Record a session")
    async def record(svc: Svc, session_id: str, body: RecordIn, claims: StaffClaims = handle) -> Any:
        return await svc.record_session(session_id, claims, body.attended, body.absent, body.summary,
                                            body.next_step)

    return r
