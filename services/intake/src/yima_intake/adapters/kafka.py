"""Intake's consumers: the applicant's timeline is a projection of ``case.status``."""

from __future__ import annotations

from yima_contracts import CaseStatusChanged, CaseSubmitted, MediationScheduled, topics
from yima_contracts.intake_events import CaseRated, CaseUpdated
from yima_kit.consumer import EventConsumers, Tx

from ..service import IntakeService


def register(consumers: EventConsumers, service: IntakeService) -> None:
    consumers.publishes(topics.CASE_SUBMITTED, CaseSubmitted, "一个案件登记完成：分类、评估、分流由此开始")
    consumers.publishes(topics.CASE_STATUS, CaseStatusChanged,
                        "申请人可见的一步：纠纷已登记、应急联办、接件即办（已化解、已办结）、已评价")
    consumers.publishes(topics.CASE_UPDATED, CaseUpdated, "案件的新情况：同一申请人再次反映同一纠纷（重复反映）等")
    consumers.publishes(topics.CASE_RATED, CaseRated, "申请人对已办结案件的满意度评价（每案一次）")

    @consumers.subscribe(topics.CASE_STATUS, CaseStatusChanged, name="timeline")
    async def on_case_status(event: CaseStatusChanged, tx: Tx) -> None:
        """Add an applicant-visible step to the case's tracking timeline."""
        await service.record_status(event, tx.session)

    @consumers.subscribe(topics.MEDIATION_SCHEDULED, MediationScheduled, name="sessions")
    async def on_session_scheduled(event: MediationScheduled, tx: Tx) -> None:
        """A mediation session for the case: its time, place or allowed video link go on the tracking page."""
        await service.record_session(event, tx.session)
