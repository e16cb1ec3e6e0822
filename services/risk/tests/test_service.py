"""The risk service against the real MongoDB-protocol server: lifecycle, durable follow-up timers, warnings, HTTP."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from yima_contracts import CaseFeedback, CaseSubmitted, Party, topics
from yima_contracts.codes import Category, Channel, FeedbackKind, Outcome, StaffRole
from yima_contracts.events import Location, Respondent
from yima_contracts.intake_events import CaseUpdated
from yima_contracts.mediation_events import CaseClosed, MediationConcluded
from yima_contracts.routing_events import LeaderAssigned
from yima_kit.auth import TokenIssuer
from yima_risk.adapters.mongo_followups import FollowupTimers
from yima_risk.app import create_app
from yima_risk.config import RiskSettings
from yima_risk.core.ruleset import DEFAULT_RULES_FILE, RulesError

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
COMMUNITY = "410105001001"
RED_TEXT = "女方悔婚不肯退还彩礼18万，男方扬言要找人来收拾她全家，两家已经在村里打过一架"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def settings(infra, prefix: str, **kw) -> RiskSettings:
    return RiskSettings(kafka_bootstrap=infra.kafka_bootstrap, mongo_url=infra.mongo_url, mongo_db_prefix=prefix,
                        **kw)


@pytest.fixture
async def risk(yima_infra, mongo_db_prefix):
    app = create_app(settings(yima_infra, mongo_db_prefix), consume=False, relay=False)
    async with app.router.lifespan_context(app):
        yield app


def submitted(case_id: str, text: str = RED_TEXT, *, category: Category = Category.MARRIAGE_FAMILY,
              at: datetime = T0, phone: str = "13812345678", unit: str | None = COMMUNITY, **kw) -> CaseSubmitted:
    return CaseSubmitted(
        case_id=case_id, correlation_id=f"corr-{case_id}", case_number=f"JSQ-2026-{case_id[-6:]}",
        tracking_code="ABCD-EFGH-JKLM", channel=Channel.SELF_SERVICE, category=category,
        category_source="applicant", description=text, applicant=Party(name="张三", phone=phone),
        location=Location(unit_code=unit), submitted_at=at, occurred_at=at, **kw,
    )


def common(case_id: str, at: datetime) -> dict:
    return {"case_id": case_id, "correlation_id": f"corr-{case_id}", "occurred_at": at}


async def deliver(app, event) -> bool:
    """Run the service's handler for one event as its consumer would (ledger + transaction + outbox)."""
    rt, svc = app.state.runtime, app.state.service
    handler = {
        "case.submitted.v1": svc.on_submitted, "case.updated.v1": svc.on_updated,
        "case.leader_assigned.v1": svc.on_leader_assigned, "case.feedback.v1": svc.on_feedback,
        "mediation.concluded.v1": svc.on_mediation_concluded, "case.closed.v1": svc.on_closed,
    }[event.event_type]
    return await rt.consumers.process_once(event, handler, f"risk.test.{event.event_type}")


async def staged(app, topic: str, case_id: str | None = None) -> list[dict]:
    q = {"topic": topic} | ({"key": case_id} if case_id else {})
    return [json.loads(d["payload"]) async for d in app.state.runtime.db["outbox"].find(q).sort("seq", 1)]


