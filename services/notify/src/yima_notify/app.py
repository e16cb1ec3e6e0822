"""App factory of the notify service."""

from __future__ import annotations

from fastapi import FastAPI
from yima_contracts.codes import StaffRole
from yima_kit.audit import AuditLog, audit_router, install_audit_middleware
from yima_kit.auth import TokenVerifier
from yima_kit.runtime import Runtime, http_app
from yima_kit.throttle import Allowance

from .adapters import http, kafka, retention
from .adapters.channels import build_channels
from .adapters.mongo_repo import MongoNotifyRepository
from .config import NotifySettings
from .service import NotifyService
from .worker import DeliveryWorker


def create_app(settings: NotifySettings | None = None, *, consume: bool = True, relay: bool = True,
               worker: bool | None = None) -> FastAPI:
    settings = settings or NotifySettings()
    rt = Runtime.create(settings)
    channels = build_channels(settings)
    # the applicant inbox's lockout: the same rule (and allowance settings) as intake's tracking page
    repo = MongoNotifyRepository(rt.db, Allowance.lockout(settings.track_max_failures, settings.track_lock_minutes))
    service = NotifyService(repo, rt.cipher, settings, enabled_channels=set(channels))
    delivery = DeliveryWorker(service, rt.client, rt.outbox, channels)
    audit = AuditLog(rt.db, rt.cipher)
    run_worker = settings.worker_enabled if worker is None else worker

    async def setup(_: Runtime) -> None:
        await service.setup()
        await audit.setup()
        if run_worker:
            rt.background.extend(delivery.start())

    async def close_channels(_: Runtime) -> None:
        for ch in channels.values():
            await ch.close()

    rt.on_start.append(setup)
    kafka.register(rt.consumers, service)
    retention.install(rt)  # erases the case's personal data on case.retention_expired (docs/retention.md)
    app = http_app(rt, title="yima notify 通知", consume=consume, relay=relay)
    http.install_error_handlers(app)
    app.include_router(http.router(service, rt.require_staff))
    app.include_router(audit_router(audit, rt.require_staff(StaffRole.ADMIN, StaffRole.ANALYST)))
    # Every staff call under /api/v1/ lands in notify's own chain (docs/adr/0006-audit-chain-in-kit.md); the
    # applicant's inbox is public and its path holds the tracking code, which is never kept.
    install_audit_middleware(app, audit, TokenVerifier.from_setting(settings.auth_public_keys), rt.client,
                             skip=["/api/v1/inbox/applicant/"])
    app.state.audit = audit
    app.state.service = service
    app.state.worker = delivery
    return app
