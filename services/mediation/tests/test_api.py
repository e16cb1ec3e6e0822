"""Mediation's staff API against the real MongoDB-protocol server (and broker, for /health): work orders
go in as the consumer would put them, events come out through the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import uuid
import zipfile
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from yima_contracts import Location, Party, UnitCaseAssigned
from yima_contracts.codes import Category, Channel, RiskLevel, StaffRole
from yima_kit.auth import TokenIssuer
from yima_mediation.app import create_app
from yima_mediation.config import MediationSettings
from yima_mediation.core.schedule import SHANGHAI, is_workday

pytestmark = pytest.mark.integration

UNIT = "JSQ-LDTJ"
OTHER = "JSQ-WYTJ"


def token(role: StaffRole = StaffRole.DISPATCHER, unit: str = UNIT, sub: str = "s-1") -> dict[str, str]:
    t = TokenIssuer.dev().issue(staff_id=sub, unit=unit, role=role, unit_path=("410105", unit), name="王受理")
    return {"Authorization": f"Bearer {t}"}


STAFF = token()
MEDIATOR = token(StaffRole.MEDIATOR, sub="m-1")


def next_workday_at(hour: int, minute: int = 0, days_ahead: int = 1) -> datetime:
    d = datetime.now(SHANGHAI).date() + timedelta(days=days_ahead)
    while not is_workday(d):
        d += timedelta(days=1)
    return datetime(d.year, d.month, d.day, hour, minute, tzinfo=SHANGHAI)


def order(unit: str = UNIT, path: tuple[str, ...] = ("410105",), in_platform: bool = True) -> UnitCaseAssigned:
    case_id = str(uuid.uuid4())
    return UnitCaseAssigned(
        case_id=case_id, correlation_id=case_id, assignment_id=str(uuid.uuid4()), unit_code=unit,
        unit_name="金水区劳动争议人民调解委员会", unit_path=[*path, unit], in_platform=in_platform,
        case_number="JSQ-2026-000042", channel=Channel.SELF_SERVICE, category=Category.LABOUR_WAGES,
        risk_level=RiskLevel.YELLOW, description="包工头拖欠我们三个月工资，一共两万多元",
        applicant=Party(name="买买提·艾力", phone="13812345678"), location=Location(unit_code="410105001001"),
        supervisor_unit_code="410105", supervisor_unit_name="金水区矛盾纠纷多元化解中心",
        due_at=datetime.now(UTC) + timedelta(days=7))


@pytest.fixture(scope="module")
async def api(yima_infra):
    settings = MediationSettings(kafka_bootstrap=yima_infra.kafka_bootstrap, mongo_url=yima_infra.mongo_url,
                                 mongo_db_prefix=f"t{uuid.uuid4().hex[:8]}_", prefetch_font=False)
    app = create_app(settings, consume=False, relay=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mediation") as client:
            client.rt = app.state.runtime  # type: ignore[attr-defined]
            client.svc = app.state.service  # type: ignore[attr-defined]
            yield client


async def new_case(api, unit: str = UNIT, path: tuple[str, ...] = ("410105",)) -> UnitCaseAssigned:
    ev = order(unit, path)
    assert await api.svc.ingest(ev, api.rt.consumers)
    assert not await api.svc.ingest(ev, api.rt.consumers)  # redelivery changes nothing
    return ev


async def staged(api, case_id: str, topic: str | None = None) -> list[dict]:
    q = {"key": case_id} | ({"topic": topic} if topic else {})
    return [d async for d in api.rt.db["outbox"].find(q).sort("_id", 1)]


async def answers(api, case_id: str, invitation_id: str) -> list[dict]:
    """The mediation.expert_answered events staged for one invitation (payloads)."""
    import json

    sent = [json.loads(d["payload"]) for d in await staged(api, case_id, "mediation.expert_answered")]
    return [e for e in sent if e["invitation_id"] == invitation_id]


async def person(api, kind: str, name: str, **extra) -> str:
    r = await api.post("/api/v1/people", json={"kind": kind, "name": name, **extra}, headers=STAFF)
    assert r.status_code == 201, r.text
    return r.json()["person_id"]


async def accepted_case_with_mediator(api) -> tuple[UnitCaseAssigned, str]:
    ev = await new_case(api)
    aid = ev.assignment_id
    assert (await api.post(f"/api/v1/cases/{aid}/accept", json={}, headers=STAFF)).status_code == 200
    r = await api.post(f"/api/v1/cases/{aid}/parties", json={"name": "郑州某建筑劳务公司", "is_organisation": True},
                       headers=STAFF)
    assert r.status_code == 201 and r.json()["party_id"] == "p2"
    m = await person(api, "mediator", f"王调解{uuid.uuid4().hex[:4]}", staff_id="m-1")
    r = await api.post(f"/api/v1/cases/{aid}/mediators", json={"person_ids": [m]}, headers=STAFF)
    assert r.status_code == 200, r.text
    return ev, aid


@contextlib.contextmanager
def clock_at(api, when: datetime):
    """The service's clock set to ``when`` (a session's record comes after its start)."""
    before = api.svc.now
    api.svc.now = lambda: when
    try:
        yield
    finally:
        api.svc.now = before


async def record_after_start(api, sid: str, start: datetime, body: dict) -> httpx.Response:
    with clock_at(api, start + timedelta(minutes=30)):
        return await api.post(f"/api/v1/sessions/{sid}/record", headers=MEDIATOR, json=body)


async def held_session(api, aid: str, summary: str = "双方到场协商", next_step: str = "起草调解协议") -> str:
    """A session booked for the next working morning and recorded as held once it has begun."""
    s = next_workday_at(10)
    r = await api.post(f"/api/v1/cases/{aid}/sessions", headers=MEDIATOR, json={
        "mode": "online", "starts_at": s.isoformat(), "ends_at": (s + timedelta(hours=1)).isoformat()})
    assert r.status_code == 201, r.text
    rec = await record_after_start(api, r.json()["session_id"], s, {
        "attended": ["p1", "p2"], "summary": summary, "next_step": next_step})
    assert rec.status_code == 200 and rec.json()["state"] == "held", rec.text
    return str(r.json()["session_id"])


async def signed_agreement(api, aid: str, term: str = "一次性支付10000元", method: str = "in_person") -> dict:
    """A session held, an agreement drafted, confirmed by both parties and signed; the signing's answer
    (agreement_id, sha256…)."""
    await held_session(api, aid)
    agid = (await api.post(f"/api/v1/cases/{aid}/agreement", headers=MEDIATOR, json={
        "facts_zh": "欠薪纠纷", "terms": [term]})).json()["agreement_id"]
    for pid in ("p1", "p2"):
        await api.post(f"/api/v1/agreements/{agid}/confirmations", headers=MEDIATOR,
                       json={"party_id": pid, "method": method})
    signed = await api.post(f"/api/v1/agreements/{agid}/sign", headers=MEDIATOR)
    assert signed.status_code == 200, signed.text
    return {"agreement_id": agid, **signed.json()}


async def test_queue_is_scoped_to_the_unit_and_masks_personal_data(api) -> None:
    ev = await new_case(api)
    mine = (await api.get("/api/v1/queue", params={"state": "new"}, headers=STAFF)).json()["items"]
    item = next(i for i in mine if i["assignment_id"] == ev.assignment_id)
    assert item["parties"][0]["phone"] == "138****5678" and "艾力" not in item["parties"][0]["name"]
    other = (await api.get("/api/v1/queue", headers=token(unit=OTHER))).json()["items"]
    assert all(i["assignment_id"] != ev.assignment_id for i in other)
    r = await api.post(f"/api/v1/cases/{ev.assignment_id}/accept", json={}, headers=token(unit=OTHER))
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "not_found"
    assert (await api.get("/api/v1/queue")).status_code == 401
    # a mediator may not accept (受理 is for the dispatcher, leader or admin)
    assert (await api.post(f"/api/v1/cases/{ev.assignment_id}/accept", json={}, headers=MEDIATOR)).status_code == 403


async def test_accept_answers_on_case_feedback_once(api) -> None:
    ev = await new_case(api)
    r = await api.post(f"/api/v1/cases/{ev.assignment_id}/accept", json={"kind": "people"}, headers=STAFF)
    assert r.status_code == 200, r.text
    again = await api.post(f"/api/v1/cases/{ev.assignment_id}/accept", json={}, headers=STAFF)
    assert again.status_code == 409 and "已受理" in again.json()["message"]
    fb = await staged(api, ev.case_id, "case.feedback")
    assert len(fb) == 1 and '"kind":"accepted"' in fb[0]["payload"] and ev.assignment_id in fb[0]["payload"]
    audit = [a async for a in api.rt.db["audit"].find(
        {"action": "POST /api/v1/cases/{assignment_id}/accept", "object_id": ev.assignment_id}).sort("_id", 1)]
    assert [(a["actor"], a["actor_unit"], a["actor_role"], a["detail"], a["success"]) for a in audit] == [
        ("s-1", UNIT, "dispatcher", "HTTP 200", True), ("s-1", UNIT, "dispatcher", "HTTP 409", False)]


async def test_staff_calls_land_in_the_audit_chain_and_tampering_is_found(api) -> None:
    audit = api.rt.db["audit"]
    analyst = token(StaffRole.ANALYST, sub="an-1")
    ev = await new_case(api)
    aid = ev.assignment_id
    before = await audit.count_documents({})
    assert (await api.get("/api/v1/queue", headers=STAFF)).status_code == 200
    assert (await api.post(f"/api/v1/cases/{aid}/accept", json={}, headers=MEDIATOR)).status_code == 403
    assert (await api.get(f"/api/v1/cases/{aid}", headers=token(unit=OTHER, sub="o-1"))).status_code == 404
    assert (await api.post(f"/api/v1/cases/{aid}/accept", json={}, headers=STAFF)).status_code == 200
    assert (await api.get("/api/v1/audit/verify", headers=STAFF)).status_code == 403  # dispatchers may not
    mine = [d async for d in audit.find({"_id": {"$gt": before}}).sort("_id", 1)]
    assert [(d["actor"], d["actor_unit"], d["action"], d["object_id"], d["success"]) for d in mine] == [
        ("s-1", UNIT, "GET /api/v1/queue", "", True),
        ("m-1", UNIT, "POST /api/v1/cases/{assignment_id}/accept", aid, False),
        ("o-1", OTHER, "GET /api/v1/cases/{assignment_id}", aid, False),
        ("s-1", UNIT, "POST /api/v1/cases/{assignment_id}/accept", aid, True),
        ("s-1", UNIT, "GET /api/v1/audit/verify", "", False),
    ]
    assert [d["detail"] for d in mine[1:3]] == ["HTTP 403", "HTTP 404"]
    for d in mine:  # ids and codes only: nothing of the applicant's
        assert "13812345678" not in str(d) and "艾力" not in str(d) and "工资" not in str(d)

    v = (await api.get("/api/v1/audit/verify", headers=analyst)).json()
    assert v["intact"] is True and v["records"] >= before + 5 and v["first_bad"] is None
    target = mine[1]["_id"]
    await audit.update_one({"_id": target}, {"$set": {"success": True}})  # someone hides a refused attempt
    try:
        v = (await api.get("/api/v1/audit/verify", headers=analyst)).json()
        assert v == {"intact": False, "records": target, "first_bad": target}
    finally:
        await audit.update_one({"_id": target}, {"$set": {"success": False}})
    assert (await api.get("/api/v1/audit/verify", headers=analyst)).json()["intact"] is True


async def test_return_needs_a_reason_and_answers_returned(api) -> None:
    ev = await new_case(api)
    bad = await api.post(f"/api/v1/cases/{ev.assignment_id}/return", json={}, headers=STAFF)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "reason"
    r = await api.post(f"/api/v1/cases/{ev.assignment_id}/return", headers=STAFF,
                       json={"reason": "不属于本委员会受理范围，应由物业调委会办理"})
    assert r.status_code == 200
    fb = await staged(api, ev.case_id, "case.feedback")
    assert '"kind":"returned"' in fb[0]["payload"] and "物业调委会" in fb[0]["payload"]


async def test_a_mediator_related_to_a_party_is_refused_with_the_reason(api) -> None:
    ev = await new_case(api)
    aid = ev.assignment_id
    await api.post(f"/api/v1/cases/{aid}/accept", json={}, headers=STAFF)
    related = await person(api, "mediator", "艾力江", relations=[{"name": "买买提·艾力", "relation_zh": "亲属"}])
    r = await api.post(f"/api/v1/cases/{aid}/mediators", json={"person_ids": [related]}, headers=STAFF)
    assert r.status_code == 409
    assert r.json()["errors"][0]["code"] == "conflict_of_interest"
    assert "与本案申请人存在亲属关系" in r.json()["message"]
    assert (await api.get(f"/api/v1/cases/{aid}", headers=STAFF)).json()["mediators"] == []


async def test_expert_invitation_conflict_accept_and_decline(api) -> None:
    import json

    ev, aid = await accepted_case_with_mediator(api)
    employee = await person(api, "lawyer", "赵律师", employer="郑州某建筑劳务公司", fields=["labour_wages"])
    r = await api.post(f"/api/v1/cases/{aid}/invitations", json={"person_id": employee}, headers=MEDIATOR)
    assert r.status_code == 409 and "任职于本案被申请人" in r.json()["message"]
    lawyer = await person(api, "lawyer", "李明", title_zh="河南某律师事务所律师", fields=["labour_wages"])
    found = (await api.get("/api/v1/people", params={"kind": "lawyer", "field": "labour_wages"}, headers=STAFF)).json()
    assert {p["name"] for p in found["items"]} >= {"李明", "赵律师"}
    inv = await api.post(f"/api/v1/cases/{aid}/invitations", json={"person_id": lawyer}, headers=MEDIATOR)
    assert inv.status_code == 201
    iid = inv.json()["invitation_id"]
    ok = await api.post(f"/api/v1/invitations/{iid}/answer", json={"accept": True}, headers=MEDIATOR)
    assert ok.json()["state"] == "accepted"
    twice = await api.post(f"/api/v1/invitations/{iid}/answer", json={"accept": False}, headers=MEDIATOR)
    assert twice.status_code == 409
    # the hosting unit hears the answer: one event, staged with it (the refused second answer stages nothing)
    [e] = await answers(api, ev.case_id, iid)
    assert (e["answer"], e["answered_by"], e["reason_zh"]) == ("accepted", "staff", None)
    assert (e["person_id"], e["expert_kind"], e["expert_name"]) == (lawyer, "lawyer", "李明")
    assert (e["unit_code"], e["assignment_id"], e["case_number"]) == (UNIT, aid, "JSQ-2026-000042")
    assert e["actor"]["staff_id"] == "m-1" and e["case_id"] == ev.case_id
    listed = (await api.get(f"/api/v1/cases/{aid}/invitations", headers=MEDIATOR)).json()["items"]
    assert sorted(i["state"] for i in listed) == ["accepted", "refused"]
    # a session booked now names the experts who will come (persons, not phones): not the refused one, not one
    # who declined; one still to answer is named (the time is what they need to answer)
    judge = await person(api, "judge", "陈法官", phone="13700002222")
    sage = await person(api, "sage", "王乡贤")
    for who in (judge, sage):
        assert (await api.post(f"/api/v1/cases/{aid}/invitations", json={"person_id": who},
                               headers=MEDIATOR)).status_code == 201
    declined = next(i for i in (await api.get(f"/api/v1/cases/{aid}/invitations", headers=MEDIATOR)).json()["items"]
                    if i["person_id"] == sage)
    no = await api.post(f"/api/v1/invitations/{declined['invitation_id']}/answer",
                        json={"accept": False, "reason": "外地出差"}, headers=MEDIATOR)
    assert no.json()["state"] == "declined"
    [e] = await answers(api, ev.case_id, declined["invitation_id"])
    assert (e["answer"], e["answered_by"], e["reason_zh"]) == ("declined", "staff", "外地出差")
    assert e["expert_name"] == "王乡贤" and e["expert_kind"] == "sage"
    start = next_workday_at(10)
    assert (await api.post(f"/api/v1/cases/{aid}/sessions", headers=MEDIATOR, json={
        "mode": "online", "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=1)).isoformat()})).status_code == 201
    sched = json.loads((await staged(api, ev.case_id, "mediation.scheduled"))[0]["payload"])
    assert sorted(sched["expert_person_ids"]) == sorted([lawyer, judge])
    assert sched["expert_kinds"] == ["judge", "lawyer"]
    assert "13700002222" not in json.dumps(sched)


async def test_an_invitation_tells_the_expert_through_the_outbox(api) -> None:
    import json

    ev, aid = await accepted_case_with_mediator(api)
    employee = await person(api, "lawyer", "赵律师", employer="郑州某建筑劳务公司", phone="13700001111")
    assert (await api.post(f"/api/v1/cases/{aid}/invitations", json={"person_id": employee},
                           headers=MEDIATOR)).status_code == 409  # refused: nobody is told
    judge = await person(api, "judge", "陈法官", phone="0371-6789 1234")
    bogus = await api.post(f"/api/v1/cases/{aid}/invitations", json={"person_id": judge, "session_id": "nope"},
                           headers=MEDIATOR)
    assert bogus.status_code == 422 and bogus.json()["errors"][0]["code"] == "unknown_session"
    start = next_workday_at(10)
    ses = await api.post(f"/api/v1/cases/{aid}/sessions", headers=MEDIATOR, json={
        "mode": "online", "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat()})
    assert ses.status_code == 201, ses.text
    inv = await api.post(f"/api/v1/cases/{aid}/invitations", headers=MEDIATOR,
                         json={"person_id": judge, "session_id": ses.json()["session_id"]})
    assert inv.status_code == 201, inv.text
    out = await staged(api, ev.case_id, "mediation.expert_invited")
    assert len(out) == 1 and out[0]["key"] == ev.case_id  # partitioned by the case, like all its events
    e = json.loads(out[0]["payload"])
    assert e["invitation_id"] == inv.json()["invitation_id"] and e["person_id"] == judge
    assert (e["expert_kind"], e["expert_name"], e["expert_phone"]) == ("judge", "陈法官", "037167891234")
    assert (e["case_number"], e["category"], e["assignment_id"]) == ("JSQ-2026-000042", "labour_wages", aid)
    assert e["mode"] == "online" and e["session_id"] == ses.json()["session_id"] and e["join_url"]
    assert datetime.fromisoformat(e["starts_at"]) == start and "答复是否参加" in e["reply_zh"]
    assert "买买提" not in out[0]["payload"] and "13812345678" not in out[0]["payload"]  # no party data
    # without a phone and a session: the event still goes (the expert's inbox), with neither
    lawyer = await person(api, "lawyer", f"李明{uuid.uuid4().hex[:2]}")
    assert (await api.post(f"/api/v1/cases/{aid}/invitations", json={"person_id": lawyer},
                           headers=MEDIATOR)).status_code == 201
    e2 = json.loads((await staged(api, ev.case_id, "mediation.expert_invited"))[1]["payload"])
    assert e2["expert_phone"] is None and e2["starts_at"] is None and e2["person_id"] == lawyer


async def test_offline_rooms_are_never_double_booked(api) -> None:
    room = (await api.post("/api/v1/rooms", json={"name_zh": "调解中心第一调解室"}, headers=STAFF)).json()["room_id"]
    cases = [(await accepted_case_with_mediator(api))[1] for _ in range(3)]
    start = next_workday_at(9, 0, days_ahead=3)

    async def book(aid: str, s: datetime, minutes: int) -> httpx.Response:
        return await api.post(f"/api/v1/cases/{aid}/sessions", headers=MEDIATOR, json={
            "mode": "offline", "room_id": room, "starts_at": s.isoformat(),
            "ends_at": (s + timedelta(minutes=minutes)).isoformat()})

    results = await asyncio.gather(book(cases[0], start, 60), book(cases[1], start + timedelta(minutes=30), 60))
    codes = sorted(r.status_code for r in results)
    assert codes == [201, 409], [r.text for r in results]
    taken = next(r for r in results if r.status_code == 409)
    assert taken.json()["errors"][0]["code"] == "room_taken" and "已被预约" in taken.json()["message"]
    later = await book(cases[2], start + timedelta(minutes=90), 60)  # after the first booking: free
    assert later.status_code == 201, later.text


async def test_scheduling_respects_working_hours_and_availability(api) -> None:
    ev, aid = await accepted_case_with_mediator(api)
    evening = next_workday_at(19)
    r = await api.post(f"/api/v1/cases/{aid}/sessions", headers=MEDIATOR, json={
        "mode": "online", "starts_at": evening.isoformat(), "ends_at": (evening + timedelta(hours=1)).isoformat()})
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "outside_working_hours"
    morning = next_workday_at(9)
    await api.put(f"/api/v1/cases/{aid}/availability", headers=MEDIATOR, json={"party_id": "p2", "windows": [
        {"start": (morning + timedelta(hours=5)).isoformat(), "end": (morning + timedelta(hours=9)).isoformat()}]})
    r = await api.post(f"/api/v1/cases/{aid}/sessions", headers=MEDIATOR, json={
        "mode": "online", "starts_at": morning.isoformat(), "ends_at": (morning + timedelta(hours=1)).isoformat()})
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "party_unavailable"
    afternoon = morning + timedelta(hours=6)  # 15:00
    r = await api.post(f"/api/v1/cases/{aid}/sessions", headers=MEDIATOR, json={
        "mode": "online", "format": "caucus", "caucus_party_id": "p2", "starts_at": afternoon.isoformat(),
        "ends_at": (afternoon + timedelta(hours=1)).isoformat()})
    assert r.status_code == 201, r.text
    assert r.json()["join_url"].startswith("https://")
    sched = await staged(api, ev.case_id, "mediation.scheduled")
    assert '"format":"caucus"' in sched[0]["payload"] and '"mode":"online"' in sched[0]["payload"]
    status = await staged(api, ev.case_id, "case.status")
    assert "已安排调解" in status[-1]["payload"] and "13812345678" not in status[-1]["payload"]


async def test_async_session_parties_answer_in_turn_within_the_window(api) -> None:
    _, aid = await accepted_case_with_mediator(api)
    now = datetime.now(UTC)
    r = await api.post(f"/api/v1/cases/{aid}/sessions", headers=MEDIATOR, json={
        "mode": "async", "starts_at": (now - timedelta(minutes=1)).isoformat(),
        "ends_at": (now + timedelta(days=3)).isoformat(), "party_order": ["p1", "p2"]})
    assert r.status_code == 201, r.text
    sid = r.json()["session_id"]
    wrong = await api.post(f"/api/v1/sessions/{sid}/turns", headers=MEDIATOR,
                           json={"party_id": "p2", "statement": "我先说"})
    assert wrong.status_code == 409 and wrong.json()["errors"][0]["code"] == "not_your_turn"
    one = await api.post(f"/api/v1/sessions/{sid}/turns", headers=MEDIATOR,
                         json={"party_id": "p1", "statement": "要求一次性支付全部工资"})
    assert one.status_code == 201 and one.json()["next_party_id"] == "p2"
    two = await api.post(f"/api/v1/sessions/{sid}/turns", headers=MEDIATOR,
                         json={"party_id": "p2", "statement": "同意分两期支付"})
    assert two.json() == {"turns": 2, "next_party_id": "p1"}


async def test_no_show_pauses_then_ends_mediation(api) -> None:
    ev, aid = await accepted_case_with_mediator(api)

    async def session_and_absent(days: int) -> httpx.Response:
        s = next_workday_at(10, days_ahead=days)
        r = await api.post(f"/api/v1/cases/{aid}/sessions", headers=MEDIATOR, json={
            "mode": "online", "starts_at": s.isoformat(), "ends_at": (s + timedelta(hours=1)).isoformat()})
        assert r.status_code == 201, r.text
        return await record_after_start(api, r.json()["session_id"], s, {
            "attended": ["p1"], "absent": ["p2"], "summary": "被申请人未到场", "next_step": "重新约定时间"})

    first = await session_and_absent(1)
    assert first.json() == {"state": "no_show", "case_state": "paused"}
    second = await session_and_absent(2)
    assert second.json()["state"] == "failed"
    concluded = await staged(api, ev.case_id, "mediation.concluded")
    assert '"success":false' in concluded[0]["payload"] and "未到场" in concluded[0]["payload"]
    held = await staged(api, ev.case_id, "mediation.session_held")
    assert len(held) == 2 and all('"no_show":true' in h["payload"] for h in held)


async def test_agreement_signed_archived_verifiable_immutable_then_closed(api) -> None:
    ev, aid = await accepted_case_with_mediator(api)
    s = next_workday_at(10)
    sid = (await api.post(f"/api/v1/cases/{aid}/sessions", headers=MEDIATOR, json={
        "mode": "online", "starts_at": s.isoformat(), "ends_at": (s + timedelta(hours=1)).isoformat()})).json()[
        "session_id"]
    rec = await record_after_start(api, sid, s, {
        "attended": ["p1", "p2"], "summary": "双方就欠薪数额达成一致", "next_step": "起草调解协议"})
    assert rec.json()["state"] == "held"
    r = await api.post(f"/api/v1/cases/{aid}/agreement", headers=MEDIATOR, json={
        "facts_zh": "申请人在被申请人承建工地务工，被拖欠工资20000元。",
        "terms": ["被申请人于2026年12月31日前支付工资20000元。"]})
    assert r.status_code == 201, r.text
    agid = r.json()["agreement_id"]
    early = await api.post(f"/api/v1/agreements/{agid}/sign", headers=MEDIATOR)
    assert early.status_code == 409 and "未确认" in early.json()["message"]
    for pid, method in (("p1", "video"), ("p2", "signature")):
        assert (await api.post(f"/api/v1/agreements/{agid}/confirmations", headers=MEDIATOR,
                               json={"party_id": pid, "method": method})).status_code == 200
    signed = await api.post(f"/api/v1/agreements/{agid}/sign", headers=MEDIATOR)
    assert signed.status_code == 200, signed.text
    digest = signed.json()["sha256"]
    pdf = await api.get(f"/api/v1/agreements/{agid}/pdf", headers=MEDIATOR)
    assert pdf.content.startswith(b"%PDF") and hashlib.sha256(pdf.content).hexdigest() == digest
    assert (await api.get(f"/api/v1/agreements/{agid}/pdf", headers=token(unit=OTHER))).status_code == 404
    v = await api.get(f"/api/v1/verify/{digest}")
    assert v.status_code == 200 and v.json()["valid"] and "艾力" not in v.text
    up = await api.post("/api/v1/verify", content=pdf.content)
    assert up.json()["valid"] is True
    forged = await api.post("/api/v1/verify", content=pdf.content + b"\n% changed")
    assert forged.json()["valid"] is False
    # immutable once signed
    again = await api.post(f"/api/v1/cases/{aid}/agreement", headers=MEDIATOR, json={"facts_zh": "改", "terms": ["改"]})
    assert again.status_code == 409
    assert (await api.post(f"/api/v1/agreements/{agid}/sign", headers=MEDIATOR)).status_code == 409
    # closed after the agreement
    closing = await api.post(f"/api/v1/cases/{aid}/close", headers=MEDIATOR)
    assert closing.status_code == 200 and closing.json()["outcome"] == "agreement"
    fb = [d["payload"] for d in await staged(api, ev.case_id, "case.feedback")]
    assert any('"kind":"resolved"' in p for p in fb)
    closed = await staged(api, ev.case_id, "case.closed")
    assert len(closed) == 1 and '"outcome":"agreement"' in closed[0]["payload"]
    # the weighty actions are in the audit chain with the action itself (besides the per-call records)
    audit = api.rt.db["audit"]
    sign = [d async for d in audit.find({"action": "agreement.sign", "object_id": agid})]
    assert len(sign) == 1 and sign[0]["actor"] == "m-1" and digest in sign[0]["detail"]  # the refused tries: none
    close = await audit.find_one({"action": "case.close", "object_id": aid})
    assert close["success"] is True and close["detail"] == "outcome=agreement"


async def test_choosing_a_mediator_tells_nothing_of_people_outside_the_unit(api) -> None:
    """A missing person, another unit's mediator and one's own unit's lawyer get the same answer (the id aside): the
    answer never tells whether an id exists elsewhere."""
    _, aid = await accepted_case_with_mediator(api)
    r = await api.post("/api/v1/people", json={"kind": "mediator", "name": "外单位调解员"}, headers=token(unit=OTHER))
    assert r.status_code == 201, r.text
    foreign = r.json()["person_id"]
    lawyer = await person(api, "lawyer", "本单位律师", fields=["labour_wages"])
    answers = []
    for pid in (str(uuid.uuid4()), foreign, lawyer):
        r = await api.post(f"/api/v1/cases/{aid}/mediators", json={"person_ids": [pid]}, headers=STAFF)
        body = r.json()
        answers.append((r.status_code, body["message"].replace(pid, "ID"),
                        [(e["field"], e["code"], e["message"].replace(pid, "ID")) for e in body["errors"]]))
    assert answers[0][0] == 422 and answers[0] == answers[1] == answers[2], answers


async def test_an_erased_agreement_says_so_and_still_verifies(api) -> None:
    """After the case's retention period (ADR 0125) the agreement's text is gone: 410 with a reason a clerk can
    read, never a 500; the SHA-256 still verifies the committee's archived copy."""
    from yima_kit.uow import UnitOfWork
    from yima_mediation.adapters.retention import MongoRetention

    ev, aid = await accepted_case_with_mediator(api)
    signed = await signed_agreement(api, aid)
    url = f"/api/v1/agreements/{signed['agreement_id']}/pdf"
    assert (await api.get(url, headers=MEDIATOR)).status_code == 200
    store = MongoRetention(api.rt.db, api.rt.cipher)
    assert await UnitOfWork(api.svc.client, api.svc.outbox).run(lambda tx: store.erase(ev.case_id, tx))
    gone = await api.get(url, headers=MEDIATOR)
    assert gone.status_code == 410 and gone.json()["errors"][0]["code"] == "erased", gone.text
    assert "保存期限" in gone.json()["message"]
    assert (await api.get(url, headers=token(unit=OTHER))).status_code == 404  # others learn nothing, as before
    assert (await api.get(f"/api/v1/verify/{signed['sha256']}")).json()["valid"] is True
    # the steps stay, what staff typed into them does not
    steps = (await api.get(f"/api/v1/cases/{aid}", headers=MEDIATOR)).json()["timeline"]
    assert {t["what"] for t in steps} >= {"received", "held", "agreement"}
    assert all(t["text_zh"] == "（已删除）" for t in steps if "text_zh" in t), steps


