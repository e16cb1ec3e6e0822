"""The case screen: the unit's queue, one case (masked unless the caller works it), revealing a party's
contact with a reason, accepting or returning, parties, availability, mediators."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from yima_kit.auth import StaffClaims
from yima_kit.runtime import Runtime

from ...application import Refused
from .deps import Svc, roles
from .models import AcceptIn, AvailabilityIn, MediatorsIn, PartyIn, ReturnIn, RevealIn


def router(rt: Runtime) -> APIRouter:
    r = APIRouter(prefix="/api/v1", tags=["mediation"])
    manage, handle = roles(rt, "manage", "handle")

    # acceptance
    @r.get("/queue", summary="本单位待办 The unit's work queue (scope=below: and the units under it)")
    async def queue(svc: Svc, claims: StaffClaims = handle, state: Annotated[str | None, Query(max_length=20)] = None,
                    scope: Annotated[Literal["own", "below"], Query()] = "own") -> Any:
        return {"items": await svc.queue(claims, state, below=scope == "below")}

    @r.get("/cases/{assignment_id}", summary="案件详情 A case of the unit (parties masked unless the caller "
           "works it: contact_masked)")
    async def get_case(svc: Svc, assignment_id: str, claims: StaffClaims = handle) -> Any:
        return await svc.read_case(assignment_id, claims)

    # POST, not GET: the reason stays out of URLs, and a reveal is an act that writes its audit record
    @r.post("/cases/{assignment_id}/parties/{party_id}/contact",
            summary="查看当事人完整信息（须说明理由，留痕） Reveal a party's contact data with a reason")
    async def reveal_contact(svc: Svc, assignment_id: str, party_id: str, body: RevealIn, response: Response,
                             claims: StaffClaims = handle) -> Any:
        response.headers["Cache-Control"] = "no-store"
        return await svc.reveal_contact(assignment_id, claims, party_id[:8], body.reason)

    @r.post("/cases/{assignment_id}/accept", summary="受理 Accept")
    async def accept(svc: Svc, assignment_id: str, body: AcceptIn, claims: StaffClaims = manage) -> Any:
        return await svc.accept(assignment_id, claims, body.kind)

    @r.post("/cases/{assignment_id}/return", summary="退回 Return with a reason")
    async def give_back(svc: Svc, assignment_id: str, body: ReturnIn, claims: StaffClaims = manage) -> Any:
        return await svc.give_back(assignment_id, claims, body.reason)

    @r.post("/cases/{assignment_id}/parties", status_code=201, summary="登记其他当事人 Add a party")
    async def add_party(svc: Svc, assignment_id: str, body: PartyIn, claims: StaffClaims = handle) -> Any:
        return await svc.add_party(assignment_id, claims, body.role, body.name, body.phone, body.is_organisation)

    @r.put("/cases/{assignment_id}/availability", summary="当事人可参加时间 A party's availability")
    async def availability(svc: Svc, assignment_id: str, body: AvailabilityIn, claims: StaffClaims = handle) -> Any:
        for w in body.windows:
            if w.start.tzinfo is None or w.end.tzinfo is None or w.end <= w.start:
                raise Refused(422, "windows", "bad_window", "时间段须带时区，且结束晚于开始")
        return await svc.set_availability(assignment_id, claims, body.party_id,
                                              [(w.start, w.end) for w in body.windows])

    @r.post("/cases/{assignment_id}/mediators", summary="指定调解员 Assign mediators")
    async def mediators(svc: Svc, assignment_id: str, body: MediatorsIn, claims: StaffClaims = manage) -> Any:
        return await svc.assign_mediators(assignment_id, claims, body.person_ids)

    return r
