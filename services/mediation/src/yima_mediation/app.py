"""App factory of the mediation service."""

from __future__ import annotations

from fastapi import FastAPI
from yima_kit.runtime import Runtime, http_app

from .adapters import kafka
from .config import MediationSettings


def create_app(settings: MediationSettings | None = None, *, consume: bool = True, relay: bool = True) -> FastAPI:
    settings = settings or MediationSettings()
    rt = Runtime.create(settings)

    async def setup(r: Runtime) -> None:
        await r.db["work_queue"].create_index([("unit_code", 1), ("state", 1)])

    rt.on_start.append(setup)
    kafka.register(rt.consumers, rt.db)
    return http_app(rt, title="yima mediation 调解", consume=consume, relay=relay)