async def test_judicial_confirmation_is_sent_and_answered_before_closing(api) -> None:
    ev, aid = await accepted_case_with_mediator(api)
    await signed_agreement(api, aid)
    assert (await api.post(f"/api/v1/cases/{aid}/judicial-confirmation", headers=MEDIATOR,
                           json={"court_zh": "金水区人民法院"})).status_code == 200
    pending = await api.post(f"/api/v1/cases/{aid}/close", headers=MEDIATOR)
    assert pending.status_code == 409 and "司法确认" in pending.json()["message"]
    ans = await api.post(f"/api/v1/cases/{aid}/judicial-confirmation/answer", headers=MEDIATOR,
                         json={"confirmed": True, "ruling_no": "(2026)豫0105民特123号"})
    assert ans.json()["judicial"]["state"] == "confirmed"
    assert (await api.post(f"/api/v1/cases/{aid}/close", headers=MEDIATOR)).json()["outcome"] == "judicial_confirmation"
    titles = [d["payload"] for d in await staged(api, ev.case_id, "case.status")]
    assert any("已申请司法确认" in t for t in titles) and any("法院已确认" in t for t in titles)


async def test_failed_case_is_transferred_to_litigation_with_its_file(api) -> None:
    ev, aid = await accepted_case_with_mediator(api)
    s = next_workday_at(10)
    sid = (await api.post(f"/api/v1/cases/{aid}/sessions", headers=MEDIATOR, json={
        "mode": "online", "starts_at": s.isoformat(), "ends_at": (s + timedelta(hours=1)).isoformat()})).json()[
        "session_id"]
    await record_after_start(api, sid, s, {
        "attended": ["p1", "p2"], "summary": "双方对金额分歧较大", "next_step": "申请人拟起诉"})
    early = await api.post(f"/api/v1/cases/{aid}/transfer", headers=STAFF,
                           json={"to": "litigation", "receiving_body_zh": "金水区人民法院"})
    assert early.status_code == 409  # fail first: the transfer follows a recorded failure
    f = await api.post(f"/api/v1/cases/{aid}/fail", headers=MEDIATOR,
                       json={"reason": "双方对欠薪数额分歧较大，无法达成一致", "next": "transfer"})
    assert f.json()["state"] == "failed"
    t = await api.post(f"/api/v1/cases/{aid}/transfer", headers=STAFF,
                       json={"to": "litigation", "receiving_body_zh": "金水区人民法院"})
    assert t.status_code == 200, t.text
    pkg = await api.get(f"/api/v1/packages/{t.json()['package_id']}", headers=STAFF)
    assert hashlib.sha256(pkg.content).hexdigest() == t.json()["sha256"] == pkg.headers["X-Content-SHA256"]
    with zipfile.ZipFile(io.BytesIO(pkg.content)) as z:
        assert sorted(z.namelist()) == ["case.json", "invitations.json", "manifest.json", "sessions.json"]
        assert "双方对金额分歧较大" in z.read("sessions.json").decode()
        assert "调解不成" in z.read("case.json").decode()
    out = [d["topic"] for d in await staged(api, ev.case_id)]
    assert out[-3:] == ["case.transferred", "case.status", "case.closed"] or out[-4:-1] == [
        "case.transferred", "case.status", "case.closed"]
    closed = (await staged(api, ev.case_id, "case.closed"))[0]["payload"]
    assert '"outcome":"litigation"' in closed and '"resolved":false' in closed
    moved = [d async for d in api.rt.db["audit"].find({"action": "case.transfer", "object_id": aid})]
    assert len(moved) == 1 and moved[0]["actor"] == "s-1" and t.json()["sha256"] in moved[0]["detail"]
    assert (await api.post(f"/api/v1/cases/{aid}/transfer", headers=STAFF,
                           json={"to": "litigation", "receiving_body_zh": "金水区人民法院"})).status_code == 409


