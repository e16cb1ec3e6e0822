"""Dispatch and supervision actions (each with a reason, audited in the same transaction): manual dispatch,
return (退回), pause and resume the clock, press the unit (催办), escalate by hand (提级)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from yima_kit.auth import StaffClaims

from .bodies import Dispatch, Reason
from .common import SUPERVISING_STAFF, WORKING_STAFF, Web, WebDep

router = APIRouter(prefix="/api/v1")


@router.post("/cases/{case_id}/dispatch", summary="人工分派（须说明理由） Manual dispatch with a reason")
async def dispatch(case_id: str, body: Dispatch, claims: StaffClaims = SUPERVISING_STAFF, w: Web = WebDep) -> Any:
    aid = await w.act(claims, "case.dispatch", "case", case_id, lambda tx: w.service.dispatch(
        claims, case_id, body.unit_code, body.reason, body.working_days, tx))
    return {"assignment_id": aid}


@router.post("/assignments/{assignment_id}/return", summary="退回（须说明理由） Return to the supervisor")
async def return_case(assignment_id: str, body: Reason, claims: StaffClaims = WORKING_STAFF,
                      w: Web = WebDep) -> Any:
    await w.act(claims, "assignment.return", "assignment", assignment_id,
                lambda tx: w.service.return_case(claims, assignment_id, body.reason, tx))
    return {"returned": True}


@router.post("/assignments/{assignment_id}/pause", summary="暂停计时（须说明理由） Pause the clock")
async def pause(assignment_id: str, body: Reason, claims: StaffClaims = SUPERVISING_STAFF, w: Web = WebDep) -> Any:
    return await w.act(claims, "assignment.pause", "assignment", assignment_id,
                       lambda tx: w.service.pause(claims, assignment_id, body.reason, tx))


@router.post("/assignments/{assignment_id}/resume", summary="恢复计时 Resume the clock")
async def resume(assignment_id: str, body: Reason, claims: StaffClaims = SUPERVISING_STAFF, w: Web = WebDep) -> Any:
    return await w.act(claims, "assignment.resume", "assignment", assignment_id,
                       lambda tx: w.service.resume(claims, assignment_id, body.reason, tx))


@router.post("/assignments/{assignment_id}/urge", summary="催办（督办单位，须说明理由） Press the unit now")
async def urge(assignment_id: str, body: Reason, claims: StaffClaims = SUPERVISING_STAFF, w: Web = WebDep) -> Any:
    return await w.act(claims, "assignment.urge", "assignment", assignment_id,
                       lambda tx: w.service.urge(claims, assignment_id, body.reason, tx))


@router.post("/assignments/{assignment_id}/escalate", summary="提级办理（督办单位，须说明理由） Escalate by hand")
async def escalate(assignment_id: str, body: Reason, claims: StaffClaims = SUPERVISING_STAFF,
                   w: Web = WebDep) -> Any:
    aid = await w.act(claims, "assignment.escalate", "assignment", assignment_id,
                      lambda tx: w.service.escalate(claims, assignment_id, body.reason, tx))
    return {"assignment_id": aid}
