"""Risk's consumers: every new fact about a case re-assesses it; every change is published."""

from __future__ import annotations

from yima_contracts import CaseAssigned, CaseFeedback, CaseRiskAssessed, CaseSubmitted, topics
from yima_contracts.intake_events import CaseUpdated
from yima_contracts.mediation_events import CaseClosed, MediationConcluded, MediationSessionHeld
from yima_contracts.risk_events import FollowupDue, RiskCorrected, WarningRaised
from yima_contracts.routing_events import LeaderAssigned
from yima_kit.consumer import EventConsumers, PermanentError, Tx

from ..service import RiskService


def register(consumers: EventConsumers, service: RiskService) -> None:
    # A case's assignment and its department's first answer come moments apart on two consumers (the named topics'
    # and the unit feedback pattern's): concurrent batches writing one case conflicted, and the loser redid its whole
    # batch — statements in the database's one transaction lane (ADR 0219). Risk's batches go one after another.
    consumers.one_batch_at_a_time()
    consumers.publishes(topics.CASE_RISK_ASSESSED, CaseRiskAssessed,
                        "红/黄/蓝风险等级（每次变化），含上一等级、分数、触发的规则与证据、规则版本、可读理由")
    consumers.publishes(topics.CASE_FOLLOWUP_DUE, FollowupDue, "红色案件结案后回头看到期")
    consumers.publishes(topics.WARNING_RAISED, WarningRaised, "预警：同地同类聚集、同一被申请单位多地、同类突增")
    consumers.publishes(topics.CASE_RISK_CORRECTED, RiskCorrected,
                        "工作人员更正风险等级（含理由、规则等级）；lowered=true 表示人工调低，须主管知悉")

    @consumers.subscribe_batch(topics.CASE_SUBMITTED, CaseSubmitted, name="assess")
    async def on_case_submitted(events: list[CaseSubmitted], tx: Tx) -> None:
        """Assess a new case's risk (red / yellow / blue) with the rules that fired; check early warnings."""
        await service.in_batch(events, tx, RiskService.on_submitted)

    @consumers.subscribe_batch(topics.CASE_ASSIGNED, CaseAssigned, name="case_assigned")
    async def on_case_assigned(events: list[CaseAssigned], tx: Tx) -> None:
        """Learn where the case sits (the units' paths): staff see the risk of their unit's cases and below."""
        await service.in_batch(events, tx, RiskService.on_assigned)

    @consumers.subscribe_batch(topics.CASE_UPDATED, CaseUpdated, name="case_updated")
    async def on_case_updated(events: list[CaseUpdated], tx: Tx) -> None:
        """Re-assess on new facts: a repeat report, details added, category corrected, an emergency."""
        await service.in_batch(events, tx, RiskService.on_updated)

    @consumers.subscribe_batch(topics.CASE_LEADER_ASSIGNED, LeaderAssigned, name="leader_assigned")
    async def on_leader_assigned(events: list[LeaderAssigned], tx: Tx) -> None:
        """A responsible leader (分包领导) is named; red goes down to yellow only once handling has begun."""
        await service.in_batch(events, tx, RiskService.on_leader_assigned)

    @consumers.subscribe_batch(topics.CASE_FEEDBACK, CaseFeedback, name="feedback")
    async def on_feedback(events: list[CaseFeedback], tx: Tx) -> None:
        """A unit's feedback: accepted (handling starts), resolved (blue), failed (a risk)."""
        await service.in_batch(events, tx, RiskService.on_feedback)

    @consumers.subscribe_batch(topics.MEDIATION_SESSION_HELD, MediationSessionHeld, name="session_held")
    async def on_session_held(events: list[MediationSessionHeld], tx: Tx) -> None:
        """A session took place: with the case accepted, handling has begun (a red case under its leader → yellow)."""
        await service.in_batch(events, tx, RiskService.on_session_held)

    @consumers.subscribe_batch(topics.UNIT_FEEDBACK_PATTERN, CaseFeedback, name="unit_feedback", pattern=True)
    async def on_unit_feedback(events: list[CaseFeedback], tx: Tx) -> None:
        """A department's feedback on its own topic unit.<code>.feedback (ADR 0071); a message naming another
        unit than the topic's is refused (dead-lettered: the batch is retried event by event)."""
        for event in events:
            if topics.unit_of_feedback_topic(tx.topic_of(event)) != event.unit_code:
                raise PermanentError(f"unit_code {event.unit_code} on the feedback topic {tx.topic_of(event)!r}")
        await service.in_batch(events, tx, RiskService.on_feedback)

    @consumers.subscribe_batch(topics.MEDIATION_CONCLUDED, MediationConcluded, name="mediation_concluded")
    async def on_mediation_concluded(events: list[MediationConcluded], tx: Tx) -> None:
        """Mediation's outcome: success resolves the case (blue), failure is a risk."""
        await service.in_batch(events, tx, RiskService.on_mediation_concluded)

    @consumers.subscribe_batch(topics.CASE_CLOSED, CaseClosed, name="case_closed")
    async def on_case_closed(events: list[CaseClosed], tx: Tx) -> None:
        """A closed case: blue if resolved; a case that was red gets its follow-up visit (回头看) scheduled."""
        await service.in_batch(events, tx, RiskService.on_closed)
