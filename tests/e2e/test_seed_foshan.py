"""Foshan (粤平安), written from the seed: a grid worker reports a dispute between two villages over a farm road
(机耕路) from the grid; it goes to the street's centre, which "blows the whistle" (中心吹哨、部门报到) for the
departments concerned; a department's own system learns the summons from Kafka, lists it, and reports in on
Kafka; the lead centre sees the report. Disputes of one kind clustering in one grid raise an early warning
(预警) that names the grid as people know it and reaches the community and street above it.

Only public interfaces: intake's, routing's and notify's HTTP APIs with staff tokens, Kafka as a department's
system uses it.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from yima_contracts import topics
from yima_contracts.codes import StaffRole
from yima_devstack.kafka_tools import keyed, produce, read_topic, wait_for
from yima_kit.auth import TokenIssuer

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

GRID = "410105001001G02"  # 黄河社区第二网格 in the demo directory
COMMUNITY = "410105001001"
STREET = "410105001"
DISTRICT = "410105"
HOUSING = "JSQ-ZJJ"  # 金水区住房和城乡建设局: answers from its own system
POLICE = "JSQ-GADJ"


def token(unit: str, role: StaffRole, path: tuple[str, ...]) -> dict[str, str]:
    t = TokenIssuer.dev().issue(staff_id=f"e2e-foshan-{unit}-{role.value}", unit=unit, role=role, unit_path=path)
    return {"Authorization": f"Bearer {t}"}


GRID_WORKER = token(COMMUNITY, StaffRole.GRID_WORKER, (DISTRICT, STREET, COMMUNITY))
STREET_LEAD = token(STREET, StaffRole.LEADER, (DISTRICT, STREET))
HOUSING_DESK = token(HOUSING, StaffRole.DISPATCHER, (DISTRICT, HOUSING))


async def report(http: httpx.AsyncClient, description: str, parties: int = 1) -> dict:
    r = await http.post("/api/v1/cases", headers={**GRID_WORKER, "Idempotency-Key": str(uuid.uuid4())}, json={
        "channel": "grid", "category": "land_forest", "party_count": parties,
        "applicant": {"name": "何村长", "phone": f"139{uuid.uuid4().int % 10**8:08d}"},
        "description": description, "location": {"unit_code": GRID}})
    assert r.status_code == 201, r.text
    return r.json()


async def test_the_street_summons_departments_that_report_from_their_own_systems_and_a_cluster_warns(
        platform, yima_infra) -> None:
    bootstrap = yima_infra.kafka_bootstrap
    async with httpx.AsyncClient(base_url=platform.procs["intake"].url, timeout=15) as intake:
        road = await report(intake, "白洞村两个自然村因为一条机耕路的通行和维修费用发生纠纷，双方村民聚集争吵，"
                                    "一方把路口堵了，农用车过不去", parties=30)
        # two more land disputes in the same grid this week: a cluster
        await report(intake, "村民甲在承包地边上砌墙，占了村民乙的责任田两分地，双方争执不下")
        await report(intake, "两户村民为宅基地界线争吵，一方要砌围墙，另一方说占了他家的地")
    case_id = road["case_id"]

    # 1. a group dispute goes to the street, which leads it
    [assigned] = await read_topic(bootstrap, topics.CASE_ASSIGNED, keyed(case_id))
    a = json.loads(assigned.value)
    assert a["unit_code"] == STREET, a

    routing = httpx.AsyncClient(base_url=platform.procs["routing"].url, timeout=15)
    notify = httpx.AsyncClient(base_url=platform.procs["notify"].url, timeout=15)
    try:
        # 2. 中心吹哨: the street summons housing and the police
        r = await routing.post(f"/api/v1/cases/{case_id}/joint", headers=STREET_LEAD, json={
            "unit_codes": [HOUSING, POLICE], "reason": "机耕路被堵涉及违法搭建和治安隐患，请住建、公安到场联合处置"})
        assert r.status_code == 200, r.text
        joint_id = r.json()["joint_id"]

        # 3. the department's system hears of it on Kafka, with the id and what to report
        def summons(records):
            mine = [json.loads(x.value) for x in records if x.key == case_id.encode()]
            return [e for e in mine if e.get("joint_id") == joint_id] or None

        [ev] = await read_topic(bootstrap, topics.CASE_JOINT_SUMMONED, summons)
        assert HOUSING in ev["summoned_unit_codes"] and ev["lead_unit_name"] and ev["report_what_zh"]

        # …and its desk sees the summons among its open ones, and in its inbox with the id
        open_ = (await routing.get(f"/api/v1/units/{HOUSING}/joint", headers=HOUSING_DESK)).json()["items"]
        mine = next(i for i in open_ if i["joint_id"] == joint_id)
        assert mine["case_id"] == case_id and "机耕路" in mine["reason_zh"] and mine["report_by"]

        async def notice():
            msgs = (await notify.get("/api/v1/inbox/unit", headers=HOUSING_DESK)).json()["messages"]
            return [m for m in msgs if joint_id in m["text"]] or None

        [told] = await wait_for(notice)
        assert "吹哨报到" in told["text"] and "报到" in told["text"]

        # 4. 部门报到 from its own system, on Kafka: on its own feedback topic, with its own principal (the broker's
        # ACLs let a department write nowhere else)
        housing_system = yima_infra.kafka_auth(f"dept-{HOUSING}") if yima_infra.kafka_users else None
        await produce(bootstrap, topics.unit_feedback_topic(HOUSING), case_id, {
            "event_id": str(uuid.uuid4()), "event_type": "case.joint_report.v1", "case_id": case_id,
            "occurred_at": datetime.now(UTC).isoformat(), "correlation_id": a["correlation_id"],
            "actor": {"kind": "unit_system", "unit_code": HOUSING},
            "joint_id": joint_id, "unit_code": HOUSING, "note": "住建局执法中队2人14:00到场，责令拆除路口违建",
        }, auth=housing_system)

        async def reported():
            j = (await routing.get(f"/api/v1/joint/{joint_id}", headers=STREET_LEAD)).json()
            return j if j["units"][HOUSING]["reported_at"] else None

        j = await wait_for(reported)
        assert j["units"][HOUSING]["note"].startswith("住建局执法中队") and not j["units"][POLICE]["reported_at"]
        left = (await routing.get(f"/api/v1/units/{HOUSING}/joint", headers=HOUSING_DESK)).json()["items"]
        assert all(i["joint_id"] != joint_id for i in left)

        # 5. 预警: the grid by its name, and the community and street above it hear of it
        def grid_warning(records):
            ws = [json.loads(x.value) for x in records]
            return [w for w in ws if w.get("unit_code") == GRID and w["kind"] == "place_cluster"] or None

        # risk may lag on a loaded machine
        [w] = await read_topic(bootstrap, topics.WARNING_RAISED, grid_warning, timeout=120)
        assert w["place_name"] == "黄河社区第二网格" and "黄河社区第二网格" in w["message_zh"]
        assert GRID not in w["message_zh"]
        assert w["chain_unit_codes"][:3] == [GRID, COMMUNITY, STREET]
        for unit, path in ((COMMUNITY, (DISTRICT, STREET, COMMUNITY)), (STREET, (DISTRICT, STREET))):
            desk = token(unit, StaffRole.DISPATCHER, path)

            async def warned(desk: dict[str, str] = desk):
                msgs = (await notify.get("/api/v1/inbox/unit", headers=desk)).json()["messages"]
                return [m for m in msgs if m["template_id"].startswith("unit.warning_raised")
                        and "黄河社区第二网格" in m["text"]] or None

            assert await wait_for(warned)
    finally:
        await routing.aclose()
        await notify.aclose()
