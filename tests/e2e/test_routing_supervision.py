"""Routing end to end: every service as its own process, departments played by a plain Kafka client.

A community QR case lands in that community's own topic (created on demand); a wage dispute goes to the labour
committee, which returns it over Kafka with raw JSON; the case goes back to its supervisor (the district centre),
whose dispatcher logs in and re-dispatches it; a dispatcher of another unit sees none of it.
(The overdue chain on a simulated working-day calendar is in services/routing/tests/test_assignment_flow.py.)
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from yima_contracts import topics
from yima_devstack.kafka_tools import keyed, produce, read_topic, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

QR_COMMUNITY = "410105003004"  # a community of 花园路街道 (a unit nobody assigned to before: topic made on demand)
SEED_PASSWORD = "Yima#Demo2026"


async def submit(platform, body: dict) -> dict:
    async with httpx.AsyncClient(base_url=platform.procs["intake"].url, timeout=10) as http:
        r = await http.post("/api/v1/cases", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code == 201, r.text
    return r.json()


async def login(http: httpx.AsyncClient, username: str) -> dict[str, str]:
    """Sign in as staff would: the seeded password first, then the forced change (once per account)."""
    new = "E2e#Changed2026"
    r = await http.post("/api/v1/auth/login", json={"username": username, "password": new})
    if r.status_code == 401:
        r = await http.post("/api/v1/auth/login", json={"username": username, "password": SEED_PASSWORD})
        assert r.status_code == 200, r.text
        assert r.json()["must_change_password"] is True
        r = await http.post("/api/v1/auth/password", json={"current_password": SEED_PASSWORD, "new_password": new},
                            headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def test_a_community_qr_case_lands_in_that_communitys_topic(platform, yima_infra) -> None:
    case = await submit(platform, {
        "channel": "self_service", "applicant": {"name": "欧阳娜娜", "phone": "13912345678"},
        "description": "小区里邻居在楼道堆放杂物，多次沟通无果", "location": {"unit_code": QR_COMMUNITY}})
    bootstrap = yima_infra.kafka_bootstrap
    assigned = json.loads((await read_topic(bootstrap, topics.CASE_ASSIGNED, keyed(case["case_id"])))[0].value)
    assert assigned["unit_code"] == QR_COMMUNITY and assigned["supervisor_unit_code"] == "410105003"
    order = json.loads((await read_topic(bootstrap, topics.unit_topic(QR_COMMUNITY), keyed(case["case_id"])))[0].value)
    assert order["assignment_id"] == assigned["assignment_id"] and order["applicant"]["phone"] == "13912345678"


async def test_wage_dispute_to_the_labour_committee_returned_and_redispatched(platform, yima_infra) -> None:
    bootstrap = yima_infra.kafka_bootstrap
    case = await submit(platform, {
        "channel": "self_service", "applicant": {"name": "买买提·艾力", "phone": "13712345678"},
        "description": "包工头拖欠我们三个月工资，一共两万多元"})
    case_id = case["case_id"]
    assert case["category"] == "labour_wages"
    await read_topic(bootstrap, topics.CASE_ASSIGNED, keyed(case_id))
    order = json.loads((await read_topic(bootstrap, "unit.JSQ-LDTJ.cases", keyed(case_id)))[0].value)
    assert order["supervisor_unit_code"] == "410105"

    # The committee's own system returns it, with a reason, as raw JSON on case.feedback.
    await produce(bootstrap, topics.CASE_FEEDBACK, case_id, {
        "event_id": str(uuid.uuid4()), "event_type": "case.feedback.v1", "case_id": case_id,
        "occurred_at": datetime.now(UTC).isoformat(), "correlation_id": order["correlation_id"],
        "actor": {"kind": "unit_system", "unit_code": "JSQ-LDTJ"},
        "assignment_id": order["assignment_id"], "unit_code": "JSQ-LDTJ", "kind": "returned",
        "reason": "涉及劳动保障监察，应由人社局处理"})

    async with httpx.AsyncClient(base_url=platform.procs["routing"].url, timeout=10) as http:
        district = await login(http, "410105-02")  # the district centre's dispatcher: the supervisor

        async def back_at_supervisor():
            r = await http.get("/api/v1/units/410105/queue", params={"scope": "supervised"}, headers=district)
            assert r.status_code == 200, r.text
            return [w for w in r.json()["awaiting_redispatch"] if w["case_id"] == case_id]

        waiting = (await wait_for(back_at_supervisor))[0]
        assert waiting["returned_by"] == "JSQ-LDTJ" and "人社局" in waiting["reason"]

        other = await login(http, "410105002001-01")  # 经八路社区's dispatcher
        assert (await http.get(f"/api/v1/cases/{case_id}", headers=other)).status_code == 404
        assert (await http.get(f"/api/v1/cases/{case_id}/assignments", headers=other)).status_code == 404
        assert (await http.get("/api/v1/units/410105/queue", headers=other)).status_code == 403
        assert (await http.post(f"/api/v1/cases/{case_id}/dispatch", headers=other,
                                json={"unit_code": "JSQ-RSJ", "reason": "越权"})).status_code == 403

        r = await http.post(f"/api/v1/cases/{case_id}/dispatch", headers=district,
                            json={"unit_code": "JSQ-RSJ", "reason": "涉及劳动保障监察，转人社局"})
        assert r.status_code == 200, r.text
        second = json.loads((await read_topic(bootstrap, "unit.JSQ-RSJ.cases", keyed(case_id)))[0].value)
        assert second["supervisor_unit_code"] == "410105" and second["assignment_id"] != order["assignment_id"]
        hist = (await http.get(f"/api/v1/cases/{case_id}/assignments", headers=district)).json()["assignments"]
        assert [(a["round"], a["unit_code"], a["state"]) for a in hist] == [
            (1, "JSQ-LDTJ", "returned"), (2, "JSQ-RSJ", "assigned")]