async def test_a_court_referral_carries_the_courts_reference_on_every_document(api) -> None:
    """诉前委派: the court's case number on the case view, the agreement and the file package."""
    ref = "(2026)豫0105民诉前调77号"
    ev = order().model_copy(update={"channel": Channel.COURT_REFERRAL, "court_reference": ref})
    assert await api.svc.ingest(ev, api.rt.consumers)
    aid = ev.assignment_id
    assert (await api.post(f"/api/v1/cases/{aid}/accept", json={}, headers=STAFF)).status_code == 200
    view = (await api.get(f"/api/v1/cases/{aid}", headers=STAFF)).json()
    assert view["court_reference"] == ref and view["channel"] == "court_referral"
    await api.post(f"/api/v1/cases/{aid}/parties", json={"name": "某医院", "is_organisation": True}, headers=STAFF)
    m = await person(api, "mediator", f"周调解{uuid.uuid4().hex[:4]}", staff_id="m-1")
    await api.post(f"/api/v1/cases/{aid}/mediators", json={"person_ids": [m]}, headers=STAFF)
    s = next_workday_at(10)
    sid = (await api.post(f"/api/v1/cases/{aid}/sessions", headers=MEDIATOR, json={
        "mode": "online", "starts_at": s.isoformat(), "ends_at": (s + timedelta(hours=1)).isoformat()})).json()[
        "session_id"]
    await record_after_start(api, sid, s, {"attended": ["p1", "p2"], "summary": "分歧较大", "next_step": "回告法院"})
    agid = (await api.post(f"/api/v1/cases/{aid}/agreement", headers=MEDIATOR, json={
        "facts_zh": "医疗纠纷", "terms": ["赔偿"]})).json()["agreement_id"]
    assert (await api.get(f"/api/v1/agreements/{agid}", headers=MEDIATOR)).json()["court_reference"] == ref
    await api.post(f"/api/v1/cases/{aid}/fail", headers=MEDIATOR, json={"reason": "双方分歧较大", "next": "transfer"})
    t = await api.post(f"/api/v1/cases/{aid}/transfer", headers=STAFF,
                       json={"to": "litigation", "receiving_body_zh": "金水区人民法院"})
    assert t.status_code == 200, t.text
    pkg = await api.get(f"/api/v1/packages/{t.json()['package_id']}", headers=STAFF)
    with zipfile.ZipFile(io.BytesIO(pkg.content)) as z:
        assert json.loads(z.read("manifest.json"))["court_reference"] == ref
        assert ref in z.read("case.json").decode()


