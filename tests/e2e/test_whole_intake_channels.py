"""Intake's channels end to end: every service as its own process, the real broker and database.

Each channel's submission reaches case.submitted on Kafka with its channel; a retried submission returns the
same case; a repeat report reaches case.updated; a case settled at the desk (接件即办) shows as closed in the
tracking view, built from case.status through Kafka, and its rating reaches case.rated.
"""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from yima_contracts import topics
from yima_contracts.codes import StaffRole
from yima_devstack.kafka_tools import keyed, read_topic, wait_for
from yima_kit.auth import TokenIssuer

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

COMMUNITY = "410105001001"
STREET = "410105001"


def staff(role: StaffRole = StaffRole.DISPATCHER, unit: str = STREET) -> dict[str, str]:
    t = TokenIssuer.dev().issue(staff_id=f"e2e-{role.value}", unit=unit, role=role,
                                unit_path=("4101", "410105", unit))
    return {"Authorization": f"Bearer {t}", "Idempotency-Key": str(uuid.uuid4())}


def body(channel: str, description: str, **extra) -> dict:
    return {
        "channel": channel,
        "applicant": {"name": "司马相如", "phone": f"137{uuid.uuid4().int % 10**8:08d}"},
        "description": description,
        "location": {"unit_code": COMMUNITY},
        **extra,
    }


CHANNELS = [
    ("self_service", "小区物业不修电梯，老人被困在电梯里一个多小时", {}, None),
    ("proxy", "儿子儿媳不给老人生活费，也不让老人回家住", {
        "proxy": {"submitter": {"name": "王社工", "phone": "13600001234"}, "relation": "社区工作人员",
                  "consent": "in_person"}}, StaffRole.DISPATCHER),
    ("grid", "两户村民因为宅基地界线争吵，一方要砌墙", {}, StaffRole.GRID_WORKER),
    ("hotline_12345", "饭店油烟直接排到居民楼里，窗户都不敢开", {"external_reference": "12345-GD-88231"},
     StaffRole.DISPATCHER),
    ("police_110", "两辆电动车相撞，双方对赔偿金额分歧大", {"external_reference": "110-JJ-20261123-17"},
     StaffRole.DISPATCHER),
    ("court_referral", "原告诉称被告借款五万元到期未还", {"court_reference": "(2026)豫0105民诉前调88号"},
     StaffRole.DISPATCHER),
    ("petition", "拆迁补偿标准太低，要求重新评估", {"external_reference": "XF-2026-1123"}, StaffRole.LEADER),
]


@pytest.mark.parametrize("channel,description,extra,role", CHANNELS, ids=[c[0] for c in CHANNELS])
async def test_each_channel_reaches_the_broker(platform, yima_infra, channel, description, extra, role):
    headers = staff(role) if role else {"Idempotency-Key": str(uuid.uuid4())}
    payload = body(channel, description, **extra)
    async with httpx.AsyncClient(base_url=platform.procs["intake"].url, timeout=15) as http:
        r = await http.post("/api/v1/cases", json=payload, headers=headers)
        assert r.status_code == 201, r.text
        again = await http.post("/api/v1/cases", json=payload, headers=headers)
        assert again.status_code == 200 and again.json()["case_id"] == r.json()["case_id"]
        if role:
            anonymous = await http.post("/api/v1/cases", json=payload)
            assert anonymous.status_code == 401
    case_id = r.json()["case_id"]
    records = await read_topic(yima_infra.kafka_bootstrap, topics.CASE_SUBMITTED, keyed(case_id))
    assert len(records) == 1  # the retry made no second case
    event = json.loads(records[0].value)
    assert event["channel"] == channel and event["case_number"] == r.json()["case_number"]
    for k, v in extra.items():
        if k != "external_reference":
            assert event[k] == v
    if role:
        assert event["actor"]["kind"] == "staff" and event["actor"]["role"] == role.value


async def test_settled_at_the_desk_then_rated(platform, yima_infra):
    payload = body("reception", "邻居家的狗把我家孩子咬伤了，对方不愿承担疫苗费",
                   settled_on_spot=True, settlement_note="双方当场达成一致，对方承担疫苗费800元")
    async with httpx.AsyncClient(base_url=platform.procs["intake"].url, timeout=15) as http:
        r = await http.post("/api/v1/cases", json=payload, headers=staff())
        assert r.status_code == 201, r.text
        code, case_id = r.json()["tracking_code"], r.json()["case_id"]
        last4 = payload["applicant"]["phone"][-4:]

        async def closed():
            view = (await http.get(f"/api/v1/track/{code}", params={"check": last4})).json()
            return view if "closed" in [s["state"] for s in view["timeline"]] else None

        view = await wait_for(closed)
        assert [s["state"] for s in view["timeline"]][:3] == ["submitted", "resolved", "closed"]
        assert view["can_rate"]
        rated = await http.post(f"/api/v1/track/{code}/rating", json={"check": last4, "score": 5, "comment": "很快"})
        assert rated.status_code == 201, rated.text
        twice = await http.post(f"/api/v1/track/{code}/rating", json={"check": last4, "score": 5})
        assert twice.status_code == 409
    records = await read_topic(yima_infra.kafka_bootstrap, topics.CASE_RATED, keyed(case_id))
    assert json.loads(records[0].value)["score"] == 5


async def test_a_repeat_report_from_another_channel_reaches_case_updated(platform, yima_infra):
    first = body("self_service", "公司拖欠我们车间二十多人三个月的工资，老板一直躲着不见")
    async with httpx.AsyncClient(base_url=platform.procs["intake"].url, timeout=15) as http:
        r1 = await http.post("/api/v1/cases", json=first)
        assert r1.status_code == 201, r1.text
        repeat = {**first, "channel": "hotline_12345", "external_reference": "12345-GD-1",
                  "description": "老板拖欠我们车间工人三个月工资，人躲着不见，我们二十多人都没拿到钱"}
        r2 = await http.post("/api/v1/cases", json=repeat, headers=staff())
        assert r2.status_code == 200, r2.text
        assert r2.json()["repeat"] and r2.json()["case_id"] == r1.json()["case_id"]
    case_id = r1.json()["case_id"]
    records = await read_topic(yima_infra.kafka_bootstrap, topics.CASE_UPDATED, keyed(case_id))
    event = json.loads(records[0].value)
    assert event["kind"] == "repeat_report" and event["repeat_count"] == 2
    assert event["repeat_channel"] == "hotline_12345"
    submitted = await read_topic(yima_infra.kafka_bootstrap, topics.CASE_SUBMITTED, keyed(case_id))
    assert len(submitted) == 1
