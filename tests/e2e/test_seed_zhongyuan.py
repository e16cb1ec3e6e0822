"""Zhongyuan (和顺中原), written from the seed: a resident submits a dispute in the mini-program; the platform
accepts it, sorts it and hands it out and tells the party (分流交办并告知当事人); the committee accepts at once and
books an online (remote) mediation. The applicant's phone receives every step — the one naming the handling unit
too — each fact once, even when the steps come within the throttle's window and go as one digest. The mediation
cannot be recorded before it starts, nor an agreement signed before a mediation took place; once it has, the
agreement is signed and archived (调处成功形成调解协议书并存档).

Only public interfaces: intake's and mediation's HTTP APIs, the SMS gateway notify posts to (a local HTTP server
that behaves like one).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from yima_contracts.codes import StaffRole
from yima_devstack.kafka_tools import wait_for
from yima_devstack.services import service_env
from yima_kit.auth import TokenIssuer
from yima_notify.devgateway import DevGateway

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

COMMITTEE = "JSQ-LDTJ"  # 金水区劳动争议人民调解委员会: works in yima's console
COMMITTEE_NAME = "金水区劳动争议人民调解委员会"
WINDOW = 10  # seconds: at most one text per phone in this window; what comes meanwhile goes as one digest


def token(role: StaffRole, sub: str) -> dict[str, str]:
    t = TokenIssuer.dev().issue(staff_id=sub, unit=COMMITTEE, role=role, unit_path=("410105", COMMITTEE),
                                name="王芳")
    return {"Authorization": f"Bearer {t}"}


DESK = token(StaffRole.DISPATCHER, "e2e-zy-desk")
MEDIATOR = token(StaffRole.MEDIATOR, "e2e-zy-mediator")


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def phone_gateway(platform, yima_infra):
    """notify restarted with its SMS channel pointed at a local gateway, the digest window short; put back after."""
    gw = DevGateway().start()
    base = {"YIMA_CONSUMER_RETRY_BASE_SECONDS": "0.05"}
    env = service_env(yima_infra.kafka_bootstrap, yima_infra.mongo_url, db_prefix=platform.db_prefix, extra={
        **base, "YIMA_NOTIFY_SMS_URL": f"{gw.url}/sms", "YIMA_NOTIFY_QUIET_HOURS": "",
        "YIMA_NOTIFY_DIGEST_WINDOW_SECONDS": str(WINDOW), "YIMA_NOTIFY_WORKER_POLL_SECONDS": "0.2"})
    proc = platform.procs["notify"]
    proc.stop()
    proc.start(env)
    deadline = time.monotonic() + 120
    while not _healthy(proc.url) and time.monotonic() < deadline:
        time.sleep(0.3)
    yield gw
    proc.stop()
    proc.start(service_env(yima_infra.kafka_bootstrap, yima_infra.mongo_url, db_prefix=platform.db_prefix,
                           extra=base))
    deadline = time.monotonic() + 120
    while not _healthy(proc.url) and time.monotonic() < deadline:
        time.sleep(0.3)
    gw.stop()


async def test_the_applicant_hears_every_step_once_and_the_agreement_follows_a_held_session(
        platform, phone_gateway) -> None:
    gw = phone_gateway
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    async with httpx.AsyncClient(base_url=platform.procs["intake"].url, timeout=15) as intake:
        r = await intake.post("/api/v1/cases", headers={"Idempotency-Key": str(uuid.uuid4())}, json={
            "channel": "self_service", "applicant": {"name": "刘桂兰", "phone": phone},
            "description": "我在郑州一家物流公司当分拣工，公司拖欠了我两个月工资一万二千元，找老板好几次都说再等等"})
    assert r.status_code == 201, r.text
    case = r.json()
    texts = lambda: [d.body["text"] for d in gw.at("/sms") if d.body["phone"] == phone]  # noqa: E731

    med = httpx.AsyncClient(base_url=platform.procs["mediation"].url, timeout=30)
    try:
        async def in_queue():
            items = (await med.get("/api/v1/queue", params={"state": "new"}, headers=DESK)).json()["items"]
            return next((i for i in items if i["case_id"] == case["case_id"]), None)

        aid = (await wait_for(in_queue))["assignment_id"]
        # a good committee: accepted and an online session booked within a minute or two of the assignment
        assert (await med.post(f"/api/v1/cases/{aid}/accept", json={}, headers=DESK)).status_code == 200
        await med.post(f"/api/v1/cases/{aid}/parties", headers=DESK,
                       json={"name": "郑州某物流有限公司", "is_organisation": True})
        m = await med.post("/api/v1/people", headers=DESK,
                           json={"kind": "mediator", "name": "王芳", "staff_id": "e2e-zy-mediator"})
        await med.post(f"/api/v1/cases/{aid}/mediators", json={"person_ids": [m.json()["person_id"]]}, headers=DESK)
        start = (datetime.now(UTC) + timedelta(seconds=WINDOW + 8)).replace(microsecond=0)
        ses = await med.post(f"/api/v1/cases/{aid}/sessions", headers=MEDIATOR, json={
            "mode": "online", "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat()})
        assert ses.status_code == 201, ses.text
        sid = ses.json()["session_id"]

        # before the session: no record of it, no agreement
        early = await med.post(f"/api/v1/sessions/{sid}/record", headers=MEDIATOR, json={
            "attended": ["p1", "p2"], "summary": "双方同意分期支付", "next_step": "起草调解协议"})
        assert early.status_code == 409 and early.json()["errors"][0]["code"] == "not_started", early.text
        agid = (await med.post(f"/api/v1/cases/{aid}/agreement", headers=MEDIATOR, json={
            "facts_zh": "申请人在被申请人处务工，被拖欠工资一万二千元。",
            "terms": ["被申请人于2027年1月10日前支付工资一万二千元。"]})).json()["agreement_id"]
        for pid in ("p1", "p2"):
            await med.post(f"/api/v1/agreements/{agid}/confirmations", headers=MEDIATOR,
                           json={"party_id": pid, "method": "video"})
        unsigned = await med.post(f"/api/v1/agreements/{agid}/sign", headers=MEDIATOR)
        assert unsigned.status_code == 409 and unsigned.json()["errors"][0]["code"] == "no_session_held"
        assert set(unsigned.json()) == {"message", "errors"}  # one error shape

        # the phone: registered (at once), then assigned, accepted and the session — none dropped, each fact once
        async def all_steps():
            joined = "".join(texts())
            return joined if all(w in joined for w in ("已登记", "已分派", "已受理", "已安排线上视频调解")) else None

        joined = await wait_for(all_steps, timeout=60)
        sent = texts()
        assert "较早消息" not in joined and COMMITTEE_NAME in joined
        assert all(len(t) <= 268 for t in sent)
        assert sum(t.count("已安排线上视频调解") for t in sent) == 1
        for t in sent:  # each fact once: no sentence twice in one text, a session's time once
            sentences = re.findall(r"[^。：]+。", t)
            assert len(sentences) == len(set(sentences)), t
        session_text = next(t for t in sent if "已安排线上视频调解" in t)
        at = re.search(r"已安排线上视频调解，时间(\d{1,2}月\d{1,2}日 \d{2}:\d{2})", session_text)
        assert at and session_text.count(at.group(1)) == 1 and "2026年" not in session_text
        assert "纠纷）纠纷" not in joined
        steps = [joined.index(w) for w in ("已分派", "已受理", "已安排线上视频调解")]
        assert steps == sorted(steps)  # in the order they happened
        assert sum(t.count(case["case_number"]) for t in sent) == len(sent)  # the case named once per text

        # the session begins; recorded; the agreement signed and archived
        await asyncio.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()) + 0.3)
        rec = await med.post(f"/api/v1/sessions/{sid}/record", headers=MEDIATOR, json={
            "attended": ["p1", "p2"], "summary": "双方同意分期支付", "next_step": "起草调解协议"})
        assert rec.status_code == 200, rec.text
        signed = await med.post(f"/api/v1/agreements/{agid}/sign", headers=MEDIATOR)
        assert signed.status_code == 200, signed.text
        v = await med.get(f"/api/v1/verify/{signed.json()['sha256']}")
        assert v.json()["valid"] is True
    finally:
        await med.aclose()
