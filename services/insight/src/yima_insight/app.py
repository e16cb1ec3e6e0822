"""App factory of the insight service."""

from __future__ import annotations

from fastapi import FastAPI
from yima_contracts.codes import StaffRole
from yima_kit.audit import AuditLog, audit_router, install_audit_middleware
from yima_kit.auth import TokenVerifier
from yima_kit.runtime import Runtime, http_app

from .adapters import http, kafka, reports_http, web
from .adapters.mediation_client import MediationClaims
from .adapters.mongo_store import MongoInsightStore
from .config import InsightSettings
from .core.ranking import parse_weights
from .service import InsightService


def create_app(settings: InsightSettings | None = None, *, consume: bool = True, relay: bool = True) -> FastAPI:
    settings = settings or InsightSettings()
    weights = parse_weights(settings.score_weights)  # a bad setting stops the start with the reason
    rt = Runtime.create(settings)
    store = MongoInsightStore(rt.db)
    service = InsightService(store, weights=weights, target_community=settings.target_community,
                             target_three=settings.target_three_levels)
    reports = reports_http.Reports(service, settings)
    audit = AuditLog(rt.db, rt.cipher)

    async def setup(r: Runtime) -> None:
        await store.setup()
        await audit.setup()
        if consume and settings.report_schedule:
            import asyncio

            r.background.append(asyncio.create_task(reports.schedule_forever(), name="insight-reports"))

    rt.on_start.append(setup)
    kafka.register(rt.consumers, service)
    app = http_app(rt, title="yima insight 一张表·统计分析", consume=consume, relay=relay)
    app.state.service = service
    app.state.settings = settings
    app.state.reports = reports
    http.install_error_handlers(app)
    app.include_router(http.router(service, rt.require_staff, MediationClaims(settings.mediation_url)))
    app.include_router(reports_http.router(reports, rt.require_staff))
    app.include_router(web.router(settings))
    app.state.audit = audit
    app.include_router(audit_router(audit, rt.require_staff(StaffRole.ADMIN, StaffRole.ANALYST)))
    # Every staff call under /api/v1/ (who read which unit's figures and cases) lands in insight's own chain.
    install_audit_middleware(app, audit, TokenVerifier.from_setting(settings.auth_public_keys), rt.client)
    return app
