"""The staff's reading screens: a unit's queue, a case's assignment history, the case with its applicant
(masked unless revealed with a reason), and the printable slip."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from yima_contracts.codes import CATEGORY_NAMES_ZH, RISK_LEVEL_NAMES_ZH, Category, RiskLevel
from yima_contracts.personal import mask_name, mask_numbers_in_text, mask_phone
from yima_kit.auth import StaffClaims

from ...core.assignment import Assignment
from ...core.case import Case
from ...service import Refused
from .. import slip_pdf
from .common import WORKING_STAFF, Web, WebDep

router = APIRouter(prefix="/api/v1")
_ROUND_FIELDS = ("round", "unit_code", "supervisor_unit_code", "rule_id", "reason_zh", "state", "assigned_at",
                 "due_at", "due_provisional", "risk_level", "feedback", "history", "sup_done", "escalated_from",
                 "paused")


@router.get("/units/{code}/queue", summary="本单位待办（红色、逾期、新件在前） A unit's queue")
async def queue(code: str, scope: str = "handling", claims: StaffClaims = WORKING_STAFF, w: Web = WebDep) -> Any:
    if not w.can_see(claims, code):
        raise Refused(403, "out_of_scope", "只能查看本单位（及下级单位）的案件")
    items, returned = await w.service.queue(code, supervised=scope == "supervised")
    await w.record(claims, "queue.read", "unit", code, detail=scope)
    return {"unit_code": code, "scope": scope, "items": items, "awaiting_redispatch": returned}


async def visible_case(w: Web, claims: StaffClaims, case_id: str) -> tuple[Case, list[Assignment]]:
    case, rounds = await w.service.case_and_rounds(case_id)
    units = {a.unit_code for a in rounds} | {a.supervisor_unit_code for a in rounds}
    if case and case.pending_dispatch:
        units.add(case.pending_dispatch.supervisor_unit_code)
    if case is None or not any(w.can_see(claims, u) for u in units):
        await w.record(claims, "case.read", "case", case_id, success=False, detail="not_visible")
        raise Refused(404, "not_found", "案件不存在")
    return case, rounds


@router.get("/cases/{case_id}/assignments", summary="案件的交办记录 A case's assignment history")
async def assignments(case_id: str, claims: StaffClaims = WORKING_STAFF, w: Web = WebDep) -> Any:
    case, rounds = await visible_case(w, claims, case_id)
    await w.record(claims, "case.assignments.read", "case", case_id)
    return {"case_id": case_id, "leader": case.leader, "escalations": case.escalations,
            "pending_dispatch": case.pending_dispatch.model_dump() if case.pending_dispatch else None,
            "assignments": [{"assignment_id": a.id, **a.model_dump(include=set(_ROUND_FIELDS))} for a in rounds]}


@router.get("/cases/{case_id}", summary="案件详情（含当事人信息，留痕） Case detail with the applicant")
async def case_detail(case_id: str, reveal: bool = False, reason: Annotated[str, Query(max_length=200)] = "",
                      claims: StaffClaims = WORKING_STAFF, w: Web = WebDep) -> Any:
    case, _ = await visible_case(w, claims, case_id)
    # The applicant in full only with a reason, kept in the chain (docs/adr/0046): routing's staff dispatch
    # and supervise; the handling unit gets the contact data with its work order.
    reason = " ".join(reason.split())
    if reveal and len(reason) < 4:
        raise Refused(422, "reason_required", "查看申请人完整信息须填写理由（至少4个字），理由将记入审计日志")
    f = case.facts
    if f is None:
        raise Refused(404, "not_found", "案件不存在")
    dec = w.service.cipher.decrypt
    name = dec(f.applicant_name, context="routing.applicant.name")
    phone = dec(f.applicant_phone, context="routing.applicant.phone")
    await w.record(claims, "case.personal_data.read", "case", case_id, personal_data=True,
                   detail=f"revealed：{mask_numbers_in_text(reason)}" if reveal else "masked")
    return {"case_id": case_id, "case_number": f.case_number, "category": f.category,
            "channel": f.channel, "risk_level": case.risk_level.value if case.risk_level else None,
            "description": dec(f.description, context="routing.description"),
            "applicant": {"name": name if reveal else mask_name(name),
                          "phone": phone if reveal else mask_phone(phone)},
            "assigned_unit": case.assigned_unit, "leader": case.leader}


@router.get("/assignments/{assignment_id}/slip.pdf", summary="交办单（PDF） The printable assignment slip")
async def slip(assignment_id: str, claims: StaffClaims = WORKING_STAFF, w: Web = WebDep) -> Response:
    a = await w.service.assignment(assignment_id)
    if a is None or not (w.can_see(claims, a.unit_code) or w.can_see(claims, a.supervisor_unit_code)):
        raise Refused(404, "not_found", "交办记录不存在")
    case = await w.service.case(a.case_id)
    d = w.service.directory
    unit, sup = d.get(a.unit_code), d.get(a.supervisor_unit_code)
    category = a.category or ""
    pdf = slip_pdf.render(slip_pdf.Slip(
        case_number=a.label, assignment_id=a.id, round=a.round,
        unit_name=unit.name if unit else a.unit_code, supervisor_name=sup.name if sup else "",
        category_zh=CATEGORY_NAMES_ZH.get(Category(category), category) if category else "",
        risk_zh=RISK_LEVEL_NAMES_ZH[RiskLevel(a.risk_level)] + "色", assigned_at=a.assigned_at,
        due_at=a.due_at, due_provisional=a.due_provisional, reason_zh=a.reason_zh,
        leader_name=((case.leader if case else None) or {}).get("name")))
    await w.record(claims, "assignment.slip.print", "assignment", assignment_id)
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="slip-{a.case_number or "case"}.pdf"'})
