"""Jiyuan (济源), written from the seed: the court's mediation centre (“济事清源”) delegates disputes before suit
(诉前委派) to the mediation organisation of the dispute's field or place — the medical, marriage-family…
committees, or the town's mediation — and follows them. The court's case number travels with the case to the
committee's work order, its case view and its agreement; the court may redirect a referral it supervises; the
outcome comes back to the court as its own system reads it (``case.referral_outcome`` on Kafka).

Only public interfaces: intake's, routing's and mediation's HTTP APIs with staff tokens, Kafka as the court's
system reads it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from yima_contracts import topics
from yima_contracts.codes import StaffRole
from yima_devstack.kafka_tools import keyed, read_topic, wait_for
from yima_kit.auth import TokenIssuer

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

DISTRICT = "410105"
COURT = "JSQ-FYSD"  # 金水区人民法院诉调对接中心 in the demo directory
MEDICAL = "JSQ-YLTJ"  # 医疗纠纷人民调解委员会
MARRIAGE = "JSQ-HJTJ"  # 婚姻家庭纠纷人民调解委员会
STREET = "410105001"  # 丰产路街道: the town-level mediation of the place
COMMUNITY = "410105001001"


def once(records: list) -> list:
    """The records of distinct events (at-least-once delivery may repeat a record under the same event id)."""
    seen: dict[str, object] = {}
    for r in records:
        seen.setdefault(json.loads(r.value)["event_id"], r)
    return list(seen.values())


def token(unit: str, role: StaffRole, sub: str | None = None) -> dict[str, str]:
    t = TokenIssuer.dev().issue(staff_id=sub or f"e2e-jiyuan-{unit}-{role.value}", unit=unit, role=role,
                                unit_path=(DISTRICT, unit), name="李调解")
    return {"Authorization": f"Bearer {t}"}


COURT_DESK = token(COURT, StaffRole.DISPATCHER)
MED_DESK = token(MEDICAL, StaffRole.DISPATCHER)
MED_MEDIATOR = token(MEDICAL, StaffRole.MEDIATOR, "e2e-jiyuan-mediator")


async def refer(http: httpx.AsyncClient, category: str, description: str) -> tuple[dict, str]:
    ref = f"(2026)豫9001民诉前调{uuid.uuid4().int % 10**5:05d}号"
    r = await http.post("/api/v1/cases", headers={**COURT_DESK, "Idempotency-Key": str(uuid.uuid4())}, json={
        "channel": "court_referral", "court_reference": ref, "category": category,
        "applicant": {"name": "原告王某", "phone": f"135{uuid.uuid4().int % 10**8:08d}"},
        "description": description, "location": {"unit_code": COMMUNITY}})
    assert r.status_code == 201, r.text
    return r.json(), ref


async def test_court_referrals_go_to_their_field_or_town_and_the_outcome_goes_back_to_the_court(
        platform, yima_infra) -> None:
    bootstrap = yima_infra.kafka_bootstrap
    async with httpx.AsyncClient(base_url=platform.procs["intake"].url, timeout=15) as intake:
        medical, med_ref = await refer(intake, "medical", "患者在医院做阑尾手术后切口感染，二次住院花费三万元，"
                                                        "家属认为医院消毒不到位要求赔偿，医院不同意")
        marriage, _ = await refer(intake, "marriage_family", "离婚后双方对孩子抚养费数额和探望时间争执不下")
        neighbour, _ = await refer(intake, "neighbour", "邻居在楼道堆放杂物挡住消防通道，多次协商无果起诉到法院")

    async def order_of(case: dict) -> dict:
        def pick(records):
            for x in records:
                v = json.loads(x.value)
                if v["case_id"] == case["case_id"] and v["event_type"] == "case.assigned.v1":
                    return v
            return None
        return await read_topic(bootstrap, topics.CASE_ASSIGNED, pick)

    orders = await asyncio.gather(*(order_of(c) for c in (medical, marriage, neighbour)))
    assert [(o["unit_code"], o["supervisor_unit_code"]) for o in orders] == [
        (MEDICAL, COURT), (MARRIAGE, COURT), (STREET, COURT)]  # field, field, place — the court follows each

    # the work order on the committee's own topic carries the court's case number
    # at-least-once: a republished record keeps its event id, so one work order is one event id
    [work] = once(await read_topic(bootstrap, topics.unit_topic(MEDICAL), keyed(medical["case_id"])))
    assert json.loads(work.value)["court_reference"] == med_ref

    routing = httpx.AsyncClient(base_url=platform.procs["routing"].url, timeout=15)
    med = httpx.AsyncClient(base_url=platform.procs["mediation"].url, timeout=30)
    try:
        # the court redirects the neighbour case (it supervises it: no 403)
        r = await routing.post(f"/api/v1/cases/{neighbour['case_id']}/dispatch", headers=COURT_DESK, json={
            "unit_code": COMMUNITY, "reason": "双方均住黄河社区，改由社区人民调解委员会就地调解"})
        assert r.status_code == 200, r.text

        # the medical committee mediates, in yima's console API
        async def in_queue():
            items = (await med.get("/api/v1/queue", params={"state": "new"}, headers=MED_DESK)).json()["items"]
            return next((i for i in items if i["case_id"] == medical["case_id"]), None)

        aid = (await wait_for(in_queue))["assignment_id"]
        view = (await med.get(f"/api/v1/cases/{aid}", headers=MED_DESK)).json()
        assert view["court_reference"] == med_ref and view["supervisor_unit_name"] == "金水区人民法院诉调对接中心"
        assert (await med.post(f"/api/v1/cases/{aid}/accept", json={}, headers=MED_DESK)).status_code == 200
        await med.post(f"/api/v1/cases/{aid}/parties", headers=MED_DESK,
                       json={"name": "某区人民医院", "is_organisation": True})
        m = await med.post("/api/v1/people", headers=MED_DESK,
                           json={"kind": "mediator", "name": "李调解", "staff_id": "e2e-jiyuan-mediator"})
        await med.post(f"/api/v1/cases/{aid}/mediators", json={"person_ids": [m.json()["person_id"]]},
                       headers=MED_DESK)
        start = (datetime.now(UTC) + timedelta(seconds=3)).replace(microsecond=0)
        ses = await med.post(f"/api/v1/cases/{aid}/sessions", headers=MED_MEDIATOR, json={
            "mode": "online", "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat()})
        assert ses.status_code == 201, ses.text
        await asyncio.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()) + 0.3)
        rec = await med.post(f"/api/v1/sessions/{ses.json()['session_id']}/record", headers=MED_MEDIATOR, json={
            "attended": ["p1", "p2"], "summary": "医院同意承担部分治疗费用", "next_step": "起草调解协议"})
        assert rec.status_code == 200, rec.text
        agid = (await med.post(f"/api/v1/cases/{aid}/agreement", headers=MED_MEDIATOR, json={
            "facts_zh": "患者术后感染二次住院，双方就赔偿协商一致。",
            "terms": ["医院于2027年1月15日前一次性赔偿患者医疗费用人民币一万五千元。"]})).json()["agreement_id"]
        for pid in ("p1", "p2"):
            await med.post(f"/api/v1/agreements/{agid}/confirmations", headers=MED_MEDIATOR,
                           json={"party_id": pid, "method": "signature"})
        signed = await med.post(f"/api/v1/agreements/{agid}/sign", headers=MED_MEDIATOR)
        assert signed.status_code == 200, signed.text
        agreement = (await med.get(f"/api/v1/agreements/{agid}", headers=MED_MEDIATOR)).json()
        assert agreement["court_reference"] == med_ref and agreement["state"] == "signed"

        # the outcome, back to the court as its system reads it (with its own principal, under the broker's ACLs)
        court_system = yima_infra.kafka_auth(f"dept-{COURT}") if yima_infra.kafka_users else None
        [back] = once(await read_topic(bootstrap, topics.CASE_REFERRAL_OUTCOME, keyed(medical["case_id"]),
                                  auth=court_system))
        outcome = json.loads(back.value)
        assert outcome["referring_unit_code"] == COURT and outcome["court_reference"] == med_ref
        assert outcome["outcome"] == "resolved" and outcome["handling_unit_code"] == MEDICAL
        assert outcome["case_number"] == medical["case_number"]
    finally:
        await routing.aclose()
        await med.aclose()
