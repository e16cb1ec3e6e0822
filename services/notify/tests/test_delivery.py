"""Delivery against REAL local servers: an HTTP gateway (SMS, WeChat, webhooks) on 127.0.0.1 and an aiosmtpd
SMTP server; real MongoDB transactions through the kit's idempotent consumer path."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
import pytest
from aiosmtpd.controller import Controller
from pymongo import AsyncMongoClient
from yima_contracts import (
    CaseAssigned,
    CaseStatusChanged,
    CaseSubmitted,
    Event,
    ExpertInvited,
    MediationScheduled,
    Party,
    ProxyInfo,
)
from yima_contracts.codes import CaseState, Category, Channel, RiskLevel, StaffRole
from yima_devstack.infra import free_port
from yima_kit.auth import TokenIssuer
from yima_notify.app import create_app
from yima_notify.config import NotifySettings
from yima_notify.devgateway import DevGateway
from yima_notify.service import NotifyService
from yima_notify.worker import DeliveryWorker

pytestmark = pytest.mark.integration

UNIT = "410105001001"
PHONE, PROXY_PHONE = "13812345678", "13900001111"


class SmtpSink:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def gw():
    g = DevGateway().start()
    yield g
    g.stop()


@pytest.fixture
def smtp():
    sink = SmtpSink()
    ctl = Controller(sink, hostname="127.0.0.1", port=free_port())
    ctl.start()
    yield sink, ctl.port
    ctl.stop()


@pytest.fixture
async def notify(yima_infra, mongo_db_prefix, gw, smtp):
    _, smtp_port = smtp
    clock = Clock(datetime.now(UTC))
    settings = NotifySettings(
        kafka_bootstrap=yima_infra.kafka_bootstrap, mongo_url=yima_infra.mongo_url, mongo_db_prefix=mongo_db_prefix,
        sms_url=f"{gw.url}/sms", wechat_url=f"{gw.url}/wechat", wechat_access_token="tok", wechat_template_id="tpl",
        smtp_host="127.0.0.1", smtp_port=smtp_port, webhook_secret="s3cret",
        unit_contacts_json=json.dumps({UNIT: {"webhook_url": f"{gw.url}/hooks/{UNIT}", "email": "duty@hh.example",
                                              "wechat_openid": "oDUTY"}}),
        quiet_hours="", digest_window_seconds=0, retry_base_seconds=1, max_attempts=4, claim_ttl_seconds=30,
        breaker_threshold=2, breaker_cooldown_seconds=5, http_timeout_seconds=2, adapter_tries=1,
    )
    app = create_app(settings, consume=False, relay=False, worker=False)
    async with app.router.lifespan_context(app):
        svc = app.state.service
        svc.clock = clock
        worker: DeliveryWorker = app.state.worker
        worker.clock = clock
        for b in worker.breakers.values():
            b.clock = lambda: clock().timestamp()
        app.state.clock = clock
        yield app


async def consume(app, event: Event) -> bool:
    """What the Kafka consumer does with one message: the kit's idempotent transaction, our handler."""
    svc, rt = app.state.service, app.state.runtime

    async def handler(e: Event, tx) -> None:  # the consumers' batch path (a batch of one), as in adapters/kafka.py
        if isinstance(e, CaseSubmitted):
            await svc.in_batch([e], tx, NotifyService.on_submitted, waiting=True)
        elif isinstance(e, ExpertInvited):
            await svc.on_expert_invited(e, tx)
        else:
            await svc.in_batch([e], tx, NotifyService.handle)
    return await rt.consumers.process_once(event, handler, f"notify.{type(event).__name__}")


def submitted(case_id: str, *, proxy: bool = False, openid: str | None = None, phone: str = PHONE) -> CaseSubmitted:
    return CaseSubmitted(
        case_id=case_id, correlation_id=case_id, case_number=f"JSQ-2026-{case_id[-6:]}", tracking_code="ABCDEFGHJKMN",
        channel=Channel.PROXY if proxy else Channel.SELF_SERVICE, category=Category.NEIGHBOUR,
        category_source="applicant", description="楼上漏水", applicant=Party(name="买买提·艾力", phone=phone),
        submitted_at=datetime.now(UTC),
        proxy=ProxyInfo(submitter=Party(name="艾力", phone=PROXY_PHONE), relation="子女", consent="written")
        if proxy else None, applicant_wechat_openid=openid,
    )


def status(case_id: str, state: CaseState, title: str) -> CaseStatusChanged:
    return CaseStatusChanged(case_id=case_id, correlation_id=case_id, state=state, title_zh=title,
                             acting_unit_code=UNIT, acting_unit_name="黄河社区", next_step_zh="社区将联系您")


def assigned(case_id: str) -> CaseAssigned:
    return CaseAssigned(case_id=case_id, correlation_id=case_id, assignment_id=f"a-{case_id}", unit_code=UNIT,
                        unit_name="黄河社区", supervisor_unit_code="410105001", supervisor_unit_name="丰产路街道",
                        category=Category.NEIGHBOUR, risk_level=RiskLevel.YELLOW, rule_id="r1", reason_zh="社区调解",
                        due_at=datetime.now(UTC) + timedelta(days=3))


def new_case() -> str:
    return f"case-{uuid.uuid4().hex[:12]}"


async def outbox_events(app, topic: str, case_id: str) -> list[dict[str, Any]]:
    rows = app.state.runtime.db["outbox"].find({"topic": topic, "key": case_id})
    return [json.loads(d["payload"]) async for d in rows]


async def test_every_step_reaches_every_recipient_once_per_channel(notify, gw, smtp) -> None:
    sink, _ = smtp
    case = new_case()
    events = [submitted(case, proxy=True), status(case, CaseState.SUBMITTED, "纠纷已登记"),
              status(case, CaseState.ASSIGNED, "已分派黄河社区办理"), assigned(case)]
    for e in events:
        assert await consume(notify, e)
    for e in events:  # Kafka redelivers (a rebalance, a consumer restart): nothing changes
        assert not await consume(notify, e)
    await notify.state.worker.drain()
    await notify.state.worker.drain()

    sms = gw.at("/sms")
    to_applicant = [m for m in sms if m.body["phone"] == PHONE]
    to_proxy = [m for m in sms if m.body["phone"] == PROXY_PHONE]
    assert len(to_applicant) == 2 and len(to_proxy) == 2
    assert "ABCD-EFGH-JKMN" in to_applicant[0].body["text"] and "ABCD" not in to_proxy[0].body["text"]
    assert "您代买买提·*提交" in to_proxy[0].body["text"]  # the proxy sees the applicant's name masked
    steps = {str(events[1].event_id), str(events[2].event_id)}
    assert all(m.key == m.body["out_id"] and m.key.split("|")[0] in steps for m in sms)  # key = notification id
    hooks = gw.at(f"/hooks/{UNIT}")
    assert len(hooks) == 1 and hooks[0].body["template_id"] == "unit.assigned.v1"
    assert hooks[0].headers["X-Yima-Signature"].startswith("sha256=")
    assert "13812345678" not in json.dumps(hooks[0].body)  # staff texts carry no personal data
    assert len(gw.at("/wechat")) == 1 and gw.at("/wechat")[0].body["touser"] == "oDUTY"
    assert len(sink.messages) == 1 and sink.messages[0].rcpt_tos == ["duty@hh.example"]
    assert gw.requests == len(gw.delivered)  # not even a repeated request

    db = notify.state.runtime.db
    assert await db["notifications"].count_documents({"case_id": case, "state": {"$ne": "delivered"}}) == 0
    assert await db["notifications"].count_documents({"case_id": case}) == 2 * 2 + 2 + 4  # applicant, proxy, unit
    sent = await outbox_events(notify, "notification.sent", case)
    assert len(sent) == 10 and len({s["notification_id"] for s in sent}) == 10
    doc = await db["notifications"].find_one({"case_id": case, "recipient": "applicant", "channel": "sms"})
    assert PHONE not in json.dumps(doc, default=str) and "ABCD" not in json.dumps(doc, default=str)


