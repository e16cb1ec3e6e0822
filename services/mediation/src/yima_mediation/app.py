"""App factory of the mediation service."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import FastAPI
from yima_contracts.codes import StaffRole
from yima_kit.audit import AuditLog, audit_router, install_audit_middleware
from yima_kit.auth import TokenVerifier
from yima_kit.runtime import Runtime, http_app

from .adapters import console_redirect, http, invite_page, kafka, retention
from .adapters.agreement_pdf import AgreementPdf
from .adapters.mongo_repo import MongoStore
from .application import InsuranceClaims, MediationService
from .config import MediationSettings
from .ports import DocumentsUnavailable


def create_app(settings: MediationSettings | None = None, *, consume: bool = True, relay: bool = True) -> FastAPI:
    settings = settings or MediationSettings()
    rt = Runtime.create(settings)
    printer = AgreementPdf(settings.cjk_font, settings.font_cache_dir)
    audit = AuditLog(rt.db, rt.cipher)
    service = MediationService(MongoStore(rt.db), rt.client, rt.outbox, rt.cipher, settings, audit, printer)
    insurance = InsuranceClaims(service)

    async def setup(r: Runtime) -> None:
        await service.setup()
        await audit.setup()
        if settings.prefetch_font:

            async def prefetch() -> None:
                with contextlib.suppress(DocumentsUnavailable):
                    await printer.ready()

            r.background.append(asyncio.create_task(prefetch()))

    rt.on_start.append(setup)
    kafka.register(rt.consumers, service)
    retention.install(rt)  # erases the case's personal data on case.retention_expired (docs/retention.md)
    app = http_app(rt, title="yima mediation 调解", consume=consume, relay=relay)
    app.state.service = service
    app.state.insurance = insurance
    http.install(app, rt)
    app.include_router(console_redirect.router(settings.console_url))  # the staff console moved out
    app.include_router(invite_page.router())  # an invited expert's own page at /invite (public)
    app.state.audit = audit
    app.include_router(audit_router(audit, rt.require_staff(StaffRole.ADMIN, StaffRole.ANALYST)))
    # Every staff call under /api/v1/ lands in the chain (docs/adr/0006-audit-chain-in-kit.md).
    install_audit_middleware(app, audit, TokenVerifier.from_setting(settings.auth_public_keys), rt.client)
    return app
