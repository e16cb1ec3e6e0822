"""Exactly-once under batching, real end to end: routing's and notify's batch consumers are SIGKILLed in the middle of
a backlog they take a poll (a batch) at a time — no case is lost, none is assigned twice, nobody is texted twice.

A burst of cases is submitted while routing is stopped, so its topics hold a backlog; it restarts with small batches
(``YIMA_CONSUMER_BATCH_MAX``) and is SIGKILLed right after its first batch committed, while the next ones are being
processed; notify (small batches too) is SIGKILLed in the burst of assignments that follows, once the first "assigned"
texts went out. The test checks that each kill came before the backlog was done. A batch commits as
one transaction with its ledger entries and its outbox, and the offsets only after that: a killed batch leaves
nothing behind, the restarted consumer takes it again, and the ledger keeps every effect single.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient
from yima_contracts import topics
from yima_devstack.kafka_tools import dump_topic, wait_for
from yima_devstack.services import ServiceProcess, service_env
from yima_notify.devgateway import DevGateway

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

COMMUNITY = "410105001001"
CASES = 24


def case_body(i: int, run: str) -> dict[str, Any]:
    return {"channel": "self_service", "applicant": {"name": "欧阳娜娜", "phone": f"137{run}{i:05d}"},
            "description": "楼上邻居家卫生间漏水，把我家天花板泡坏了，找他好几次都不管",
            "location": {"unit_code": COMMUNITY}}


def _healthy(p: ServiceProcess) -> bool:
    try:
        return httpx.get(f"{p.url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


async def _until_healthy(p: ServiceProcess) -> None:
    await wait_for(lambda: asyncio.to_thread(_healthy, p), timeout=120)


@pytest.fixture
def gateway():
    gw = DevGateway().start()
    yield gw
    gw.stop()


@pytest.fixture
def envs(platform, yima_infra, gateway, query_log_dir):
    base = {"YIMA_CONSUMER_RETRY_BASE_SECONDS": "0.05", "YIMA_MONGO_QUERY_LOG_DIR": str(query_log_dir)}

    def env(name: str, **extra: str) -> dict[str, str]:
        return platform.env_for(name, service_env(  # the service's own Kafka principal
            yima_infra.kafka_bootstrap, yima_infra.mongo_url, db_prefix=platform.db_prefix, extra={**base, **extra}))

    small = {"YIMA_CONSUMER_BATCH_MAX": "4"}
    yield {
        "routing": env("routing", **small),
        "notify": env("notify", **small, YIMA_NOTIFY_SMS_URL=f"{gateway.url}/sms", YIMA_NOTIFY_QUIET_HOURS="",
                      YIMA_NOTIFY_DIGEST_WINDOW_SECONDS="0", YIMA_NOTIFY_CLAIM_TTL_SECONDS="3",
                      YIMA_NOTIFY_WORKER_POLL_SECONDS="0.2"),
    }
    # notify's own settings back for the next tests (routing keeps its small batches: nothing else differs)
    platform.procs["notify"].stop()
    platform.procs["notify"].start(env("notify"))
    platform.wait_healthy(timeout=120)


@pytest.mark.timeout(600)  # four process starts (each joins ~15 consumer groups) on a shared 2-core box
async def test_a_batch_consumer_killed_mid_batch_loses_nothing_and_does_nothing_twice(
    platform, yima_infra, gateway, envs
) -> None:
    routing, notify = platform.procs["routing"], platform.procs["notify"]
    prefix = platform.db_prefix
    client: AsyncMongoClient[Any] = AsyncMongoClient(yima_infra.mongo_url, tz_aware=True)
    run = f"{uuid.uuid4().int % 1000:03d}"
    phones = {case_body(i, run)["applicant"]["phone"] for i in range(CASES)}

    def sms(template: str | None = None) -> list[Any]:
        return [d for d in gateway.at("/sms")
                if d.body["phone"] in phones and (template is None or d.body["template_id"] == template)]

    try:
        notify.stop()
        notify.start(envs["notify"])  # texts through the gateway, small batches
        routing.stop()  # a backlog builds up on routing's topics
        await _until_healthy(notify)
        async with httpx.AsyncClient(base_url=platform.procs["intake"].url, timeout=30) as http:
            async def submit(i: int) -> str:
                r = await http.post("/api/v1/cases", json=case_body(i, run),
                                    headers={"Idempotency-Key": str(uuid.uuid4())})
                assert r.status_code == 201, r.text
                return str(r.json()["case_id"])

            cases = list(await asyncio.gather(*(submit(i) for i in range(CASES))))

        async def routed() -> int:
            return await client[f"{prefix}yima_routing"]["processed_events"].count_documents(
                {"case_id": {"$in": cases}})

        # routing comes back to its backlog (case.submitted and case.risk_assessed of every case), commits its
        # first batch… and is killed amid the next ones.
        routing.start(envs["routing"])
        at_kill = await wait_for(routed, timeout=240, interval=0.05)
        routing.kill()
        assert at_kill < 2 * CASES, "routing was killed after its backlog, not in the middle of it"
        routing.start(envs["routing"])
        # notify gets the burst of assignments routing publishes: killed once the first "assigned" texts went out
        await wait_for(lambda: asyncio.sleep(0, result=sms("applicant.assigned.v1")), timeout=240, interval=0.05)
        notify.kill()
        assert len(sms("applicant.assigned.v1")) < CASES, "notify was killed after its backlog"
        notify.start(envs["notify"])

        # Nothing lost: every case assigned and both texts sent ("registered", "assigned").
        assignments = client[f"{prefix}yima_routing"]["assignments"]

        async def assigned() -> bool:
            return await assignments.count_documents({"case_id": {"$in": cases}}) >= CASES

        await wait_for(assigned, timeout=240)
        await wait_for(lambda: asyncio.sleep(0, result=len(sms()) >= 2 * CASES), timeout=240)
        await asyncio.sleep(3)  # a duplicate would come now

        # Nothing twice: one assignment per case, in the database and on the topics (a republished record keeps
        # its event id), one text per step and phone at the gateway, each key POSTed and delivered once.
        per_case = Counter([d["case_id"] async for d in assignments.find({"case_id": {"$in": cases}},
                                                                          {"case_id": 1})])
        assert set(per_case) == set(cases) and set(per_case.values()) == {1}
        for topic in (topics.CASE_ASSIGNED, topics.unit_topic(COMMUNITY)):
            events: dict[str, set[str]] = {}
            for r in await dump_topic(yima_infra.kafka_bootstrap, topic):
                v = json.loads(r.value)
                if v["case_id"] in cases:
                    events.setdefault(v["case_id"], set()).add(v["event_id"])
            assert set(events) == set(cases) and {len(e) for e in events.values()} == {1}, topic
        texts = Counter((d.body["phone"], d.body["template_id"]) for d in sms())
        assert len(texts) == 2 * CASES and set(texts.values()) == {1}
        assert {t for _, t in texts} == {"applicant.submitted.v1", "applicant.assigned.v1"}
    finally:
        await client.close()
