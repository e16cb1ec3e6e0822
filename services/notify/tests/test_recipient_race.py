"""case.status and case.submitted arrive on different topics, in any order, even at the same moment:
every step must still be delivered once (real MongoDB-protocol server, real transactions)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from yima_contracts import CaseStatusChanged, CaseSubmitted
from yima_contracts.codes import CaseState
from yima_kit.runtime import Runtime
from yima_notify.adapters.mongo_repo import MongoNotifyRepository
from yima_notify.config import NotifySettings
from yima_notify.service import NotifyService

pytestmark = pytest.mark.integration


def events(case_id: str) -> tuple[CaseSubmitted, CaseStatusChanged]:
    submitted = CaseSubmitted(
        case_id=case_id, correlation_id=case_id, case_number="JSQ-2026-000001", tracking_code="ABCDEFGHJKMN",
        channel="self_service", category="neighbour", category_source="classifier", description="楼上漏水",
        applicant={"name": "张三", "phone": "13812345678"}, submitted_at=datetime.now(UTC),
    )
    status = CaseStatusChanged(
        case_id=case_id, correlation_id=case_id, state=CaseState.SUBMITTED, title_zh="纠纷已登记"
    )
    return submitted, status


async def test_simultaneous_contact_and_step_never_strand_a_notification(yima_infra, mongo_db_prefix) -> None:
    rt = Runtime.create(NotifySettings(kafka_bootstrap=yima_infra.kafka_bootstrap, mongo_url=yima_infra.mongo_url,
                                       mongo_db_prefix=mongo_db_prefix))
    service = NotifyService(MongoNotifyRepository(rt.db), rt.cipher)
    await service.setup()
    cases = [str(uuid.uuid4()) for _ in range(6)]
    try:
        for case_id in cases:
            submitted, status = events(case_id)
            await asyncio.gather(
                rt.consumers.process_once(status, service.handle, "notify.applicant_steps"),
                rt.consumers.process_once(submitted, service.on_submitted, "notify.recipients"),
            )
        inbox = rt.db["notifications"].find(
            {"case_id": {"$in": cases}, "recipient_kind": "applicant", "channel": "inbox"})
        delivered = sorted([d["case_id"] async for d in inbox if d["state"] == "delivered"])
        assert delivered == sorted(cases)
        assert await rt.db["pending_events"].count_documents({"case_id": {"$in": cases}}) == 0
    finally:
        await rt.client.close()