async def test_insurance_claim_flow_with_dispute_evaluation_and_sums(api) -> None:
    ev, aid = await accepted_case_with_mediator(api)
    year = datetime.now(SHANGHAI).year
    before = (await api.get("/api/v1/insurance-claims-stats", params={"year": year}, headers=STAFF)).json()
    r = await api.post(f"/api/v1/cases/{aid}/insurance-claims", headers=MEDIATOR, json={
        "cover": "property_damage", "claimed_fen": 300_000, "incident_at": datetime.now(UTC).isoformat(),
        "summary": "楼上漏水泡坏天花板和地板"})
    assert r.status_code == 201, r.text
    cid = r.json()["claim_id"]
    assert (await api.post(f"/api/v1/insurance-claims/{cid}/dispute", headers=MEDIATOR,
                           json={"reason": "还没决定"})).status_code == 409
    over = await api.post(f"/api/v1/insurance-claims/{cid}/decision", headers=STAFF,
                          json={"approve": True, "paid_fen": 400_000, "reason": "核定损失"})
    assert over.status_code == 422 and over.json()["errors"][0]["code"] == "over_claim"
    assert (await api.post(f"/api/v1/insurance-claims/{cid}/decision", headers=MEDIATOR,
                           json={"approve": True, "paid_fen": 100_000, "reason": "核定损失"})).status_code == 403
    d = await api.post(f"/api/v1/insurance-claims/{cid}/decision", headers=STAFF,
                       json={"approve": True, "paid_fen": 120_000, "reason": "按定损报告核定损失1200元"})
    assert d.status_code == 200 and d.json()["paid_fen"] == 120_000
    assert (await api.post(f"/api/v1/insurance-claims/{cid}/dispute", headers=MEDIATOR,
                           json={"reason": "地板更换费用未计入"})).json()["state"] == "disputed"
    final = await api.post(f"/api/v1/insurance-claims/{cid}/review-decision", headers=STAFF,
                           json={"approve": True, "paid_fen": 180_000, "reason": "复核计入地板更换费用"})
    assert final.json()["state"] == "final" and final.json()["decision"]["final"] is True
    ev_ = await api.post(f"/api/v1/insurance-claims/{cid}/evaluation", headers=MEDIATOR,
                         json={"satisfaction": 5, "comment": "满意"})
    assert ev_.json()["state"] == "evaluated"
    after = (await api.get("/api/v1/insurance-claims-stats", params={"year": year}, headers=STAFF)).json()
    assert after["claims_paid"] == before["claims_paid"] + 1
    assert after["paid_fen"] == before["paid_fen"] + 180_000 and after["disputed"] == before["disputed"] + 1
    titles = [d["payload"] for d in await staged(api, ev.case_id, "case.status")]
    assert any("核准赔付1,200.00元" in t for t in titles) and any("复核结果" in t and "1,800.00" in t for t in titles)
    other = await api.get("/api/v1/insurance-claims-stats", params={"year": year, "unit": OTHER}, headers=STAFF)
    assert other.status_code == 404
    # The district sees its whole area (the committee's claims included), and the committee alone on request.
    district = token(StaffRole.ANALYST, unit="410105")
    whole = (await api.get("/api/v1/insurance-claims-stats", params={"year": year}, headers=district)).json()
    one = (await api.get("/api/v1/insurance-claims-stats", params={"year": year, "unit": UNIT},
                         headers=district)).json()
    assert one["paid_fen"] == after["paid_fen"] and whole["paid_fen"] >= one["paid_fen"] > 0


