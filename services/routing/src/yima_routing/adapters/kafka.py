"""Routing's consumers: case facts and risk in, assignments out; units' feedback in."""

from __future__ import annotations

from yima_contracts import (
    CaseAssigned,
    CaseFeedback,
    CaseRiskAssessed,
    CaseStatusChanged,
    CaseSubmitted,
    UnitCaseAssigned,
    topics,
)
from yima_kit.consumer import EventConsumers, Tx

from ..service import RoutingService


def register(consumers: EventConsumers, service: RoutingService) -> None:
    consumers.publishes(topics.CASE_ASSIGNED, CaseAssigned, "案件已交办给某单位；交办单位即督办单位（谁分配、谁督办）")
    consumers.publishes(
        "unit.{unit_code}.cases", UnitCaseAssigned,
        "每个单位一个主题：部门自有系统用任意Kafka客户端读取交办单，并在case.feedback上反馈（同一assignment_id）",
    )
    consumers.publishes(topics.CASE_STATUS, CaseStatusChanged, "申请人可见的一步：已分派、已受理、已退回、已化解……")
    @consumers.subscribe(topics.CASE_SUBMITTED, CaseSubmitted, name="case_facts")
    async def on_case_submitted(event: CaseSubmitted, tx: Tx) -> None:
        """Keep the case's facts; assign once its risk is known."""
        await service.on_submitted(event, tx)

    @consumers.subscribe(topics.CASE_RISK_ASSESSED, CaseRiskAssessed, name="case_risk")
    async def on_risk_assessed(event: CaseRiskAssessed, tx: Tx) -> None:
        """Keep the case's risk level; assign once its facts are known."""
        await service.on_risk_assessed(event, tx)

    @consumers.subscribe(topics.CASE_FEEDBACK, CaseFeedback, name="feedback")
    async def on_feedback(event: CaseFeedback, tx: Tx) -> None:
        """A unit's answer on its assignment (谁受理、谁反馈)."""
        await service.on_feedback(event, tx)
