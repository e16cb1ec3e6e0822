"""App factory of the risk service."""

from __future__ import annotations

from fastapi import FastAPI
from yima_contracts.codes import StaffRole
from yima_kit.audit import AuditLog, audit_router, install_audit_middleware
from yima_kit.auth import TokenVerifier
from yima_kit.runtime import Runtime, http_app

from .adapters import http, kafka, retention
from .adapters.mongo_followups import Clock, FollowupTimers, utcnow
from .adapters.mongo_repo import MongoRiskRepository
from .adapters.places import PlaceDirectory
from .config import RiskSettings
from .core.ruleset import load_rules
from .core.second_opinion import SecondOpinion
from .service import RiskService
from .views import RiskViews


def create_app(
    settings: RiskSettings | None = None, *, consume: bool = True, relay: bool = True, clock: Clock = utcnow
) -> FastAPI:
    settings = settings or RiskSettings()
    rules = load_rules(settings.rules_file)  # a bad file stops the start with the line at fault
    rt = Runtime.create(settings)
    timers = FollowupTimers(rt.client, rt.db, rt.outbox, clock=clock, poll_seconds=settings.followup_poll_seconds)
    places = PlaceDirectory(settings.routing_url, settings.directory_refresh_seconds)
    audit = AuditLog(rt.db, rt.cipher)
    repo = MongoRiskRepository(rt.db)
    service = RiskService(repo, rules, rt.cipher, timers, settings.followup_delay, SecondOpinion.load(),
                          client=rt.client, outbox=rt.outbox, audit=audit, places=places)

    async def setup(r: Runtime) -> None:
        await service.setup()
        await audit.setup()
        if consume:  # the timers run beside the consumers; several replicas are safe (atomic claim)
            import asyncio

            r.background.append(asyncio.create_task(timers.run_forever(), name="followup-timers"))
            r.background.append(asyncio.create_task(places.refresher(), name="org-directory"))

    rt.on_start.append(setup)
    kafka.register(rt.consumers, service)
    retention.install(rt)  # erases the case's personal data on case.retention_expired (docs/retention.md)
    app = http_app(rt, title="yima risk 风险评估", consume=consume, relay=relay)
    app.state.service = service
    app.state.views = RiskViews(repo, timers, rules, rt.cipher.decrypt)
    app.include_router(http.router(rt.require_staff))
    app.state.audit = audit
    app.include_router(audit_router(audit, rt.require_staff(StaffRole.ADMIN, StaffRole.ANALYST)))
    # Every staff call under /api/v1/ lands in risk's own chain (docs/adr/0006-audit-chain-in-kit.md).
    install_audit_middleware(app, audit, TokenVerifier.from_setting(settings.auth_public_keys), rt.client)
    return app
