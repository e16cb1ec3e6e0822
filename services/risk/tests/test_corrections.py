"""Staff corrections of a level against the real MongoDB-protocol server: an event with its reason, audited in the
same transaction, kept for training, and a lowered level visible to the supervisor (event, case, view, list)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from yima_contracts import CaseSubmitted, Party, topics
from yima_contracts.codes import Category, Channel, StaffRole
from yima_contracts.events import Location
from yima_contracts.intake_events import CaseUpdated
from yima_kit.auth import TokenIssuer
from yima_risk.app import create_app
from yima_risk.config import RiskSettings

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
UNIT = "410105001002"
YELLOW_TEXT = "楼上卫生间漏水，找物业说了四五回都不管，天花板都泡坏了"


@pytest.fixture
async def risk(yima_infra, mongo_db_prefix):
    s = RiskSettings(kafka_bootstrap=yima_infra.kafka_bootstrap, mongo_url=yima_infra.mongo_url,
                     mongo_db_prefix=mongo_db_prefix)
    app = create_app(s, consume=False, relay=False)
    async with app.router.lifespan_context(app):
        yield app


def submitted(case_id: str, text: str) -> CaseSubmitted:
    return CaseSubmitted(
        case_id=case_id, correlation_id=f"corr-{case_id}", case_number=f"JSQ-2026-{case_id[-6:]}",
        tracking_code="ABCD-EFGH-JKLM", channel=Channel.SELF_SERVICE, category=Category.NEIGHBOUR,
        category_source="applicant", description=text, applicant=Party(name="李四", phone="13912345678"),
        location=Location(unit_code=UNIT), submitted_at=T0, occurred_at=T0,
    )


async def staged(app, topic: str, case_id: str) -> list[dict]:
    col = app.state.runtime.db["outbox"]
    return [json.loads(d["payload"]) async for d in col.find({"topic": topic, "key": case_id}).sort("_id", 1)]


async def test_a_lowered_level_is_an_audited_event_kept_for_training_and_shown_to_the_supervisor(risk) -> None:
    rt, svc = risk.state.runtime, risk.state.service
    cid = f"c-{uuid.uuid4().hex[:8]}"
    assert await rt.consumers.process_once(submitted(cid, YELLOW_TEXT), svc.on_submitted, "risk.test.submitted")
    [first] = await staged(risk, topics.CASE_RISK_ASSESSED, cid)
    assert first["level"] == "yellow" and first["staff_corrected"] is None and "needs_review" in first
    issuer = TokenIssuer.dev()
    mediator = {"Authorization": f"Bearer {issuer.issue(staff_id='m-7', unit=UNIT, role=StaffRole.MEDIATOR)}"}
    other_unit = issuer.issue(staff_id="d-1", unit="410105002001", role=StaffRole.DISPATCHER)
    elsewhere = {"Authorization": f"Bearer {other_unit}"}
    analyst = {"Authorization": f"Bearer {issuer.issue(staff_id='a-1', unit=UNIT, role=StaffRole.ANALYST)}"}
    top = issuer.issue(staff_id="l-1", unit="410105", role=StaffRole.LEADER, unit_path=["410105"])
    leader = {"Authorization": f"Bearer {top}"}
    body = {"level": "blue", "reason_zh": "已上门核实，漏水已修好，双方无矛盾"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=risk), base_url="http://risk") as http:
        url = f"/api/v1/cases/{cid}/risk/correction"
        assert (await http.post(url, json=body)).status_code == 401
        assert (await http.post(url, json=body, headers=elsewhere)).status_code == 404  # as one that does not exist
        assert (await http.post(url, json=body, headers=analyst)).status_code == 403
        r = await http.post(url, json={"level": "blue", "reason_zh": "同意"}, headers=mediator)
        assert r.status_code == 422  # a correction needs a reason
        assert (await http.post("/api/v1/cases/nope/risk/correction", json=body, headers=mediator)).status_code == 404
        r = await http.post(url, json=body, headers=mediator)
        assert r.status_code == 201, r.text
        assert r.json() | {"correction_id": "x"} == {
            "correction_id": "x", "case_id": cid, "level": "blue", "previous_level": "yellow",
            "rules_level": "yellow", "direction": "lowered", "lowered": True}

        [ev] = await staged(risk, topics.CASE_RISK_CORRECTED, cid)
        assert ev["event_type"] == "case.risk_corrected.v1" and ev["lowered"] is True
        assert ev["actor"] == {"kind": "staff", "unit_code": UNIT, "staff_id": "m-7", "role": "mediator",
                               "service": None}
        assert ev["reason_zh"] == body["reason_zh"] and ev["case_unit_code"] == UNIT
        assessed = await staged(risk, topics.CASE_RISK_ASSESSED, cid)
        assert [a["level"] for a in assessed] == ["yellow", "blue"]
        assert assessed[-1]["staff_corrected"] == "lowered" and "人工调低" in assessed[-1]["reason_zh"]
        assert assessed[-1]["previous_level"] == "yellow" and assessed[-1]["needs_review"] is False

        view = (await http.get(f"/api/v1/cases/{cid}/risk", headers=mediator)).json()
        assert view["level"] == "blue" and view["own_level"] == "yellow" and view["lowered_by_staff"] is True
        assert view["correction"]["lowered"] is True and view["correction"]["staff_id"] == "m-7"
        listed = (await http.get("/api/v1/risk/corrections?lowered=true", headers=leader)).json()
        assert [(c["case_id"], c["level"], c["reason_zh"]) for c in listed] == [(cid, "blue", body["reason_zh"])]
        assert (await http.get("/api/v1/risk/corrections", headers=mediator)).status_code == 403

    audit = rt.db["audit"]
    actions = [(d["actor"], d["action"], d["success"]) async for d in audit.find({"object_id": cid}).sort("_id", 1)]
    assert ("m-7", "risk.level_corrected", True) in actions
    assert await rt.db["corrections"].count_documents({"case_id": cid}) == 1
    stored = await rt.db["corrections"].find_one({"case_id": cid})
    assert body["reason_zh"] not in json.dumps(stored, default=str, ensure_ascii=False)  # encrypted at rest
    examples = [x async for x in svc.training_examples()]
    assert ("neighbour", YELLOW_TEXT, "blue") in [(c, t, lv.value) for c, t, lv in examples]

    # the correction stands on a re-assessment …
    same = CaseUpdated(case_id=cid, correlation_id=f"corr-{cid}", occurred_at=T0, kind="details_added",
                       additional_description="物业今天来看过了")
    assert await rt.consumers.process_once(same, svc.on_updated, "risk.test.updated")
    assert (await rt.db["cases"].find_one({"_id": cid}))["level"] == "blue"
    # … but a new, graver fact is not hidden by it
    worse = CaseUpdated(case_id=cid, correlation_id=f"corr-{cid}", occurred_at=T0, kind="details_added",
                        additional_description="楼上的男人扬言要拿刀砍我们全家")
    assert await rt.consumers.process_once(worse, svc.on_updated, "risk.test.updated2")
    case = await rt.db["cases"].find_one({"_id": cid})
    assert case["level"] == "red" and case["lowered_by_staff"] is True
    last = (await staged(risk, topics.CASE_RISK_ASSESSED, cid))[-1]
    assert last["level"] == "red" and last["staff_corrected"] is None
