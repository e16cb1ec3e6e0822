"""The risk service against the real MongoDB-protocol server: lifecycle, durable follow-up timers, warnings, HTTP."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from yima_contracts import CaseAssigned, CaseFeedback, CaseSubmitted, Party, topics
from yima_contracts.codes import Category, Channel, FeedbackKind, Outcome, StaffRole
from yima_contracts.events import Location, Respondent
from yima_contracts.intake_events import CaseUpdated
from yima_contracts.mediation_events import CaseClosed, MediationConcluded, MediationSessionHeld
from yima_contracts.routing_events import LeaderAssigned
from yima_kit.auth import TokenIssuer
from yima_risk.adapters.mongo_followups import FollowupTimers
from yima_risk.app import create_app
from yima_risk.config import RiskSettings
from yima_risk.core.ruleset import DEFAULT_RULES_FILE, RulesError
from yima_risk.service import RiskService

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


HANDLERS = {
    "case.submitted.v1": RiskService.on_submitted, "case.updated.v1": RiskService.on_updated,
    "case.leader_assigned.v1": RiskService.on_leader_assigned, "case.feedback.v1": RiskService.on_feedback,
    "mediation.concluded.v1": RiskService.on_mediation_concluded, "case.closed.v1": RiskService.on_closed,
    "case.assigned.v1": RiskService.on_assigned,
    "mediation.session_held.v1": RiskService.on_session_held,
}


async def deliver(app, event) -> bool:
    """Run the service's handler for one event as its consumer would (ledger + transaction + outbox), through the
    batch path the consumers use (a batch of one)."""
    rt, svc = app.state.runtime, app.state.service

    async def handler(e, tx) -> None:
        await svc.in_batch([e], tx, HANDLERS[e.event_type])
    return await rt.consumers.process_once(event, handler, f"risk.test.{event.event_type}")


async def deliver_batch(app, events) -> None:
    """A poll's events of one topic in one transaction, as the batch consumer runs them."""
    svc = app.state.service
    handle = HANDLERS[events[0].event_type]
    await app.state.runtime.consumers.uow.run(lambda tx: svc.in_batch(events, tx, handle))


async def staged(app, topic: str, case_id: str | None = None) -> list[dict]:
    q = {"topic": topic} | ({"key": case_id} if case_id else {})
    return [json.loads(d["payload"]) async for d in app.state.runtime.db["outbox"].find(q).sort("_id", 1)]


