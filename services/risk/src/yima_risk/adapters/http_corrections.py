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

from ..service import RiskService
from .http import may_see

# Who may set a level: the dispatchers who register and route, the mediators who handle, leaders and admins.
_CORRECTORS = (StaffRole.ADMIN, StaffRole.LEADER, StaffRole.DISPATCHER, StaffRole.MEDIATOR)


class CorrectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: RiskLevel = Field(description="red / yellow / blue")
    reason_zh: str = Field(min_length=4, max_length=300, description="理由（必填）")


def visible(claims: StaffClaims, case: dict[str, Any] | None) -> bool:
    """The scope of risk's other staff views (http.may_see): the case's units, and below for supervisors."""
    if not case:
        return False
    units = {case.get("unit_code"), case.get("handling_unit"), (case.get("leader") or {}).get("unit_code"),
             (case.get("closed") or {}).get("unit_code"), *(case.get("assigned_units") or [])} - {None}
    paths: dict[str, list[str]] = case.get("unit_paths") or {}
    return any(may_see(claims, u, paths.get(u)) for u in units)


def router(service: RiskService, require_staff: Any) -> APIRouter:
    r = APIRouter(prefix="/api/v1", tags=["risk corrections"])
    corrector = require_staff(*_CORRECTORS)
    supervisor = require_staff(StaffRole.ADMIN, StaffRole.LEADER, StaffRole.ANALYST)

    @r.post("/cases/{case_id}/risk/correction", status_code=201,
            summary="人工更正风险等级（须说明理由；调低的等级主管可见） Correct a case's level")
    async def correct(case_id: str, body: CorrectionIn, claims: StaffClaims = corrector) -> dict[str, Any]:
        case = await service.cases.find_one({"_id": case_id}, {
            "unit_code": 1, "handling_unit": 1, "leader": 1, "closed": 1, "submitted": 1, "assigned_units": 1,
            "unit_paths": 1})
        if not case or not case.get("submitted") or not visible(claims, case):
            raise HTTPException(404, "未找到该案件的风险评估")  # another unit's case: as if there were none
        try:
            return await service.correct_level(case_id, body.level, body.reason_zh, claims, datetime.now(UTC))
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from exc

    @r.get("/risk/corrections", summary="人工更正记录（lowered=true：被调低的等级） Corrections, newest first")
    async def corrections(lowered: bool | None = None, limit: int = Query(50, ge=1, le=500),
                          claims: StaffClaims = supervisor) -> list[dict[str, Any]]:
        q: dict[str, Any] = {} if lowered is None else {"lowered": lowered}
        out: list[dict[str, Any]] = []
        seen: dict[str, bool] = {}
        async for d in service.corrections.find(q).sort("at", -1).limit(5000):
            if d["case_id"] not in seen:  # only corrections of cases the caller may see
                seen[d["case_id"]] = visible(claims, await service.cases.find_one({"_id": d["case_id"]}))
            if not seen[d["case_id"]]:
                continue
            if len(out) >= limit:
                break
            d["reason_zh"] = service.cipher.decrypt(d["reason_zh"], context="risk.correction")
            d["correction_id"] = d.pop("_id")
            d["at"] = d["at"].isoformat()
            out.append(d)
        return out

    return r
