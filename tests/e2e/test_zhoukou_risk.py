"""Zhoukou's scenario end to end through the real broker: a six-situation case is red with its rules named,
gets a responsible leader (分包领导), stays red until handling has begun (accepted and an action reported),
then goes yellow, is resolved and goes blue, closes, and its follow-up visit
(回头看) comes due.

Every service runs as its own process; routing names the leader itself. Mediation's outcome and closing are
played here with a plain Kafka client and raw JSON, exactly as the drafted contracts describe them.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from yima_contracts import topics
from yima_devstack.kafka_tools import keyed, produce, read_topic

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

COMMUNITY = "410105001001"
CASE = {
    "channel": "self_service",
    "applicant": {"name": "欧阳娜娜", "phone": "13912345678"},
    "category": "marriage_family",
    "description": "去年法院判决离婚后，前夫还是隔三差五喝了酒来我家闹，扬言要砍死我，我已经报了好几次警，"
                   "孩子才8岁，天天吓得不敢上学",
    "location": {"unit_code": COMMUNITY},
}


def _levels(records) -> list[tuple[str | None, str]]:
    return [(json.loads(r.value)["previous_level"], json.loads(r.value)["level"]) for r in records]


def _envelope(event_type: str, case_id: str, correlation_id: str, at: datetime | None = None) -> dict:
    return {"event_id": str(uuid.uuid4()), "event_type": event_type, "case_id": case_id,
            "occurred_at": (at or datetime.now(UTC)).isoformat(), "correlation_id": correlation_id}


async def test_a_six_situation_case_goes_red_yellow_blue_and_is_followed_up(platform, yima_infra) -> None:
    bootstrap = yima_infra.kafka_bootstrap
    async with httpx.AsyncClient(timeout=10) as http:
        ruleset = (await http.get(f"{platform.procs['risk'].url}/api/v1/ruleset")).json()
        r = await http.post(f"{platform.procs['intake'].url}/api/v1/cases", json=CASE,
                            headers={"Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code == 201, r.text
    case_id = r.json()["case_id"]

    # 1. red, with the six situations named and their evidence
    [red] = await read_topic(bootstrap, topics.CASE_RISK_ASSESSED, keyed(case_id))
    first = json.loads(red.value)
    correlation_id = first["correlation_id"]
    assert first["level"] == "red" and first["previous_level"] is None
    assert first["ruleset_version"] == ruleset["version"]
    fired = {h["rule_id"]: h for h in first["rules_fired"]}
    assert {"six_post_divorce", "six_dv_police_calls", "violence_threat", "vulnerable_party"} <= set(fired)
    assert "描述含“报了好几次警”" in fired["six_dv_police_calls"]["evidence"]
    assert "六种情形：离婚诉讼后仍有矛盾" in first["reason_zh"] and "分包领导" in first["reason_zh"]

    # 2. routing names the responsible leader of a red case itself (分包领导): nothing done yet, still red
    [named] = await read_topic(bootstrap, topics.CASE_LEADER_ASSIGNED, keyed(case_id))
    leader = json.loads(named.value)
    assert leader["leader_staff_id"] and leader["leader_name"]
    [assigned] = await read_topic(bootstrap, topics.CASE_ASSIGNED, keyed(case_id))
    a = json.loads(assigned.value)

    def feedback(kind: str, **extra) -> dict:
        return {**_envelope("case.feedback.v1", case_id, correlation_id),
                "actor": {"kind": "unit_system", "unit_code": a["unit_code"]},
                "assignment_id": a["assignment_id"], "unit_code": a["unit_code"], "kind": kind, **extra}

    # the handling unit accepts (its own system on Kafka): still red — handling has not begun
    await produce(bootstrap, topics.CASE_FEEDBACK, case_id, feedback("accepted"))
    await asyncio.sleep(2)
    assert _levels(await read_topic(bootstrap, topics.CASE_RISK_ASSESSED, keyed(case_id))) == [(None, "red")]
    # 调处后: the unit reports what it did — yellow, and the change names its cause
    await produce(bootstrap, topics.CASE_FEEDBACK, case_id,
                  feedback("progress", note="分包领导带队上门调处，双方情绪稳定"))
    records = await read_topic(bootstrap, topics.CASE_RISK_ASSESSED, keyed(case_id, at_least=2))
    assert _levels(records)[:2] == [(None, "red"), ("red", "yellow")]
    assert json.loads(records[1].value)["reason_zh"].startswith("起因：承办单位反馈办理进展。")
    assert leader["leader_name"] in json.loads(records[1].value)["reason_zh"]

    # 3. mediation succeeds (mediation's event, played here): blue
    await produce(bootstrap, topics.MEDIATION_CONCLUDED, case_id, {
        **_envelope("mediation.concluded.v1", case_id, correlation_id),
        "success": True, "outcome": "agreement", "applicant_message_zh": "双方已达成调解协议",
    })
    records = await read_topic(bootstrap, topics.CASE_RISK_ASSESSED, keyed(case_id, at_least=3))
    assert _levels(records) == [(None, "red"), ("red", "yellow"), ("yellow", "blue")]

    # 4. the case closes: a red case gets its follow-up visit 30 days later. The closing is dated 30 days
    # back (the configured delay is unchanged), so the visit is due now and the timer must fire.
    closed_at = datetime.now(UTC) - timedelta(days=30) + timedelta(seconds=2)
    await produce(bootstrap, topics.CASE_CLOSED, case_id, {
        **_envelope("case.closed.v1", case_id, correlation_id, closed_at),
        "outcome": "agreement", "unit_code": "410105001", "resolved": True, "applicant_message_zh": "已结案",
    })
    [due] = await read_topic(bootstrap, topics.CASE_FOLLOWUP_DUE, keyed(case_id), timeout=90)
    followup = json.loads(due.value)
    assert followup["event_type"] == "case.followup_due.v1"
    assert followup["leader_staff_id"] == leader["leader_staff_id"]
    assert followup["unit_code"] == "410105001"  # the closing unit's (played above)
    due_at = datetime.fromisoformat(followup["due_at"])
    assert abs(due_at - (closed_at + timedelta(days=30))) < timedelta(milliseconds=1)  # Mongo keeps milliseconds
    assert "回头看" in followup["reason_zh"]
    # closing a blue case publishes no new level, and the visit comes due once
    assert len(await read_topic(bootstrap, topics.CASE_RISK_ASSESSED, keyed(case_id, at_least=3))) == 3
    assert len(await read_topic(bootstrap, topics.CASE_FOLLOWUP_DUE, keyed(case_id))) == 1
