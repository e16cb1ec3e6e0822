"""App factory of the notify service."""

from __future__ import annotations

from fastapi import FastAPI
from yima_kit.runtime import Runtime, http_app

from .adapters import kafka
from .config import NotifySettings
from .service import NotifyService


def create_app(settings: NotifySettings | None = None, *, consume: bool = True, relay: bool = True) -> FastAPI:
    settings = settings or NotifySettings()
    rt = Runtime.create(settings)
    service = NotifyService(rt.db, rt.cipher)

    async def setup(_: Runtime) -> None:
        await service.setup()

    rt.on_start.append(setup)
    kafka.register(rt.consumers, service)
    return http_app(rt, title="yima notify 通知", consume=consume, relay=relay)
