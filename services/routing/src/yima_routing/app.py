"""App factory of the routing service."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from yima_contracts import topics
from yima_kit.kafka_admin import ensure_topics
from yima_kit.runtime import Runtime, http_app

from .adapters import kafka
from .config import RoutingSettings
from .core.directory import Directory
from .core.rules import RuleSet
from .service import RoutingService


def create_app(settings: RoutingSettings | None = None, *, consume: bool = True, relay: bool = True) -> FastAPI:
    settings = settings or RoutingSettings()
    directory = Directory.load(settings.directory_file)
    rules = RuleSet.load(settings.rules_file)
    rt = Runtime.create(settings)
    service = RoutingService(rt.db, directory, rules, rt.cipher)

    async def setup(_: Runtime) -> None:
        await service.setup()
        # Every unit gets its assignment topic before anything can be assigned to it.
        await ensure_topics(
            settings.kafka_bootstrap,
            [topics.unit_topic(code) for code in directory.units],
            partitions=settings.unit_topic_partitions,
        )

    rt.on_start.append(setup)
    kafka.register(rt.consumers, service)
    app = http_app(rt, title="yima routing 分流交办与督办", consume=consume, relay=relay)

    @app.get("/api/v1/units", summary="组织机构（公开信息） Org directory")
    async def units() -> dict[str, Any]:
        return {
            "version": directory.version,
            "units": [u.model_dump(mode="json") for u in directory.units.values()],
        }

    return app
