"""/metrics serves the figures operators act on, read from the real database and broker at scrape time:
outbox backlog and age, consumer lag per group and topic, request latency by route template."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from yima_contracts import CaseStatusChanged
from yima_contracts.codes import CaseState
from yima_kit.kafka_auth import client_kwargs
from yima_kit.mongo import in_transaction
from yima_kit.outbox import Outgoing
from yima_kit.runtime import Runtime, http_app

pytestmark = pytest.mark.integration


def sample(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        head, value = line.rsplit(" ", 1)
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            return float(value)
    return None


async def test_metrics_show_outbox_backlog_lag_and_latency(kit_settings, topic, yima_infra) -> None:
    rt = Runtime.create(kit_settings())
    app = http_app(rt, title="ops metrics test", consume=False, relay=False)  # no relay: the outbox stays unsent

    @app.post("/cases/{case_id}/stage")
    async def stage(case_id: str) -> dict[str, str]:
        event = CaseStatusChanged(case_id=case_id, correlation_id=case_id,
                                  state=CaseState.ACCEPTED, title_zh="测试")

        async def work(session):
            await rt.outbox.add(session, [Outgoing(topic, event)])

        await in_transaction(rt.client, work)
        return {"case_id": case_id}

    # A consumer group of this service that has read 2 of the 5 messages on partition 0: lag 3.
    group = f"yima-mediation.ops-{uuid.uuid4().hex[:6]}"
    producer = AIOKafkaProducer(bootstrap_servers=yima_infra.kafka_bootstrap, **client_kwargs())
    await producer.start()
    try:
        for i in range(5):
            await producer.send_and_wait(topic, f"m{i}".encode(), partition=0)
    finally:
        await producer.stop()
    committer = AIOKafkaConsumer(bootstrap_servers=yima_infra.kafka_bootstrap, group_id=group, **client_kwargs(),
                                 enable_auto_commit=False)
    await committer.start()
    committer.assign([TopicPartition(topic, 0)])
    try:
        await committer.commit({TopicPartition(topic, 0): OffsetAndMetadata(2, "")})
    finally:
        await committer.stop()

    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kit") as client:
            for _ in range(3):
                assert (await client.post(f"/cases/{uuid.uuid4()}/stage")).status_code == 200
            await asyncio.sleep(1.1)
            text = (await client.get("/metrics")).text

    assert sample(text, "yima_outbox_backlog", service="mediation") == 3
    oldest = sample(text, "yima_outbox_oldest_unsent_seconds", service="mediation")
    assert oldest is not None and 1 <= oldest < 60
    assert sample(text, "yima_consumer_lag", group=group, topic=topic) == 3
    assert sample(text, "yima_http_request_seconds_count", route="/cases/{case_id}/stage", status="2xx") == 3
    assert "yima_http_request_seconds_count{" in text and "/metrics" not in text.split("route=")[-1][:20]