async def test_a_red_case_goes_yellow_under_its_leader_then_blue_and_gets_a_follow_up(risk) -> None:
    cid = f"c-{uuid.uuid4().hex[:8]}"
    assert await deliver(risk, submitted(cid))
    [first] = await staged(risk, topics.CASE_RISK_ASSESSED, cid)
    assert first["level"] == "red" and first["previous_level"] is None
    fired = {h["rule_id"]: h for h in first["rules_fired"]}
    assert {"six_bride_price", "violence_threat", "scuffle"} <= set(fired)
    assert "描述含“彩礼”" in fired["six_bride_price"]["evidence"]
    assert first["ruleset_version"] == "2026.12-generalise.10" and "六种情形：彩礼纠纷" in first["reason_zh"]

    leader = LeaderAssigned(**common(cid, T0 + timedelta(hours=1)), leader_staff_id="s-42", leader_name="李书记",
                            unit_code="410105001")
    assert await deliver(risk, leader)
    assert not await deliver(risk, leader)  # a redelivery changes nothing
    accepted = CaseFeedback(**common(cid, T0 + timedelta(hours=2)), assignment_id="a-1", unit_code="410105001",
                            kind=FeedbackKind.ACCEPTED)
    await deliver(risk, accepted)
    # A leader named and the case accepted: nothing done yet, still red (Zhoukou: yellow only 调处后).
    assert [e["level"] for e in await staged(risk, topics.CASE_RISK_ASSESSED, cid)] == ["red"]
    no_show = MediationSessionHeld(**common(cid, T0 + timedelta(days=1)), session_id="s-0", applicant_attended=True,
                                   no_show=True)
    await deliver(risk, no_show)  # nobody came: no handling either
    assert [e["level"] for e in await staged(risk, topics.CASE_RISK_ASSESSED, cid)] == ["red"]
    held = MediationSessionHeld(**common(cid, T0 + timedelta(days=2)), session_id="s-1", applicant_attended=True)
    await deliver(risk, held)
    await deliver(risk, MediationConcluded(**common(cid, T0 + timedelta(days=3)), success=True,
                                           outcome=Outcome.AGREEMENT, applicant_message_zh="调解成功"))
    closed_at = T0 + timedelta(days=4)
    await deliver(risk, CaseClosed(**common(cid, closed_at), outcome=Outcome.AGREEMENT, unit_code="410105001",
                                   resolved=True, applicant_message_zh="已结案"))

    published = await staged(risk, topics.CASE_RISK_ASSESSED, cid)
    assert [(e["previous_level"], e["level"]) for e in published] == [(None, "red"), ("red", "yellow"),
                                                                      ("yellow", "blue")]
    assert "李书记" in published[1]["reason_zh"] and "已化解" in published[2]["reason_zh"]
    # every change says which event caused it
    assert published[0]["reason_zh"].startswith("起因：纠纷登记。")
    assert published[1]["reason_zh"].startswith("起因：调解员记录了调解情况。")
    assert published[1]["causation_id"] == str(held.event_id)
    assert published[2]["reason_zh"].startswith("起因：调解结束。")
    assert all(e["ruleset_version"] == "2026.12-generalise.10" and e["rules_fired"] for e in published)

    db = risk.state.runtime.db
    history = [d async for d in db["assessments"].find({"case_id": cid}).sort("occurred_at", 1)]
    assert [d["level"] for d in history] == ["red", "yellow", "blue"]
    assert history[0]["rules_fired"][0]["evidence"] and history[0]["ruleset_version"] == "2026.12-generalise.10"
    case = await db["cases"].find_one({"_id": cid})
    assert "彩礼" not in json.dumps(case, default=str)  # the description is encrypted at rest
    timer = await db["followups"].find_one({"case_id": cid})
    assert timer["state"] == "pending" and timer["due_at"] == closed_at + timedelta(days=30)
    assert timer["leader_staff_id"] == "s-42" and "彩礼" in timer["reason_zh"]


async def test_new_facts_re_assess_and_only_changes_are_published(risk) -> None:
    cid = f"c-{uuid.uuid4().hex[:8]}"
    await deliver(risk, submitted(cid, "楼上卫生间漏水，想请他来看看", category=Category.NEIGHBOUR))
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


