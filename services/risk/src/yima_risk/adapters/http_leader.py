"""分包领导 (the leader named for a red case): my red cases, and recording a follow-up visit (回头看)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field
from yima_contracts.codes import StaffRole
from yima_kit.auth import StaffClaims

from ..views import clean
from .http import Service, Views


class VisitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=4, max_length=1000, description="回访情况（不要写当事人的号码）")
    rebounded: bool = Field(default=False, description="矛盾有反弹迹象")


def router(require_staff: Any) -> APIRouter:
    r = APIRouter(prefix="/api/v1", tags=["risk"])
    leaders = require_staff(StaffRole.LEADER, StaffRole.ADMIN)

    @r.get("/leader/cases", summary="分包领导：我的红色案件 The caller's red cases (as their named leader)")
    async def my_red_cases(views: Views, claims: StaffClaims = leaders) -> dict[str, Any]:
        return {"staff_id": claims.sub, "cases": await views.red_cases_of(claims.sub)}

    @r.post("/cases/{case_id}/visits", status_code=201,
            summary="回头看：登记回访 The leader records a follow-up visit")
    async def record_visit(case_id: str, body: VisitIn, service: Service,
                           claims: StaffClaims = leaders) -> dict[str, Any]:
        try:
            visit = await service.record_visit(case_id, claims, body.note, body.rebounded)
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from exc
        except PermissionError as exc:
            raise HTTPException(403, str(exc)) from exc
        return {"case_id": case_id, "visit": clean(visit)}

    return r
