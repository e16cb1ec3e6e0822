"""The active rule set (public): version, checksum, the rules' names, the warning thresholds."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from .http import Service


def router() -> APIRouter:
    r = APIRouter(prefix="/api/v1", tags=["risk"])

    @r.get("/ruleset", summary="当前规则版本 Active rule set")
    async def ruleset(service: Service) -> dict[str, Any]:
        rs = service.rules
        return {
            "version": rs.version,
            "sha256": rs.sha256,
            "description_zh": rs.description_zh,
            "red_score": rs.scoring.red_score,
            "rules": [{"rule_id": k, "name_zh": v} for k, v in rs.rule_names().items()],
            "warnings": rs.warnings.model_dump(),
        }

    return r
