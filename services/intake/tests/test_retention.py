"""Intake's retention against the real database: the period runs from the last ending step, the erasure empties
intake's personal fields and stages ``case.retention_expired`` (no personal data) in the same transaction, once."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from yima_contracts import Actor, CaseStatusChanged, topics
from yima_contracts.codes import ActorKind, CaseState
from yima_intake.app import create_app
from yima_intake.config import IntakeSettings
from yima_intake.core.submission import SubmitCase

pytestmark = pytest.mark.integration

PHONE, NAME, RID = "13912345678", "欧阳娜娜", "11010519491231002X"


def step(case_id: str, state: CaseState, at: datetime) -> CaseStatusChanged:
    return CaseStatusChanged(case_id=case_id, correlation_id=case_id, occurred_at=at, state=state,
                             actor=Actor(kind=ActorKind.SYSTEM, service="mediation"), title_zh="一步")


async def test_an_ended_case_is_erased_once_after_its_period_and_a_reopened_one_waits(yima_infra) -> None:
    settings = IntakeSettings(kafka_bootstrap=yima_infra.kafka_bootstrap, mongo_url=yima_infra.mongo_url,
                              mongo_db_prefix=f"ret{uuid.uuid4().hex[:6]}_", retention_days=30)
    app = create_app(settings, consume=False, relay=False)
    rt, service, sweeper = app.state.runtime, app.state.intake, app.state.retention
    await service.repo.setup()
    await sweeper.store.setup()
    await rt.outbox.setup()
    try:
        async def submit(text: str) -> str:
            cmd = SubmitCase.model_validate({
                "channel": "self_service", "description": text, "location": {"address": "金水区纬五路七号院"},
                "applicant": {"name": NAME, "phone": PHONE, "resident_id": RID}})
            return (await service.submit(cmd, idempotency_key=str(uuid.uuid4()))).case_id

        ended, reopened = await submit("楼上邻居家漏水把我家天花板泡坏了"), await submit("包工头拖欠工资两万元不给")
        now = datetime.now(UTC)
        async with rt.client.start_session() as s:
            # one poll's steps at once (the timeline consumer's batch), then the same poll again (a redelivery)
            steps = [step(ended, CaseState.CLOSED, now - timedelta(days=40)),
                     step(reopened, CaseState.RESOLVED, now - timedelta(days=50)),
                     step(reopened, CaseState.RETURNED, now - timedelta(days=45))]
            await service.record_statuses(steps, s)
            await service.record_statuses(steps, s)
        assert await rt.db["timeline"].count_documents({"_id": {"$in": [str(e.event_id) for e in steps]}}) == 3
        cases = rt.db["cases"]
        assert (await cases.find_one({"_id": reopened})).get("ended_at") is None  # taken up again: not ended

        assert await sweeper.sweep(as_of=now - timedelta(days=20)) == 0  # ended 20 days before then: kept
        assert await sweeper.sweep() == 1
        assert await sweeper.sweep() == 0  # idempotent

        doc = await cases.find_one({"_id": ended})
        assert doc["applicant"] == {"name": None, "phone": None, "resident_id": None, "phone_last4_hash": ""}
        assert doc["description"] is None and doc["address"] is None and "applicant_key" not in doc
        assert doc["erased_at"] and doc["state"] == "closed" and doc["case_number"].startswith("JSQ-")
        assert "idempotency" not in doc  # its fingerprint hashes the submission
        kept = await cases.find_one({"_id": reopened})
        assert kept["applicant"]["name"] and kept["description"] and kept["idempotency"]  # not ended: untouched

        staged = [d async for d in rt.db["outbox"].find({"topic": topics.CASE_RETENTION_EXPIRED})]
        assert [d["key"] for d in staged] == [ended]
        event = json.loads(staged[0]["payload"])
        assert event["event_type"] == "case.retention_expired.v1" and event["retention_days"] == 30
        assert event["case_number"] == doc["case_number"]
        assert not {PHONE, NAME, RID, PHONE[-4:]} & set(json.dumps(event, ensure_ascii=False).split('"'))
        with pytest.raises(ValidationError, match="greater than 0"):  # no period means no data kept: refused
            IntakeSettings(retention_days=0)
    finally:
        await rt.client.close()