async def test_a_red_case_goes_yellow_under_its_leader_then_blue_and_gets_a_follow_up(risk) -> None:
    cid = f"c-{uuid.uuid4().hex[:8]}"
    assert await deliver(risk, submitted(cid))
    [first] = await staged(risk, topics.CASE_RISK_ASSESSED, cid)
    assert first["level"] == "red" and first["previous_level"] is None
    fired = {h["rule_id"]: h for h in first["rules_fired"]}
    assert {"six_bride_price", "violence_threat", "scuffle"} <= set(fired)
    assert "描述含“彩礼”" in fired["six_bride_price"]["evidence"]
    assert first["ruleset_version"] == "2026.12-generalise.1" and "六种情形：彩礼纠纷" in first["reason_zh"]

    leader = LeaderAssigned(**common(cid, T0 + timedelta(hours=1)), leader_staff_id="s-42", leader_name="李书记",
                            unit_code="410105001")
    assert await deliver(risk, leader)
    assert not await deliver(risk, leader)  # a redelivery changes nothing
    accepted = CaseFeedback(**common(cid, T0 + timedelta(hours=2)), assignment_id="a-1", unit_code="410105001",
                            kind=FeedbackKind.ACCEPTED)
    await deliver(risk, accepted)
    await deliver(risk, MediationConcluded(**common(cid, T0 + timedelta(days=3)), success=True,
                                           outcome=Outcome.AGREEMENT, applicant_message_zh="调解成功"))
    closed_at = T0 + timedelta(days=4)
    await deliver(risk, CaseClosed(**common(cid, closed_at), outcome=Outcome.AGREEMENT, unit_code="410105001",
                                   resolved=True, applicant_message_zh="已结案"))

    published = await staged(risk, topics.CASE_RISK_ASSESSED, cid)
    assert [(e["previous_level"], e["level"]) for e in published] == [(None, "red"), ("red", "yellow"),
                                                                      ("yellow", "blue")]
    assert "李书记" in published[1]["reason_zh"] and "已化解" in published[2]["reason_zh"]
    assert all(e["ruleset_version"] == "2026.12-generalise.1" and e["rules_fired"] for e in published)

    db = risk.state.runtime.db
    history = [d async for d in db["assessments"].find({"case_id": cid}).sort("occurred_at", 1)]
    assert [d["level"] for d in history] == ["red", "yellow", "blue"]
    assert history[0]["rules_fired"][0]["evidence"] and history[0]["ruleset_version"] == "2026.12-generalise.1"
    case = await db["cases"].find_one({"_id": cid})
    assert "彩礼" not in json.dumps(case, default=str)  # the description is encrypted at rest
    timer = await db["followups"].find_one({"case_id": cid})
    assert timer["state"] == "pending" and timer["due_at"] == closed_at + timedelta(days=30)
    assert timer["leader_staff_id"] == "s-42" and "彩礼" in timer["reason_zh"]


async def test_new_facts_re_assess_and_only_changes_are_published(risk) -> None:
    cid = f"c-{uuid.uuid4().hex[:8]}"
    await deliver(risk, submitted(cid, "楼上卫生间漏水，天花板泡坏了", category=Category.NEIGHBOUR))
    await deliver(risk, CaseFeedback(**common(cid, T0 + timedelta(hours=1)), assignment_id="a", unit_code=COMMUNITY,
                                     kind=FeedbackKind.PROGRESS, note="已上门查看"))
    await deliver(risk, CaseUpdated(**common(cid, T0 + timedelta(days=2)), kind="repeat_report", repeat_count=2,
                                    repeat_channel=Channel.HOTLINE_12345))
    await deliver(risk, CaseUpdated(**common(cid, T0 + timedelta(days=3)), kind="details_added",
                                    additional_description="今天楼上的人说再找他就拿刀砍人"))
    levels = [(e["previous_level"], e["level"]) for e in await staged(risk, topics.CASE_RISK_ASSESSED, cid)]
    assert levels == [(None, "blue"), ("blue", "yellow"), ("yellow", "red")]
    last = (await staged(risk, topics.CASE_RISK_ASSESSED, cid))[-1]
    assert any(e.startswith("补充情况含") for h in last["rules_fired"] for e in h["evidence"])


async def test_earlier_cases_of_the_same_applicant_are_named(risk) -> None:
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    a, b = f"c-{uuid.uuid4().hex[:8]}", f"c-{uuid.uuid4().hex[:8]}"
    await deliver(risk, submitted(a, "物业不修电梯", category=Category.PROPERTY_MANAGEMENT, phone=phone))
    await deliver(risk, submitted(b, "物业还是不修电梯", category=Category.PROPERTY_MANAGEMENT, phone=phone,
                                  at=T0 + timedelta(days=20)))
    [e] = await staged(risk, topics.CASE_RISK_ASSESSED, b)
    repeat = next(h for h in e["rules_fired"] if h["rule_id"] == "repeat_report")
    assert f"同一申请人此前同类案件：{a}" in repeat["evidence"]