async def test_an_applicant_who_came_by_the_mini_program_hears_by_wechat_instead_of_text(notify, gw) -> None:
    case, openid = new_case(), "oAPPLICANT0123456789abcdefgh"
    events = [submitted(case, openid=openid), status(case, CaseState.SUBMITTED, "纠纷已登记"),
              status(case, CaseState.ACCEPTED, "黄河社区已受理")]
    for e in [*events, *events]:  # and every one redelivered
        await consume(notify, e)
    await notify.state.worker.drain()
    wechat = [m for m in gw.at("/wechat") if m.body["touser"] == openid]
    assert len(wechat) == 2 and {m.key.split("|")[0] for m in wechat} == {str(e.event_id) for e in events[1:]}
    assert [m for m in gw.at("/sms") if m.body["phone"] == PHONE] == []  # one message per step, not two
    db = notify.state.runtime.db
    assert await db["notifications"].count_documents({"case_id": case, "channel": "inbox"}) == 2
    doc = await db["notifications"].find_one({"case_id": case, "channel": "wechat"})
    assert openid not in json.dumps(doc, default=str)  # the openid is kept encrypted


async def test_a_step_announced_by_its_own_event_reaches_the_applicant_once(notify, gw) -> None:
    from yima_contracts import CaseClosed, MediationScheduled
    from yima_contracts.codes import Outcome

    case = new_case()
    start = datetime.now(UTC) + timedelta(days=2)
    scheduled = MediationScheduled(
        case_id=case, correlation_id=case, session_id="s1", unit_code=UNIT, mode="online", starts_at=start,
        ends_at=start + timedelta(hours=1), join_url="https://meet.yima.local/s1",
        applicant_message_zh="已为您安排线上视频调解")
    closed = CaseClosed(case_id=case, correlation_id=case, outcome=Outcome.AGREEMENT, unit_code=UNIT, resolved=True,
                        applicant_message_zh="您的纠纷已调解成功并办结")
    steps = [status(case, CaseState.IN_MEDIATION, "已安排调解").model_copy(
                 update={"announced_by": scheduled.event_type}),
             status(case, CaseState.CLOSED, "案件已办结").model_copy(update={"announced_by": closed.event_type})]
    for e in (submitted(case, proxy=True), steps[0], scheduled, steps[1], closed):
        assert await consume(notify, e)
    await notify.state.worker.drain()
    to_applicant = [m.key.split("|")[0] for m in gw.at("/sms") if m.body["phone"] == PHONE]
    # One text for each step, from the richer event (the session's link; the rating request): none from the status.
    assert sorted(to_applicant) == sorted([str(scheduled.event_id), str(closed.event_id)])
    assert any("视频调解" in m.body["text"] for m in gw.at("/sms") if m.body["phone"] == PHONE)
    to_proxy = [m.key.split("|")[0] for m in gw.at("/sms") if m.body["phone"] == PROXY_PHONE]
    assert sorted(to_proxy) == sorted(str(e.event_id) for e in steps)  # the proxy hears of each step once
    db = notify.state.runtime.db
    inbox = [d["source_event_type"] async for d in db["notifications"].find(
        {"case_id": case, "recipient": "applicant", "channel": "inbox"})]
    assert sorted(inbox) == ["case.closed.v1", "mediation.scheduled.v1"]


async def test_a_step_that_arrives_before_the_contact_waits_for_it(notify, gw) -> None:
    case = new_case()
    assert await consume(notify, status(case, CaseState.SUBMITTED, "纠纷已登记"))
    await notify.state.worker.drain()
    assert gw.at("/sms") == []
    assert await consume(notify, submitted(case))
    await notify.state.worker.drain()
    assert [m.body["phone"] for m in gw.at("/sms")] == [PHONE]


async def test_a_crash_between_send_and_mark_does_not_send_twice(notify, gw) -> None:
    case = new_case()
    await consume(notify, submitted(case))
    await consume(notify, status(case, CaseState.SUBMITTED, "纠纷已登记"))
    dying: DeliveryWorker = notify.state.worker
    batch = await dying.claim("sms")
    assert batch and len(batch) == 1
    await dying.channels["sms"].send(dying._messages("sms", batch)[0])  # sent… and the process dies before the mark
    clock = notify.state.clock
    other = DeliveryWorker(notify.state.service, dying.client, dying.outbox, dying.channels, clock=clock)
    await other.drain("sms")
    assert gw.requests == 1 or (await notify.state.runtime.db["notifications"].find_one(
        {"_id": batch[0]["_id"]}))["state"] == "sending"  # not taken over before the claim expires
    clock.advance(31)
    await other.drain("sms")
    assert gw.requests == 2 and len(gw.delivered) == 1  # re-sent under the same key: the gateway dropped it
    assert gw.delivered[0].key == batch[0]["_id"]  # the notification id is the idempotency key
    assert len(await outbox_events(notify, "notification.sent", case)) == 2  # inbox + sms, once each


async def test_two_replicas_never_send_the_same_message(notify, gw) -> None:
    cases = [new_case() for _ in range(6)]
    for i, c in enumerate(cases):  # six applicants (one person's texts go one after another: see below)
        await consume(notify, submitted(c, phone=f"1390000{i:04d}"))
        await consume(notify, status(c, CaseState.SUBMITTED, "纠纷已登记"))
        await consume(notify, status(c, CaseState.ASSIGNED, "已分派"))
    w1: DeliveryWorker = notify.state.worker
    w2 = DeliveryWorker(notify.state.service, w1.client, w1.outbox, w1.channels, clock=w1.clock)
    for _ in range(3):  # a text held behind the same person's earlier one (claimed by the other replica) waits
        await asyncio.gather(w1.drain("sms"), w2.drain("sms"))
        notify.state.clock.advance(5)
    assert len(gw.delivered) == 12 and gw.requests == 12


async def test_a_person_gets_their_texts_in_order_when_a_worker_dies_mid_send(notify, gw) -> None:
    """Seen by hand: notify SIGKILLed while texting "registered, your code is …"; after the restart "assigned"
    went first and the code came a minute later. A later text waits for the earlier one to the same phone."""
    case, clock = new_case(), notify.state.clock
    await consume(notify, submitted(case))
    await consume(notify, status(case, CaseState.SUBMITTED, "纠纷已登记"))
    dying: DeliveryWorker = notify.state.worker
    assert [d["template_id"] for d in await dying.claim("sms")] == ["applicant.submitted.v1"]  # …and dies
    await consume(notify, status(case, CaseState.ASSIGNED, "已分派"))
    other = DeliveryWorker(notify.state.service, dying.client, dying.outbox, dying.channels, clock=clock)
    await other.drain("sms")
    assert gw.at("/sms") == []  # "assigned" waits: "registered" is still claimed by the dead worker
    for _ in range(7):  # the claim expires after 30 s; the held text looks again every few seconds
        clock.advance(5)
        await other.drain("sms")
    assert [m.body["template_id"] for m in gw.at("/sms")] == ["applicant.submitted.v1", "applicant.assigned.v1"]


