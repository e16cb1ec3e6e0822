"""Risk's consumers: assess every submitted case and publish the result."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from yima_contracts import Actor, CaseRiskAssessed, CaseSubmitted, topics
from yima_contracts.codes import ActorKind
from yima_kit.consumer import EventConsumers, Tx

from ..core.rules import assess


def register(consumers: EventConsumers, db: AsyncDatabase[Any]) -> None:
    consumers.publishes(topics.CASE_RISK_ASSESSED, CaseRiskAssessed, "红/黄/蓝风险等级，含触发的规则与证据")
    @consumers.subscribe(topics.CASE_SUBMITTED, CaseSubmitted, name="assess")
    async def on_case_submitted(event: CaseSubmitted, tx: Tx) -> None:
        """Assess a new case's risk (red / yellow / blue) with the rules that fired."""
        a = assess(event.description, event.category)
        result = CaseRiskAssessed(
            case_id=event.case_id,
            correlation_id=event.correlation_id,
            causation_id=event.event_id,
            actor=Actor(kind=ActorKind.SYSTEM, service="risk"),
            level=a.level,
            previous_level=None,
            score=a.score,
            rules_fired=list(a.hits),
            ruleset_version=a.ruleset_version,
            reason_zh=a.reason_zh,
        )
        await db["assessments"].insert_one(
            {"_id": str(result.event_id), "case_id": event.case_id, "category": event.category.value,
             **result.model_dump(mode="json", include={"level", "score", "rules_fired", "ruleset_version",
                                                        "reason_zh", "occurred_at"})},
            session=tx.session,
        )
        tx.emit(topics.CASE_RISK_ASSESSED, result)
