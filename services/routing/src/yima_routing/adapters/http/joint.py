"""吹哨报到 for staff: a unit's joint actions and open summons, summoning units to a case, one summons with
who has reported, and reporting in."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from yima_kit.auth import StaffClaims

from ...service import Refused
from .bodies import ReportIn, Summon
from .common import ANY_STAFF, SUPERVISING_STAFF, WORKING_STAFF, Web, WebDep

router = APIRouter(prefix="/api/v1")


@router.get("/units/{code}/joint", summary="吹哨报到：牵头、被召集及待报到 A unit's joint actions and open summons")
async def joint_list(code: str, claims: StaffClaims = WORKING_STAFF, w: Web = WebDep) -> Any:
    if not w.can_see(claims, code):
        raise Refused(403, "out_of_scope", "只能查看本单位（及下级单位）的联合处置")
    # joint: every joint action the unit leads or was summoned to (the console); items: its open summons,
    # each with what to report (a department's own system)
    return {"unit_code": code, "joint": await w.service.joint_of_unit(code),
            "items": await w.service.open_summons(code)}


@router.post("/cases/{case_id}/joint", summary="吹哨报到：召集联合处置 Summon units")
async def summon(case_id: str, body: Summon, claims: StaffClaims = SUPERVISING_STAFF, w: Web = WebDep) -> Any:
    jid = await w.act(claims, "case.joint_summon", "case", case_id,
                      lambda tx: w.service.summon(claims, case_id, body.unit_codes, body.reason, tx))
    return {"joint_id": jid}


@router.get("/joint/{joint_id}", summary="吹哨报到详情（牵头及被召集单位） A summons and who reported")
async def one_summons(joint_id: str, claims: StaffClaims = ANY_STAFF, w: Web = WebDep) -> Any:
    j = await w.service.summons(joint_id)
    if j is None or not any(w.can_see(claims, u) for u in [j["lead_unit_code"], *j["units"]]):
        raise Refused(404, "not_found", "没有找到该吹哨报到")
    return j


@router.post("/joint/{joint_id}/report", summary="被召集单位报到 Report in")
async def report(joint_id: str, body: ReportIn, claims: StaffClaims = WORKING_STAFF, w: Web = WebDep) -> Any:
    return await w.act(claims, "joint.report_in", "joint", joint_id,
                       lambda tx: w.service.report_in(claims, joint_id, body.note, tx))