async def test_a_channel_that_is_down_then_back_gets_every_message_once(notify, gw) -> None:
    clock, worker = notify.state.clock, notify.state.worker
    gw.down = True
    cases = [new_case() for _ in range(5)]
    for c in cases:
        await consume(notify, submitted(c))
        await consume(notify, status(c, CaseState.ACCEPTED, "已受理"))
    for _ in range(6):  # an outage: the breaker opens after 2 failures and stops claiming
        await worker.drain("sms")
        clock.advance(2)
    assert worker.breakers["sms"].state in ("open", "half_open")
    assert gw.requests < 5  # the breaker kept the broken channel alone
    db = notify.state.runtime.db
    assert await db["notifications"].count_documents({"channel": "sms", "state": "failed"}) == 0
    gw.down = False
    for _ in range(20):
        clock.advance(10)
        await worker.drain("sms")
    assert sorted(m.body["phone"] for m in gw.delivered) == [PHONE] * 5
    assert len({m.key for m in gw.delivered}) == 5
    assert await db["notifications"].count_documents(
        {"case_id": {"$in": cases}, "channel": "sms", "state": "delivered"}) == 5


async def test_a_message_that_finally_fails_is_visible_to_staff(notify, gw) -> None:
    gw.down = True
    worker, clock = notify.state.worker, notify.state.clock
    worker.breakers["webhook"].threshold = 100  # keep trying: exhaust the attempts
    case = new_case()
    await consume(notify, submitted(case))
    await consume(notify, assigned(case))
    for _ in range(8):
        await worker.drain("webhook")
        clock.advance(60)
    db = notify.state.runtime.db
    failed = await db["notifications"].find_one({"case_id": case, "channel": "webhook"})
    assert failed["state"] == "failed" and failed["attempts"] == 4 and "503" in failed["last_error"]
    nf = await outbox_events(notify, "notification.failed", case)
    assert len(nf) == 1 and nf[0]["notification_id"] == failed["_id"] and nf[0]["channel"] == "webhook"

    token = TokenIssuer.dev().issue(staff_id="s1", unit=UNIT, role=StaffRole.DISPATCHER)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=notify), base_url="http://notify") as http:
        r = await http.get("/api/v1/failures", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        assert [f["notification_id"] for f in r.json()["failures"]] == [failed["_id"]]
        r = await http.get("/api/v1/inbox/unit", headers={"Authorization": f"Bearer {token}"})
        titles = [m["template_id"] for m in r.json()["messages"]]
        assert sorted(titles) == ["unit.assigned.v1", "unit.delivery_failed.v1"]


async def test_quiet_hours_hold_texts_and_a_burst_becomes_one_digest(notify, gw) -> None:
    svc, worker, clock = notify.state.service, notify.state.worker, notify.state.clock
    from yima_notify.core.policy import parse_quiet_hours

    svc.quiet = parse_quiet_hours("22:00-08:00")
    svc.settings.digest_window_seconds = 120
    clock.now = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 23:00 in Beijing
    case = new_case()
    await consume(notify, submitted(case))
    for state, title in ((CaseState.SUBMITTED, "纠纷已登记"), (CaseState.ASSIGNED, "已分派"),
                         (CaseState.ACCEPTED, "已受理")):
        await consume(notify, status(case, state, title))
    await worker.drain("sms")
    assert gw.delivered == []  # nobody's phone buzzes at night; the inbox has it already
    inbox = await svc.applicant_inbox(case)
    assert len(inbox) == 3
    clock.now = datetime(2026, 11, 24, 0, 1, tzinfo=UTC)  # 08:01 in Beijing
    await worker.drain("sms")
    assert len(gw.delivered) == 1
    text = gw.delivered[0].body["text"]
    assert text.startswith("【一码解纠纷】您的纠纷（编号") and "有3条新进展：①已登记" in text and "②" in text
    assert "③" in text and "已受理" in text
    # More steps right after: throttled, then one more text for all of them.
    await consume(notify, status(case, CaseState.IN_MEDIATION, "进入调解"))
    await consume(notify, status(case, CaseState.RESOLVED, "调解成功"))
    await worker.drain("sms")
    assert len(gw.delivered) == 1
    clock.advance(121)
    await worker.drain("sms")
    assert len(gw.delivered) == 2 and "有2条新进展" in gw.delivered[1].body["text"]
    db = notify.state.runtime.db
    assert await db["notifications"].count_documents({"case_id": case, "channel": "sms", "state": "delivered"}) == 5


async def test_a_round_with_nothing_due_looks_ahead_only_as_far_as_its_next_wait(notify, gw) -> None:
    """Held texts (a digest window) can be thousands under a burst: a round that found nothing due asks only whether
    one comes due before the loop looks again (twice its wait), and a held text is still sent when it is due."""
    svc, worker, clock = notify.state.service, notify.state.worker, notify.state.clock
    svc.settings.digest_window_seconds = 120
    case = new_case()
    await consume(notify, submitted(case))
    await consume(notify, status(case, CaseState.SUBMITTED, "纠纷已登记"))
    await worker.drain("sms")
    assert len(gw.delivered) == 1
    await consume(notify, status(case, CaseState.ASSIGNED, "已分派"))
    await worker.drain("sms")
    assert len(gw.delivered) == 1  # the next step waits for the digest window
    held = await notify.state.runtime.db["notifications"].find_one({"case_id": case, "channel": "sms",
                                                                    "state": "queued"})
    due = held["not_before"].replace(tzinfo=UTC)
    assert due > clock() + timedelta(seconds=60)
    worker._wait["sms"] = 10.0
    assert not await worker.step("sms")
    assert worker._next_due["sms"] is None  # ~120 s away: beyond the 20 s it looks ahead
    clock.now = due - timedelta(seconds=15)
    assert not await worker.step("sms")
    assert worker._next_due["sms"] == due  # within reach: the loop will not sleep past it
    worker._wait["sms"] = 1.0
    assert not await worker.step("sms")
    assert worker._next_due["sms"] is None
    clock.now = due
    await worker.drain("sms")
    assert len(gw.delivered) == 2 and "已分派" in gw.delivered[1].body["text"]
    # notification.sent says the policy held the second text (the bench measures notify's lag past that time)
    sent = [e for e in await outbox_events(notify, "notification.sent", case) if e["channel"] == "sms"]
    assert sorted(e.get("held_until") is not None for e in sent) == [False, True]
    held = next(e for e in sent if e.get("held_until"))
    assert datetime.fromisoformat(held["held_until"]) == due


async def test_a_burst_longer_than_one_long_text_goes_as_several_and_none_is_dropped(notify, gw) -> None:
    """A digest that does not fit one long SMS (the gateway's concatenation limit) is split, in order: every step
    reaches the phone (the Zhongyuan applicant lost the one naming the handling unit)."""
    svc, worker, clock = notify.state.service, notify.state.worker, notify.state.clock
    from yima_notify.core.policy import LONG_SMS_MAX_CHARS, parse_quiet_hours

    svc.quiet = parse_quiet_hours("22:00-08:00")
    svc.settings.digest_window_seconds = 120
    clock.now = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 23:00 in Beijing: everything waits for the morning
    case = new_case()
    await consume(notify, submitted(case))
    titles = ["纠纷已登记", "案件已分派", "承办单位已受理", "调解员已接案", "办理进展", "纠纷已化解"]
    for i, title in enumerate(titles):
        e = status(case, CaseState.ACCEPTED, title)
        await consume(notify, e.model_copy(update={"next_step_zh": f"第{i + 1}步：" + "请留意后续通知" * 4}))
    clock.now = datetime(2026, 11, 24, 0, 1, tzinfo=UTC)
    await worker.drain("sms")
    texts = [d.body["text"] for d in gw.delivered]
    assert len(texts) >= 2 and all(len(x) <= LONG_SMS_MAX_CHARS for x in texts)
    joined = "".join(texts)
    positions = [joined.index(f"第{i + 1}步") for i in range(len(titles))]
    assert positions == sorted(positions)  # every step, in order
    assert len({d.body["out_id"] for d in gw.delivered}) == len(texts)  # each text under its own key
    db = notify.state.runtime.db
    assert await db["notifications"].count_documents({"case_id": case, "channel": "sms", "state": "delivered"}) == 6


async def test_inboxes_are_protected(notify) -> None:
    case = new_case()
    await consume(notify, submitted(case))
    await consume(notify, status(case, CaseState.SUBMITTED, "纠纷已登记"))
    await consume(notify, assigned(case))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=notify), base_url="http://notify") as http:
        r = await http.get("/api/v1/inbox/applicant/ABCD-EFGH-JKMN", params={"check": "5678"})
        assert r.status_code == 200, r.text
        assert [m["template_id"] for m in r.json()["messages"]] == ["applicant.submitted.v1"]
        for _ in range(7):  # a code notify has not heard of yet (intake's page asks early): 404, never a lock
            early = await http.get("/api/v1/inbox/applicant/WXYZ-WXYZ-WXYZ", params={"check": "5678"})
            assert early.status_code == 404 and early.json()["errors"][0]["code"] == "not_found"
        for _ in range(5):
            wrong = await http.get("/api/v1/inbox/applicant/ABCD-EFGH-JKMN", params={"check": "0000"})
            assert wrong.status_code == 404 and wrong.json()["errors"][0]["code"] == "not_found"
        locked = await http.get("/api/v1/inbox/applicant/ABCD-EFGH-JKMN", params={"check": "5678"})
        assert locked.status_code == 429
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=notify, client=("10.9.8.7", 4000)),
                                     base_url="http://notify") as applicant:  # the stranger's lock is not theirs
            own = await applicant.get("/api/v1/inbox/applicant/ABCD-EFGH-JKMN", params={"check": "5678"})
            assert own.status_code == 200, own.text

        assert (await http.get("/api/v1/inbox/unit")).status_code == 401
        mine = TokenIssuer.dev().issue(staff_id="s1", unit=UNIT, role=StaffRole.MEDIATOR)
        other = TokenIssuer.dev().issue(staff_id="s2", unit="410105001002", role=StaffRole.ADMIN)
        r = await http.get("/api/v1/inbox/unit", headers={"Authorization": f"Bearer {mine}"})
        msgs = [m for m in r.json()["messages"] if m["case_number"] == submitted(case).case_number]
        assert len(msgs) == 1 and "新交办" in msgs[0]["text"]
        r = await http.get("/api/v1/inbox/unit", headers={"Authorization": f"Bearer {other}"})
        assert all(m["case_number"] != submitted(case).case_number for m in r.json()["messages"])
        nid = msgs[0]["notification_id"]
        assert (await http.post(f"/api/v1/inbox/unit/{nid}/read",
                                headers={"Authorization": f"Bearer {other}"})).status_code == 404
        assert (await http.post(f"/api/v1/inbox/unit/{nid}/read",
                                headers={"Authorization": f"Bearer {mine}"})).status_code == 200
        r = await http.put(f"/api/v1/units/{UNIT}/contacts", json={"webhook_url": "http://x.example/h"},
                           headers={"Authorization": f"Bearer {other}"})
        assert r.status_code == 403
        admin = {"Authorization": f"Bearer {TokenIssuer.dev().issue(staff_id='a0', unit=UNIT, role=StaffRole.ADMIN)}"}
        for url in ("http://hooks.example.gov.cn/h", "https://169.254.169.254/latest", "https://127.0.0.1:8025/h",
                    "https://user:pw@hooks.example.gov.cn/h"):  # not https, or a host nobody allowed
            r = await http.put(f"/api/v1/units/{UNIT}/contacts", json={"webhook_url": url}, headers=admin)
            assert r.status_code == 422 and r.json()["errors"][0]["code"] == "webhook_not_allowed", url

        # staff calls are in notify's own audit chain, refusals too; the applicant's inbox (its path holds the
        # tracking code) never is, even when a token comes along
        await http.get("/api/v1/inbox/applicant/ABCD-EFGH-JKMN", params={"check": "5678"},
                       headers={"Authorization": f"Bearer {mine}"})
        audit = notify.state.runtime.db["audit"]
        rows = [(d["actor"], d["action"], d["object_id"], d["success"]) async for d in audit.find().sort("_id", 1)]
        assert rows == [
            ("s1", "GET /api/v1/inbox/unit", "", True), ("s2", "GET /api/v1/inbox/unit", "", True),
            ("s2", "POST /api/v1/inbox/unit/{notification_id:path}/read", nid, False),
            ("s1", "POST /api/v1/inbox/unit/{notification_id:path}/read", nid, True),
            ("s2", "PUT /api/v1/units/{unit_code}/contacts", UNIT, False),
            *[("a0", "PUT /api/v1/units/{unit_code}/contacts", UNIT, False)] * 4,
        ]
        assert "ABCD" not in str([d async for d in audit.find()])
        boss = TokenIssuer.dev().issue(staff_id="a1", unit=UNIT, role=StaffRole.ADMIN)
        v = await http.get("/api/v1/audit/verify", headers={"Authorization": f"Bearer {boss}"})
        assert v.json() == {"intact": True, "records": 9, "first_bad": None}


