"""Intake's consumers: the applicant's timeline is a projection of ``case.status``."""

from __future__ import annotations

from yima_contracts import CaseStatusChanged, CaseSubmitted, topics
from yima_kit.consumer import EventConsumers, Tx

from ..service import IntakeService


def register(consumers: EventConsumers, service: IntakeService) -> None:
    consumers.publishes(topics.CASE_SUBMITTED, CaseSubmitted, "一个案件登记完成：分类、评估、分流由此开始")
    consumers.publishes(topics.CASE_STATUS, CaseStatusChanged, "申请人可见的一步：纠纷已登记")
    @consumers.subscribe(topics.CASE_STATUS, CaseStatusChanged, name="timeline")
    async def on_case_status(event: CaseStatusChanged, tx: Tx) -> None:
        """Add an applicant-visible step to the case's tracking timeline."""
        await service.record_status(event, tx.session)
