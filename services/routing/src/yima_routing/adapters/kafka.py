"""Routing's consumers: case facts and risk in, assignments out; units' feedback in."""

from __future__ import annotations

from yima_contracts import (
    CaseAssigned,
    CaseFeedback,
    CaseRiskAssessed,
    CaseStatusChanged,
    CaseSubmitted,
    Event,
    UnitCaseAssigned,
    one_of,
    topics,
)
from yima_contracts.mediation_events import CaseClosed, CaseTransferred
from yima_contracts.routing_events import (
    CaseEscalated,
    DeadlineChanged,
    JointReport,
    JointSummoned,
    LeaderAssigned,
    ReferralOutcome,
    SupervisionNotice,
)
from yima_contracts.staff_events import StaffSessionRevoked
from yima_kit.consumer import EventConsumers, PermanentError, Tx

from ..service import RoutingService


def register(consumers: EventConsumers, service: RoutingService) -> None:
    _publications(consumers)
    _subscriptions(consumers, service)


def _publications(consumers: EventConsumers) -> None:
    consumers.publishes(topics.CASE_ASSIGNED, CaseAssigned, "案件已交办给某单位；交办单位即督办单位（谁分配、谁督办）")
    consumers.publishes(
        "unit.{unit_code}.cases", UnitCaseAssigned,
        "每个单位一个主题：部门自有系统用任意Kafka客户端和本单位的凭据读取交办单，并在本单位的反馈主题"
        "unit.{unit_code}.feedback上反馈（同一assignment_id）。"
        "示例：services/routing/examples/department_consumer.py",
    )
    consumers.publishes(topics.CASE_STATUS, CaseStatusChanged, "申请人可见的一步：已分派、已受理、已退回、已化解……")
    consumers.publishes(topics.CASE_SUPERVISION_NOTICE, SupervisionNotice,
                        "谁分配、谁督办：临期预警、督办通知、再次督办、提级、领导督办（按法定工作日计算）")
    consumers.publishes(topics.CASE_ESCALATED, CaseEscalated, "逾期或调解失败，案件提级（社区→街道→区）并保留历史")
    consumers.publishes(topics.CASE_JOINT_SUMMONED, JointSummoned,
                        "吹哨报到：牵头单位召集其他单位联合处置，各单位须报到")
    consumers.publishes(topics.CASE_REFERRAL_OUTCOME, ReferralOutcome,
                        "诉前委派：委派案件的结果（化解、调解不成、退回）回告委派法院的诉调对接中心（法院系统可直接读取）")
    consumers.publishes(topics.CASE_LEADER_ASSIGNED, LeaderAssigned, "红色案件确定分包领导，跟踪到底")
    consumers.publishes(topics.CASE_DEADLINE_CHANGED, DeadlineChanged, "办理期限暂停/恢复/重算（须说明理由）")
    consumers.publishes(topics.STAFF_SESSION_REVOKED, StaffSessionRevoked,
                        "工作人员会话提前结束（退出登录、修改或重置密码、停用、调岗）：各服务即时拒绝其令牌"
                        "（ADR 0130）")


def _subscriptions(consumers: EventConsumers, service: RoutingService) -> None:

    @consumers.subscribe(topics.CASE_SUBMITTED, CaseSubmitted, name="case_facts")
    async def on_case_submitted(event: CaseSubmitted, tx: Tx) -> None:
        """Keep the case's facts; assign once its risk is known."""
        await service.on_submitted(event, tx)

    @consumers.subscribe(topics.CASE_RISK_ASSESSED, CaseRiskAssessed, name="case_risk")
    async def on_risk_assessed(event: CaseRiskAssessed, tx: Tx) -> None:
        """Keep the case's risk level; assign once its facts are known."""
        await service.on_risk_assessed(event, tx)

    @consumers.subscribe(topics.CASE_CLOSED, CaseClosed, name="closed")
    async def on_closed(event: CaseClosed, tx: Tx) -> None:
        """A closed case: its supervision chains stop (no 督办 on a finished case)."""
        await service.on_case_ended(event.case_id, "closed", tx)

    @consumers.subscribe(topics.CASE_TRANSFERRED, CaseTransferred, name="transferred")
    async def on_transferred(event: CaseTransferred, tx: Tx) -> None:
        """Handed to arbitration, litigation or an administrative channel: supervision here ends."""
        await service.on_case_ended(event.case_id, "transferred", tx)

    @consumers.subscribe(topics.CASE_JOINT_REPORT, JointReport, name="joint_report")
    async def on_joint_report(event: JointReport, tx: Tx) -> None:
        """吹哨报到: a report to a summons on the shared topic, by principals an operator authorised (a unit's own
        system reports on its unit.<code>.feedback; same as POST /api/v1/joint/{id}/report)."""
        await service.on_joint_report(event, tx)

    @consumers.subscribe(topics.CASE_FEEDBACK, CaseFeedback, name="feedback")
    async def on_feedback(event: CaseFeedback, tx: Tx) -> None:
        """An answer of a unit that works in yima's console (written by mediation); departments' systems
        during the deprecation period only, each principal authorised by an ACL (ADR 0071)."""
        await service.on_feedback(event, tx)

    @consumers.subscribe(topics.UNIT_FEEDBACK_PATTERN, UNIT_ANSWER, name="unit_feedback", pattern=True)
    async def on_unit_feedback(event: Event, tx: Tx) -> None:
        """A department's own system on its own topic unit.<code>.feedback: its answers to its work orders
        (谁受理、谁反馈) and its reports to a summons (吹哨报到, case.joint_report.v1). Only that unit's principal
        can write there, so the topic says who answered."""
        if isinstance(event, JointReport):
            feedback_unit(event, tx)
            await service.on_joint_report(event, tx)
        elif isinstance(event, CaseFeedback):
            await service.on_feedback(event, tx, from_unit=feedback_unit(event, tx))
        else:
            raise PermanentError(f"{event.event_type} does not belong on a unit's feedback topic")


# What a unit's own system writes on its feedback topic, told apart by event_type.
UNIT_ANSWER = one_of(CaseFeedback, JointReport)


def feedback_unit(event: CaseFeedback | JointReport, tx: Tx) -> str:
    """The unit that wrote ``event``: the one whose feedback topic it came from. The message's own
    ``unit_code`` must name the same unit (it is data, not proof)."""
    unit = topics.unit_of_feedback_topic(tx.topic)
    if unit is None:
        raise PermanentError(f"not a unit feedback topic: {tx.topic!r}")
    if event.unit_code != unit:
        raise PermanentError(f"unit_code {event.unit_code} on the feedback topic of unit {unit}")
    return unit