async def _wechat_fails_for_good(notify, rounds: int = 10) -> None:
    worker, clock = notify.state.worker, notify.state.clock
    for _ in range(rounds):
        await worker.drain("wechat")
        clock.advance(60)


async def test_an_applicants_wechat_that_stays_down_goes_once_by_text_instead(notify, gw) -> None:
    gw.down_paths = {"/wechat"}  # WeChat is down past every retry; the SMS gateway works
    svc, worker = notify.state.service, notify.state.worker
    case, openid = new_case(), "oELDERLY0123456789abcdefghij"
    events = [submitted(case, openid=openid), status(case, CaseState.ACCEPTED, "黄河社区已受理")]
    for e in events:
        assert await consume(notify, e)
    await worker.drain("sms")
    assert gw.at("/sms") == []  # WeChat first: no text while WeChat may still work
    await _wechat_fails_for_good(notify)
    db = notify.state.runtime.db
    failed = await db["notifications"].find_one({"case_id": case, "channel": "wechat"})
    assert failed["state"] == "failed" and failed["attempts"] == 4 and "503" in failed["last_error"]
    assert gw.at("/wechat") == []
    # Every way of running things again: the worker twice, a second replica, Kafka redelivering the steps.
    await worker.drain("sms")
    await worker.drain("sms")
    other = DeliveryWorker(svc, worker.client, worker.outbox, worker.channels, clock=worker.clock)
    await other.drain("sms")
    for e in events:
        assert not await consume(notify, e)
    await _wechat_fails_for_good(notify, rounds=2)
    await worker.drain("sms")
    sms = [m for m in gw.at("/sms") if m.body["phone"] == PHONE]
    assert len(sms) == 1
    text = svc.cipher.decrypt(failed["text"], context="notifications.text")
    assert sms[0].body["text"] == text and "黄河社区已受理" in text  # the same text the WeChat message had
    assert sms[0].key == f"{events[1].event_id}|applicant|sms" == failed["fallback"]["notification_id"]
    inbox = await svc.applicant_inbox(case)
    assert [m["text"] for m in inbox] == [text]  # the inbox had it all along, once
    fb = await db["notifications"].find_one({"_id": sms[0].key})
    assert fb["state"] == "delivered" and fb["fallback_of"] == failed["_id"] and PHONE not in str(fb)
    record = await db["recipients"].find_one({"_id": case})
    assert not record.get("wechat_off")  # the channel was down, not the person: the next step tries WeChat again
    sent = [e for e in await outbox_events(notify, "notification.sent", case) if e["channel"] == "sms"]
    assert len(sent) == 1

    token = TokenIssuer.dev().issue(staff_id="s1", unit=UNIT, role=StaffRole.DISPATCHER)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=notify), base_url="http://notify") as http:
        r = await http.get("/api/v1/failures", headers={"Authorization": f"Bearer {token}"})
        mine = [f for f in r.json()["failures"] if f["case_number"] == events[0].case_number]
        assert mine == [{**mine[0], "channel": "wechat", "recipient_kind": "applicant",
                         "fallback": {"channel": "sms", "notification_id": sms[0].key, "state": "delivered"}}]
        r = await http.get("/api/v1/inbox/unit", headers={"Authorization": f"Bearer {token}"})
        notices = [m for m in r.json()["messages"] if m["case_number"] == events[0].case_number]
        assert [m["template_id"] for m in notices] == ["unit.delivery_fallback.v1"]
        assert "已改为短信发送给当事人" in notices[0]["text"]


