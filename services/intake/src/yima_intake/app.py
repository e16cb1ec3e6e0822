"""App factory: settings first, handlers registered before the broker starts (tests configure first)."""

from __future__ import annotations

from fastapi import FastAPI
from yima_kit.runtime import Runtime, http_app
from yima_kit.throttle import Allowance

from .adapters import http, kafka, open311, web
from .adapters.mongo_repo import MongoCaseRepository
from .adapters.notify_inbox import NotifyInbox
from .config import IntakeSettings
from .service import IntakeService


def create_app(settings: IntakeSettings | None = None, *, consume: bool = True, relay: bool = True) -> FastAPI:
    settings = settings or IntakeSettings()
    rt = Runtime.create(settings)
    repo = MongoCaseRepository(rt.db, Allowance.lockout(settings.track_max_failures, settings.track_lock_minutes))
    inbox = NotifyInbox(settings.notify_url, settings.notify_timeout_seconds)
    service = IntakeService(settings, repo, rt.outbox, rt.cipher, rt.client, inbox)

    async def setup(_: Runtime) -> None:
        await repo.setup()

    rt.on_start.append(setup)
    kafka.register(rt.consumers, service)
    app = http_app(rt, title="yima intake 一码解纠纷·受理", consume=consume, relay=relay)
    app.state.intake = service
    app.include_router(http.router)  # routes reach the service through app.state.intake (adapters/http/common.py)
    app.include_router(web.router)
    app.include_router(open311.router)
    return app