async def test_online_call_brings_in_a_free_expert_without_conflict(api) -> None:
    ev, aid = await accepted_case_with_mediator(api)
    court = f"FY{uuid.uuid4().hex[:6]}"  # a court centre's registry of its own
    court_admin = token(StaffRole.ADMIN, unit=court)
    await api.post("/api/v1/people", headers=court_admin, json={
        "kind": "judge", "name": "周法官", "employer": "郑州某建筑劳务公司"})  # works for the respondent: skipped
    free = (await api.post("/api/v1/people", headers=court_admin, json={"kind": "judge", "name": "陈法官"})).json()
    r = await api.post(f"/api/v1/cases/{aid}/calls", headers=MEDIATOR,
                       json={"kind": "judge", "party_id": "p1", "unit": court})
    assert r.status_code == 201, r.text
    assert r.json()["person_id"] == free["person_id"] and r.json()["skipped_for_conflict"] == 1
    assert r.json()["join_url"].startswith("https://")
    # the judge is held for this call: a second call finds nobody free
    busy = await api.post(f"/api/v1/cases/{aid}/calls", headers=MEDIATOR,
                          json={"kind": "judge", "party_id": "p1", "unit": court})
    assert busy.status_code == 409 and busy.json()["errors"][0]["code"] == "nobody_free"
    assert (await api.post(f"/api/v1/sessions/{r.json()['session_id']}/end-call", headers=MEDIATOR)).status_code == 204
    again = await api.post(f"/api/v1/cases/{aid}/calls", headers=MEDIATOR,
                           json={"kind": "judge", "party_id": "p1", "unit": court})
    assert again.status_code == 201
    sched = [d["payload"] for d in await staged(api, ev.case_id, "mediation.scheduled")]
    assert len(sched) == 2 and all('"expert_kinds":["judge"]' in p for p in sched)


async def test_an_escalation_by_the_supervisor_ends_the_old_units_work(api) -> None:
    from yima_contracts import CaseEscalated

    _, aid = await accepted_case_with_mediator(api)
    case = await api.rt.db["cases"].find_one({"_id": aid})
    esc = CaseEscalated(case_id=case["case_id"], correlation_id=case["correlation_id"], from_unit_code=UNIT,
                        to_unit_code="410105", reason="overdue", reason_zh="逾期未办结",
                        assignment_id=str(uuid.uuid4()))
    assert await api.rt.consumers.process_once(esc, api.svc.on_escalated, "mediation.escalations")
    view = (await api.get(f"/api/v1/cases/{aid}", headers=STAFF)).json()
    assert view["state"] == "escalated" and "逾期未办结" in view["timeline"][-1]["text_zh"]
    s = next_workday_at(10)
    late = await api.post(f"/api/v1/cases/{aid}/sessions", headers=MEDIATOR, json={
        "mode": "online", "starts_at": s.isoformat(), "ends_at": (s + timedelta(hours=1)).isoformat()})
    assert late.status_code == 409 and late.json()["errors"][0]["code"] == "illegal_transition"


async def test_a_party_added_later_is_checked_against_those_already_acting(api) -> None:
    _, aid = await accepted_case_with_mediator(api)
    lawyer = await person(api, "lawyer", "钱律师", relations=[{"name": "孙某某", "relation_zh": "代理人"}])
    assert (await api.post(f"/api/v1/cases/{aid}/invitations", json={"person_id": lawyer},
                           headers=MEDIATOR)).status_code == 201
    r = await api.post(f"/api/v1/cases/{aid}/parties", json={"role": "third_party", "name": "孙某某"}, headers=STAFF)
    assert r.status_code == 201
    assert [c["person_id"] for c in r.json()["conflicts"]] == [lawyer]
    assert "存在代理人关系" in r.json()["conflicts"][0]["message"]


async def test_no_record_before_the_session_starts_and_no_agreement_before_a_held_session(api) -> None:
    """The Zhongyuan story: a session booked for 10:00 cannot be recorded as held at 09:00, and an agreement
    cannot be signed while no session has been held — the agreement's date is never before the session's."""
    ev, aid = await accepted_case_with_mediator(api)
    s = next_workday_at(10)
    sid = (await api.post(f"/api/v1/cases/{aid}/sessions", headers=MEDIATOR, json={
        "mode": "online", "starts_at": s.isoformat(), "ends_at": (s + timedelta(hours=1)).isoformat()})).json()[
        "session_id"]
    body = {"attended": ["p1", "p2"], "summary": "当场达成协议并签署", "next_step": "结案"}
    with clock_at(api, s - timedelta(hours=1)):
        early = await api.post(f"/api/v1/sessions/{sid}/record", headers=MEDIATOR, json=body)
    assert early.status_code == 409 and early.json()["errors"][0]["code"] == "not_started"
    assert "开始前不能记录" in early.json()["message"]
    agid = (await api.post(f"/api/v1/cases/{aid}/agreement", headers=MEDIATOR, json={
        "facts_zh": "欠薪纠纷", "terms": ["当场支付5000元"]})).json()["agreement_id"]  # drafting ahead is fine
    for pid in ("p1", "p2"):
        await api.post(f"/api/v1/agreements/{agid}/confirmations", headers=MEDIATOR,
                       json={"party_id": pid, "method": "video"})
    with clock_at(api, s - timedelta(hours=1)):
        unsigned = await api.post(f"/api/v1/agreements/{agid}/sign", headers=MEDIATOR)
    assert unsigned.status_code == 409 and unsigned.json()["errors"][0]["code"] == "no_session_held"
    assert not await staged(api, ev.case_id, "mediation.concluded")
    rec = await record_after_start(api, sid, s, body)
    assert rec.status_code == 200 and rec.json() == {"state": "held", "case_state": "in_mediation"}
    with clock_at(api, s + timedelta(minutes=50)):
        signed = await api.post(f"/api/v1/agreements/{agid}/sign", headers=MEDIATOR)
    assert signed.status_code == 200, signed.text


async def test_every_refusal_answers_in_one_shape(api) -> None:
    """Not only mediation's own refusals: a missing token, a role without the right, an unknown path, a wrong
    method — {"message", "errors"}, never {"detail"}."""
    ev = await new_case(api)
    for r in (await api.get("/api/v1/queue"),
              await api.post(f"/api/v1/cases/{ev.assignment_id}/accept", json={}, headers=MEDIATOR),
              await api.get("/api/v1/no-such-thing", headers=STAFF),
              await api.delete("/api/v1/queue", headers=STAFF),
              await api.post(f"/api/v1/cases/{ev.assignment_id}/sessions", headers=MEDIATOR, json={"mode": "x"})):
        body = r.json()
        assert r.status_code in (401, 403, 404, 405, 422) and "detail" not in body, body
        assert body["message"] and body["errors"][0]["code"] and not body["message"].isascii()


async def test_only_orders_of_units_working_in_yima_enter_a_queue(api):
    own_system = order(in_platform=False)  # the directory says this unit answers from its own system
    await api.svc.ingest(own_system, api.rt.consumers)
    assert await api.rt.db["cases"].find_one({"_id": own_system.assignment_id}) is None
    ev = await new_case(api)
    doc = await api.rt.db["cases"].find_one({"_id": ev.assignment_id})
    assert doc["unit_name"] == "金水区劳动争议人民调解委员会" and doc["unit_path"] == ["410105", UNIT]


async def test_a_polls_work_orders_are_read_once_and_written_once(api):
    """The consumer's batch (issue 12): known orders are skipped, an order seen twice enters once, orders of units
    with their own systems stay out — one read of the cases and one write, whatever the batch's size."""
    known = await new_case(api)
    a, b, outside = order(), order(), order(in_platform=False)
    db = api.rt.db
    await db["system.profile"].drop()
    await db.command("profile", 2)
    try:
        await api.rt.consumers.uow.run(lambda tx: api.svc.on_work_orders([known, a, outside, b, a], tx))
    finally:
        await db.command("profile", 0)
    commands = sorted([f"{p['op']} {p['ns'].split('.', 1)[1]}" async for p in db["system.profile"].find()
                       if p["ns"].endswith(".cases")])
    assert commands == ["insert cases", "query cases"], commands
    assert await db["cases"].count_documents({"_id": {"$in": [a.assignment_id, b.assignment_id]}}) == 2
    assert await db["cases"].find_one({"_id": outside.assignment_id}) is None
    single, batched = await db["cases"].find_one({"_id": known.assignment_id}), await db["cases"].find_one(
        {"_id": a.assignment_id})
    differ = {"_id", "case_id", "correlation_id", "order_event_id", "received_at", "due_at", "timeline", "parties",
              "description"}
    assert {k: v for k, v in single.items() if k not in differ} == {k: v for k, v in batched.items() if k not in differ}


async def test_units_above_see_the_cases_below_and_no_one_else(api):
    street, community = "410105001", "410105001002"
    ev = await new_case(api, community, path=("410105", street))
    aid = ev.assignment_id

    def staff(role: StaffRole, unit: str, path: tuple[str, ...]) -> dict[str, str]:
        t = TokenIssuer.dev().issue(staff_id=f"s-{unit}", unit=unit, role=role, unit_path=path)
        return {"Authorization": f"Bearer {t}"}

    street_leader = staff(StaffRole.LEADER, street, ("410105", street))
    other_street = staff(StaffRole.LEADER, "410105002", ("410105", "410105002"))
    street_mediator = staff(StaffRole.MEDIATOR, street, ("410105", street))
    below = (await api.get("/api/v1/queue", params={"scope": "below"}, headers=street_leader)).json()["items"]
    assert aid in [i["assignment_id"] for i in below]
    own = (await api.get("/api/v1/queue", headers=street_leader)).json()["items"]
    assert aid not in [i["assignment_id"] for i in own]  # the street's own queue stays its own
    assert (await api.get(f"/api/v1/cases/{aid}", headers=street_leader)).status_code == 200
    other = (await api.get("/api/v1/queue", params={"scope": "below"}, headers=other_street)).json()["items"]
    assert aid not in [i["assignment_id"] for i in other]
    assert (await api.get(f"/api/v1/cases/{aid}", headers=other_street)).status_code == 404
    r = await api.get("/api/v1/queue", params={"scope": "below"}, headers=street_mediator)
    assert r.status_code == 403 and r.json()["errors"][0]["field"] == "scope"
    assert (await api.get(f"/api/v1/cases/{aid}", headers=street_mediator)).status_code == 404


