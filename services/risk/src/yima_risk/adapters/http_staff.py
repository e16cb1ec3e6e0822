"""Staff: a case's risk with its assessments, and the early warnings — scoped to the caller (core/scope.py): a case
of another unit answers 404, as one that does not exist."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query
from yima_kit.auth import StaffClaims

from .http import Views


def router(require_staff: Any) -> APIRouter:
    r = APIRouter(prefix="/api/v1", tags=["risk"])
    any_staff = require_staff()  # every staff role may read risk; record-level scope is routing's (see ADR 30)

    @r.get("/cases/{case_id}/risk", summary="案件风险等级与历次评估 A case's risk and its assessments")
    async def case_risk(case_id: str, views: Views, claims: StaffClaims = any_staff) -> dict[str, Any]:
        found = await views.case_risk(case_id, claims)
        if found is None:
            raise HTTPException(404, "未找到该案件的风险评估")  # another unit's case: as if there were none
        return found

    @r.get("/warnings", summary="预警 Early warnings, newest first")
    async def warnings(
        views: Views, limit: int = Query(50, ge=1, le=500), claims: StaffClaims = any_staff
    ) -> list[dict[str, Any]]:
        return await views.warnings(claims, limit)

    return r
