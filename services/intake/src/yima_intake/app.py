"""App factory: settings first, handlers registered before the broker starts (tests configure first)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from fastapi import FastAPI
from yima_kit.retention import RetentionSweeper
from yima_kit.runtime import Runtime, http_app
from yima_kit.throttle import Allowance

from .adapters import http, kafka, open311, web
from .adapters.mongo_repo import MongoCaseRepository
from .adapters.notify_inbox import NotifyInbox
from .adapters.retention import MongoRetention, declare_retention
from .config import IntakeSettings
from .service import IntakeService


def create_app(settings: IntakeSettings | None = None, *, consume: bool = True, relay: bool = True,
               retention: bool | None = None) -> FastAPI:
    """``retention``: run the retention sweeper in this process (default: in the all-in-one ``serve`` role; the
    ``sweep-retention`` role runs it alone)."""
    settings = settings or IntakeSettings()
    rt = Runtime.create(settings)
    repo = MongoCaseRepository(rt.db, Allowance.lockout(settings.track_max_failures, settings.track_lock_minutes))
    inbox = NotifyInbox(settings.notify_url, settings.notify_timeout_seconds)
    service = IntakeService(settings, repo, rt.outbox, rt.cipher, rt.client, inbox)

    retention_store = MongoRetention(rt.db)
    sweeper = retention_sweeper(settings, rt, retention_store)
    if retention is None:
        retention = consume and relay and settings.retention_sweep_in_serve

    async def setup(_: Runtime) -> None:
        await repo.setup()
        await retention_store.setup()
        if retention:
            rt.background.append(asyncio.create_task(sweeper.loop(settings.retention_sweep_seconds)))

    async def give_back_numbers(_: Runtime) -> None:
        # the unused rest of its block, if nobody reserved after it (ADR 0211); a database that does not answer
        # at once does not hold up the stop (the rest is a gap then)
        await asyncio.wait_for(service.numbers.release(), timeout=3)

    rt.on_start.append(setup)
    rt.on_stop.append(give_back_numbers)
    kafka.register(rt.consumers, service)
    declare_retention(rt.consumers)
    app = http_app(rt, title="yima intake 一码解纠纷·受理", consume=consume, relay=relay)
    app.state.intake = service
    app.state.retention = sweeper
    app.include_router(http.router)  # routes reach the service through app.state.intake (adapters/http/common.py)
    app.include_router(web.router)
    app.include_router(open311.router)
    return app


def retention_sweeper(settings: IntakeSettings, rt: Runtime, store: MongoRetention) -> RetentionSweeper:
    """The retention sweeper over intake's cases (docs/retention.md): each erasure one unit of work with its event."""
    return RetentionSweeper("intake", store, rt.uow.run, timedelta(days=settings.retention_days),
                            batch=settings.retention_batch)
