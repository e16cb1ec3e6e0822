"""Risk's HTTP API: the active rule set (public), a case's assessments and the early warnings (staff)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query
from yima_contracts.codes import StaffRole
from yima_kit.auth import StaffClaims

from ..service import RiskService

# Roles that see every case's risk (the evidence holds rule words only, never the description or a name).
_WIDE_ROLES = (StaffRole.ADMIN, StaffRole.LEADER, StaffRole.ANALYST)


def _clean(doc: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in doc.items() if k not in ("description", "additional", "applicant_key", "_id")}
    for k, v in out.items():
        if hasattr(v, "isoformat"):
            out[k] = v.isoformat()
    return out


def router(service: RiskService, require_staff: Any) -> APIRouter:
    r = APIRouter(prefix="/api/v1", tags=["risk"])
    any_staff = require_staff()  # every staff role may read risk; record-level scope is routing's (see ADR 30)

    @r.get("/ruleset", summary="当前规则版本 Active rule set")
    async def ruleset() -> dict[str, Any]:
        rs = service.rules
        return {
            "version": rs.version,
            "sha256": rs.sha256,
            "description_zh": rs.description_zh,
            "red_score": rs.scoring.red_score,
            "rules": [{"rule_id": k, "name_zh": v} for k, v in rs.rule_names().items()],
            "warnings": rs.warnings.model_dump(),
        }

    @r.get("/cases/{case_id}/risk", summary="案件风险等级与历次评估 A case's risk and its assessments")
    async def case_risk(case_id: str, claims: StaffClaims = any_staff) -> dict[str, Any]:
        case = await service.cases.find_one({"_id": case_id})
        if not case or not case.get("submitted"):
            raise HTTPException(404, "未找到该案件的风险评估")
        units = {case.get("unit_code"), case.get("handling_unit"), (case.get("leader") or {}).get("unit_code"),
                 (case.get("closed") or {}).get("unit_code")} - {None}
        if claims.role not in _WIDE_ROLES and claims.unit not in units:
            raise HTTPException(403, "无权查看其他单位的案件")
        history = [_clean(d) async for d in service.assessments.find({"case_id": case_id}).sort("occurred_at", 1)]
        current = {k: case.get(k) for k in ("level", "own_level", "score", "rule_ids", "ruleset_version", "stage",
                                            "reason_zh", "needs_review", "lowered_by_staff")}
        if case.get("correction"):  # staff's level and reason (a lowered one is flagged for the supervisor)
            current["correction"] = _clean(dict(case["correction"]))
        followup = await service.timers.col.find_one({"case_id": case_id})
        return {"case_id": case_id, **current, "assessments": history,
                "followup": _clean(followup) if followup else None}

    @r.get("/warnings", summary="预警 Early warnings, newest first")
    async def warnings(
        limit: int = Query(50, ge=1, le=500), claims: StaffClaims = any_staff
    ) -> list[dict[str, Any]]:
        return [_clean(d) async for d in service.warnings.find().sort("raised_at", -1).limit(limit)]

    return r
