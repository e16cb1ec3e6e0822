"""Zhongyuan's scenario end to end through the real broker, every service its own process:
submitted → assigned → accepted in the mediation console → a remote session with an invited lawyer →
agreement PDF archived and verifiable by its hash → closed → rated by the applicant; and a failed case
transferred to litigation with its file."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import uuid
import zipfile
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from yima_contracts import topics
from yima_contracts.codes import StaffRole
from yima_devstack.kafka_tools import keyed, read_topic, wait_for
from yima_kit.auth import TokenIssuer

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

COMMITTEE = "JSQ-LDTJ"  # 金水区劳动争议人民调解委员会: works inside yima (mediation's platform units)


def staff(role: StaffRole, sub: str, unit: str = COMMITTEE, path: tuple[str, ...] = ("410105", COMMITTEE)
          ) -> dict[str, str]:
    t = TokenIssuer.dev().issue(staff_id=sub, unit=unit, role=role, unit_path=path, name="王芳")
    return {"Authorization": f"Bearer {t}"}


DISPATCHER = staff(StaffRole.DISPATCHER, "e2e-dispatcher")
MEDIATOR = staff(StaffRole.MEDIATOR, "e2e-mediator")
DISTRICT_LEADER = staff(StaffRole.LEADER, "e2e-district-leader", "410105", ("410105",))  # the committee's parent
STREET_LEADER = staff(StaffRole.LEADER, "e2e-street-leader", "410105001", ("410105", "410105001"))  # not above it




def soon(seconds: float = 3) -> datetime:
    """A session a few seconds ahead: the e2e platform's mediation books at any hour
    (YIMA_MEDIATION_SESSIONS_AT_ANY_HOUR), and a session is recorded only once it has begun."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0)


async def until(t: datetime) -> None:
    await asyncio.sleep(max(0.0, (t - datetime.now(UTC)).total_seconds()) + 0.2)


async def submit_and_accept(platform, phone: str) -> tuple[dict, str, httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=platform.procs["intake"].url, timeout=10) as intake:
        r = await intake.post("/api/v1/cases", headers={"Idempotency-Key": str(uuid.uuid4())}, json={
            "channel": "self_service", "applicant": {"name": "欧阳娜娜", "phone": phone},
            "description": "我在工地干了三个月，包工头一直拖欠工资两万三千元不给，多次讨要无果"})
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["category"] == "labour_wages"
    med = httpx.AsyncClient(base_url=platform.procs["mediation"].url, timeout=30)

    async def in_queue():
        items = (await med.get("/api/v1/queue", params={"state": "new"}, headers=DISPATCHER)).json()["items"]
        return next((i for i in items if i["case_id"] == case["case_id"]), None)

    item = await wait_for(in_queue)
    aid = item["assignment_id"]
    assert item["unit_code"] == COMMITTEE and item["parties"][0]["phone"].startswith(phone[:3])
    acc = await med.post(f"/api/v1/cases/{aid}/accept", json={"kind": "people"}, headers=DISPATCHER)
    assert acc.status_code == 200, acc.text
    await med.post(f"/api/v1/cases/{aid}/parties", headers=DISPATCHER,
                   json={"name": "郑州某建筑劳务有限公司", "is_organisation": True})
    m = await med.post("/api/v1/people", headers=DISPATCHER,
                       json={"kind": "mediator", "name": "王芳", "staff_id": "e2e-mediator"})
    r = await med.post(f"/api/v1/cases/{aid}/mediators", json={"person_ids": [m.json()["person_id"]]},
                       headers=DISPATCHER)
    assert r.status_code == 200, r.text
    return case, aid, med


async def tracking(platform, case: dict, check: str, state: str) -> dict:
    async with httpx.AsyncClient(base_url=platform.procs["intake"].url, timeout=10) as intake:
        async def reached():
            view = (await intake.get(f"/api/v1/track/{case['tracking_code']}", params={"check": check})).json()
            return view if view.get("state") == state else None

        return await wait_for(reached)