async def test_an_applicant_who_unsubscribed_gets_a_text_at_once_and_texts_from_then_on(notify, gw) -> None:
    gw.wechat_errcode = 43004  # 需要接收者关注: the applicant unfollowed the official account
    worker = notify.state.worker
    case = new_case()
    first = status(case, CaseState.ACCEPTED, "黄河社区已受理")
    for e in (submitted(case, openid="oGONE0123456789abcdefghijklm"), first):
        await consume(notify, e)
    await worker.drain("wechat")  # one try: retrying cannot bring the follower back
    await worker.drain("sms")
    db = notify.state.runtime.db
    failed = await db["notifications"].find_one({"case_id": case, "channel": "wechat"})
    assert failed["state"] == "failed" and failed["attempts"] == 1 and "43004" in failed["last_error"]
    assert gw.requests == 2 and [m.body["phone"] for m in gw.at("/sms")] == [PHONE]  # one WeChat try, one text
    assert "黄河社区已受理" in gw.at("/sms")[0].body["text"]
    # The case's next step does not knock at WeChat again: a text, directly.
    later = status(case, CaseState.IN_MEDIATION, "已安排调解员")
    await consume(notify, later)
    await worker.drain("wechat")
    await worker.drain("sms")
    assert gw.requests == 3 and [m.key for m in gw.at("/sms")] == [
        f"{first.event_id}|applicant|sms", f"{later.event_id}|applicant|sms"]
    assert await db["notifications"].count_documents({"case_id": case, "channel": "wechat"}) == 1


def _expert_invited(case_id: str, person_id: str, phone: str | None) -> ExpertInvited:
    return ExpertInvited(
        case_id=case_id, correlation_id=case_id, invitation_id=str(uuid.uuid4()), assignment_id=f"a-{case_id}",
        unit_code=UNIT, unit_name="黄河社区", person_id=person_id, expert_kind="lawyer", expert_name="李明",
        expert_phone=phone, case_number=f"JSQ-2026-{case_id[-6:]}", category="neighbour",
        reply_zh="请尽快联系黄河社区答复是否参加")


async def test_a_resent_invitation_withdraws_the_old_text_still_waiting(notify, gw) -> None:
    """Staff resent an expert's invitation (a new code) before the first text went out (quiet hours, the digest
    window): only the new link is texted; the dead one never reaches the expert."""
    case = new_case()
    first = _expert_invited(case, f"p-{uuid.uuid4().hex[:8]}", "13700005555").model_copy(
        update={"invitation_code": "ABCD2345EFGH"})
    again = first.model_copy(update={"event_id": uuid.uuid4(), "invitation_code": "HGFE5432DCBA"})
    assert await consume(notify, first)
    assert await consume(notify, again)
    assert not await consume(notify, first)  # a late redelivery of the old one changes nothing
    await notify.state.worker.drain()
    sms = [m for m in gw.at("/sms") if m.body["phone"] == "13700005555"]
    assert len(sms) == 1 and "HGFE5432DCBA" in sms[0].body["text"] and "ABCD2345EFGH" not in sms[0].body["text"]
    old = await notify.state.runtime.db["notifications"].find_one(
        {"source_event_id": str(first.event_id), "channel": "sms"})
    assert old["state"] == "superseded" and old["superseded_by"] == str(again.event_id)