async def test_a_batch_of_events_reads_and_writes_each_case_once_and_ends_as_one_at_a_time(risk) -> None:
    """A poll's events in one transaction (ADR 0155): two submissions of one applicant (the second names the first,
    held only in the batch's memory), then both cases' feedback in one batch — the same levels, assessments and
    documents as event by event, one read of the cases and one write of them per batch."""
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    batch = [f"c-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    single = [f"c-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    other = f"139{uuid.uuid4().int % 10**8:08d}"

    def story(ids: list[str], phone: str) -> tuple[list, list]:
        subs = [submitted(ids[0], RED_TEXT, phone=phone),
                submitted(ids[1], "女方悔婚不肯退还彩礼，还要吵架", phone=phone, at=T0 + timedelta(days=3))]
        fb = [CaseFeedback(**common(i, T0 + timedelta(days=4 + n)), assignment_id=f"a-{i}", unit_code=COMMUNITY,
                           kind=kind) for i in ids for n, kind in enumerate((FeedbackKind.ACCEPTED,
                                                                            FeedbackKind.RESOLVED))]
        return subs, fb

    subs, fb = story(batch, phone)
    db = risk.state.runtime.db

    async def counted(events: list) -> list[str]:
        """The commands the batch sent to this database (the server's profiler)."""
        await db["system.profile"].drop()
        await db.command("profile", 2)
        try:
            await deliver_batch(risk, events)
        finally:
            await db.command("profile", 0)
        return [f"{p.get('op')} {p['ns'].split('.', 1)[1]}" async for p in db["system.profile"].find()]

    commands_of_submissions = await counted(subs)
    commands = await counted(fb)
    # four feedbacks of two cases: one read of the cases, one write of them, the assessments and the outbox at once
    assert sorted(commands) == ["insert assessments", "insert outbox", "query cases", "update cases"], commands
    writes = [c for c in commands_of_submissions if c.endswith(" cases") and not c.startswith("query")]
    assert writes == ["update cases"], commands_of_submissions  # two new cases, one write (upserts)
    # the batch's cases, and the applicants' earlier cases for both submissions at once
    assert commands_of_submissions.count("query cases") == 2, commands_of_submissions
    # the early-warning index of both cases in one write, when warnings were last raised read once for the batch
    assert commands_of_submissions.count("update warning_index") == 1, commands_of_submissions
    assert commands_of_submissions.count("query warnings") == 1, commands_of_submissions
    subs2, fb2 = story(single, other)
    for e in [*subs2, *fb2]:
        await deliver(risk, e)

    def levels(events: list[dict]) -> list[tuple]:
        return [(e["previous_level"], e["level"], e["rules_fired"] and sorted(h["rule_id"] for h in e["rules_fired"]))
                for e in events]

    for b, s in zip(batch, single, strict=True):
        assert levels(await staged(risk, topics.CASE_RISK_ASSESSED, b)) == \
            levels(await staged(risk, topics.CASE_RISK_ASSESSED, s))
        doc_b, doc_s = await db["cases"].find_one({"_id": b}), await db["cases"].find_one({"_id": s})
        assert doc_b is not None and doc_s is not None
        same = {k for k in doc_b if k not in ("_id", "correlation_id", "case_number", "description", "applicant_key",
                                              "earlier_case_ids", "reason_zh")}
        assert {k: doc_b[k] for k in same} == {k: doc_s.get(k) for k in same}
    second = await db["cases"].find_one({"_id": batch[1]})
    assert second["earlier_case_ids"] == [batch[0]]  # seen in the batch's memory, before it was written


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
    assert w["threshold"] == 3 and w["ruleset_version"] == "2026.12-generalise.10"


async def test_a_cluster_within_one_batch_is_raised_as_case_by_case(risk) -> None:
    """A poll's submissions read their early-warning state once and write their index entries at the end: a cluster
    that forms inside the batch (its cases not written yet) and one that a batch completes (two cases written by
    earlier batches, one in this batch — and a submission after the warning in the same batch, which must not raise
    it again) give the warnings that case-by-case delivery gives."""
    def cluster(unit: str, hours: list[int]) -> list[CaseSubmitted]:
        return [submitted(f"c-{uuid.uuid4().hex[:8]}", "工厂夜里排放刺鼻气味", category=Category.ENVIRONMENT, unit=unit,
                          at=T0 + timedelta(hours=h)) for h in hours]

    async def raised(unit: str) -> list[tuple[str, list[str], str]]:
        return [(w["kind"], w["case_ids"], w["case_id"]) for w in await staged(risk, topics.WARNING_RAISED)
                if w.get("unit_code") == unit]

    inside, completed, one_by_one = (f"4101059{uuid.uuid4().int % 10**5:05d}" for _ in range(3))
    a = cluster(inside, [0, 1, 2, 3])
    await deliver_batch(risk, a)
    b = cluster(completed, [0, 1, 2, 3])
    for e in b[:2]:
        await deliver(risk, e)
    await deliver_batch(risk, b[2:])
    c = cluster(one_by_one, [0, 1, 2, 3])
    for e in c:
        await deliver(risk, e)
    expected = await raised(one_by_one)
    assert expected == [("place_cluster", [e.case_id for e in c[:3]], c[2].case_id)]
    assert await raised(inside) == [("place_cluster", [e.case_id for e in a[:3]], a[2].case_id)]
    assert await raised(completed) == [("place_cluster", [e.case_id for e in b[:3]], b[2].case_id)]
    index = risk.state.runtime.db["warning_index"]
    assert await index.count_documents({"unit_code": {"$in": [inside, completed]}}) == 8  # every entry written


async def test_a_warning_names_its_place_and_reaches_the_units_above_it(risk) -> None:
    """Foshan: "同一地点（410105011009G02）" told only the grid's own unit. With routing's public directory the
    warning names the grid and goes to its community, street and district as well."""
    from yima_risk.adapters.places import PlaceDirectory

    grid = f"G{uuid.uuid4().int % 10**6:06d}"
    units = [{"code": "410105", "name": "金水区"}, {"code": "410105011", "name": "丰庆路街道", "parent": "410105"},
             {"code": "410105011009", "name": "同乐社区", "parent": "410105011"},
             {"code": grid, "name": "同乐社区第二网格", "parent": "410105011009"}]

    def routing(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/units"
        return httpx.Response(200, json={"version": 7, "units": units})

    places = PlaceDirectory("http://routing.test", transport=httpx.MockTransport(routing))
    assert await places.refresh()
    svc = risk.state.service
    before, svc.places = svc.places, places
    try:
        ids = [f"c-{uuid.uuid4().hex[:8]}" for _ in range(3)]
        for i, cid in enumerate(ids):
            await deliver(risk, submitted(cid, "工地夜间施工噪音扰民", category=Category.ENVIRONMENT, unit=grid,
                                          at=T0 + timedelta(hours=i)))
    finally:
        svc.places = before
    [w] = [w for w in await staged(risk, topics.WARNING_RAISED) if w.get("unit_code") == grid]
    assert w["place_name"] == "同乐社区第二网格" and "同一地点（同乐社区第二网格）" in w["message_zh"]
    assert grid not in w["message_zh"]
    assert w["chain_unit_codes"] == [grid, "410105011009", "410105011", "410105"]
    down = PlaceDirectory("http://routing.test", transport=httpx.MockTransport(lambda r: httpx.Response(503)))
    assert not await down.refresh() and down.name(grid) is None and down.chain(grid) == [grid]  # by code, never lost


async def test_a_directory_not_read_at_start_is_read_when_a_warning_needs_a_name() -> None:
    """Risk may start before routing answers: the first read fails, and a warning raised a moment later still names
    its place, because a place it does not know makes it read the directory again (no more than once a second after
    a failed read, every 30 s after a good one)."""
    from yima_risk.adapters.places import PlaceDirectory

    up = {"yes": False, "reads": 0}

    def routing(request: httpx.Request) -> httpx.Response:
        up["reads"] += 1
        if not up["yes"]:
            return httpx.Response(503)
        return httpx.Response(200, json={"units": [{"code": "G1", "name": "黄河社区第二网格", "parent": "C1"},
                                                   {"code": "C1", "name": "黄河社区"}]})

    places = PlaceDirectory("http://routing.test", transport=httpx.MockTransport(routing))
    assert not await places.refresh()
    await places.know({"G1"})  # within a second of the failed read: not asked again
    assert up["reads"] == 1 and places.name("G1") is None
    up["yes"], places._tried_at = True, 0.0  # routing is up; the failed read was long ago
    await places.know({"G1"})
    assert up["reads"] == 2 and places.name("G1") == "黄河社区第二网格" and places.chain("G1") == ["G1", "C1"]
    await places.know({"G1"})
    await places.know({"G9"})  # unknown after a good read: not read again within 30 s
    assert up["reads"] == 2


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
        assert body["version"] == "2026.12-generalise.10" and len(body["sha256"]) == 64
        assert {"rule_id": "six_bride_price", "name_zh": "六种情形：彩礼纠纷"} in body["rules"]
        assert (await http.get(f"/api/v1/cases/{cid}/risk")).status_code == 401
        other = issuer.issue(staff_id="s-1", unit="410105002001", role=StaffRole.DISPATCHER)
        r = await http.get(f"/api/v1/cases/{cid}/risk", headers={"Authorization": f"Bearer {other}"})
        assert r.status_code == 404  # another unit's case: as one that does not exist
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
    bad.write_text(DEFAULT_RULES_FILE.read_text(encoding="utf-8").replace("red_score: 120", "red_score: high"),
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
    # as a debt no rule fires, but the second opinion (bride-price texts are rarely blue) raises it one step (ADR 0180)
    assert [(e["previous_level"], e["level"]) for e in corrected] == [(None, "yellow"), ("yellow", "red")]
    assert [h["rule_id"] for h in corrected[0]["rules_fired"]] == ["second_opinion"] and corrected[0]["needs_review"]
    assert "six_bride_price" in {h["rule_id"] for h in corrected[-1]["rules_fired"]}
    flagged = await staged(risk, topics.CASE_RISK_ASSESSED, other)
    assert [e["level"] for e in flagged] == ["blue", "red"]
    assert flagged[-1]["rules_fired"][0]["evidence"] == ["字段 emergency=true（应急联办）"]
    idx = await risk.state.runtime.db["warning_index"].find_one({"_id": cid})
    assert idx["category"] == "marriage_family"


async def test_staff_see_the_risk_and_warnings_of_their_unit_and_below_only(risk) -> None:
    """A community's grid worker or leader sees neither another street's case nor the district's warnings."""
    street, other_street = "410105001", "410105002"
    here, there = f"{street}{uuid.uuid4().int % 900 + 100:03d}", f"{other_street}{uuid.uuid4().int % 900 + 100:03d}"
    cases = {}
    for unit, st in ((here, street), (there, other_street)):
        ids = [f"c-{uuid.uuid4().hex[:8]}" for _ in range(3)]
        for i, cid in enumerate(ids):  # three at one place: a place_cluster warning there
            await deliver(risk, submitted(cid, "工厂夜里排放刺鼻气味", category=Category.ENVIRONMENT, unit=unit,
                                          at=T0 + timedelta(hours=i)))
            await deliver(risk, CaseAssigned(
                **common(cid, T0 + timedelta(hours=i, minutes=1)), assignment_id=f"a-{cid}", unit_code=unit,
                unit_name="社区", supervisor_unit_code=st, supervisor_unit_name="街道",
                category=Category.ENVIRONMENT, risk_level="blue", rule_id="r", reason_zh="按属地", due_at=T0,
                unit_path=["410105", st, unit], supervisor_unit_path=["410105", st],
                location_unit_path=["410105", st, unit]))
        cases[unit] = ids[0]
    issuer = TokenIssuer.dev()

    def h(unit: str, role: StaffRole, path: list[str]) -> dict[str, str]:
        return {"Authorization": "Bearer " + issuer.issue(staff_id=f"s-{role.value}", unit=unit, role=role,
                                                          unit_path=path)}

    own = h(here, StaffRole.GRID_WORKER, ["410105", street, here])
    street_leader = h(street, StaffRole.LEADER, ["410105", street])
    other_leader = h(other_street, StaffRole.LEADER, ["410105", other_street])
    sibling = h(f"{street}099", StaffRole.DISPATCHER, ["410105", street, f"{street}099"])  # same street
    district = h("410105", StaffRole.ANALYST, ["410105"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=risk), base_url="http://risk") as http:
        async def status(case_id: str, who: dict[str, str]) -> int:
            return (await http.get(f"/api/v1/cases/{case_id}/risk", headers=who)).status_code

        assert [await status(cases[here], w) for w in (own, street_leader, district)] == [200, 200, 200]
        assert [await status(cases[here], w) for w in (other_leader, sibling)] == [404, 404]
        assert await status(cases[there], own) == 404

        async def places(who: dict[str, str]) -> set[str]:
            r = await http.get("/api/v1/warnings", params={"limit": 500}, headers=who)
            assert r.status_code == 200, r.text
            return {w.get("unit_code") for w in r.json()}

        assert here in await places(own) and there not in await places(own)
        assert here in await places(street_leader) and there not in await places(street_leader)
        assert {here, there} <= await places(district)
        assert here not in await places(other_leader) and here not in await places(sibling)


# --- the leader's red cases (分包领导) and the follow-up visit (回头看) through the HTTP API ------------


def bearer(staff_id: str, role: StaffRole = StaffRole.LEADER) -> dict[str, str]:
    tok = TokenIssuer.dev().issue(staff_id=staff_id, unit="410105001", role=role, unit_path=("410105", "410105001"),
                                  name="李书记")
    return {"Authorization": f"Bearer {tok}"}


async def test_a_leader_sees_their_red_cases_and_a_visit_completes_the_follow_up(risk) -> None:
    cid = f"c-{uuid.uuid4().hex[:10]}"
    assert await deliver(risk, submitted(cid))
    assert await deliver(risk, LeaderAssigned(**common(cid, T0 + timedelta(hours=1)), leader_staff_id="s-42",
                                              leader_name="李书记", unit_code="410105001"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=risk), base_url="http://risk") as http:
        mine = (await http.get("/api/v1/leader/cases", headers=bearer("s-42"))).json()["cases"]
        case = next(c for c in mine if c["case_id"] == cid)
        assert case["case_number"] == f"JSQ-2026-{cid[-6:]}"
        # red at first; with a leader in charge the rules may lower it: the history shows both
        assert case["rules"] and all(r["name_zh"] for r in case["rules"]) and case["reason_zh"]
        assert case["levels"][0]["level"] == "red" and case["followup"] is None
        assert case["levels"][-1]["level"] == case["level"]
        other = (await http.get("/api/v1/leader/cases", headers=bearer("s-43"))).json()["cases"]
        assert cid not in [c["case_id"] for c in other]
        mediator = await http.get("/api/v1/leader/cases", headers=bearer("s-44", StaffRole.MEDIATOR))
        assert mediator.status_code == 403

        assert await deliver(risk, CaseClosed(**common(cid, T0 + timedelta(days=3)), unit_code="410105001",
                                              outcome=Outcome.AGREEMENT, resolved=True,
                                              applicant_message_zh="已调解成功"))
        case = next(c for c in (await http.get("/api/v1/leader/cases", headers=bearer("s-42"))).json()["cases"]
                    if c["case_id"] == cid)
        assert case["followup"]["state"] == "pending" and case["followup"]["due_at"]

        refused = await http.post(f"/api/v1/cases/{cid}/visits", headers=bearer("s-43"), json={"note": "别人的案件"})
        assert refused.status_code == 403
        short = await http.post(f"/api/v1/cases/{cid}/visits", headers=bearer("s-42"), json={"note": "好"})
        assert short.status_code == 422
        r = await http.post(f"/api/v1/cases/{cid}/visits", headers=bearer("s-42"),
                            json={"note": "入户回访，双方已按协议退还彩礼，关系缓和", "rebounded": False})
        assert r.status_code == 201, r.text
        case = next(c for c in (await http.get("/api/v1/leader/cases", headers=bearer("s-42"))).json()["cases"]
                    if c["case_id"] == cid)
        assert case["followup"]["state"] == "visited" and "关系缓和" in case["visits"][0]["note"]
    # the visited follow-up does not fall due any more
    assert await risk.state.service.timers.col.count_documents({"case_id": cid, "state": "pending"}) == 0
