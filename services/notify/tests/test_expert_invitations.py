"""An invited expert hears of the invitation directly, exactly once per channel — through the real broker (the
event is put on ``mediation.expert_invited`` twice, as a redelivery would), real MongoDB transactions, and the
SMS sent to the local dev gateway over HTTP. The hosting unit hears the expert's answer the same way (once, on
``mediation.expert_answered``)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from yima_contracts import ExpertAnswered, ExpertInvited, topics
from yima_contracts.codes import Category
from yima_devstack.kafka_tools import produce, wait_for
from yima_kit import metrics
from yima_kit.runtime import Runtime
from yima_notify.adapters.channels import build_channels
from yima_notify.adapters.mongo_repo import MongoNotifyRepository
from yima_notify.config import NotifySettings
from yima_notify.devgateway import DevGateway
from yima_notify.service import NotifyService
from yima_notify.worker import DeliveryWorker

pytestmark = pytest.mark.integration

EXPERT_PHONE = "13700001234"


CODE = "ABCD2345EFGH"
CODE2 = "HJKM6789NPQR"


def invited(case_id: str, person_id: str, phone: str | None) -> ExpertInvited:
    return ExpertInvited(
        case_id=case_id, correlation_id=case_id, invitation_id=str(uuid.uuid4()), assignment_id=f"a-{case_id}",
        unit_code="JSQ-LDTJ", unit_name="金水区劳动争议调解委员会", person_id=person_id, expert_kind="lawyer",
        expert_name="李明", expert_phone=phone, case_number="JSQ-2026-000042", category=Category.LABOUR_WAGES,
        session_id="s1", mode="offline", starts_at=datetime.now(UTC) + timedelta(days=2), place_zh="第一调解室",
        reply_zh="请尽快联系金水区劳动争议调解委员会答复是否参加", invitation_code=CODE if phone else None)


def consuming(settings: NotifySettings, topic: str, model: type, name: str, handler: str
              ) -> tuple[Runtime, NotifyService, DeliveryWorker]:
    """notify's production consumer ``name`` (same ledger) on ``topic``, in a consumer group of the test's own so
    that no other notify on this broker takes the messages; and a delivery worker to run by hand."""
    rt = Runtime.create(settings)
    channels = build_channels(settings)
    service = NotifyService(MongoNotifyRepository(rt.db), rt.cipher, settings, enabled_channels=set(channels))
    worker = DeliveryWorker(service, rt.client, rt.outbox, channels)
    rt.consumers.subscribe(topic, model, name=name,
                           group_id=f"test-{settings.mongo_db_prefix}{name}")(getattr(service, handler))
    rt.on_start.append(lambda _: service.setup())
    return rt, service, worker


@pytest.fixture
def gw():
    g = DevGateway().start()
    yield g
    g.stop()


async def test_the_expert_gets_one_sms_and_one_inbox_message_when_the_event_comes_twice(
        yima_infra, mongo_db_prefix, gw) -> None:
    settings = NotifySettings(kafka_bootstrap=yima_infra.kafka_bootstrap, mongo_url=yima_infra.mongo_url,
                              mongo_db_prefix=mongo_db_prefix, sms_url=f"{gw.url}/sms", quiet_hours="",
                              digest_window_seconds=0, retry_base_seconds=1, http_timeout_seconds=2,
                              mediation_public_url="https://tiaojie.example.cn")
    rt, service, worker = consuming(settings, topics.MEDIATION_EXPERT_INVITED, ExpertInvited, "expert_invitations",
                                    "on_expert_invited")
    case_id = f"case-{uuid.uuid4().hex[:12]}"
    person = str(uuid.uuid4())
    event = invited(case_id, person, EXPERT_PHONE)
    # staff resent the SMS (the expert lost it): the same invitation, a new event with a new code — texted once
    resent = event.model_copy(update={"event_id": uuid.uuid4(), "invitation_code": CODE2,
                                      "occurred_at": event.occurred_at + timedelta(minutes=5)})
    after = invited(case_id, f"{person}-b", None)  # same case key, same partition: read after both copies
    duplicates = metrics.EVENTS_DUPLICATE.labels("notify.expert_invitations")
    seen_before = duplicates._value.get()
    try:
        await rt.start(consume=True, relay=False)
        col = rt.db["notifications"]
        for e in (event, event):
            await produce(yima_infra.kafka_bootstrap, topics.MEDIATION_EXPERT_INVITED, case_id,
                          e.model_dump_json().encode())
        await wait_for(lambda: col.find_one({"source_event_id": str(event.event_id), "channel": "sms"}), timeout=90)
        await worker.drain()  # the first text went out; later the expert says they lost it (a text still waiting
        # when the resend comes is withdrawn instead: test_delivery.py)
        for e in (resent, resent, after):
            await produce(yima_infra.kafka_bootstrap, topics.MEDIATION_EXPERT_INVITED, case_id,
                          e.model_dump_json().encode())
        await wait_for(lambda: col.find_one({"recipient": f"person:{person}-b"}), timeout=90)
        assert duplicates._value.get() - seen_before == 2  # each second copy did reach the consumer, and was skipped

        for _ in range(2):  # the worker runs again: nothing more goes out
            await worker.drain()
        sms = gw.at("/sms")
        assert len(sms) == 2 and gw.requests == 2  # the invitation and its resend, once each
        assert all(x.body["phone"] == EXPERT_PHONE and "JSQ-2026-000042" in x.body["text"] for x in sms)
        # the text links to the expert's own page (mediation's public address from the setting), with the code
        for code in (CODE, CODE2):
            assert sum(f"请打开https://tiaojie.example.cn/invite/{code} 答复" in x.body["text"] for x in sms) == 1
        mine = [d async for d in col.find({"recipient": f"person:{person}"})]
        assert sorted((d["channel"], d["state"], d["recipient_kind"]) for d in mine) == [
            ("inbox", "delivered", "expert"), ("inbox", "delivered", "expert"),
            ("sms", "delivered", "expert"), ("sms", "delivered", "expert")]
        assert all(d["scope_units"] == ["JSQ-LDTJ"] and d["template_id"] == "expert.invited.v2" for d in mine)
        assert EXPERT_PHONE not in str(mine)  # the address is encrypted at rest
        inbox = await service.person_inbox(person)
        assert sorted(CODE2 in m["text"] for m in inbox) == [False, True]
        # without a phone: the inbox only
        other = [d async for d in col.find({"recipient": f"person:{person}-b"})]
        assert [(d["channel"], d["template_id"]) for d in other] == [("inbox", "expert.invited.v1")]
    finally:
        await rt.stop()


def answered(case_id: str, unit: str, answer: str, reason: str | None) -> ExpertAnswered:
    return ExpertAnswered(
        case_id=case_id, correlation_id=case_id, invitation_id=str(uuid.uuid4()), assignment_id=f"a-{case_id}",
        unit_code=unit, person_id=str(uuid.uuid4()), expert_kind="lawyer", expert_name="李明", answer=answer,
        reason_zh=reason, answered_by="expert", case_number="JSQ-2026-000042")


async def test_the_hosting_unit_hears_an_experts_answer_once_when_the_event_comes_twice(
        yima_infra, mongo_db_prefix, gw) -> None:
    unit = f"U{uuid.uuid4().hex[:8]}"
    settings = NotifySettings(kafka_bootstrap=yima_infra.kafka_bootstrap, mongo_url=yima_infra.mongo_url,
                              mongo_db_prefix=mongo_db_prefix, quiet_hours="", digest_window_seconds=0,
                              retry_base_seconds=1, http_timeout_seconds=2, webhook_secret="s3cret",
                              unit_contacts_json=json.dumps({unit: {"webhook_url": f"{gw.url}/hooks/{unit}"}}))
    rt, service, worker = consuming(settings, topics.MEDIATION_EXPERT_ANSWERED, ExpertAnswered, "expert_answers",
                                    "on_expert_answered")
    case_id = f"case-{uuid.uuid4().hex[:12]}"  # a case notify never heard of: the unit is told all the same
    declined = answered(case_id, unit, "declined", "当天有庭审")
    accepted = answered(case_id, unit, "accepted", None)  # same case key, same partition: read after both copies
    duplicates = metrics.EVENTS_DUPLICATE.labels("notify.expert_answers")
    seen_before = duplicates._value.get()
    try:
        await rt.start(consume=True, relay=False)
        for e in (declined, declined, accepted):
            await produce(yima_infra.kafka_bootstrap, topics.MEDIATION_EXPERT_ANSWERED, case_id,
                          e.model_dump_json().encode())
        col = rt.db["notifications"]
        await wait_for(lambda: col.find_one({"source_event_id": str(accepted.event_id)}), timeout=90)
        assert duplicates._value.get() - seen_before == 1  # the second copy reached the consumer and was skipped

        mine = [d async for d in col.find({"source_event_id": str(declined.event_id)})]
        assert sorted((d["channel"], d["recipient"], d["recipient_kind"]) for d in mine) == [
            ("inbox", f"unit:{unit}", "staff"), ("webhook", f"unit:{unit}", "staff")]
        assert all(d["template_id"] == "unit.expert_answered.v1" and not d["urgent"] for d in mine)
        inbox = await service.unit_inbox(unit)
        assert len(inbox) == 2  # one for each answer, none twice
        no = next(m for m in inbox if m["title"].startswith("专家已谢绝"))
        assert "律师李明已谢绝参加案件JSQ-2026-000042的调解（理由：当天有庭审）" in no["text"]
        assert "请另行邀请" in no["text"]
        assert any("已同意参加" in m["text"] for m in inbox)
        for _ in range(2):  # the worker runs again: nothing more goes out
            await worker.drain()
        hooks = gw.at(f"/hooks/{unit}")
        assert len(hooks) == 2 and gw.requests == 2  # one per answer, each POSTed once
        assert any("已谢绝" in json.dumps(h.body, ensure_ascii=False) for h in hooks)
    finally:
        await rt.stop()
