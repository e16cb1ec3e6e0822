"""App factory of the risk service."""

from __future__ import annotations

from fastapi import FastAPI
from yima_kit.runtime import Runtime, http_app

from .adapters import kafka
from .config import RiskSettings
from .core.rules import RULESET_VERSION


def create_app(settings: RiskSettings | None = None, *, consume: bool = True, relay: bool = True) -> FastAPI:
    settings = settings or RiskSettings()
    rt = Runtime.create(settings)

    async def setup(r: Runtime) -> None:
        await r.db["assessments"].create_index("case_id")

    rt.on_start.append(setup)
    kafka.register(rt.consumers, rt.db)
    app = http_app(rt, title="yima risk 风险评估", consume=consume, relay=relay)

    @app.get("/api/v1/ruleset", summary="当前规则版本 Active rule-set version")
    async def ruleset() -> dict[str, str]:
        return {"version": RULESET_VERSION}

    return app