async def test_a_cluster_raises_a_warning_with_its_cases(risk) -> None:
    unit = f"4101059{uuid.uuid4().int % 10**5:05d}"
    ids = [f"c-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    for i, cid in enumerate(ids):
        await deliver(risk, submitted(cid, "工厂夜里排放刺鼻气味", category=Category.ENVIRONMENT, unit=unit,
                                      at=T0 + timedelta(hours=i)))
    warnings = [w for w in await staged(risk, topics.WARNING_RAISED) if w.get("unit_code") == unit]
    assert len(warnings) == 1
    w = warnings[0]
    assert w["kind"] == "place_cluster" and w["case_ids"] == ids and w["case_id"] == ids[-1]
    assert w["threshold"] == 3 and w["ruleset_version"] == "2026.12-generalise.1"


async def test_one_organisation_in_several_places(risk) -> None:
    org = f"某某劳务公司{uuid.uuid4().hex[:4]}"
    ids = [f"c-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    for i, cid in enumerate(ids):
        await deliver(risk, submitted(cid, "拖欠工资三个月", category=Category.LABOUR_WAGES,
                                      unit=f"41010500{i}001", at=T0 + timedelta(days=i),
                                      respondent=Respondent(name=org, is_organisation=True)))
    warnings = [w for w in await staged(risk, topics.WARNING_RAISED) if w.get("respondent") == org]
    assert [w["case_ids"] for w in warnings] == [ids] and warnings[0]["kind"] == "respondent_cluster"


async def test_the_follow_up_timer_survives_a_restart_and_fires_once(yima_infra, mongo_db_prefix) -> None:
    clock = Clock(T0)
    s = settings(yima_infra, mongo_db_prefix, followup_delay=timedelta(days=30))
    cid = f"c-{uuid.uuid4().hex[:8]}"
    app = create_app(s, consume=False, relay=False, clock=clock)
    async with app.router.lifespan_context(app):
        await deliver(app, submitted(cid))
        await deliver(app, CaseClosed(**common(cid, T0 + timedelta(days=5)), outcome=Outcome.AGREEMENT,
                                      unit_code=COMMUNITY, resolved=True, applicant_message_zh="已结案"))
        clock.now = T0 + timedelta(days=34)
        assert await app.state.service.timers.fire_due() == 0  # not yet due
    # the process is gone; a new one (new client, new runtime) finds the timer in the database
    clock.now = T0 + timedelta(days=35, seconds=1)
    app2 = create_app(s, consume=False, relay=False, clock=clock)
    async with app2.router.lifespan_context(app2):
        assert await app2.state.service.timers.fire_due() == 1
        assert await app2.state.service.timers.fire_due() == 0
        [due] = await staged(app2, topics.CASE_FOLLOWUP_DUE, cid)
        assert due["followup_id"] == f"followup-{cid}" and due["unit_code"] == COMMUNITY
        assert datetime.fromisoformat(due["due_at"]) == T0 + timedelta(days=35)
        assert "回头看" in due["reason_zh"]
    app3 = create_app(s, consume=False, relay=False, clock=clock)
    async with app3.router.lifespan_context(app3):  # and once more: fired means fired
        assert await app3.state.service.timers.fire_due() == 0
        assert len(await staged(app3, topics.CASE_FOLLOWUP_DUE, cid)) == 1


async def test_replicas_racing_for_due_timers_fire_each_once(yima_infra, mongo_db_prefix) -> None:
    clock = Clock(T0)
    s = settings(yima_infra, mongo_db_prefix)
    apps = [create_app(s, consume=False, relay=False, clock=clock) for _ in range(2)]
    async with apps[0].router.lifespan_context(apps[0]), apps[1].router.lifespan_context(apps[1]):
        rt = apps[0].state.runtime
        timers: FollowupTimers = apps[0].state.service.timers
        ids = [f"c-{uuid.uuid4().hex[:8]}" for _ in range(6)]
        for cid in ids:
            async with rt.client.start_session() as session:
                await timers.schedule(session, case_id=cid, correlation_id=cid, due_at=T0 - timedelta(minutes=1),
                                      unit_code=None, leader_staff_id=None, reason_zh="回头看")
        counts = await asyncio.gather(*(a.state.service.timers.fire_due() for a in apps))
        assert sum(counts) == 6
        due = await staged(apps[0], topics.CASE_FOLLOWUP_DUE)
        assert sorted(d["case_id"] for d in due) == sorted(ids)


async def test_http_shows_the_rule_set_and_guards_a_case(risk) -> None:
    cid = f"c-{uuid.uuid4().hex[:8]}"
    await deliver(risk, submitted(cid))
    issuer = TokenIssuer.dev()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=risk), base_url="http://risk") as http:
        r = await http.get("/api/v1/ruleset")
        assert r.status_code == 200
        body = r.json()
        assert body["version"] == "2026.12-generalise.1" and len(body["sha256"]) == 64
        assert {"rule_id": "six_bride_price", "name_zh": "六种情形：彩礼纠纷"} in body["rules"]
        assert (await http.get(f"/api/v1/cases/{cid}/risk")).status_code == 401
        other = issuer.issue(staff_id="s-1", unit="410105002001", role=StaffRole.DISPATCHER)
        r = await http.get(f"/api/v1/cases/{cid}/risk", headers={"Authorization": f"Bearer {other}"})
        assert r.status_code == 403
        own = issuer.issue(staff_id="s-2", unit=COMMUNITY, role=StaffRole.MEDIATOR)
        r = await http.get(f"/api/v1/cases/{cid}/risk", headers={"Authorization": f"Bearer {own}"})
        assert r.status_code == 200
        view = r.json()
        assert view["level"] == "red" and view["assessments"][0]["rules_fired"]
        assert "description" not in view and "彩礼18万" not in json.dumps(view, ensure_ascii=False)

        # every staff call is in risk's own audit chain, the refused one too; the public and the unsigned not
        audit = risk.state.runtime.db["audit"]
        rows = [(d["actor"], d["action"], d["object_id"], d["success"]) async for d in audit.find().sort("_id", 1)]
        assert rows == [("s-1", "GET /api/v1/cases/{case_id}/risk", cid, False),
                        ("s-2", "GET /api/v1/cases/{case_id}/risk", cid, True)]
        analyst = issuer.issue(staff_id="an-1", unit=COMMUNITY, role=StaffRole.ANALYST)
        verify = {"Authorization": f"Bearer {analyst}"}
        assert (await http.get("/api/v1/audit/verify", headers=verify)).json() == {
            "intact": True, "records": 2, "first_bad": None}
        assert (await http.get("/api/v1/audit/verify", headers={"Authorization": f"Bearer {own}"})).status_code == 403
        await audit.update_one({"_id": 1}, {"$set": {"actor": "s-2"}})
        assert (await http.get("/api/v1/audit/verify", headers=verify)).json() == {
            "intact": False, "records": 1, "first_bad": 1}


