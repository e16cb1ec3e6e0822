"""Livelihood insurance claims (民生保险理赔)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from yima_kit.auth import StaffClaims
from yima_kit.runtime import Runtime

from ...application import Refused
from .deps import Ins, roles
from .models import ClaimIn, DecisionIn, DisputeIn, EvaluationIn


def router(rt: Runtime) -> APIRouter:
    r = APIRouter(prefix="/api/v1", tags=["mediation"])
    manage, handle, stats_staff = roles(rt, "manage", "handle", "stats_staff")

    # livelihood insurance claims (民生保险理赔)
    @r.post("/cases/{assignment_id}/insurance-claims", status_code=201, summary="理赔登记 Register a claim")
    async def claim(ins: Ins, assignment_id: str, body: ClaimIn, claims: StaffClaims = handle) -> Any:
        if body.incident_at.tzinfo is None:
            raise Refused(422, "incident_at", "timezone_required", "时间须带时区")
        return await ins.register(assignment_id, claims, body.cover, body.claimed_fen, body.incident_at,
                                        body.summary)

    @r.get("/insurance-claims", summary="理赔申请：一个案件的，或本单位最新的200件 Claims of a case or the unit")
    async def list_claims(ins: Ins, claims: StaffClaims = handle,
                          assignment_id: Annotated[str | None, Query(max_length=64)] = None) -> Any:
        return {"items": await ins.list_claims(claims, assignment_id)}

    @r.get("/insurance-claims/{claim_id}", summary="理赔详情 A claim")
    async def get_claim(ins: Ins, claim_id: str, claims: StaffClaims = handle) -> Any:
        return await ins.get(claim_id, claims)

    @r.post("/insurance-claims/{claim_id}/decision", summary="审核决定 Review and decide the payout")
    async def decide(ins: Ins, claim_id: str, body: DecisionIn, claims: StaffClaims = manage) -> Any:
        return await ins.decide(claim_id, claims, body.approve, body.paid_fen, body.reason)

    @r.post("/insurance-claims/{claim_id}/dispute", summary="对决定有异议 Dispute the decision")
    async def dispute(ins: Ins, claim_id: str, body: DisputeIn, claims: StaffClaims = handle) -> Any:
        return await ins.dispute(claim_id, claims, body.reason)

    @r.post("/insurance-claims/{claim_id}/review-decision", summary="复核决定 Decide again after a dispute")
    async def redecide(ins: Ins, claim_id: str, body: DecisionIn, claims: StaffClaims = manage) -> Any:
        return await ins.redecide(claim_id, claims, body.approve, body.paid_fen, body.reason)

    @r.post("/insurance-claims/{claim_id}/evaluation", summary="理赔评价 The claimant's evaluation")
    async def evaluate(ins: Ins, claim_id: str, body: EvaluationIn, claims: StaffClaims = handle) -> Any:
        return await ins.evaluate(claim_id, claims, body.satisfaction, body.comment)

    @r.get("/insurance-claims-stats", summary="理赔统计 Claims paid and sums by unit and year")
    async def claim_stats(ins: Ins, 
        year: Annotated[int, Query(ge=2000, le=2100)],
        unit: Annotated[str | None, Query(max_length=64)] = None,
        claims: StaffClaims = stats_staff,
    ) -> Any:
        return await ins.stats(claims, year, unit)

    return r
