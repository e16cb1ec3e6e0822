"""App factory of the mediation service."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import FastAPI
from yima_contracts import topics
from yima_kit.auth import TokenVerifier
from yima_kit.kafka_admin import ensure_topics
from yima_kit.runtime import Runtime, http_app

from .adapters import http, kafka
from .adapters.audit import install_audit
from .config import MediationSettings
from .core.fonts import FontUnavailable, ensure_cjk_font
from .insurance import InsuranceClaims
from .service import MediationService


def create_app(settings: MediationSettings | None = None, *, consume: bool = True, relay: bool = True) -> FastAPI:
    settings = settings or MediationSettings()
    rt = Runtime.create(settings)
    service = MediationService(rt.db, rt.client, rt.outbox, rt.cipher, settings)
    insurance = InsuranceClaims(service)

    async def setup(r: Runtime) -> None:
        await service.setup()
        await insurance.setup()
        await r.db["audit"].create_index("at")
        if consume:
            # The pattern subscription sees the topics that exist when it starts: make sure ours do.
            await ensure_topics(settings.kafka_bootstrap,
                                [topics.unit_topic(c) for c in settings.unit_names()],
                                partitions=settings.unit_topic_partitions)
        if settings.prefetch_font:
            cache = settings.font_cache_path()

            async def prefetch() -> None:
                with contextlib.suppress(FontUnavailable):
                    await asyncio.to_thread(ensure_cjk_font, settings.cjk_font, cache)

            r.background.append(asyncio.create_task(prefetch()))

    rt.on_start.append(setup)
    kafka.register(rt.consumers, service)
    app = http_app(rt, title="yima mediation 调解", consume=consume, relay=relay)
    app.state.service = service
    app.state.insurance = insurance
    http.install(app, service, rt, insurance)
    install_audit(app, rt.db, TokenVerifier.from_setting(settings.auth_public_keys))
    return app