def test_a_bad_rules_file_stops_the_start(tmp_path: Path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text(DEFAULT_RULES_FILE.read_text(encoding="utf-8").replace("red_score: 100", "red_score: high"),
                   encoding="utf-8")
    with pytest.raises(RulesError, match=r"rules.yaml:\d+: scoring → red_score"):
        create_app(RiskSettings(rules_file=bad))


async def test_a_corrected_category_and_an_emergency_re_assess(risk) -> None:
    cid = f"c-{uuid.uuid4().hex[:8]}"
    await deliver(risk, submitted(cid, "订婚后女方反悔，男方要求退还彩礼", category=Category.CONTRACT_DEBT))
    await deliver(risk, CaseUpdated(**common(cid, T0 + timedelta(hours=1)), kind="category_corrected",
                                    category=Category.MARRIAGE_FAMILY))
    other = f"c-{uuid.uuid4().hex[:8]}"
    await deliver(risk, submitted(other, "邻居在楼道堆杂物", category=Category.NEIGHBOUR))
    await deliver(risk, CaseUpdated(**common(other, T0 + timedelta(hours=1)), kind="emergency_flagged",
                                    emergency=True))
    corrected = await staged(risk, topics.CASE_RISK_ASSESSED, cid)
    assert [(e["previous_level"], e["level"]) for e in corrected] == [(None, "blue"), ("blue", "red")]
    assert "six_bride_price" in {h["rule_id"] for h in corrected[-1]["rules_fired"]}
    flagged = await staged(risk, topics.CASE_RISK_ASSESSED, other)
    assert [e["level"] for e in flagged] == ["blue", "red"]
    assert flagged[-1]["rules_fired"][0]["evidence"] == ["字段 emergency=true（应急联办）"]
    idx = await risk.state.runtime.db["warning_index"].find_one({"_id": cid})
    assert idx["category"] == "marriage_family"