async def test_zhongyuan_scenario_agreement_archived_verified_closed(platform, yima_infra):
    bootstrap = yima_infra.kafka_bootstrap
    case, aid, med = await submit_and_accept(platform, "13937112345")
    try:
        await tracking(platform, case, "2345", "accepted")  # routing took mediation's feedback like any unit's

        # The directory's hierarchy travels with the order: the district above the committee sees the case,
        # a street elsewhere does not.
        above = (await med.get("/api/v1/queue", params={"scope": "below"}, headers=DISTRICT_LEADER)).json()["items"]
        assert aid in [i["assignment_id"] for i in above]
        assert (await med.get(f"/api/v1/cases/{aid}", headers=DISTRICT_LEADER)).status_code == 200
        elsewhere = (await med.get("/api/v1/queue", params={"scope": "below"}, headers=STREET_LEADER)).json()
        assert aid not in [i["assignment_id"] for i in elsewhere["items"]]
        assert (await med.get(f"/api/v1/cases/{aid}", headers=STREET_LEADER)).status_code == 404

        lawyer = await med.post("/api/v1/people", headers=DISPATCHER, json={
            "kind": "lawyer", "name": "李明", "title_zh": "河南某律师事务所律师", "fields": ["labour_wages"],
            "phone": "13700007777"})
        inv = await med.post(f"/api/v1/cases/{aid}/invitations", headers=MEDIATOR,
                             json={"person_id": lawyer.json()["person_id"]})
        assert inv.status_code == 201, inv.text
        invited = json.loads((await read_topic(bootstrap, topics.MEDIATION_EXPERT_INVITED,
                                               keyed(case["case_id"])))[0].value)
        assert (invited["person_id"], invited["expert_kind"]) == (lawyer.json()["person_id"], "lawyer")
        assert "13937112345" not in json.dumps(invited)  # no party data, case number and category only

        def expert_told(records):
            sent = [json.loads(r.value) for r in records if r.key == case["case_id"].encode()]
            return [e for e in sent if e["template_id"] == "expert.invited.v2"] or None

        told = await read_topic(bootstrap, topics.NOTIFICATION_SENT, expert_told)
        # this platform's notify has no SMS gateway: the inbox only (a relay re-publish repeats the same id)
        assert {(e["notification_id"], e["recipient_kind"], e["channel"]) for e in told} == {
            (told[0]["notification_id"], "expert", "inbox")}
        # The lawyer answers on their own page, with the code from the invitation text and their phone's last 4.
        code = invited["invitation_code"]
        assert code and code not in (await med.get(f"/api/v1/cases/{aid}", headers=MEDIATOR)).text
        page = await med.post("/invite", data={"code": code, "check": "7777"})
        assert page.status_code == 200 and "同意参加" in page.text and "13937112345" not in page.text
        token = page.text.split('name="token" value="')[1].split('"')[0]
        answered = await med.post("/invite/answer", data={"code": code, "check": "7777", "token": token,
                                                          "decision": "accept"})
        assert answered.status_code == 200 and "您已同意参加" in answered.text
        desk = json.loads((await read_topic(bootstrap, topics.MEDIATION_EXPERT_ANSWERED,
                                            keyed(case["case_id"])))[0].value)
        assert (desk["answer"], desk["answered_by"], desk["person_id"]) == (
            "accepted", "expert", lawyer.json()["person_id"])
        assert "13700007777" not in json.dumps(desk)
        start = soon()
        ses = await med.post(f"/api/v1/cases/{aid}/sessions", headers=MEDIATOR, json={
            "mode": "online", "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat()})
        assert ses.status_code == 201, ses.text
        records = await read_topic(bootstrap, topics.MEDIATION_SCHEDULED, keyed(case["case_id"]))
        scheduled = json.loads(records[0].value)
        assert scheduled["mode"] == "online" and scheduled["expert_kinds"] == ["lawyer"]
        assert scheduled["expert_person_ids"] == [lawyer.json()["person_id"]]

        def expert_told_of_session(records):
            sent = [json.loads(r.value) for r in records if r.key == case["case_id"].encode()]
            return [e for e in sent if e["template_id"] == "expert.session_scheduled.v2"] or None

        told = await read_topic(bootstrap, topics.NOTIFICATION_SENT, expert_told_of_session)
        # the accepted lawyer hears the session's time (no SMS gateway on this platform: the inbox only)
        assert {(e["recipient_kind"], e["channel"]) for e in told} == {("expert", "inbox")}
        assert scheduled["join_url"].startswith("https://")
        view = await tracking(platform, case, "2345", "in_mediation")
        assert "已安排调解" in view["timeline"][-1]["title"] and "13937112345" not in json.dumps(view)
        # The applicant finds the time and the video link on the tracking page (never a link in a text).
        async with httpx.AsyncClient(base_url=platform.procs["intake"].url, timeout=10) as intake:
            async def session_shown():
                v = (await intake.get(f"/api/v1/track/{case['tracking_code']}", params={"check": "2345"})).json()
                return v["sessions"] or None

            shown = (await wait_for(session_shown))[0]
        assert shown["join_url"] == scheduled["join_url"] and shown["mode_name"] == "线上视频调解"

        await until(start)
        rec = await med.post(f"/api/v1/sessions/{ses.json()['session_id']}/record", headers=MEDIATOR, json={
            "attended": ["p1", "p2", lawyer.json()["person_id"]], "summary": "律师释法，双方同意分期支付",
            "next_step": "起草调解协议"})
        assert rec.json()["state"] == "held"
        ag = await med.post(f"/api/v1/cases/{aid}/agreement", headers=MEDIATOR, json={
            "facts_zh": "申请人在被申请人承建的工地务工三个月，被拖欠工资23000元。",
            "terms": ["被申请人于2026年12月15日前支付12000元。", "被申请人于2027年1月15日前支付11000元。"]})
        agid = ag.json()["agreement_id"]
        for pid, method in (("p1", "video"), ("p2", "video")):
            await med.post(f"/api/v1/agreements/{agid}/confirmations", headers=MEDIATOR,
                           json={"party_id": pid, "method": method})
        signed = await med.post(f"/api/v1/agreements/{agid}/sign", headers=MEDIATOR)
        assert signed.status_code == 200, signed.text
        digest = signed.json()["sha256"]

        pdf = await med.get(f"/api/v1/agreements/{agid}/pdf", headers=MEDIATOR)
        assert pdf.content.startswith(b"%PDF") and b"/FontFile2" in pdf.content
        assert hashlib.sha256(pdf.content).hexdigest() == digest
        async with httpx.AsyncClient(base_url=platform.procs["mediation"].url, timeout=10) as public:
            v = await public.get(f"/api/v1/verify/{digest}")
            assert v.status_code == 200 and v.json()["valid"] is True
            assert (await public.post("/api/v1/verify", content=pdf.content[:-10])).json()["valid"] is False
        concluded = json.loads((await read_topic(bootstrap, topics.MEDIATION_CONCLUDED,
                                                 keyed(case["case_id"])))[0].value)
        assert concluded["success"] is True and concluded["agreement_sha256"] == digest

        await tracking(platform, case, "2345", "resolved")  # routing's answer to the "resolved" feedback
        closed = await med.post(f"/api/v1/cases/{aid}/close", headers=MEDIATOR)
        assert closed.status_code == 200, closed.text
        event = json.loads((await read_topic(bootstrap, topics.CASE_CLOSED, keyed(case["case_id"])))[0].value)
        assert event["outcome"] == "agreement" and event["resolved"] is True and event["unit_code"] == COMMITTEE
        view = await tracking(platform, case, "2345", "closed")
        states = [s["state"] for s in view["timeline"]]
        assert states[:3] == ["submitted", "assigned", "accepted"] and "in_mediation" in states
        assert states.index("in_mediation") < states.index("resolved") < states.index("closed")

        # The applicant rates the closed case under the same code; the rating is an event like every step.
        async with httpx.AsyncClient(base_url=platform.procs["intake"].url, timeout=10) as intake:
            r = await intake.post(f"/api/v1/track/{case['tracking_code']}/rating",
                                  json={"check": "2345", "score": 5, "comment": "调解员很耐心，律师讲得清楚"})
            assert r.status_code == 201, r.text
            again = await intake.post(f"/api/v1/track/{case['tracking_code']}/rating",
                                      json={"check": "2345", "score": 1})
            assert again.status_code == 409 and again.json()["errors"][0]["code"] == "already_rated"
        rated = json.loads((await read_topic(bootstrap, topics.CASE_RATED, keyed(case["case_id"])))[0].value)
        assert rated["score"] == 5
        view = await tracking(platform, case, "2345", "rated")
        assert [s["state"] for s in view["timeline"]][-2:] == ["closed", "rated"]
    finally:
        await med.aclose()


async def test_failed_case_is_transferred_to_litigation_with_its_file(platform, yima_infra):
    bootstrap = yima_infra.kafka_bootstrap
    case, aid, med = await submit_and_accept(platform, "13698765432")
    try:
        start = soon()
        ses = await med.post(f"/api/v1/cases/{aid}/sessions", headers=MEDIATOR, json={
            "mode": "online", "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat()})
        assert ses.status_code == 201, ses.text
        await until(start)
        await med.post(f"/api/v1/sessions/{ses.json()['session_id']}/record", headers=MEDIATOR, json={
            "attended": ["p1", "p2"], "summary": "被申请人否认欠薪数额", "next_step": "申请人拟起诉"})
        f = await med.post(f"/api/v1/cases/{aid}/fail", headers=MEDIATOR,
                           json={"reason": "双方对欠薪数额分歧较大", "next": "transfer"})
        assert f.status_code == 200, f.text
        t = await med.post(f"/api/v1/cases/{aid}/transfer", headers=DISPATCHER,
                           json={"to": "litigation", "receiving_body_zh": "金水区人民法院"})
        assert t.status_code == 200, t.text
        pkg = await med.get(f"/api/v1/packages/{t.json()['package_id']}", headers=DISPATCHER)
        assert hashlib.sha256(pkg.content).hexdigest() == t.json()["sha256"]
        with zipfile.ZipFile(io.BytesIO(pkg.content)) as z:
            assert {"manifest.json", "case.json", "sessions.json"} <= set(z.namelist())
            assert "被申请人否认欠薪数额" in z.read("sessions.json").decode()

        moved = json.loads((await read_topic(bootstrap, topics.CASE_TRANSFERRED, keyed(case["case_id"])))[0].value)
        assert moved["to"] == "litigation" and moved["file_package_sha256"] == t.json()["sha256"]
        event = json.loads((await read_topic(bootstrap, topics.CASE_CLOSED, keyed(case["case_id"])))[0].value)
        assert event["outcome"] == "litigation" and event["resolved"] is False
        view = await tracking(platform, case, "5432", "closed")
        assert "transferred" in [s["state"] for s in view["timeline"]]
        assert datetime.fromisoformat(view["timeline"][-1]["at"]) <= datetime.now(UTC)
    finally:
        await med.aclose()