async def test_each_invited_expert_hears_the_sessions_time_once(notify, gw) -> None:
    svc, worker = notify.state.service, notify.state.worker
    case = new_case()
    with_phone, no_phone, not_yet_read = (f"p-{uuid.uuid4().hex[:8]}" for _ in range(3))
    late_phone = "13700009999"
    start = notify.state.clock() + timedelta(days=2)
    scheduled = MediationScheduled(
        case_id=case, correlation_id=case, session_id="s1", unit_code=UNIT, mode="online", starts_at=start,
        ends_at=start + timedelta(hours=1), join_url="https://meet.yima.local/s1", expert_kinds=["lawyer"],
        expert_person_ids=[with_phone, no_phone, not_yet_read], applicant_message_zh="已为您安排线上视频调解")
    early = [submitted(case), _expert_invited(case, with_phone, "13700001234"), _expert_invited(case, no_phone, None),
             scheduled]
    for e in early:
        assert await consume(notify, e)
    # the third expert's invitation is read only now (another topic): their text waited for the phone
    late = _expert_invited(case, not_yet_read, late_phone)
    assert await consume(notify, late)
    for e in [*early, late]:  # redelivered: nothing new
        assert not await consume(notify, e)
    await worker.drain()
    await worker.drain()

    session_sms = [m for m in gw.at("/sms") if m.body["template_id"] == "expert.session_scheduled.v2"]
    assert sorted(m.body["phone"] for m in session_sms) == sorted(["13700001234", late_phone])
    assert all("时间" in m.body["text"] and "meet.example" not in m.body["text"] for m in session_sms)
    assert len({m.key for m in session_sms}) == 2 and gw.requests == len(gw.delivered)
    for pid in (with_phone, no_phone, not_yet_read):
        inbox = [m for m in await svc.person_inbox(pid) if m["template_id"] == "expert.session_scheduled.v2"]
        assert len(inbox) == 1 and "视频链接https://meet.yima.local/s1" in inbox[0]["text"]
    db = notify.state.runtime.db
    rows = [(d["recipient"], d["channel"], d["state"]) async for d in db["notifications"].find(
        {"source_event_id": str(scheduled.event_id), "recipient": {"$regex": "^person:"}})]
    assert sorted(rows) == sorted([
        (f"person:{with_phone}", "inbox", "delivered"), (f"person:{with_phone}", "sms", "delivered"),
        (f"person:{no_phone}", "inbox", "delivered"),
        (f"person:{not_yet_read}", "inbox", "delivered"), (f"person:{not_yet_read}", "sms", "delivered"),
        # the reminders wait for their time (the one waiting for the late phone too, not sent on its arrival)
        (f"person:{with_phone}#reminder", "sms", "queued"), (f"person:{not_yet_read}#reminder", "sms", "queued")])
    contact = await db["expert_contacts"].find_one({"_id": not_yet_read})
    assert late_phone not in str(contact)  # the expert's phone is encrypted at rest
    # the applicant still hears of the session (one text, no link) and the unit still gets its note
    assert len([m for m in gw.at("/sms") if m.body["phone"] == PHONE]) == 1

    # the day before, each expert with a phone is reminded once, like the applicant
    notify.state.clock.advance(timedelta(days=2).total_seconds() - 3600 * svc.settings.reminder_hours_before + 60)
    await worker.drain()
    await worker.drain()
    reminders = [m for m in gw.at("/sms") if m.body["template_id"] == "expert.session_reminder.v1"]
    assert sorted(m.body["phone"] for m in reminders) == sorted(["13700001234", late_phone])
    assert all(m.body["text"].startswith("【一码解纠纷】提醒：") and "meet.example" not in m.body["text"]
               for m in reminders)
    assert len([m for m in gw.at("/sms") if m.body["phone"] == PHONE]) == 2  # and the applicant's reminder


async def test_a_session_and_an_invitation_read_at_the_same_moment_never_strand_the_experts_text(notify) -> None:
    """The session and the invitation come on two topics, possibly at the same instant: each expert's text is
    queued with their phone either way — never left ``awaiting_contact`` beside a known contact."""
    db = notify.state.runtime.db
    start = notify.state.clock() + timedelta(days=2)
    people = []
    for _ in range(6):
        case, pid = new_case(), f"p-{uuid.uuid4().hex[:8]}"
        people.append(pid)
        await consume(notify, submitted(case))
        session = MediationScheduled(
            case_id=case, correlation_id=case, session_id="s1", unit_code=UNIT, mode="offline", starts_at=start,
            place_zh="第一调解室", expert_kinds=["lawyer"], expert_person_ids=[pid], applicant_message_zh="已安排调解")
        await asyncio.gather(consume(notify, session), consume(notify, _expert_invited(case, pid, "13700001234")))
    texts = [d async for d in db["notifications"].find(
        {"recipient": {"$in": [f"person:{p}" for p in people]}, "channel": "sms",
         "template_id": "expert.session_scheduled.v2"})]
    assert sorted(d["recipient"] for d in texts) == sorted(f"person:{p}" for p in people)
    assert {d["state"] for d in texts} == {"queued"} and all(d["address"] for d in texts)


async def test_a_poll_of_steps_is_planned_with_one_read_and_one_write_of_the_ledger(notify) -> None:
    """ADR 0155: two cases' contacts in one batch, then three steps of them (and the same poll again, a redelivery
    inside a new transaction): every message staged once, each inbox message told once on notification.sent, the
    contacts read in one query and the ledger in one read and one insert."""
    svc, rt = notify.state.service, notify.state.runtime
    db = rt.db
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    steps = [status(a, CaseState.ASSIGNED, "案件已分派"), status(a, CaseState.ACCEPTED, "承办单位已受理"),
             status(b, CaseState.ASSIGNED, "案件已分派")]

    async def run(events, handle, **kw) -> list[str]:
        await db["system.profile"].drop()
        await db.command("profile", 2)
        try:
            await rt.consumers.uow.run(lambda tx: svc.in_batch(events, tx, handle, **kw))
        finally:
            await db.command("profile", 0)
        return [f"{p.get('op')} {p['ns'].split('.', 1)[1]}" async for p in db["system.profile"].find()]

    await run([submitted(a), submitted(b)], NotifyService.on_submitted, waiting=True)
    ops = await run(steps, NotifyService.handle)
    assert ops.count("query recipients") == 1 and ops.count("update recipients") == 1, ops  # acting units, once
    assert ops.count("query notifications") == 1 and ops.count("insert notifications") == 1, ops
    assert "update notifications" not in ops, ops
    await rt.consumers.uow.run(lambda tx: svc.in_batch(steps, tx, NotifyService.handle))  # again: nothing new
    staged = [d async for d in db["notifications"].find({"case_id": {"$in": [a, b]}})]
    assert sorted((d["case_id"], d["channel"]) for d in staged) == sorted(
        [(a, "inbox"), (a, "sms"), (a, "inbox"), (a, "sms"), (b, "inbox"), (b, "sms")])
    sent = [json.loads(d["payload"]) async for d in db["outbox"].find({"topic": "notification.sent",
                                                                       "key": {"$in": [a, b]}})]
    assert sorted(e["notification_id"] for e in sent) == sorted(d["_id"] for d in staged if d["channel"] == "inbox")
    contact = await db["recipients"].find_one({"_id": a})
    assert contact["acting_unit"] == UNIT and contact["case_number"]


async def test_a_units_channels_are_read_outside_the_batchs_transaction(notify) -> None:
    """ADR 0219: the stand-in runs the statements of all transactions one at a time, so a batch reads inside its
    transaction only what it may write. A unit's channels are never written by a batch: the assignment's webhook
    to the unit finds them with a read of its own, and the batch's statements stay in the transaction."""
    svc, rt = notify.state.service, notify.state.runtime
    db = rt.db
    case = str(uuid.uuid4())
    await rt.consumers.uow.run(lambda tx: svc.in_batch([submitted(case)], tx, NotifyService.on_submitted,
                                                       waiting=True))
    await db["system.profile"].drop()
    await db.command("profile", 2)
    try:
        await rt.consumers.uow.run(lambda tx: svc.in_batch([assigned(case)], tx, NotifyService.handle))
    finally:
        await db.command("profile", 0)
    profile = [p async for p in db["system.profile"].find()]

    def in_tx(p: dict) -> bool:
        return (p.get("command") or {}).get("autocommit") is False

    units = [p for p in profile if p["ns"].endswith(".unit_contacts")]
    assert units and not any(in_tx(p) for p in units), units
    staged = [p for p in profile if p["ns"].endswith(".notifications") and p.get("op") == "insert"]
    assert staged and all(in_tx(p) for p in staged), staged  # the profile tells the two apart
    webhook = await db["notifications"].find_one({"case_id": case, "channel": "webhook"})
    assert webhook is not None and webhook["recipient"] == f"unit:{UNIT}"


