"""Staff corrections of a risk level (HTTP): set a level with a reason; list corrections (lowered ones for the
supervisor). Every call lands in risk's audit chain (the middleware) and the correction itself is appended to the
chain in its own transaction (service.correct_level)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field
from yima_contracts.codes import RiskLevel, StaffRole
from yima_kit.auth import StaffClaims

from .http import Service, Views

# Who may set a level: the dispatchers who register and route, the mediators who handle, leaders and admins.
_CORRECTORS = (StaffRole.ADMIN, StaffRole.LEADER, StaffRole.DISPATCHER, StaffRole.MEDIATOR)


class CorrectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: RiskLevel = Field(description="red / yellow / blue")
    reason_zh: str = Field(min_length=4, max_length=300, description="理由（必填）")


def router(require_staff: Any) -> APIRouter:
    r = APIRouter(prefix="/api/v1", tags=["risk corrections"])
    corrector = require_staff(*_CORRECTORS)
    supervisor = require_staff(StaffRole.ADMIN, StaffRole.LEADER, StaffRole.ANALYST)

    @r.post("/cases/{case_id}/risk/correction", status_code=201,
            summary="人工更正风险等级（须说明理由；调低的等级主管可见） Correct a case's level")
    async def correct(case_id: str, body: CorrectionIn, service: Service, views: Views,
                      claims: StaffClaims = corrector) -> dict[str, Any]:
        if not await views.case_in_scope(case_id, claims):
            raise HTTPException(404, "未找到该案件的风险评估")  # another unit's case: as if there were none
        try:
            return await service.correct_level(case_id, body.level, body.reason_zh, claims, datetime.now(UTC))
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from exc

    @r.get("/risk/corrections", summary="人工更正记录（lowered=true：被调低的等级） Corrections, newest first")
    async def corrections(views: Views, lowered: bool | None = None, limit: int = Query(50, ge=1, le=500),
                          claims: StaffClaims = supervisor) -> list[dict[str, Any]]:
        return await views.corrections(claims, lowered, limit)

    return r
