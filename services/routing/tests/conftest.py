"""Routing in-process against the real broker and MongoDB-protocol server, with a simulated clock."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from yima_contracts import CaseRiskAssessed, CaseSubmitted
from yima_contracts.codes import StaffRole
from yima_kit.auth import TokenIssuer
from yima_routing.app import create_app
from yima_routing.config import RoutingSettings
from yima_routing.service import RoutingService


class SimClock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t


class Routing:
    """The app, its service and helpers to feed events and read what it staged."""

    def __init__(self, app: Any, client: httpx.AsyncClient, clock: SimClock) -> None:
        self.app = app
        self.http = client
        self.clock = clock
        self.service = app.state.service
        self.sweeper = app.state.sweeper
        self.db = app.state.runtime.db
        self.directory = app.state.store.current

    async def submit(self, *, category: str = "neighbour", channel: str = "self_service", risk: str = "blue",
                     unit_code: str | None = "410105001001", address: str | None = None,
                     settled_on_spot: bool = False) -> str:
        case_id = f"c-{uuid.uuid4().hex[:12]}"
        sub = CaseSubmitted(
            case_id=case_id, correlation_id=case_id, case_number=f"JSQ-2026-{uuid.uuid4().int % 10**6:06d}",
            tracking_code="ABCD2345", channel=channel, category=category, category_source="applicant",
            description="楼上邻居家漏水，把我家天花板泡坏了", applicant={"name": "买买提·艾力", "phone": "13812345678"},
            location={"unit_code": unit_code, "address": address}, submitted_at=self.clock(),
            settled_on_spot=settled_on_spot,
        )
        risk_ev = CaseRiskAssessed(case_id=case_id, correlation_id=case_id, level=risk, score=1,
                                   ruleset_version="t", reason_zh="测试")
        await self.service.run(lambda tx: self.service.in_batch([sub], tx, RoutingService.on_submitted))
        await self.service.run(lambda tx: self.service.in_batch([risk_ev], tx, RoutingService.on_risk_assessed))
        return case_id

    async def staged(self, case_id: str, topic: str | None = None) -> list[dict[str, Any]]:
        q: dict[str, Any] = {"key": case_id}
        if topic:
            q["topic"] = topic
        return [{"topic": d["topic"], **json.loads(d["payload"])}
                async for d in self.db["outbox"].find(q).sort("_id", 1)]

    async def assignment(self, case_id: str) -> dict[str, Any]:
        case = await self.db["cases"].find_one({"_id": case_id})
        return await self.db["assignments"].find_one({"_id": case["assigned"]})

    def token(self, staff_id: str | None = None, *, unit: str | None = None, role: StaffRole | None = None,
              mfa: bool = False) -> dict[str, str]:
        if staff_id:
            s = self.directory.staff[staff_id]
            unit, role = s.unit, s.role
        assert unit and role
        tok = TokenIssuer.dev().issue(staff_id=staff_id or f"t-{unit}".lower(), unit=unit, role=role,
                                      unit_path=self.directory.unit_path(unit), mfa=mfa)
        return {"Authorization": f"Bearer {tok}"}


@pytest.fixture(scope="module")
async def routing(yima_infra):
    clock = SimClock(datetime(2026, 9, 28, 2, 0, tzinfo=UTC))  # Monday 10:00 in Shanghai
    settings = RoutingSettings(kafka_bootstrap=yima_infra.kafka_bootstrap, mongo_url=yima_infra.mongo_url,
                               mongo_db_prefix=f"t{uuid.uuid4().hex[:8]}_")
    app = create_app(settings, consume=False, relay=False, clock=clock, sweep=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://routing") as client:
            r = Routing(app, client, clock)
            r.directory = app.state.store.current
            r.kafka = yima_infra.kafka_bootstrap
            r.settings = settings
            yield r