async def test_a_round_of_texts_costs_the_same_calls_for_one_person_as_for_many(notify, gw) -> None:
    """Issue 12: the worker claims a round's texts in bulk — a digest per person, in order, the held ones held in
    one update — so a round of five people costs the database exactly what a round of one does."""
    svc, worker, clock = notify.state.service, notify.state.worker, notify.state.clock
    svc.settings.digest_window_seconds = 120
    db = notify.state.runtime.db

    async def texts_for(n: int) -> list[str]:
        cases = [new_case() for _ in range(n)]
        for c in cases:
            await consume(notify, submitted(c, phone=f"1370000{cases.index(c):04d}"))
            await consume(notify, status(c, CaseState.SUBMITTED, "纠纷已登记"))
            await consume(notify, status(c, CaseState.ASSIGNED, "已分派"))
        return cases

    async def one_round() -> list[str]:
        await db["system.profile"].drop()
        await db.command("profile", 2)
        try:
            assert await worker.step("sms")
        finally:
            await db.command("profile", 0)
        return sorted([f"{p.get('op')} {p['ns'].split('.', 1)[1]}" async for p in db["system.profile"].find()
                       if p["ns"].split(".", 1)[1] in ("notifications", "throttles")])

    clock.advance(3600)  # no earlier text to these phones in the window
    await texts_for(1)
    one = await one_round()
    clock.advance(3600)
    cases = await texts_for(5)
    many = await one_round()
    assert many == one, (one, many)
    got = gw.at("/sms")[1:]
    assert sorted(m.body["phone"] for m in got) == [f"1370000{i:04d}" for i in range(5)]  # one text each…
    assert all("有2条新进展：①已登记" in m.body["text"] and "②已分派" in m.body["text"] for m in got)  # …a digest
    # More steps at once: every person is inside the window — all held by one update, none sent.
    for c in cases:
        await consume(notify, status(c, CaseState.ACCEPTED, "已受理"))
    await db["system.profile"].drop()
    await db.command("profile", 2)
    await worker.step("sms")
    await db.command("profile", 0)
    held = [p async for p in db["system.profile"].find({"ns": {"$regex": r"\.notifications$"}, "op": "update"})]
    assert len(held) == 1 and len(gw.at("/sms")) == 6
    clock.advance(121)
    await worker.drain("sms")
    assert len(gw.at("/sms")) == 11 and all("已受理" in m.body["text"] for m in gw.at("/sms")[6:])


async def test_a_backlog_of_due_texts_is_read_once_for_the_rounds_that_send_it(notify, gw) -> None:
    """ADR 0218: the stand-in's read of the due texts costs every due entry whatever its limit, so a backlog read
    afresh each round made the drain quadratic. The worker reads ahead once and hands the texts out over its rounds
    (five people a round here): twelve people's texts all go, each once, in order, for one read of the backlog
    and the one that finds it empty."""
    svc, worker = notify.state.service, notify.state.worker
    svc.settings.worker_claim_batch = 5
    phones = [f"1360000{i:04d}" for i in range(12)]
    for i, phone in enumerate(phones):
        c = new_case()
        await consume(notify, submitted(c, phone=phone))
        await consume(notify, status(c, CaseState.SUBMITTED, f"纠纷已登记{i}"))
    reads = 0
    due = worker.queue.due

    async def counted(*args, **kwargs):
        nonlocal reads
        reads += 1
        return await due(*args, **kwargs)

    worker.claims.queue.due = counted  # type: ignore[method-assign]
    rounds = 0
    while await worker.step("sms"):
        rounds += 1
    sent = gw.at("/sms")
    assert sorted(m.body["phone"] for m in sent) == sorted(phones)  # one text each, none twice
    assert all(f"已登记{phones.index(m.body['phone'])}。" in m.body["text"] for m in sent)  # each their own
    assert rounds >= 3 and reads == 2, (rounds, reads)


async def test_a_stale_claim_held_by_a_dead_workers_open_transaction_does_not_stop_the_texts(
        notify, gw, yima_infra) -> None:
    """Seen in CI under load: notify SIGKILLed while marking texts delivered left its transaction open on them; the
    restarted worker's takeover of those claims waited on that transaction (a plain write waits for it, and the
    database aborts it only much later) and not one more text went out. The takeover is a short transaction of
    its own: it fails at once, the claim is set aside, the other people's texts go; once the dead transaction is
    gone the claim is taken over and re-sent under the same key."""
    clock, db = notify.state.clock, notify.state.runtime.db
    a, b = new_case(), new_case()
    await consume(notify, submitted(a, phone="13900000001"))
    await consume(notify, status(a, CaseState.SUBMITTED, "纠纷已登记"))
    dying: DeliveryWorker = notify.state.worker
    batch = await dying.claim("sms")
    assert batch and len(batch) == 1
    await dying.channels["sms"].send(dying._messages("sms", batch)[0])  # sent; marking it, the process dies:
    dead = AsyncMongoClient(yima_infra.mongo_url)
    session = dead.start_session()
    await session.start_transaction()
    await dead[db.name]["notifications"].update_one({"_id": batch[0]["_id"]}, {"$set": {"state": "delivered"}},
                                                    session=session)
    try:
        await consume(notify, submitted(b, phone="13900000002"))
        await consume(notify, status(b, CaseState.SUBMITTED, "纠纷已登记"))
        clock.advance(31)  # the dead worker's claim has expired
        other = DeliveryWorker(notify.state.service, dying.client, dying.outbox, dying.channels, clock=clock)
        await asyncio.wait_for(other.drain("sms"), 30)  # never waits on the open transaction
        assert [m.body["phone"] for m in gw.at("/sms")] == ["13900000001", "13900000002"]
        await session.abort_transaction()  # what the server does with an abandoned transaction, in its time
        clock.advance(6)
        await asyncio.wait_for(other.drain("sms"), 30)
        assert gw.requests == 3 and len(gw.at("/sms")) == 2  # re-sent under the same key: dropped
        doc = await db["notifications"].find_one({"_id": batch[0]["_id"]})
        assert doc["state"] == "delivered" and doc["delivered_by"] == other.owner
    finally:
        await session.end_session()
        await dead.close()


async def test_an_error_around_a_round_is_logged_and_the_loop_goes_on(notify, gw) -> None:
    """Nothing but a cancel ends a channel's loop: an error outside the round (here: waiting for work) used to end
    the task silently, the channel's messages then stayed queued for good while the process looked healthy."""
    worker: DeliveryWorker = notify.state.worker

    class Flaky(asyncio.Event):
        failed = False

        async def wait(self) -> Literal[True]:
            if not Flaky.failed:
                Flaky.failed = True
                raise RuntimeError("boom")
            return await super().wait()

    worker.wakeups["sms"] = Flaky()
    loop = asyncio.create_task(worker.run_channel("sms"))
    try:
        await asyncio.sleep(0.2)
        assert Flaky.failed and not loop.done()
        case = new_case()
        await consume(notify, submitted(case))
        await consume(notify, status(case, CaseState.SUBMITTED, "纠纷已登记"))
        for _ in range(100):
            if gw.at("/sms"):
                break
            await asyncio.sleep(0.1)
        assert len(gw.at("/sms")) == 1
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop


