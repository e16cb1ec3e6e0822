"""A session that routing ends is refused by the other services too, at once — not when its token expires
(ADR 0130): routing broadcasts ``staff.session_revoked`` through its outbox, every service's kit reads it.
Routing, risk, intake and the console in-process, against the real broker and MongoDB-protocol server."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from yima_kit.auth import SessionRevoked

pytestmark = pytest.mark.integration

STAFF = "410105001-02"  # 丰产路街道's dispatcher (seeded)
SEED_PASSWORD = "Yima#Demo2026"
WARNINGS = "/api/v1/warnings"


async def answer_becomes(http: httpx.AsyncClient, token: str, status: int) -> httpx.Response:
    """Ask until the answer is ``status`` (the broadcast travels: outbox → Kafka → the service), 20 s at most."""
    r = await http.get(WARNINGS, headers={"Authorization": f"Bearer {token}"})
    for _ in range(100):
        if r.status_code == status:
            break
        await asyncio.sleep(0.2)
        r = await http.get(WARNINGS, headers={"Authorization": f"Bearer {token}"})
    return r


async def test_logout_and_a_password_change_end_the_session_in_every_service(yima_infra) -> None:
    from yima_console.app import create_app as console_app
    from yima_console.config import ConsoleSettings
    from yima_intake.app import create_app as intake_app
    from yima_intake.config import IntakeSettings
    from yima_risk.app import create_app as risk_app
    from yima_risk.config import RiskSettings
    from yima_routing.app import create_app as routing_app
    from yima_routing.config import RoutingSettings

    common = {"kafka_bootstrap": yima_infra.kafka_bootstrap, "mongo_url": yima_infra.mongo_url}
    routing = routing_app(RoutingSettings(**common, mongo_db_prefix=f"r{uuid.uuid4().hex[:8]}_"),
                          consume=False, relay=True, sweep=False)
    risk = risk_app(RiskSettings(**common, mongo_db_prefix=f"k{uuid.uuid4().hex[:8]}_"), consume=False,
                    relay=False)
    console = console_app(ConsoleSettings(**common))
    intake = intake_app(IntakeSettings(**common, mongo_db_prefix=f"i{uuid.uuid4().hex[:8]}_", notify_url=""),
                        consume=False, relay=False)
    async with (routing.router.lifespan_context(routing), risk.router.lifespan_context(risk),
                console.router.lifespan_context(console), intake.router.lifespan_context(intake),
                httpx.AsyncClient(transport=httpx.ASGITransport(app=intake), base_url="http://intake") as ih,
                httpx.AsyncClient(transport=httpx.ASGITransport(app=routing), base_url="http://routing") as rh,
                httpx.AsyncClient(transport=httpx.ASGITransport(app=risk), base_url="http://risk") as kh):
        first = await rh.post("/api/v1/auth/login", json={"username": STAFF, "password": SEED_PASSWORD})
        assert first.status_code == 200, first.text
        seeded = first.json()["access_token"]
        r = await kh.get(WARNINGS, headers={"Authorization": f"Bearer {seeded}"})
        assert r.status_code == 403 and r.json()["errors"][0]["code"] == "password_change_required"

        changed = await rh.post("/api/v1/auth/password", headers={"Authorization": f"Bearer {seeded}"},
                                json={"current_password": SEED_PASSWORD, "new_password": "Revoked#Test2026"})
        assert changed.status_code == 200, changed.text
        working = changed.json()["access_token"]
        assert (await kh.get(WARNINGS, headers={"Authorization": f"Bearer {working}"})).status_code == 200
        # The first session ended with the password change: risk refuses its token now, not in 30 minutes.
        r = await answer_becomes(kh, seeded, 401)
        assert r.status_code == 401 and r.json()["errors"][0]["code"] == "session_revoked", r.text

        assert (await rh.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {working}"})).status_code \
            == 200
        r = await answer_becomes(kh, working, 401)
        assert r.status_code == 401 and r.json()["errors"][0]["code"] == "session_revoked", r.text
        assert "请重新登录" in r.json()["message"]
        with pytest.raises(SessionRevoked):  # the console's own check of its cookie
            console.state.web.verifier.verify(working)
        walk_in = {"channel": "reception", "applicant": {"name": "张三", "phone": "13812345678"},
                   "description": "楼上邻居家漏水把我家天花板泡坏了", "location": {"unit_code": "410105001002"}}
        r = await ih.post("/api/v1/cases", json=walk_in, headers={"Authorization": f"Bearer {working}"})
        # intake's staff channel (walk-in, proxy) refuses it too, saying why
        assert r.status_code == 401 and "登录已失效" in r.json()["message"], r.text

        # A replica started after the logout reads it back: its start does not wait for that (ADR 0132), but
        # once the feed says it has caught up, the token is refused.
        late = risk_app(RiskSettings(**common, mongo_db_prefix=f"l{uuid.uuid4().hex[:8]}_"), consume=False,
                        relay=False)
        async with (late.router.lifespan_context(late),
                    httpx.AsyncClient(transport=httpx.ASGITransport(app=late), base_url="http://late") as lh):
            feed = late.state.revocation_feed
            assert await feed.wait_caught_up(20), feed.status()
            assert (await lh.get("/health")).json()["revocations"]["state"] == "caught_up"
            r = await lh.get(WARNINGS, headers={"Authorization": f"Bearer {working}"})
            assert r.status_code == 401 and r.json()["errors"][0]["code"] == "session_revoked", r.text
