"""The walking skeleton, real end to end: intake → risk → routing → a unit's own system → notify → tracking.

Every service runs as its own process against the real Kafka broker and MongoDB-protocol server.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient
from yima_contracts import headers, topics
from yima_devstack.kafka_security import department_principal
from yima_devstack.kafka_tools import keyed, produce, read_topic, wait_for
from yima_kit.kafka_auth import client_kwargs

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

COMMUNITY = "410105001001"  # 黄河社区 in the demo directory
CASE = {
    "channel": "self_service",
    "applicant": {"name": "买买提·艾力", "phone": "138 1234 5678"},
    "description": "楼上邻居家卫生间漏水，把我家天花板泡坏了，找他好几次都不管",
    "location": {"unit_code": COMMUNITY},
}




@pytest.fixture(scope="module")
async def submitted(platform):
    async with httpx.AsyncClient(base_url=platform.procs["intake"].url, timeout=10) as http:
        r = await http.post("/api/v1/cases", json=CASE, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code == 201, r.text
    return r.json()


async def test_case_flows_to_the_units_topic_and_back_to_the_tracking_view(platform, yima_infra, submitted):
    case_id = submitted["case_id"]
    assert submitted["category"] == "neighbour"
    assert submitted["case_number"].startswith(f"JSQ-{datetime.now(UTC).year}-")

    # A department's system reads its own topic with a plain Kafka client and its own credentials.
    dept = yima_infra.kafka_auth(department_principal(COMMUNITY)) if yima_infra.kafka_users else None
    records = await read_topic(yima_infra.kafka_bootstrap, topics.unit_topic(COMMUNITY), keyed(case_id), auth=dept)
    order = json.loads(records[0].value)
    assert order["event_type"] == "unit.case_assigned.v1"
    assert order["unit_code"] == COMMUNITY
    assert order["applicant"]["phone"] == "13812345678"  # the handling unit needs to reach the applicant
    assert "tracking_code" not in order  # …but never gets the applicant's tracking code
    assert order["supervisor_unit_code"] == "410105001"  # 丰产路街道 assigned it, so it supervises

    # …and answers on its own feedback topic with raw JSON, no yima code (the only topic it may write).
    await produce(yima_infra.kafka_bootstrap, topics.unit_feedback_topic(COMMUNITY), case_id, {
        "event_id": str(uuid.uuid4()), "event_type": "case.feedback.v1", "case_id": case_id,
        "occurred_at": datetime.now(UTC).isoformat(), "correlation_id": order["correlation_id"],
        "actor": {"kind": "unit_system", "unit_code": COMMUNITY},
        "assignment_id": order["assignment_id"], "unit_code": COMMUNITY, "kind": "accepted",
    }, auth=dept)

    code = submitted["tracking_code"]
    async with httpx.AsyncClient(base_url=platform.procs["intake"].url, timeout=10) as http:
        async def accepted():
            r = await http.get(f"/api/v1/track/{code}", params={"check": "5678"})
            assert r.status_code == 200, r.text
            view = r.json()
            return view if view["state"] == "accepted" else None

        view = await wait_for(accepted)
        assert [s["state"] for s in view["timeline"]] == ["submitted", "assigned", "accepted"]
        assert view["current_unit"] == "黄河社区"
        assert "5678" not in json.dumps(view, ensure_ascii=False)  # no personal data in the public view
        assert "买买提" not in json.dumps(view, ensure_ascii=False)

        wrong = await http.get(f"/api/v1/track/{code}", params={"check": "0000"})
        assert wrong.status_code == 404
        typo = code[:-1] + ("2" if code[-1] != "2" else "3")
        assert (await http.get(f"/api/v1/track/{typo}", params={"check": "5678"})).status_code == 400

    # notify: exactly one applicant notification per applicant-visible step.
    mongo = AsyncMongoClient(yima_infra.mongo_url, tz_aware=True)
    try:
        notes = mongo[f"{platform.db_prefix}yima_notify"]["notifications"]

        async def three_delivered():
            docs = [d async for d in notes.find({"case_id": case_id, "recipient": "applicant"})]
            return docs if len(docs) == 3 and all(d["state"] == "delivered" for d in docs) else None

        docs = await wait_for(three_delivered)
        assert sorted(d["template_id"] for d in docs) == [
            "applicant.accepted.v1", "applicant.assigned.v1", "applicant.submitted.v1"]
        def to_applicant(records):
            mine = [r for r in (keyed(case_id)(records) or []) if json.loads(r.value)["recipient_kind"] == "applicant"]
            return mine if len(mine) >= 3 else None

        sent = await read_topic(yima_infra.kafka_bootstrap, topics.NOTIFICATION_SENT, to_applicant)
        assert len(sent) == 3
    finally:
        await mongo.close()

    # …and the tracking view shows them, read from notify's applicant inbox (newest first).
    async with httpx.AsyncClient(base_url=platform.procs["intake"].url, timeout=10) as http:
        async def three_messages():
            view = (await http.get(f"/api/v1/track/{code}", params={"check": "5678"})).json()
            return view["messages"] if len(view["messages"] or []) >= 3 else None

        messages = await wait_for(three_messages)
        assert all(m["text"] and m["channel_name"] == "站内信" for m in messages)
        assert [m["at"] for m in messages] == sorted((m["at"] for m in messages), reverse=True)


async def _caught_up(bootstrap: str, group: str, topic: str) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_kwargs())
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    from aiokafka import AIOKafkaConsumer

    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, **client_kwargs())
    await c.start()
    try:
        tps = [tp for tp in committed if tp.topic == topic]
        if not tps:
            return False
        ends = await c.end_offsets(tps)
    finally:
        await c.stop()
    return all(committed[tp].offset >= ends[tp] for tp in tps)


async def test_a_redelivered_event_changes_nothing(platform, yima_infra, submitted):
    """At-least-once delivery: the same case.submitted delivered twice assesses, routes and notifies once."""
    case_id = submitted["case_id"]
    bootstrap = yima_infra.kafka_bootstrap
    mongo = AsyncMongoClient(yima_infra.mongo_url, tz_aware=True)
    try:
        routing_db = mongo[f"{platform.db_prefix}yima_routing"]
        await wait_for(lambda: routing_db["assignments"].find_one({"case_id": case_id}))
        original = (await read_topic(bootstrap, topics.CASE_SUBMITTED, keyed(case_id)))[0]

        await produce(bootstrap, topics.CASE_SUBMITTED, case_id, original.value,
                      headers=[(headers.EVENT_ID, json.loads(original.value)["event_id"].encode())])
        for group in ("yima-risk", "yima-routing", "yima-notify"):
            await wait_for(lambda g=group: _caught_up(bootstrap, g, topics.CASE_SUBMITTED))

        risk_db = mongo[f"{platform.db_prefix}yima_risk"]
        assert await risk_db["assessments"].count_documents({"case_id": case_id}) == 1
        assert await routing_db["assignments"].count_documents({"case_id": case_id}) == 1
        assessed = await read_topic(bootstrap, topics.CASE_RISK_ASSESSED, keyed(case_id))
        assert len(assessed) == 1
        delivered = await read_topic(bootstrap, topics.CASE_SUBMITTED, keyed(case_id, at_least=2))
        assert delivered  # the duplicate really was on the topic
    finally:
        await mongo.close()


async def test_a_malformed_feedback_goes_to_the_dead_letter_topic(platform, yima_infra):
    bootstrap = yima_infra.kafka_bootstrap
    key = f"bad-{uuid.uuid4()}"
    await produce(bootstrap, topics.CASE_FEEDBACK, key, {"event_type": "case.feedback.v1", "kind": "returned"})
    dead = await read_topic(bootstrap, topics.dlq_topic("routing"), keyed(key))
    hdrs = dict(dead[0].headers)
    assert hdrs[headers.DLQ_ERROR_KIND] == b"invalid"
    assert hdrs[headers.DLQ_ORIGINAL_TOPIC] == topics.CASE_FEEDBACK.encode()
    assert b"assignment_id" in hdrs[headers.DLQ_ERROR]


async def test_an_answer_naming_another_unit_on_a_units_topic_is_refused(platform, yima_infra, submitted):
    """Who answered is the unit whose topic it was written to: 人社局's system cannot resolve 黄河社区's case by
    writing 黄河社区's code into a message on its own topic (dead-lettered; the assignment stays as it was)."""
    case_id = submitted["case_id"]
    other = "JSQ-RSJ"  # 金水区人力资源和社会保障局, answers from its own system too
    records = await read_topic(yima_infra.kafka_bootstrap, topics.unit_topic(COMMUNITY), keyed(case_id))
    order = json.loads(records[0].value)
    auth = yima_infra.kafka_auth(department_principal(other)) if yima_infra.kafka_users else None
    event_id = str(uuid.uuid4())
    await produce(yima_infra.kafka_bootstrap, topics.unit_feedback_topic(other), case_id, {
        "event_id": event_id, "event_type": "case.feedback.v1", "case_id": case_id,
        "occurred_at": datetime.now(UTC).isoformat(), "correlation_id": order["correlation_id"],
        "actor": {"kind": "unit_system", "unit_code": COMMUNITY},
        "assignment_id": order["assignment_id"], "unit_code": COMMUNITY, "kind": "resolved",
    }, auth=auth)

    def forged(records):
        return [r for r in records if json.loads(r.value).get("event_id") == event_id] or None

    dead = await read_topic(yima_infra.kafka_bootstrap, topics.dlq_topic("routing"), forged)
    hdrs = dict(dead[0].headers)
    assert hdrs[headers.DLQ_ERROR_KIND] == b"rejected"
    assert hdrs[headers.DLQ_ORIGINAL_TOPIC] == topics.unit_feedback_topic(other).encode()
    mongo = AsyncMongoClient(yima_infra.mongo_url, tz_aware=True)
    try:
        a = await mongo[f"{platform.db_prefix}yima_routing"]["assignments"].find_one({"_id": order["assignment_id"]})
        assert a["state"] != "resolved"
        assert event_id not in [f["event_id"] for f in a.get("feedback", [])]
    finally:
        await mongo.close()
