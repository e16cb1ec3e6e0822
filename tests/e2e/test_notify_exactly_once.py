"""Notify, real end to end: every step of a case reaches each recipient exactly once per channel, even when
the notify service is SIGKILLed and restarted in the middle of a burst.

Every service runs as its own process against the real Kafka broker and MongoDB-protocol server; notify's
SMS gateway and the community's webhook are a real HTTP server on 127.0.0.1 (yima_notify.devgateway) that
behaves like a real gateway: a repeated Idempotency-Key is acknowledged and not delivered again.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pymongo import AsyncMongoClient
from yima_contracts import topics
from yima_devstack.kafka_tools import produce, read_topic, wait_for
from yima_devstack.services import service_env
from yima_notify.devgateway import DevGateway

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

COMMUNITY = "410105001001"  # 黄河社区 in the demo directory
STREET = "410105001"  # 丰产路街道, its supervisor


def case_body(i: int) -> dict:
    return {
        "channel": "self_service",
        "applicant": {"name": "欧阳娜娜", "phone": f"1381234{i:04d}"},
        "description": "楼上邻居家卫生间漏水，把我家天花板泡坏了，找他好几次都不管",
        "location": {"unit_code": COMMUNITY},
    }




def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def gateway():
    gw = DevGateway().start()
    yield gw
    gw.stop()


@pytest.fixture
def notify_with_channels(platform, yima_infra, gateway, query_log_dir):
    """Restart the platform's notify process with its outside channels pointed at the local gateway;
    put the default one back afterwards."""
    base = {"YIMA_CONSUMER_RETRY_BASE_SECONDS": "0.05", "YIMA_MONGO_QUERY_LOG_DIR": str(query_log_dir)}
    env = service_env(yima_infra.kafka_bootstrap, yima_infra.mongo_url, db_prefix=platform.db_prefix, extra={
        **base,
        "YIMA_NOTIFY_SMS_URL": f"{gateway.url}/sms",
        "YIMA_NOTIFY_UNIT_CONTACTS_JSON": json.dumps({COMMUNITY: {"webhook_url": f"{gateway.url}/hooks/{COMMUNITY}"}}),
        "YIMA_NOTIFY_QUIET_HOURS": "",  # the test must not depend on the time of day in Beijing
        "YIMA_NOTIFY_DIGEST_WINDOW_SECONDS": "0",  # one text per step, to count them (digests: integration tests)
        "YIMA_NOTIFY_CLAIM_TTL_SECONDS": "3",
        "YIMA_NOTIFY_WORKER_POLL_SECONDS": "0.2",
        "YIMA_NOTIFY_RETRY_BASE_SECONDS": "0.5",
    })
    env = platform.env_for("notify", env)  # notify's own Kafka principal
    proc = platform.procs["notify"]
    proc.stop()
    proc.start(env)
    yield proc, env
    proc.stop()
    proc.start(platform.env_for("notify", service_env(yima_infra.kafka_bootstrap, yima_infra.mongo_url,
                                                      db_prefix=platform.db_prefix, extra=base)))
    deadline = time.monotonic() + 120
    while not _healthy(proc.url) and time.monotonic() < deadline:
        time.sleep(0.3)


async def _restart(proc, env) -> None:
    proc.start(env)
    await wait_for(lambda: asyncio.to_thread(_healthy, proc.url), timeout=120)


async def test_every_step_once_per_recipient_and_channel_across_sigkills(
        platform, yima_infra, gateway, notify_with_channels):
    proc, env = notify_with_channels
    await wait_for(lambda: asyncio.to_thread(_healthy, proc.url), timeout=120)
    bootstrap = yima_infra.kafka_bootstrap
    intake = platform.procs["intake"].url

    async def submit(i: int) -> dict:
        async with httpx.AsyncClient(base_url=intake, timeout=10) as http:
            r = await http.post("/api/v1/cases", json=case_body(i), headers={"Idempotency-Key": str(uuid.uuid4())})
        assert r.status_code == 201, r.text
        return r.json()

    # A burst of cases; SIGKILL notify while the texts are going out; more cases while it is dead.
    first = await asyncio.gather(*(submit(i) for i in range(6)))
    await wait_for(lambda: asyncio.sleep(0, result=len(gateway.at("/sms")) >= 2), timeout=120)
    proc.kill()
    second = await asyncio.gather(*(submit(i) for i in range(6, 10)))
    await _restart(proc, env)
    cases = [c["case_id"] for c in (*first, *second)]

    # The community's system accepts each case (from its own topic); notify is killed again meanwhile.
    def orders(records):
        mine = {}
        for r in records:
            v = json.loads(r.value)
            if v.get("case_id") in cases:  # the topic is shared with other tests (and their controls)
                mine[v["case_id"]] = v
        return mine if len(mine) == len(cases) else None

    work = await read_topic(bootstrap, topics.unit_topic(COMMUNITY), orders, timeout=120)
    for n, case_id in enumerate(cases):
        o = work[case_id]
        await produce(bootstrap, topics.CASE_FEEDBACK, case_id, {
            "event_id": str(uuid.uuid4()), "event_type": "case.feedback.v1", "case_id": case_id,
            "occurred_at": datetime.now(UTC).isoformat(), "correlation_id": o["correlation_id"],
            "actor": {"kind": "unit_system", "unit_code": COMMUNITY},
            "assignment_id": o["assignment_id"], "unit_code": COMMUNITY, "kind": "accepted",
        })
        # …and the supervising street issues 督办 on each (as routing's sweeper does at the deadline).
        await produce(bootstrap, topics.CASE_SUPERVISION_NOTICE, case_id, {
            "event_id": str(uuid.uuid4()), "event_type": "case.supervision_notice.v1", "case_id": case_id,
            "occurred_at": datetime.now(UTC).isoformat(), "correlation_id": o["correlation_id"],
            "actor": {"kind": "system", "service": "routing"}, "assignment_id": o["assignment_id"],
            "step": "notice", "unit_code": COMMUNITY, "supervisor_unit_code": STREET,
            "due_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(), "message_zh": "请按期办结并反馈",
        })
        if n == len(cases) // 2:
            proc.kill()
            await _restart(proc, env)

    # What must be said: every applicant-visible step of these cases, and every order and notice to the unit.
    def steps(records):
        mine = [json.loads(r.value) for r in records if r.key and r.key.decode() in cases]
        per_case = Counter(s["case_id"] for s in mine if s["state"] == "accepted")
        return mine if len(per_case) == len(cases) else None

    # Only an accepted case is closed (as in life: mediation closes what its unit accepted). Closing earlier
    # would race the acceptance across two topics: routing rightly ignores an 'accepted' on a closed case.
    status = await read_topic(bootstrap, topics.CASE_STATUS, steps, timeout=120)
    closed_ids: dict[str, str] = {}
    for n, case_id in enumerate(cases):
        # The case is closed (as mediation does): the applicant is asked to rate it.
        closed_ids[case_id] = str(uuid.uuid4())
        await produce(bootstrap, topics.CASE_CLOSED, case_id, {
            "event_id": closed_ids[case_id], "event_type": "case.closed.v1", "case_id": case_id,
            "occurred_at": datetime.now(UTC).isoformat(), "correlation_id": work[case_id]["correlation_id"],
            "actor": {"kind": "system", "service": "mediation"}, "outcome": "agreement", "unit_code": COMMUNITY,
            "resolved": True, "applicant_message_zh": "双方达成调解协议",
        })
        if n == len(cases) // 2:
            proc.kill()  # and once more in the middle of the closing burst
            await _restart(proc, env)
    assigned = await read_topic(bootstrap, topics.CASE_ASSIGNED, lambda rs: (
        lambda m: m if len({a["case_id"] for a in m}) == len(cases) else None)(
        [json.loads(r.value) for r in rs if r.key and r.key.decode() in cases]))
    notices = await read_topic(bootstrap, topics.CASE_SUPERVISION_NOTICE, lambda rs: (
        lambda m: m if len(m) >= len(cases) else None)(
        [json.loads(r.value) for r in rs if r.key and r.key.decode() in cases]))
    status_ids = {s["event_id"] for s in status}
    expected_sms = {f"{e}|applicant|sms" for e in status_ids | set(closed_ids.values())}
    expected_hooks = {f"{a['event_id']}|unit:{COMMUNITY}|webhook" for a in assigned if a["unit_code"] == COMMUNITY}
    expected_hooks |= {f"{n['event_id']}|unit:{COMMUNITY}|webhook" for n in notices}

    def delivered(path_prefix: str) -> set[str]:
        return {d.key for d in gateway.delivered if d.path.startswith(path_prefix) and d.key.split("|")[0]
                in status_ids | set(closed_ids.values()) | {a["event_id"] for a in assigned}
                | {n["event_id"] for n in notices}}

    try:  # generous: on 2 loaded cores, the restarted notify catches up a whole burst
        await wait_for(lambda: asyncio.sleep(0, result=delivered("/sms") >= expected_sms
                                             and delivered("/hooks/") >= expected_hooks), timeout=150)
    except TimeoutError:
        mongo = AsyncMongoClient(yima_infra.mongo_url, tz_aware=True)
        db = mongo[f"{platform.db_prefix}yima_notify"]
        missing = list(expected_sms - delivered("/sms")) + list(expected_hooks - delivered("/hooks/"))
        docs = [d async for d in db["notifications"].find({"_id": {"$in": missing}}, {"text": 0, "address": 0})]
        pending = [d async for d in db["pending_events"].find({}, {"source": 0})]
        await mongo.close()
        raise AssertionError(f"ledger {docs}; pending {pending}; missing sms {expected_sms - delivered('/sms')}, hooks "
                             f"{expected_hooks - delivered('/hooks/')}; got {[d.key for d in gateway.delivered]}; "
                             f"status {[(s['case_id'][:8], s['state']) for s in status]}") from None

    mongo = AsyncMongoClient(yima_infra.mongo_url, tz_aware=True)
    try:
        ledger = mongo[f"{platform.db_prefix}yima_notify"]["notifications"]

        async def settled():
            return await ledger.count_documents(
                {"case_id": {"$in": cases}, "state": {"$in": ["queued", "sending", "pending_recipient"]}}) == 0

        await wait_for(settled)  # nothing more can go out: what the gateway has is the final word
        # Exactly the expected messages, each once: no step missing, none sent twice under another key.
        assert delivered("/sms") == expected_sms
        assert delivered("/hooks/") == expected_hooks
        case_of = {s["event_id"]: s["case_id"] for s in status} | {e: c for c, e in closed_ids.items()}
        assert Counter(case_of[d.key.split("|")[0]] for d in gateway.at("/sms") if d.key in expected_sms) == Counter(
            [s["case_id"] for s in status] + cases)  # every step, and the rating request
        phone_of = {c: case_body(i)["applicant"]["phone"] for i, c in enumerate(cases)}
        assert all(d.body["phone"] == phone_of[case_of[d.key.split("|")[0]]]
                   for d in gateway.at("/sms") if d.key in expected_sms)  # each text to its own applicant
        # …and a case's steps in order, kills notwithstanding: of its status texts (one topic, staged in order) the
        # first is the registration with the tracking code (a killed worker's claim once let "已分派" overtake it).
        # (The rating request comes from another topic, case.closed, whose consumer group may catch up first
        # after a restart: this test closes cases right after their acceptance, as life does not.)
        step_ids = {f"{e}|applicant|sms" for e in status_ids}
        first_text = {}
        for d in gateway.at("/sms"):
            if d.key in step_ids:
                first_text.setdefault(case_of[d.key.split("|")[0]], d.body["template_id"])
        assert first_text == {c: "applicant.submitted.v1" for c in cases}, first_text

        # The in-app inboxes: one applicant message per step, one unit message per order/notice, the street
        # (the supervisor) one per 督办.
        # (Ten leak reports in one community also make risk raise a cluster warning to the community: that is
        # the platform working, and not what this test counts.)
        inbox = [d async for d in ledger.find({"case_id": {"$in": cases}, "channel": "inbox",
                                               "source_event_type": {"$ne": "warning.raised.v1"}})]
        assert Counter(d["recipient"] for d in inbox) == Counter({
            "applicant": len(status_ids) + len(cases),  # every step and the rating request
            f"unit:{COMMUNITY}": len(expected_hooks), f"unit:{STREET}": len(notices)})
        assert all(d["state"] == "delivered" for d in inbox)
        assert await ledger.count_documents({"case_id": {"$in": cases}, "state": "failed"}) == 0
    finally:
        await mongo.close()

    # notification.sent: one event per notification (a relay re-publish carries the same event_id).
    every = len(expected_sms) + len(expected_hooks) + len(inbox)

    known = status_ids | set(closed_ids.values()) | {a["event_id"] for a in assigned} | {n["event_id"] for n in notices}

    def sent(records):
        mine = [json.loads(r.value) for r in records if r.key and r.key.decode() in cases]
        mine = [m for m in mine if m["notification_id"].split("|")[0] in known]  # not risk's cluster warning
        return mine if len({m["notification_id"] for m in mine}) >= every else None

    events = await read_topic(bootstrap, topics.NOTIFICATION_SENT, sent, timeout=120)
    by_nid: dict[str, set[str]] = {}
    for e in events:
        by_nid.setdefault(e["notification_id"], set()).add(e["event_id"])
    assert len(by_nid) == every and all(len(ids) == 1 for ids in by_nid.values())