# --- the invited expert's own page (/invite) ---------------------------------------------------------------


async def invite_with_code(api, ev: UnitCaseAssigned, aid: str, phone: str, name: str | None = None,
                           **extra) -> tuple[str, str, str]:
    """Invite a new expert with a phone: (person id, invitation id, the code the SMS carries)."""
    import json

    pid = await person(api, "lawyer", name or f"李明{uuid.uuid4().hex[:3]}", phone=phone, **extra)
    inv = await api.post(f"/api/v1/cases/{aid}/invitations", json={"person_id": pid}, headers=MEDIATOR)
    assert inv.status_code == 201, inv.text
    iid = inv.json()["invitation_id"]
    sent = [json.loads(d["payload"]) for d in await staged(api, ev.case_id, "mediation.expert_invited")]
    e = next(x for x in sent if x["invitation_id"] == iid)
    assert e["invitation_code"] and "短信中的链接" in e["reply_zh"]
    return pid, iid, e["invitation_code"]


async def open_page(api, code: str, check: str) -> httpx.Response:
    return await api.post("/invite", data={"code": code, "check": check})


def form_token(page: httpx.Response) -> str:
    import re

    m = re.search(r'name="token" value="([0-9a-f]+)"', page.text)
    assert m, page.text
    return m.group(1)


async def answer_on_page(api, code: str, check: str, token: str, decision: str, reason: str = "") -> httpx.Response:
    return await api.post("/invite/answer", data={"code": code, "check": check, "token": token,
                                                  "decision": decision, "reason": reason})


