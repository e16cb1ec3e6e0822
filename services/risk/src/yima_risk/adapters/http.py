"""Risk's HTTP API: the active rule set (public), a case's assessments and the early warnings (staff).

Scoped like routing's staff API: a staff member sees the risk of a case that sits in their unit, and — for the
roles that supervise (admin, leader, dispatcher) and analysts — in a unit below theirs. Where a case sits
comes from ``case.assigned`` (the units' paths); a case of another unit answers 404, as one that does not
exist. A warning is seen by the units on its place's path; one without a place (a respondent across places,
a district-wide surge) by the top unit only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field
from yima_contracts.codes import StaffRole
from yima_kit.auth import StaffClaims

from ..service import RiskService

# Roles that also see what lies below their unit.
_DOWNWARD = (StaffRole.ADMIN, StaffRole.LEADER, StaffRole.DISPATCHER, StaffRole.ANALYST)


def may_see(claims: StaffClaims, unit_code: str | None, path: list[str] | tuple[str, ...] | None) -> bool:
    if not unit_code:
        return False
    if len(claims.unit_path) == 1 and claims.unit_path[0] == claims.unit and claims.role in _DOWNWARD:
        return True  # the top unit (the district): everything lies below it
    if unit_code == claims.unit:
        return True
    return claims.role in _DOWNWARD and claims.unit in tuple(path or ())


def _clean(doc: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in doc.items() if k not in ("description", "additional", "applicant_key", "_id")}
    for k, v in out.items():
        if hasattr(v, "isoformat"):
            out[k] = v.isoformat()
    return out


class VisitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=4, max_length=1000, description="回访情况（不要写当事人的号码）")
    rebounded: bool = Field(default=False, description="矛盾有反弹迹象")


def _summary(case: dict[str, Any], names: dict[str, str], history: list[dict[str, Any]],
             followup: dict[str, Any] | None) -> dict[str, Any]:
    """A red case for its leader: the risk, why (the rules' own words), how the level went, the visits."""
    return {"case_id": case["_id"], "case_number": case.get("case_number"), "category": case.get("category"),
            "level": case.get("level"), "score": case.get("score"), "reason_zh": case.get("reason_zh"),
            "rules": [{"rule_id": r, "name_zh": names.get(r, r)} for r in case.get("rule_ids") or []],
            "levels": [{"level": a.get("level"), "at": a.get("occurred_at"), "stage": a.get("stage")}
                       for a in history],
            "closed": _clean(case["closed"]) if case.get("closed") else None,
            "followup": _clean(followup) if followup else None,
            "visits": [_clean(v) for v in case.get("visits", [])]}


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
        units = {case.get("unit_code"), case.get("handling_unit"), (case.get("leader") or {}).get("unit_code"),
                 (case.get("closed") or {}).get("unit_code"), *(case.get("assigned_units") or [])} - {None} \
            if case else set()
        paths: dict[str, list[str]] = (case or {}).get("unit_paths") or {}
        if not case or not case.get("submitted") or not any(may_see(claims, u, paths.get(u)) for u in units):
            raise HTTPException(404, "未找到该案件的风险评估")  # another unit's case: as if there were none
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
        top = len(claims.unit_path) <= 1
        out: list[dict[str, Any]] = []
        paths: dict[str, list[str]] = {}
        async for d in service.warnings.find().sort("raised_at", -1).limit(5000):
            place = d.get("unit_code")
            if place and place not in paths:
                known = await service.unit_paths.find_one({"_id": place})
                paths[place] = (known or {}).get("path") or [place]
            visible = may_see(claims, place, paths.get(place)) if place else (top and claims.role in _DOWNWARD)
            if visible:
                out.append(_clean(d))
                if len(out) >= limit:
                    break
        return out

    leaders = require_staff(StaffRole.LEADER, StaffRole.ADMIN)

    @r.get("/leader/cases", summary="分包领导：我的红色案件 The caller's red cases (as their named leader)")
    async def my_red_cases(claims: StaffClaims = leaders) -> dict[str, Any]:
        names = service.rules.rule_names()
        out = []
        async for case in service.cases.find({"leader.staff_id": claims.sub, "ever_red": True}).sort(
                "submitted_at", -1).limit(200):
            history = [a async for a in service.assessments.find(
                {"case_id": case["_id"]}, {"level": 1, "occurred_at": 1, "stage": 1}).sort("occurred_at", 1)]
            followup = await service.timers.col.find_one({"case_id": case["_id"]})
            out.append(_summary(case, names, history, followup))
        return {"staff_id": claims.sub, "cases": out}

    @r.post("/cases/{case_id}/visits", status_code=201,
            summary="回头看：登记回访 The leader records a follow-up visit")
    async def record_visit(case_id: str, body: VisitIn, claims: StaffClaims = leaders) -> dict[str, Any]:
        case = await service.cases.find_one({"_id": case_id}, {"leader": 1, "ever_red": 1})
        if not case or not case.get("ever_red"):
            raise HTTPException(404, "未找到该红色风险案件")
        if (case.get("leader") or {}).get("staff_id") != claims.sub:
            raise HTTPException(403, "只有本案的包案领导可以登记回访")
        now = datetime.now(UTC)
        visit = {"at": now, "by": claims.sub, "name": claims.name, "note": body.note, "rebounded": body.rebounded}
        await service.cases.update_one({"_id": case_id}, {"$push": {"visits": visit}})
        # a visit made before the follow-up falls due is the follow-up: the timer does not fire any more
        await service.timers.col.update_one({"case_id": case_id, "state": "pending"},
                                            {"$set": {"state": "visited", "visited_at": now}})
        return {"case_id": case_id, "visit": _clean(visit)}

    return r
