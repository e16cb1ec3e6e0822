"""Routing, returns, escalation and supervision against the real database, on a simulated calendar."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from yima_contracts import CaseClosed, CaseFeedback, CaseRiskAssessed, CaseSubmitted
from yima_contracts.codes import Category, StaffRole
from yima_devstack.kafka_tools import keyed, read_topic
from yima_kit.calendar import STATUTORY
from yima_routing.adapters.kafka import _ended
from yima_routing.adapters.sweeper import Sweeper
from yima_routing.service import RoutingService

pytestmark = pytest.mark.integration
SH = ZoneInfo("Asia/Shanghai")
HUANGHE, FENGCHAN = "410105001001", "410105001"


def sh(*a: int) -> datetime:
    return datetime(*a, tzinfo=SH)


async def test_a_community_qr_case_lands_in_the_communitys_topic(routing) -> None:
    case_id = await routing.submit()
    topics = [e["topic"] for e in await routing.staged(case_id)]
    assert topics == ["case.assigned", f"unit.{HUANGHE}.cases", "case.status"]
    a = await routing.assignment(case_id)
    assert (a["unit_code"], a["supervisor_unit_code"], a["rule_id"]) == (HUANGHE, FENGCHAN, "community_of_location")
    assert f"unit.{HUANGHE}.cases" in routing.app.state.unit_topics.known  # created on demand


async def test_a_case_settled_on_the_spot_is_not_assigned(routing) -> None:
    case_id = await routing.submit(channel="reception", settled_on_spot=True)  # 接件即办: intake closed it
    assert await routing.staged(case_id) == []
    case = await routing.db["cases"].find_one({"_id": case_id})
    assert case["ended"]["how"] == "settled_on_spot" and "assigned" not in case


async def test_an_address_without_a_unit_is_located_by_jurisdiction(routing) -> None:
    case_id = await routing.submit(unit_code=None, address="金水区农业路8号院")
    assert (await routing.assignment(case_id))["unit_code"] == "410105001002"


async def test_a_wage_dispute_goes_to_the_labour_committee(routing) -> None:
    case_id = await routing.submit(category="labour_wages")
    order = (await routing.staged(case_id, "unit.JSQ-LDTJ.cases"))[0]
    assert order["unit_code"] == "JSQ-LDTJ" and order["supervisor_unit_code"] == "410105"
    # The committee works in yima's console (the directory says so): mediation takes this order.
    assert order["in_platform"] is True and order["unit_path"] == ["410105", "JSQ-LDTJ"]
    assert order["unit_name"] == "金水区劳动争议人民调解委员会"


async def test_a_unit_with_its_own_system_gets_an_order_marked_for_its_own_system(routing) -> None:
    case_id = await routing.submit()
    order = (await routing.staged(case_id, f"unit.{HUANGHE}.cases"))[0]
    assert order["in_platform"] is False and order["unit_path"] == ["410105", FENGCHAN, HUANGHE]


async def test_a_red_case_goes_to_the_street_and_gets_a_named_leader(routing) -> None:
    case_id = await routing.submit(risk="red", category="marriage_family")
    joint = (await routing.staged(case_id, "case.joint_summoned"))[0]  # 全科会诊 with the committee
    assert joint["lead_unit_code"] == FENGCHAN and joint["summoned_unit_codes"] == ["JSQ-HJTJ"]
    leader = (await routing.staged(case_id, "case.leader_assigned"))[0]
    assert (await routing.assignment(case_id))["unit_code"] == FENGCHAN
    staff = routing.directory.staff[leader["leader_staff_id"]]
    assert staff.role is StaffRole.LEADER and leader["leader_name"] == staff.name


async def _submit_and_return(routing, reason: str) -> str:
    """A case the community returns (退回) with the reason given; its case id."""
    case_id = await routing.submit()
    a = await routing.assignment(case_id)
    fb = CaseFeedback(case_id=case_id, correlation_id=case_id, assignment_id=a["_id"], unit_code=HUANGHE,
                      kind="returned", reason=reason)
    await routing.service.run(lambda tx: routing.service.in_batch([fb], tx, RoutingService.on_feedback))
    return case_id


async def test_the_applicants_step_happened_when_the_unit_answered_not_when_routing_read_it(routing) -> None:
    """受理 reaches notify by two hops (unit → routing → case.status), a session booked a second later by one: the
    status carries the unit's time, so the applicant's texts tell the steps in the order they happened. A unit's
    clock ahead of ours is not believed."""
    for delta, expected in ((timedelta(minutes=-5), timedelta(minutes=-5)), (timedelta(days=1), timedelta(0))):
        case_id = await routing.submit()
        a = await routing.assignment(case_id)
        fb = CaseFeedback(case_id=case_id, correlation_id=case_id, assignment_id=a["_id"], unit_code=HUANGHE,
                          kind="accepted", occurred_at=routing.clock.t + delta)
        await routing.service.run(lambda tx, fb=fb: routing.service.on_feedback(fb, tx))
        [status] = [e for e in await routing.staged(case_id, "case.status") if e["state"] == "accepted"]
        assert datetime.fromisoformat(status["occurred_at"]) == routing.clock.t + expected


async def test_a_returned_case_goes_back_to_its_supervisor_for_redispatch(routing) -> None:
    case_id = await _submit_and_return(routing, "不属于本社区辖区，系隔壁社区的房屋")

    street_dispatcher = routing.token("410105001-02")
    q = (await routing.http.get(f"/api/v1/units/{FENGCHAN}/queue", params={"scope": "supervised"},
                                headers=street_dispatcher)).json()
    waiting = [w for w in q["awaiting_redispatch"] if w["case_id"] == case_id]
    assert waiting and waiting[0]["returned_by"] == HUANGHE and "隔壁社区" in waiting[0]["reason"]
    assert waiting[0]["suggested_unit_code"] != HUANGHE  # the rules, without the unit that returned it
    assert waiting[0]["suggested_reason_zh"] and waiting[0]["suggested_rule_id"]  # and why

    # A later risk re-assessment of the returned case does not route it again behind the supervisor's back.
    again = CaseRiskAssessed(case_id=case_id, correlation_id=case_id, level="yellow", score=3,
                             ruleset_version="t", reason_zh="重新评估")
    await routing.service.run(lambda tx: routing.service.in_batch([again], tx, RoutingService.on_risk_assessed))
    assert await routing.db["assignments"].count_documents({"case_id": case_id}) == 1

    back = await routing.http.post(f"/api/v1/cases/{case_id}/dispatch", headers=street_dispatcher,
                                   json={"unit_code": HUANGHE, "reason": "再试一次"})
    assert back.status_code == 409 and back.json()["errors"][0]["code"] == "returned_by_unit"
    other_street = routing.token("410105002-02")
    stranger = await routing.http.post(f"/api/v1/cases/{case_id}/dispatch", headers=other_street,
                                       json={"unit_code": "410105001002", "reason": "我来分"})
    assert stranger.status_code == 403

    ok = await routing.http.post(f"/api/v1/cases/{case_id}/dispatch", headers=street_dispatcher,
                                 json={"unit_code": "410105001002", "reason": "房屋在农业路社区辖区"})
    assert ok.status_code == 200, ok.text
    hist = (await routing.http.get(f"/api/v1/cases/{case_id}/assignments", headers=street_dispatcher)).json()
    rounds = hist["assignments"]
    assert [(x["round"], x["unit_code"], x["state"]) for x in rounds] == [
        (1, HUANGHE, "returned"), (2, "410105001002", "assigned")]
    assert rounds[0]["feedback"][0]["reason"] == "不属于本社区辖区，系隔壁社区的房屋"  # the reason is kept
    assert rounds[1]["rule_id"] == "manual" and rounds[1]["reason_zh"] == "房屋在农业路社区辖区"
    assert rounds[1]["supervisor_unit_code"] == FENGCHAN


async def test_a_failed_mediation_moves_the_case_up_a_level(routing) -> None:
    case_id = await routing.submit()
    a = await routing.assignment(case_id)
    fb = CaseFeedback(case_id=case_id, correlation_id=case_id, assignment_id=a["_id"], unit_code=HUANGHE,
                      kind="failed", reason="双方分歧太大")
    await routing.service.run(lambda tx: routing.service.in_batch([fb], tx, RoutingService.on_feedback))
    esc = (await routing.staged(case_id, "case.escalated"))[0]
    assert (esc["from_unit_code"], esc["to_unit_code"], esc["reason"]) == (HUANGHE, FENGCHAN, "failed")
    assert (await routing.assignment(case_id))["unit_code"] == FENGCHAN


async def _fire_at(routing, t: datetime, sweeper: Sweeper | None = None) -> int:
    routing.clock.t = t
    return await (sweeper or routing.sweeper).run_once()


async def test_overdue_chain_at_working_day_times_across_holiday_weekend_and_make_up_day(routing) -> None:
    routing.clock.t = sh(2026, 9, 28, 10)  # Monday
    case_id = await routing.submit(risk="yellow")  # 5 working days → Saturday Oct 10 (调休), 18:00
    a = await routing.assignment(case_id)
    assert a["due_at"] == sh(2026, 10, 10, 18)
    # Other cases of this module would fire too: keep only this assignment's chain running.
    await routing.db["assignments"].update_many({"_id": {"$ne": a["_id"]}}, {"$set": {"sup_active": False}})
    await routing.db["joint_summons"].update_many({}, {"$set": {"reminded": True}})

    async def steps() -> list[str]:
        return [e["step"] for e in await routing.staged(case_id, "case.supervision_notice")]

    assert await _fire_at(routing, sh(2026, 10, 9, 17, 59)) == 0
    assert await _fire_at(routing, sh(2026, 10, 9, 18, 0)) == 1
    assert await steps() == ["warning"]
    assert await _fire_at(routing, sh(2026, 10, 10, 17, 59)) == 0
    # Two replicas sweep at the deadline at once (a restart is the same: a new sweeper, the state in the DB):
    routing.clock.t = sh(2026, 10, 10, 18, 0)
    other = Sweeper(routing.service, routing.app.state.repos, routing.clock)
    fired = await asyncio.gather(routing.sweeper.run_once(), other.run_once())
    assert sum(fired) == 1
    assert await steps() == ["warning", "notice"]
    status = [e["title_zh"] for e in await routing.staged(case_id, "case.status")]
    assert "案件已督办" in status  # the applicant learns that the case is being pressed
    assert await _fire_at(routing, sh(2026, 10, 11, 23, 0)) == 0  # Sunday: not a working day
    assert await _fire_at(routing, sh(2026, 10, 12, 18, 0)) == 1
    assert await steps() == ["warning", "notice", "second_notice"]
    assert await _fire_at(routing, sh(2026, 10, 13, 18, 0), other) == 1
    assert await steps() == ["warning", "notice", "second_notice", "escalated"]
    esc = (await routing.staged(case_id, "case.escalated"))[0]
    assert (esc["from_unit_code"], esc["to_unit_code"], esc["reason"]) == (HUANGHE, FENGCHAN, "overdue")
    new = await routing.assignment(case_id)
    assert new["unit_code"] == FENGCHAN and new["round"] == 2 and new["escalated_from"] == a["_id"]
    await routing.db["assignments"].update_one({"_id": new["_id"]}, {"$set": {"sup_active": False}})
    assert await _fire_at(routing, sh(2026, 10, 14, 18, 0)) == 1
    leader = next(e for e in await routing.staged(case_id, "case.supervision_notice") if e["step"] == "leader")
    assert routing.directory.staff[leader["leader_staff_id"]].role is StaffRole.LEADER
    assert await _fire_at(routing, sh(2026, 10, 30, 18, 0)) == 0  # the chain is over
    assert await steps() == ["warning", "notice", "second_notice", "escalated", "leader"]

    # …and through the real broker, as notify, insight or a department reads it. Only this case's notices go
    # out: the other staged events belong to made-up cases that the platform's own topics must not carry.
    outbox = routing.db["outbox"]
    await outbox.delete_many({"$or": [{"key": {"$ne": case_id}}, {"topic": {"$ne": "case.supervision_notice"}}]})
    relay = routing.app.state.runtime.relay
    while await relay.publish_pending():
        pass
    recs = await read_topic(routing.kafka, "case.supervision_notice", keyed(case_id, at_least=5))
    notices = [json.loads(r.value) for r in recs]
    assert [(n["step"], n["supervisor_unit_code"]) for n in notices] == [
        ("warning", FENGCHAN), ("notice", FENGCHAN), ("second_notice", FENGCHAN), ("escalated", FENGCHAN),
        ("leader", FENGCHAN)]
    assert "督办" in notices[1]["message_zh"] and "2026年10月10日18:00" in notices[1]["message_zh"]


async def test_pause_and_resume_move_the_deadline_by_the_paused_working_days(routing) -> None:
    routing.clock.t = sh(2026, 9, 28, 10)
    case_id = await routing.submit(risk="yellow")
    a = await routing.assignment(case_id)
    street = routing.token("410105001-02")
    routing.clock.t = sh(2026, 9, 29, 9)  # Tuesday: 4 working days left (Sep 30, Oct 8, 9, 10)
    r = await routing.http.post(f"/api/v1/assignments/{a['_id']}/pause", headers=street,
                                json={"reason": "等待当事人从外地返回"})
    assert r.status_code == 200, r.text
    assert await routing.db["assignments"].count_documents({"_id": a["_id"], "sup_next_at": None}) == 1
    routing.clock.t = sh(2026, 10, 12, 9)  # resumed Monday Oct 12 → Oct 13, 14, 15, 16
    r = await routing.http.post(f"/api/v1/assignments/{a['_id']}/resume", headers=street,
                                json={"reason": "当事人已返回"})
    assert r.status_code == 200, r.text
    a = await routing.db["assignments"].find_one({"_id": a["_id"]})
    assert a["due_at"] == sh(2026, 10, 16, 18) and not a["paused"]
    changes = [(e["change"], e["due_at"]) for e in await routing.staged(case_id, "case.deadline_changed")]
    assert [c for c, _ in changes] == ["paused", "resumed"] and changes[0][1] is None


async def test_joint_handling_summons_units_that_must_report_in(routing) -> None:
    case_id = await routing.submit()
    lead = routing.token("410105001001-01")
    r = await routing.http.post(f"/api/v1/cases/{case_id}/joint", headers=lead, json={
        "unit_codes": ["JSQ-ZJJ", "JSQ-GADJ"], "reason": "漏水涉及违章改建，需住建和公安共同到场"})
    assert r.status_code == 200, r.text
    joint_id = r.json()["joint_id"]
    ev = (await routing.staged(case_id, "case.joint_summoned"))[0]
    assert ev["lead_unit_code"] == HUANGHE and ev["summoned_unit_codes"] == ["JSQ-ZJJ", "JSQ-GADJ"]
    assert datetime.fromisoformat(ev["report_by"]) == STATUTORY.add_working_days(routing.clock(), 1)[0]  # next workday

    outsider = routing.token("jsq-rsj-01")
    assert (await routing.http.post(f"/api/v1/joint/{joint_id}/report", headers=outsider,
                                    json={"note": "我也来"})).status_code == 404
    r = await routing.http.post(f"/api/v1/joint/{joint_id}/report", headers=routing.token("jsq-zjj-01"),
                                json={"note": "住建局已派员到场"})
    assert r.json()["waiting_for"] == ["JSQ-GADJ"]
    r = await routing.http.post(f"/api/v1/joint/{joint_id}/report", headers=routing.token("jsq-gadj-01"),
                                json={"note": "派出所民警已到场"})
    assert r.json()["waiting_for"] == []
    assert (await routing.assignment(case_id))["unit_code"] == HUANGHE  # the lead keeps responsibility


async def test_a_summoned_department_sees_its_summons_and_reports_from_its_own_system(routing) -> None:
    """Foshan's 吹哨报到: the event and the notice carry the summons id and what to report; a department lists its
    open summons and reports over Kafka (case.joint_report) as well as in the console."""
    from yima_contracts.routing_events import JointReport
    from yima_kit.consumer import PermanentError

    case_id = await routing.submit()
    lead = routing.token("410105001001-01")
    r = await routing.http.post(f"/api/v1/cases/{case_id}/joint", headers=lead, json={
        "unit_codes": ["JSQ-ZJJ", "JSQ-GADJ"], "reason": "机耕路纠纷涉及违建，需住建和公安共同到场"})
    joint_id = r.json()["joint_id"]
    ev = (await routing.staged(case_id, "case.joint_summoned"))[0]
    assert ev["joint_id"] == joint_id and ev["lead_unit_name"] and "参加人员" in ev["report_what_zh"]

    zjj = routing.token("jsq-zjj-01")
    mine = await routing.http.get("/api/v1/units/JSQ-ZJJ/joint", headers=zjj)
    assert mine.status_code == 200, mine.text
    [item] = [i for i in mine.json()["items"] if i["joint_id"] == joint_id]
    assert item["case_id"] == case_id and item["lead_unit_code"] == HUANGHE and item["reason_zh"].startswith("机耕路")
    assert item["case_number"] and item["report_by"]
    other = await routing.http.get("/api/v1/units/JSQ-ZJJ/joint", headers=routing.token("jsq-rsj-01"))
    assert other.status_code == 403  # another department does not read this one's summons (out of scope)

    # 住建局's own system answers on Kafka (the consumer's handler, as the broker would deliver it)
    report = JointReport(case_id=case_id, correlation_id=case_id, joint_id=joint_id, unit_code="JSQ-ZJJ",
                         note="住建局执法队两人于10:30到场，已责令停工")
    await routing.service.run(lambda tx: routing.service.in_batch([report], tx, RoutingService.on_joint_report))
    again = routing.service.in_batch  # a redelivery: no change
    await routing.service.run(lambda tx: again([report], tx, RoutingService.on_joint_report))
    mine = await routing.http.get("/api/v1/units/JSQ-ZJJ/joint", headers=zjj)
    assert all(i["joint_id"] != joint_id for i in mine.json()["items"])  # no longer open for it
    detail = (await routing.http.get(f"/api/v1/joint/{joint_id}", headers=lead)).json()
    assert detail["units"]["JSQ-ZJJ"]["note"].startswith("住建局执法队")
    assert detail["units"]["JSQ-GADJ"]["reported_at"] is None
    wrong = JointReport(case_id=case_id, correlation_id=case_id, joint_id=joint_id, unit_code="JSQ-RSJ", note="我也来")
    with pytest.raises(PermanentError):  # not summoned: dead-lettered with the reason, never applied
        await routing.service.run(lambda tx: routing.service.in_batch([wrong], tx, RoutingService.on_joint_report))


async def test_a_summoned_unit_that_does_not_report_in_is_pressed_once(routing) -> None:
    routing.clock.t = sh(2026, 10, 9, 10)  # Friday; report by the next working day: Saturday Oct 10 (调休)
    case_id = await routing.submit()
    await routing.db["assignments"].update_many({}, {"$set": {"sup_active": False}})
    await routing.db["joint_summons"].update_many({}, {"$set": {"reminded": True}})
    lead = routing.token("410105001001-01")
    r = await routing.http.post(f"/api/v1/cases/{case_id}/joint", headers=lead, json={
        "unit_codes": ["JSQ-ZJJ", "JSQ-GADJ"], "reason": "需住建和公安共同到场"})
    joint_id = r.json()["joint_id"]
    await routing.http.post(f"/api/v1/joint/{joint_id}/report", headers=routing.token("jsq-zjj-01"),
                            json={"note": "已到场"})
    assert await _fire_at(routing, sh(2026, 10, 10, 17, 59)) == 0
    assert await _fire_at(routing, sh(2026, 10, 10, 18, 0)) == 1
    assert await _fire_at(routing, sh(2026, 10, 12, 18, 0)) == 0  # once
    notices = [e for e in await routing.staged(case_id, "case.supervision_notice") if e.get("joint_id") == joint_id]
    assert [(n["unit_code"], n["supervisor_unit_code"]) for n in notices] == [("JSQ-GADJ", HUANGHE)]
    assert "吹哨报到" in notices[0]["message_zh"]


async def test_a_deadline_in_an_unpublished_year_is_provisional_and_recomputed_with_admin_entered_days(routing):
    routing.clock.t = sh(2026, 12, 28, 10)  # Monday; 5 working days run into 2027 (not yet published)
    case_id = await routing.submit(risk="yellow")
    a = await routing.assignment(case_id)
    assert a["due_provisional"] and a["due_at"] == sh(2027, 1, 4, 18)  # Dec 29, 30, 31, Jan 1 (?), Jan 4
    admin = routing.token("410105-01", mfa=True)
    r = await routing.http.put("/api/v1/admin/calendar/2027-01-01", headers=admin,
                               json={"workday": False, "reason": "元旦（国务院通知发布前的暂定安排）"})
    assert r.status_code == 200, r.text
    assert r.json()["deadlines_recomputed"] >= 1
    a = await routing.db["assignments"].find_one({"_id": a["_id"]})
    assert a["due_at"] == sh(2027, 1, 5, 18) and a["due_provisional"]
    ev = (await routing.staged(case_id, "case.deadline_changed"))[-1]
    assert ev["change"] == "recomputed" and ev["provisional"] is True
    published = await routing.http.put("/api/v1/admin/calendar/2026-10-01", headers=admin,
                                       json={"workday": True, "reason": "试图改已公布的年份"})
    assert published.status_code == 409
    street_admin = routing.token("410105001-01", mfa=True)
    assert (await routing.http.put("/api/v1/admin/calendar/2027-01-02", headers=street_admin,
                                   json={"workday": True, "reason": "街道无权"})).status_code == 403
    await routing.db["calendar"].delete_many({})  # the entered days are process-wide: leave none behind
    await routing.service.load_calendar()


async def test_a_closed_case_gets_no_more_supervision(routing) -> None:
    routing.clock.t = sh(2026, 9, 28, 10)
    case_id = await routing.submit()
    a = await routing.assignment(case_id)
    closed = CaseClosed(case_id=case_id, correlation_id=case_id, outcome="agreement", unit_code="410105001001",
                        resolved=True, applicant_message_zh="已结案")
    await routing.service.run(lambda tx: routing.service.in_batch([closed], tx, _ended("closed")))
    a = await routing.db["assignments"].find_one({"_id": a["_id"]})
    assert a["state"] == "closed" and not a["sup_active"]
    await routing.db["assignments"].update_many({"case_id": {"$ne": case_id}}, {"$set": {"sup_active": False}})
    await routing.db["joint_summons"].update_many({}, {"$set": {"reminded": True}})
    assert await _fire_at(routing, sh(2026, 12, 31, 18)) == 0
    assert await routing.staged(case_id, "case.supervision_notice") == []


async def test_a_returned_case_left_waiting_presses_its_supervisor_once(routing) -> None:
    case_id = await _submit_and_return(routing, "不属于本社区辖区")
    remind_at = (await routing.db["cases"].find_one({"_id": case_id}))["pending_dispatch"]["remind_at"]
    before = routing.clock.t
    try:
        await _fire_at(routing, remind_at.replace(tzinfo=UTC) - timedelta(minutes=1))
        assert await routing.staged(case_id, "case.supervision_notice") == []  # a working day is not over yet
        await _fire_at(routing, remind_at.replace(tzinfo=UTC) + timedelta(minutes=1))
        await _fire_at(routing, remind_at.replace(tzinfo=UTC) + timedelta(hours=3))  # and never twice
        notices = await routing.staged(case_id, "case.supervision_notice")
        assert len(notices) == 1
        n = notices[0]
        # The street holds the returned case; the district above it hears of it too (notify copies the supervisor).
        assert (n["unit_code"], n["supervisor_unit_code"], n["step"]) == (FENGCHAN, "410105", "notice")
        assert "待重新分派" in n["message_zh"] and "黄河社区" in n["message_zh"]
    finally:
        routing.clock.t = before


async def test_a_court_referral_goes_to_its_field_the_court_follows_redirects_and_hears_the_outcome(routing) -> None:
    """Jiyuan's 诉前委派: a medical dispute the court referred goes to the medical committee, the court's centre
    supervises (its reference on the work order), may redirect it (no 403 not_supervisor), and hears the outcome on
    case.referral_outcome as its own system would read it."""
    from yima_contracts import CaseSubmitted
    from yima_contracts.codes import FeedbackKind

    case_id = f"c-{uuid.uuid4().hex[:12]}"
    ref = "(2026)豫0105民诉前调1234号"
    sub = CaseSubmitted(
        case_id=case_id, correlation_id=case_id, case_number=f"JSQ-2026-{uuid.uuid4().int % 10**6:06d}",
        tracking_code="ABCD2345", channel="court_referral", category="medical", category_source="staff",
        description="患者术后感染，家属认为医院存在过错，要求赔偿", applicant={"name": "赵某", "phone": "13812340000"},
        location={"unit_code": HUANGHE}, submitted_at=routing.clock(), court_reference=ref)
    await routing.service.run(lambda tx: routing.service.in_batch([sub], tx, RoutingService.on_submitted))
    await routing.service.run(lambda tx: routing.service.on_risk_assessed(CaseRiskAssessed(
        case_id=case_id, correlation_id=case_id, level="yellow", score=20, ruleset_version="t", reason_zh="测试"), tx))
    [order] = [e for e in await routing.staged(case_id) if e["topic"].startswith("unit.")]
    medical = routing.directory.committee_for(Category.MEDICAL, frozenset())
    assert order["unit_code"] == medical.code and order["supervisor_unit_code"] == "JSQ-FYSD"
    assert order["court_reference"] == ref

    # the court's centre may redirect its referral (it supervises): to the town's mediation, say
    court = routing.token(unit="JSQ-FYSD", role=StaffRole.DISPATCHER)
    r = await routing.http.post(f"/api/v1/cases/{case_id}/dispatch", headers=court, json={
        "unit_code": "410105001", "reason": "当事人均在本街道，改由街道人民调解委员会调解"})
    assert r.status_code == 200, r.text
    a = await routing.assignment(case_id)
    assert a["unit_code"] == "410105001" and a["supervisor_unit_code"] == "JSQ-FYSD"

    done = CaseFeedback(case_id=case_id, correlation_id=case_id, assignment_id=a["_id"], unit_code="410105001",
                        kind=FeedbackKind.RESOLVED, note="达成调解协议，医院一次性赔偿3万元")
    await routing.service.run(lambda tx: routing.service.in_batch([done], tx, RoutingService.on_feedback))
    [outcome] = await routing.staged(case_id, "case.referral_outcome")
    assert outcome["referring_unit_code"] == "JSQ-FYSD" and outcome["court_reference"] == ref
    assert outcome["outcome"] == "resolved" and outcome["handling_unit_code"] == "410105001"
    assert "3万元" in outcome["note_zh"] and outcome["case_number"] == sub.case_number


async def test_a_poll_of_cases_is_read_once_written_once_and_each_case_assigned_once(routing) -> None:
    """ADR 0155: a batch of submissions, then a batch of their risk levels (one of them twice), each in one
    transaction — every case assigned exactly once, the cases read in one query and written in one per batch."""
    routing.clock.t = sh(2026, 9, 28, 10)
    ids = [f"c-{uuid.uuid4().hex[:12]}" for _ in range(3)]
    subs = [CaseSubmitted(
        case_id=i, correlation_id=i, case_number=f"JSQ-2026-{uuid.uuid4().int % 10**6:06d}", tracking_code="ABCD2345",
        channel="self_service", category="neighbour", category_source="applicant", description="楼上漏水",
        applicant={"name": "张三", "phone": "13812345678"}, location={"unit_code": "410105001001"},
        submitted_at=routing.clock()) for i in ids]
    risks = [CaseRiskAssessed(case_id=i, correlation_id=i, level="blue", score=1, ruleset_version="t",
                              reason_zh="测试") for i in [*ids, ids[0]]]
    db = routing.db

    async def counted(events, handle) -> list[str]:
        await db["system.profile"].drop()
        await db.command("profile", 2)
        try:
            await routing.service.run(lambda tx: routing.service.in_batch(events, tx, handle))
        finally:
            await db.command("profile", 0)
        return [f"{p.get('op')} {p['ns'].split('.', 1)[1]}" async for p in db["system.profile"].find()]

    facts = await counted(subs, RoutingService.on_submitted)
    assert sorted(facts) == ["query cases", "update cases"], facts  # three new cases: one read, one write (upserts)
    assigned = await counted(risks, RoutingService.on_risk_assessed)
    assert assigned.count("query cases") == 1 and assigned.count("update cases") == 1, assigned
    assert assigned.count("insert assignments") == 1, assigned  # three assignments at once
    for i in ids:
        assert len(await routing.staged(i, "case.assigned")) == 1
        case = await db["cases"].find_one({"_id": i})
        a = await db["assignments"].find_one({"_id": case["assigned"]})
        assert case["routed"] and case["risk"]["level"] == "blue" and a["case_id"] == i and a["state"] == "assigned"