async def test_an_expert_opens_their_invitation_and_accepts_it_themselves(api) -> None:
    ev, aid = await accepted_case_with_mediator(api)
    start = next_workday_at(10)
    assert (await api.post(f"/api/v1/cases/{aid}/sessions", headers=MEDIATOR, json={
        "mode": "online", "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=1)).isoformat()})).status_code == 201
    pid, iid, code = await invite_with_code(api, ev, aid, "13700003333", "周律师")
    # only keyed hashes of the code and the check are kept
    stored = await api.rt.db["invitations"].find_one({"_id": iid})
    assert code not in str(stored) and "3333" not in stored.values() and stored["code_idx"] and stored["check_idx"]
    # the address alone shows nothing of the case: the phone's last four digits come first
    first = await api.get(f"/invite/{code}")
    assert first.status_code == 200 and 'name="check"' in first.text and ev.case_number not in first.text
    assert first.headers["x-frame-options"] == "DENY" and first.headers["referrer-policy"] == "no-referrer"
    page = await open_page(api, code[:4] + "-" + code[4:8] + "-" + code[8:], "3333")  # typed as shown
    assert page.status_code == 200, page.text
    text = page.text
    assert "周律师您好" in text and ev.case_number in text and "劳动争议/欠薪" in text and ev.unit_name in text
    assert "待您答复" in text and 'id="accept"' in text and 'id="decline"' in text
    # nothing of the parties, not the description; no video link before the expert has accepted
    assert "买买提" not in text and "13812345678" not in text and "包工头" not in text and "郑州某建筑" not in text
    assert 'id="join"' not in text and "接受邀请后" in text
    # an answer without the page's token is not taken
    forged = await answer_on_page(api, code, "3333", "0" * 32, "accept")
    assert forged.status_code == 403 and (await api.rt.db["invitations"].find_one({"_id": iid}))["state"] == "invited"
    ok = await answer_on_page(api, code, "3333", form_token(page), "accept")
    assert ok.status_code == 200 and "您已同意参加" in ok.text and 'id="accept"' not in ok.text
    assert 'id="join"' in ok.text and "https://" in ok.text
    listed = (await api.get(f"/api/v1/cases/{aid}/invitations", headers=MEDIATOR)).json()["items"]
    assert next(i for i in listed if i["invitation_id"] == iid)["state"] == "accepted"
    # the case's timeline says the expert answered themselves; the audit chain holds it, with the expert as actor
    timeline = (await api.get(f"/api/v1/cases/{aid}", headers=STAFF)).json()["timeline"]
    assert "律师周律师同意参加调解（本人在线答复）" in timeline[-1]["text_zh"]
    rec = await api.svc.audit.col.find_one({"action": "invitation.answer", "object_id": iid})
    assert rec["actor"] == f"expert:{pid}" and rec["detail"] == "state=accepted by=expert"
    assert (await api.svc.audit.verify())[0]
    # the hosting unit hears of the answer (mediation.expert_answered, staged with it); no new invitation event
    assert len(await staged(api, ev.case_id, "mediation.expert_invited")) == 1
    [e] = await answers(api, ev.case_id, iid)
    assert (e["answer"], e["answered_by"], e["reason_zh"]) == ("accepted", "expert", None)
    assert (e["person_id"], e["expert_kind"], e["expert_name"], e["unit_code"]) == (pid, "lawyer", "周律师", UNIT)
    assert e["case_number"] == ev.case_number and e["assignment_id"] == aid
    assert "13700003333" not in str(e) and code not in str(e)  # no phone, no code
    # an answer given is given: the same form again is refused
    again = await answer_on_page(api, code, "3333", form_token(page), "decline", "临时出差")
    assert again.status_code == 409 and "该邀请已答复" in again.text
    assert (await api.rt.db["invitations"].find_one({"_id": iid}))["state"] == "accepted"


async def test_a_wrong_check_answers_as_no_such_code_and_locks_the_code(api) -> None:
    from yima_mediation.core.invite_code import new_invite_code

    ev, aid = await accepted_case_with_mediator(api)
    _, _, code = await invite_with_code(api, ev, aid, "13700004444")
    nobody = await open_page(api, new_invite_code(), "4444")
    wrong = await open_page(api, code, "4445")
    assert nobody.status_code == wrong.status_code == 404
    assert "未找到该邀请，或手机号后四位不匹配" in nobody.text and "未找到该邀请，或手机号后四位不匹配" in wrong.text
    assert ev.case_number not in wrong.text
    typo = await open_page(api, code[:-1] + ("2" if code[-1] != "2" else "3"), "4444")
    assert typo.status_code == 400 and "输错了一位" in typo.text  # the check symbol catches a typo: not a failure
    assert (await open_page(api, code, "44")).status_code == 422  # not four digits: no lookup, no failure
    for _ in range(api.svc.settings.invite_max_failures - 1):
        assert (await open_page(api, code, "0000")).status_code == 404
    locked = await open_page(api, code, "4444")  # the right digits, too late
    assert locked.status_code == 429 and "核对失败次数过多" in locked.text and ev.case_number not in locked.text
    answer = await answer_on_page(api, code, "4444", "x", "accept")
    assert answer.status_code == 429


async def test_a_declined_or_conflicted_expert_cannot_accept(api) -> None:
    ev, aid = await accepted_case_with_mediator(api)
    _, declined, code = await invite_with_code(api, ev, aid, "13700005555")
    page = await open_page(api, code, "5555")
    short = await answer_on_page(api, code, "5555", form_token(page), "decline", "")
    assert short.status_code == 422 and "原因" in short.text
    no = await answer_on_page(api, code, "5555", form_token(page), "decline", "当天有庭审")
    assert no.status_code == 200 and "您已谢绝参加" in no.text and "当天有庭审" in no.text
    late = await answer_on_page(api, code, "5555", form_token(page), "accept")
    assert late.status_code == 409
    assert (await api.rt.db["invitations"].find_one({"_id": declined}))["state"] == "declined"
    [e] = await answers(api, ev.case_id, declined)  # the refused second answer staged nothing
    assert (e["answer"], e["answered_by"], e["reason_zh"]) == ("declined", "expert", "当天有庭审")
    # a party added after the invitation turns out to be the expert's relative: the acceptance becomes a refusal
    _, iid, code2 = await invite_with_code(api, ev, aid, "13700006666", "钱律师",
                                           relations=[{"name": "孙某某", "relation_zh": "亲属"}])
    page2 = await open_page(api, code2, "6666")
    assert (await api.post(f"/api/v1/cases/{aid}/parties", json={"role": "third_party", "name": "孙某某"},
                           headers=STAFF)).status_code == 201
    refused = await answer_on_page(api, code2, "6666", form_token(page2), "accept")
    assert refused.status_code == 409 and "应当回避" in refused.text and "孙某某" not in refused.text
    inv = await api.rt.db["invitations"].find_one({"_id": iid})
    assert inv["state"] == "refused" and "亲属关系" in inv["reasons"][0]
    assert (await answer_on_page(api, code2, "6666", form_token(page2), "accept")).status_code == 409
    # the desk hears the refusal with its staff-facing reason (the party's role, never the party)
    [e] = await answers(api, ev.case_id, iid)
    assert (e["answer"], e["answered_by"]) == ("refused_conflict", "expert")
    assert "第三人存在亲属关系" in e["reason_zh"] and "孙某某" not in str(e)
    # the staff endpoint applies the same rule, and tells staff why
    _, iid3, _ = await invite_with_code(api, ev, aid, "13700007777", "吴律师",
                                        relations=[{"name": "郑某", "relation_zh": "同学"}])
    assert (await api.post(f"/api/v1/cases/{aid}/parties", json={"role": "third_party", "name": "郑某"},
                           headers=STAFF)).status_code == 201
    r = await api.post(f"/api/v1/invitations/{iid3}/answer", json={"accept": True}, headers=MEDIATOR)
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "conflict_of_interest"
    assert "同学关系" in r.json()["errors"][0]["message"] and "吴律师" in r.json()["message"]
    # the staff answer is audited in the chain as the staff member's
    rec = await api.svc.audit.col.find_one({"action": "invitation.answer", "object_id": iid3})
    assert rec["actor"] == "m-1" and rec["detail"] == "state=refused by=staff"
    [e] = await answers(api, ev.case_id, iid3)
    assert (e["answer"], e["answered_by"], e["expert_name"]) == ("refused_conflict", "staff", "吴律师")
    assert "同学关系" in e["reason_zh"] and "郑某" not in str(e)
    sched = await staged(api, ev.case_id, "mediation.scheduled")
    assert sched == []  # nothing was booked: a refusal does not reach notify


async def invited_events(api, case_id: str, invitation_id: str) -> list[dict]:
    import json

    sent = [json.loads(d["payload"]) for d in await staged(api, case_id, "mediation.expert_invited")]
    return [e for e in sent if e["invitation_id"] == invitation_id]


async def test_staff_resend_a_lost_invitation_sms_with_a_new_code_and_the_old_one_dies(api) -> None:
    from yima_mediation.core.invite_code import display_invite_code as shown
    from yima_mediation.core.invite_code import new_invite_code

    ev, aid = await accepted_case_with_mediator(api)
    pid, iid, old = await invite_with_code(api, ev, aid, "13700009191", "孙明")
    # the expert fumbled the digits on the old text until it locked: a resend must not inherit the lock
    for _ in range(api.svc.settings.invite_max_failures):
        assert (await open_page(api, old, "0000")).status_code == 404
    assert (await open_page(api, old, "9191")).status_code == 429
    r = await api.post(f"/api/v1/invitations/{iid}/resend", headers=MEDIATOR)
    assert r.status_code == 200, r.text
    assert r.json() == {"invitation_id": iid, "state": "invited", "resends_24h": 1}
    # one new event for the same invitation, with a new code and its own event id (notify's ledger sends it)
    first, again = await invited_events(api, ev.case_id, iid)
    new = again["invitation_code"]
    assert new and new != old and again["event_id"] != first["event_id"]
    assert (again["person_id"], again["expert_phone"], again["expert_name"]) == (pid, "13700009191", "孙明")
    assert {k: v for k, v in again.items() if k not in ("event_id", "occurred_at", "invitation_code")} == {
        k: v for k, v in first.items() if k not in ("event_id", "occurred_at", "invitation_code")}
    assert new not in str(r.json()) and new not in str(await api.rt.db["invitations"].find_one({"_id": iid}))
    # the new code opens the page; the old one answers exactly as a code that never existed
    page = await open_page(api, new, "9191")
    assert page.status_code == 200 and "孙明律师您好" in page.text and ev.case_number in page.text
    unknown = new_invite_code()
    dead, nobody = await open_page(api, old, "9191"), await open_page(api, unknown, "9191")
    assert dead.status_code == nobody.status_code == 404 and "未找到该邀请，或手机号后四位不匹配" in dead.text
    assert dead.text.replace(shown(old), "?") == nobody.text.replace(shown(unknown), "?")
    ok = await answer_on_page(api, old, "9191", form_token(page), "accept")  # the old code cannot answer either
    assert ok.status_code == 404
    # staff see it on the case; the audit chain holds it as the staff member's, in the same transaction
    timeline = (await api.get(f"/api/v1/cases/{aid}", headers=STAFF)).json()["timeline"]
    assert "向律师孙明重新发送邀请短信" in timeline[-1]["text_zh"]
    rec = await api.svc.audit.col.find_one({"action": "invitation.resend", "object_id": iid})
    assert rec["actor"] == "m-1" and rec["detail"] == "state=invited resends_24h=1"
    assert (await api.svc.audit.verify())[0]
    listed = next(i for i in (await api.get(f"/api/v1/cases/{aid}/invitations", headers=MEDIATOR)).json()["items"]
                  if i["invitation_id"] == iid)
    assert listed["has_phone"] and listed["resent_at"]
    # an accepted expert may need it too (the page holds the video link); then the daily limit stops a slip
    assert (await answer_on_page(api, new, "9191", form_token(page), "accept")).status_code == 200
    limit = api.svc.settings.invite_resend_max_per_day
    for n in range(2, limit + 1):
        r = await api.post(f"/api/v1/invitations/{iid}/resend", headers=STAFF)
        assert r.status_code == 200 and r.json() == {"invitation_id": iid, "state": "accepted", "resends_24h": n}
    latest = (await invited_events(api, ev.case_id, iid))[-1]["invitation_code"]
    over = await api.post(f"/api/v1/invitations/{iid}/resend", headers=STAFF)
    assert over.status_code == 409 and over.json()["errors"][0]["code"] == "resend_limit"
    assert f"24小时内已重新发送{limit}次" in over.json()["message"]
    assert len(await invited_events(api, ev.case_id, iid)) == 1 + limit  # the refusal staged nothing
    assert (await open_page(api, latest, "9191")).status_code == 200  # and changed no code
    # a day later the count starts again
    await api.rt.db["invitations"].update_one({"_id": iid}, {"$set": {
        "resent_at": [datetime.now(UTC) - timedelta(hours=25)] * limit}})
    assert (await api.post(f"/api/v1/invitations/{iid}/resend", headers=STAFF)).status_code == 200


async def test_a_resend_is_refused_when_it_cannot_or_must_not_reach_the_expert(api) -> None:
    ev, aid = await accepted_case_with_mediator(api)
    # declined: nothing to send
    _, declined, _ = await invite_with_code(api, ev, aid, "13700009292")
    assert (await api.post(f"/api/v1/invitations/{declined}/answer", json={"accept": False, "reason": "出差"},
                           headers=MEDIATOR)).status_code == 200
    r = await api.post(f"/api/v1/invitations/{declined}/resend", headers=MEDIATOR)
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "not_resendable"
    assert "已谢绝" in r.json()["message"]
    # refused (conflict of interest): never invited
    rel = await person(api, "lawyer", "钱律师", phone="13700009393", employer="郑州某建筑劳务公司")
    assert (await api.post(f"/api/v1/cases/{aid}/invitations", json={"person_id": rel},
                           headers=MEDIATOR)).status_code == 409
    refused = next(i["invitation_id"] for i in (await api.get(f"/api/v1/cases/{aid}/invitations",
                                                             headers=MEDIATOR)).json()["items"]
                   if i["person_id"] == rel)
    r = await api.post(f"/api/v1/invitations/{refused}/resend", headers=MEDIATOR)
    assert r.status_code == 409 and "回避" in r.json()["message"]
    # no phone: no text to send
    sage = await person(api, "sage", "王乡贤")
    inv = await api.post(f"/api/v1/cases/{aid}/invitations", json={"person_id": sage}, headers=MEDIATOR)
    nophone = inv.json()["invitation_id"]
    r = await api.post(f"/api/v1/invitations/{nophone}/resend", headers=MEDIATOR)
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "no_phone" and "手机号" in r.json()["message"]
    assert not next(i for i in (await api.get(f"/api/v1/cases/{aid}/invitations", headers=MEDIATOR)).json()["items"]
                    if i["invitation_id"] == nophone)["has_phone"]
    # another unit's staff, and an unknown invitation: the same 404; an analyst may not
    _, iid, _ = await invite_with_code(api, ev, aid, "13700009494")
    other = await api.post(f"/api/v1/invitations/{iid}/resend", headers=token(unit=OTHER))
    unknown = await api.post(f"/api/v1/invitations/{uuid.uuid4()}/resend", headers=STAFF)
    assert other.status_code == unknown.status_code == 404 and other.json() == unknown.json()
    assert (await api.post(f"/api/v1/invitations/{iid}/resend",
                           headers=token(StaffRole.ANALYST))).status_code == 403
    for refused_id in (declined, refused, nophone, iid):
        assert await api.svc.audit.col.find_one({"action": "invitation.resend", "object_id": refused_id}) is None
    assert len(await invited_events(api, ev.case_id, iid)) == 1
    # an invitation from before the codes (none stored) gets its first one
    await api.rt.db["invitations"].update_one({"_id": iid}, {"$unset": {"code_idx": "", "check_idx": ""}})
    assert (await api.post(f"/api/v1/invitations/{iid}/resend", headers=MEDIATOR)).status_code == 200
    code = (await invited_events(api, ev.case_id, iid))[-1]["invitation_code"]
    assert (await open_page(api, code, "9494")).status_code == 200
    # once the case has ended, there is nothing to come to
    await api.rt.db["cases"].update_one({"_id": aid}, {"$set": {"state": "closed"}})
    r = await api.post(f"/api/v1/invitations/{iid}/resend", headers=MEDIATOR)
    assert r.status_code == 409 and "调解已结束" in r.json()["message"]


async def test_the_join_link_shows_for_online_sessions_only_until_they_end(api) -> None:
    ev, aid = await accepted_case_with_mediator(api)
    _, _, code = await invite_with_code(api, ev, aid, "13700008888")
    page = await open_page(api, code, "8888")
    assert "调解时间尚未确定" in page.text
    assert (await answer_on_page(api, code, "8888", form_token(page), "accept")).status_code == 200
    room = (await api.post("/api/v1/rooms", json={"name_zh": f"第{uuid.uuid4().hex[:4]}调解室"},
                           headers=STAFF)).json()["room_id"]
    start = next_workday_at(9, 0, days_ahead=5)
    online = await api.post(f"/api/v1/cases/{aid}/sessions", headers=MEDIATOR, json={
        "mode": "online", "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat()})
    offline = await api.post(f"/api/v1/cases/{aid}/sessions", headers=MEDIATOR, json={
        "mode": "offline", "room_id": room, "starts_at": (start + timedelta(hours=2)).isoformat(),
        "ends_at": (start + timedelta(hours=3)).isoformat()})
    assert online.status_code == 201 and offline.status_code == 201, offline.text
    url = online.json()["join_url"]
    text = (await open_page(api, code, "8888")).text
    assert text.count('id="join"') == 1 and url in text and "线下调解" in text and "地点：第" in text
    # the session is over (it ended an hour ago): no link any more
    past = datetime.now(UTC) - timedelta(hours=2)
    await api.rt.db["sessions"].update_one({"_id": online.json()["session_id"]}, {"$set": {
        "starts_at": past, "ends_at": past + timedelta(hours=1)}})
    after = (await open_page(api, code, "8888")).text
    assert 'id="join"' not in after and url not in after and "已结束" in after


async def test_a_join_link_to_a_host_off_the_link_list_is_refused(api) -> None:
    """Issue 14's replay (docs/security-replay.md, 1e): a video link goes to parties and experts, so only https to
    a host of YIMA_LINK_HOSTS is taken; the platform's own rooms (video_base_url) are on it."""
    _, aid = await accepted_case_with_mediator(api)
    start = next_workday_at(9, 0, days_ahead=6)
    when = {"starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat()}
    for url in ("https://evil.example/pay", "https://meet.yima.local@evil.example/", "javascript:alert(1)"):
        r = await api.post(f"/api/v1/cases/{aid}/sessions", headers=MEDIATOR,
                           json={"mode": "online", "join_url": url, **when})
        assert r.status_code == 422, (url, r.text)
    ok = await api.post(f"/api/v1/cases/{aid}/sessions", headers=MEDIATOR,
                        json={"mode": "online", "join_url": "https://meet.yima.local/room/42", **when})
    assert ok.status_code == 201 and ok.json()["join_url"] == "https://meet.yima.local/room/42"


# --- personal data on display (docs/adr/0046) ----------------------------------------------------------------


def _staff(role: StaffRole, unit: str, path: tuple[str, ...], sub: str) -> dict[str, str]:
    t = TokenIssuer.dev().issue(staff_id=sub, unit=unit, role=role, unit_path=path, name="李主任")
    return {"Authorization": f"Bearer {t}"}


async def test_only_the_handling_unit_sees_the_parties_in_full_others_reveal_with_a_reason(api) -> None:
    street, community = "410105001", "410105001002"
    ev = await new_case(api, community, path=("410105", street))
    aid = ev.assignment_id
    r = await api.post(f"/api/v1/cases/{aid}/parties", json={"name": "欧阳娜娜", "phone": "0371-65551234"},
                       headers=_staff(StaffRole.DISPATCHER, community, ("410105", street, community), "d-c"))
    assert r.status_code == 201 and r.json()["party_id"] == "p2"
    handling = _staff(StaffRole.MEDIATOR, community, ("410105", street, community), "m-c")
    district_leader = _staff(StaffRole.LEADER, "410105", ("410105",), "l-d")
    own_leader = _staff(StaffRole.LEADER, community, ("410105", street, community), "l-c")
    audit = api.rt.db["audit"]

    # the community's mediator phones the parties: in full, and that read is on record as one of personal data
    full = (await api.get(f"/api/v1/cases/{aid}", headers=handling)).json()
    assert full["contact_masked"] is False
    assert [(p["name"], p["phone"]) for p in full["parties"]] == [("买买提·艾力", "13812345678"),
                                                                  ("欧阳娜娜", "037165551234")]
    read = await audit.find_one({"action": "case.personal_data.read", "object_id": aid, "actor": "m-c"})
    assert read and read["personal_data"] is True and read["actor_unit"] == community

    # the district above (scope=below) and the community's own leader: masked, in the list and the case
    below = (await api.get("/api/v1/queue", params={"scope": "below"}, headers=district_leader)).json()["items"]
    listed = next(i for i in below if i["assignment_id"] == aid)
    assert [(p["name"], p["phone"]) for p in listed["parties"]] == [("买买提·*", "138****5678"),
                                                                    ("欧阳*", "0371****1234")]
    for who in (district_leader, own_leader):
        r = await api.get(f"/api/v1/cases/{aid}", headers=who)
        assert r.status_code == 200 and r.json()["contact_masked"] is True
        assert "13812345678" not in r.text and "艾力" not in r.text and "037165551234" not in r.text
    assert await audit.count_documents({"action": "case.personal_data.read", "object_id": aid}) == 1

    # what the applicant typed is masked for them too: the party's own name and any phone-like number
    ev2 = order(community, ("410105", street)).model_copy(update={
        "description": "我是买买提·艾力，包工头欧阳某欠我工资，有事打我电话13812345678"})
    assert await api.svc.ingest(ev2, api.rt.consumers)
    seen = (await api.get(f"/api/v1/cases/{ev2.assignment_id}", headers=district_leader)).json()["description"]
    assert seen == "我是买买提·*，包工头欧阳某欠我工资，有事打我电话138****5678"
    mine = (await api.get(f"/api/v1/cases/{ev2.assignment_id}", headers=handling)).json()["description"]
    assert mine == ev2.description

    # a reveal needs a reason; refused, it shows nothing and says why in Chinese
    url = f"/api/v1/cases/{aid}/parties/p1/contact"
    for body in ({}, {"reason": "看看"}, {"reason": "   "}):
        r = await api.post(url, json=body, headers=district_leader)
        assert r.status_code == 422 and r.json()["errors"][0]["code"] == "reason_required", r.text
        assert "理由" in r.json()["message"] and "13812345678" not in r.text
    r = await api.post(url, json={"reason": "督办需要直接联系申请人核实欠薪情况"}, headers=district_leader)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert r.json() == {"party_id": "p1", "role": "applicant", "is_organisation": False, "name": "买买提·艾力",
                        "phone": "13812345678"}
    rec = await audit.find_one({"action": "case.party_contact.reveal", "object_id": aid})
    assert rec["actor"] == "l-d" and rec["actor_unit"] == "410105" and rec["personal_data"] is True
    assert rec["detail"] == "p1：督办需要直接联系申请人核实欠薪情况" and "13812345678" not in str(rec)
    calls = [d["success"] async for d in audit.find(
        {"action": "POST /api/v1/cases/{assignment_id}/parties/{party_id}/contact", "object_id": aid})]
    assert calls == [False, False, False, True]  # the refusals are on record too
    r = await api.post(f"/api/v1/cases/{aid}/parties/p2/contact", json={"reason": "核对电话0371-65551234是否有效"},
                       headers=own_leader)
    assert r.status_code == 200 and r.json()["phone"] == "037165551234"
    rec = await audit.find_one({"action": "case.party_contact.reveal", "object_id": aid, "actor": "l-c"})
    assert rec["detail"] == "p2：核对电话0371****1234是否有效"  # the words are kept, a typed number is not
    assert (await api.post(f"/api/v1/cases/{aid}/parties/p9/contact", json={"reason": "联系当事人核实"},
                           headers=district_leader)).status_code == 404

    # another branch's staff, and analysts: nothing, not even whether the case exists
    other_street = _staff(StaffRole.LEADER, "410105002", ("410105", "410105002"), "l-o")
    assert (await api.get(f"/api/v1/cases/{aid}", headers=other_street)).status_code == 404
    r = await api.post(url, json={"reason": "督办需要直接联系申请人"}, headers=other_street)
    assert r.status_code == 404 and "13812345678" not in r.text
    analyst = _staff(StaffRole.ANALYST, "410105", ("410105",), "a-d")
    assert (await api.post(url, json={"reason": "统计分析需要"}, headers=analyst)).status_code == 403
    assert await audit.count_documents({"action": "case.party_contact.reveal", "object_id": aid}) == 2


async def test_the_documents_in_full_need_a_reason_from_those_who_see_the_parties_masked(api) -> None:
    """The agreement PDF and the transfer package carry the parties in full (legal documents, never masked):
    the handling unit downloads them as it reads the case, the district above states why, both on record."""
    district_leader = _staff(StaffRole.LEADER, "410105", ("410105",), "l-d")
    audit = api.rt.db["audit"]
    _, aid = await accepted_case_with_mediator(api)
    signed = await signed_agreement(api, aid)
    agid, digest = signed["agreement_id"], signed["sha256"]
    url = f"/api/v1/agreements/{agid}/pdf"

    # the handling unit's mediator: as before, no reason asked; the read of the parties in full is on record
    r = await api.get(url, headers=MEDIATOR)
    assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == digest
    assert r.headers["cache-control"] == "no-store"
    mine = [(d["actor"], d["detail"], d["personal_data"]) async for d in audit.find(
        {"action": "case.document.full_read", "object_id": aid})]
    assert mine == [("m-1", "agreement", True)]

    # the district leader (scope=below): refused without a reason, in Chinese, and no record of a read
    for params in ({}, {"reason": "看看"}, {"reason": " 看 看 看 "}):
        r = await api.get(url, params=params, headers=district_leader)
        assert r.status_code == 422 and r.json()["errors"][0]["code"] == "reason_required", r.text
        assert "事由" in r.json()["message"] and not r.content.startswith(b"%PDF")
    assert await audit.count_documents({"action": "case.document.full_read", "object_id": aid}) == 1
    r = await api.get(url, params={"reason": "督办核查协议履行，申请人电话13812345678"}, headers=district_leader)
    assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == digest  # the document, unmasked
    rec = await audit.find_one({"action": "case.document.full_read", "object_id": aid, "actor": "l-d"})
    assert rec["personal_data"] is True and rec["actor_unit"] == "410105" and rec["object_type"] == "assignment"
    assert rec["detail"] == "agreement：督办核查协议履行，申请人电话138****5678" and "13812345678" not in str(rec)
    # another unit: the same 404 as before, reason or not; the public check shows no party
    r = await api.get(url, params={"reason": "督办核查协议履行"}, headers=token(unit=OTHER))
    assert r.status_code == 404
    v = await api.get(f"/api/v1/verify/{digest}")
    assert v.status_code == 200
    answer = v.json()
    assert set(answer) == {"valid", "agreement_no", "kind", "unit_name", "signed_at", "sha256"}
    # The digest is random hex and may hold "138" by chance (the old flake): every other field is checked.
    rest = json.dumps({k: x for k, x in answer.items() if k != "sha256"}, ensure_ascii=False)
    assert answer["sha256"] == digest and "艾力" not in rest and "138" not in rest and "5678" not in rest

    # the transfer package: the same rule
    _, aid2 = await accepted_case_with_mediator(api)
    await api.post(f"/api/v1/cases/{aid2}/fail", headers=MEDIATOR,
                   json={"reason": "双方对欠薪数额分歧较大，无法达成一致", "next": "transfer"})
    t = await api.post(f"/api/v1/cases/{aid2}/transfer", headers=STAFF,
                       json={"to": "litigation", "receiving_body_zh": "金水区人民法院"})
    assert t.status_code == 200, t.text
    purl = f"/api/v1/packages/{t.json()['package_id']}"
    assert (await api.get(purl, headers=STAFF)).headers["X-Content-SHA256"] == t.json()["sha256"]
    r = await api.get(purl, headers=district_leader)
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "reason_required"
    r = await api.get(purl, params={"reason": "督办复核移交材料"}, headers=district_leader)
    assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == t.json()["sha256"]
    reads = [(d["actor"], d["detail"]) async for d in audit.find(
        {"action": "case.document.full_read", "object_id": aid2}).sort("_id", 1)]
    assert reads == [("s-1", "package"), ("l-d", "package：督办复核移交材料")]