async def test_a_digest_key_claimed_from_under_a_replica_that_then_dies_is_not_reused(notify, gw) -> None:
    """ADR 0204: the claim sets a digest's key (its first due text's id) in the same update. Two replicas read
    the same due texts; one claims them (its digest's key is the first text), the other claims only a text staged
    since — under the same key, borrowed — and dies before fixing it. Taken over, that text must go under its own
    key: under the borrowed one the gateway would drop it as the digest already delivered."""
    svc, worker, clock = notify.state.service, notify.state.worker, notify.state.clock
    svc.settings.digest_window_seconds = 120
    db = notify.state.runtime.db
    clock.advance(3600)  # no earlier text to this phone in the window
    case = new_case()
    await consume(notify, submitted(case, phone="13600000001"))
    await consume(notify, status(case, CaseState.SUBMITTED, "纠纷已登记"))
    await consume(notify, status(case, CaseState.ASSIGNED, "已分派"))
    assert await worker.step("sms")
    assert len(gw.at("/sms")) == 1 and "②已分派" in gw.at("/sms")[0].body["text"]  # one digest…
    first = await db["notifications"].find_one({"_id": gw.at("/sms")[0].key})  # …keyed by its first text
    assert first["batch_id"] == first["_id"] and first["state"] == "delivered"
    await consume(notify, status(case, CaseState.ACCEPTED, "已受理"))  # staged while the other replica looks
    now = clock()
    got = await worker.queue.claim_people("sms", now, {"owner": "dead-replica", "claimed_at": now,
                                                       "claim_id": uuid.uuid4().hex},
                                          {first["address_key"]: first["_id"]}, [])
    assert [d["batch_id"] for d in got] == [first["_id"]]  # the borrowed key — and the replica dies here
    clock.advance(31)
    other = DeliveryWorker(svc, worker.client, worker.outbox, worker.channels, clock=clock)
    await other.drain("sms")
    sms = gw.at("/sms")
    assert len(sms) == 2 and sms[1].key == got[0]["_id"] and "已受理" in sms[1].body["text"]
    assert len(gw.delivered) == 2


# --- texts claimed on insert (ADR 0209): a consumer batch's text that the process's worker would send alone at once
# is staged already that worker's and handed to it when committed — no claim update; the rounds' guarantees hold.

def taking(app) -> DeliveryWorker:
    worker: DeliveryWorker = app.state.worker
    worker.enable_taking()  # what start() does in a process that runs the worker
    return worker


async def states(app, case: str) -> dict[tuple[str, str], tuple[str, str | None]]:
    cursor = app.state.runtime.db["notifications"].find({"case_id": case, "channel": {"$ne": "inbox"}})
    return {(d["recipient"], d["template_id"]): (d["state"], d.get("owner")) async for d in cursor}


async def test_a_text_due_now_is_staged_claimed_and_sent_once_in_order(notify, gw) -> None:
    worker, case = taking(notify), new_case()
    first = [submitted(case), status(case, CaseState.SUBMITTED, "纠纷已登记"), assigned(case)]
    for e in first:
        await consume(notify, e)
    staged = await states(notify, case)
    assert staged[("applicant", "applicant.submitted.v1")] == ("sending", worker.owner)  # no claim update needed
    assert staged[(f"unit:{UNIT}", "unit.assigned.v1")] == ("sending", worker.owner)
    # the person's next text: the first is on its way, so this one waits for the round (order, digest)
    await consume(notify, status(case, CaseState.ASSIGNED, "已分派黄河社区办理"))
    assert (await states(notify, case))[("applicant", "applicant.assigned.v1")] == ("queued", None)
    for e in first:
        assert not await consume(notify, e)  # redelivered: nothing staged or handed over again
    await worker.drain()
    await worker.drain()
    assert [m.body["template_id"] for m in gw.at("/sms")] == ["applicant.submitted.v1", "applicant.assigned.v1"]
    assert len(gw.at(f"/hooks/{UNIT}")) == 1 and gw.requests == len(gw.delivered)
    assert {s for s, _ in (await states(notify, case)).values()} == {"delivered"}
    sent = await outbox_events(notify, "notification.sent", case)
    assert len(sent) == len({s["notification_id"] for s in sent})  # each once


async def test_a_text_taken_by_a_process_that_dies_is_sent_by_a_takeover_under_its_key(notify, gw) -> None:
    dying, case = taking(notify), new_case()
    clock: Clock = notify.state.clock
    await consume(notify, submitted(case))
    await consume(notify, status(case, CaseState.SUBMITTED, "纠纷已登记"))
    dying._taken.clear()  # committed, claimed by this process's worker… which dies before its round
    other = DeliveryWorker(notify.state.service, dying.client, dying.outbox, dying.channels, clock=clock)
    await other.drain("sms")
    assert gw.at("/sms") == []  # not before the claim expires
    clock.advance(31)
    await other.drain("sms")
    [sms] = gw.at("/sms")
    doc = await notify.state.runtime.db["notifications"].find_one({"case_id": case, "channel": "sms"})
    assert sms.key == doc["_id"] and doc["state"] == "delivered" and doc["delivered_by"] == other.owner


async def test_the_digest_window_and_a_batchs_several_texts_to_one_person_are_left_to_the_rounds(notify, gw) -> None:
    svc, clock = notify.state.service, notify.state.clock
    worker = taking(notify)
    svc.settings.digest_window_seconds = 120
    clock.now = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
    case = new_case()
    await consume(notify, submitted(case))
    await consume(notify, status(case, CaseState.SUBMITTED, "纠纷已登记"))
    assert (await states(notify, case))[("applicant", "applicant.submitted.v1")] == ("sending", worker.owner)
    await worker.drain("sms")
    clock.advance(10)
    await consume(notify, status(case, CaseState.ASSIGNED, "已分派"))  # inside the person's window: not taken
    assert (await states(notify, case))[("applicant", "applicant.assigned.v1")][0] == "queued"
    held = await notify.state.runtime.db["notifications"].find_one({"case_id": case, "channel": "sms",
                                                                    "template_id": "applicant.assigned.v1"})
    assert held["not_before"] == datetime(2026, 11, 24, 2, 2, tzinfo=UTC)  # due at the window's end: no hold
    clock.advance(121)
    other = new_case()  # two steps in one batch for one person: one digest, by the round
    await consume(notify, submitted(other, phone="13700000001"))

    two = [status(other, CaseState.SUBMITTED, "纠纷已登记"), status(other, CaseState.ACCEPTED, "已受理")]

    async def work(tx) -> None:  # one poll of both steps, as the consumer's batch path runs it
        await svc.in_batch(two, tx, NotifyService.handle)
    await notify.state.runtime.consumers.uow.run(work)
    assert {s for (r, _), (s, _) in (await states(notify, other)).items() if r == "applicant"} == {"queued"}
    await worker.drain("sms")
    texts = [m.body for m in gw.at("/sms")]
    assert texts[0]["phone"] == PHONE  # the first round's text
    # then, in one round, the held text (at the end of its window) and the other person's digest; two people's
    # batches of a round are sent concurrently, so only each person's own order is kept
    by_phone: dict[str, list[str]] = {}
    for t in texts:
        by_phone.setdefault(t["phone"], []).append(t["text"])
    assert sorted(by_phone) == sorted([PHONE, "13700000001"]) and len(by_phone[PHONE]) == 2
    assert len(by_phone["13700000001"]) == 1 and "有2条新进展" in by_phone["13700000001"][0]  # one digest
