"""Notify's consumers: contacts from case.submitted; every event a person must hear of, planned once.

Each handler runs in the consumer's transaction (processed-event ledger + our writes + outbox): it only
stages messages; the delivery worker sends them.
"""

from __future__ import annotations

from yima_contracts import (
    CaseAssigned,
    CaseClosed,
    CaseStatusChanged,
    CaseSubmitted,
    Event,
    ExpertAnswered,
    ExpertInvited,
    MediationScheduled,
    NotificationFailed,
    NotificationSent,
    topics,
)
from yima_contracts.risk_events import FollowupDue, WarningRaised
from yima_contracts.routing_events import CaseEscalated, JointSummoned, LeaderAssigned, SupervisionNotice
from yima_kit.consumer import EventConsumers, Tx

from ..service import NotifyService

# topic → (model, consumer name, who hears it)
HEARD: tuple[tuple[str, type[Event], str, str], ...] = (
    (topics.CASE_STATUS, CaseStatusChanged, "applicant_steps", "申请人（及代办人）获知每个可见进展"),
    (topics.CASE_ASSIGNED, CaseAssigned, "unit_assignments", "承办单位获知新交办案件"),
    (topics.CASE_SUPERVISION_NOTICE, SupervisionNotice, "supervision", "承办单位获知临期预警和督办，督办单位获知督办"),
    (topics.CASE_ESCALATED, CaseEscalated, "escalations", "上级单位获知提级交办，原单位获知已提级"),
    (topics.CASE_JOINT_SUMMONED, JointSummoned, "joint_summons", "被吹哨单位获知报到要求"),
    (topics.CASE_LEADER_ASSIGNED, LeaderAssigned, "leaders", "单位获知红色案件的分包领导"),
    (topics.WARNING_RAISED, WarningRaised, "warnings", "属地单位获知矛盾预警"),
    (topics.MEDIATION_SCHEDULED, MediationScheduled, "sessions",
     "申请人获知调解安排和提醒；受邀专家获知调解时间；承办单位获知专家邀请"),
    (topics.CASE_CLOSED, CaseClosed, "rating_requests", "申请人在办结后收到评价邀请"),
    (topics.CASE_FOLLOWUP_DUE, FollowupDue, "followups", "申请人获知回访；承办单位获知回访任务"),
)


def register(consumers: EventConsumers, service: NotifyService) -> None:
    consumers.publishes(topics.NOTIFICATION_SENT, NotificationSent, "一条通知已送达（每个事件、收件人、渠道仅一次）")
    consumers.publishes(topics.NOTIFICATION_FAILED, NotificationFailed, "一条通知多次重试后仍发送失败（工作人员可见）")

    # A poll's events at once (ADR 0155): contacts read once, ledger entries written together (NotifyService.in_batch).
    # ``first``: a poll that brings a case's submission and its first step (intake publishes them together) stores
    # the contact before the step is planned, instead of parking the step and both transactions writing the
    # contact's document at once (a conflict that redoes a whole batch).
    @consumers.subscribe_batch(topics.CASE_SUBMITTED, CaseSubmitted, name="recipients", first=True)
    async def on_case_submitted(events: list[CaseSubmitted], tx: Tx) -> None:
        """Remember how to reach the applicant (and a proxy submitter); plan what was waiting for it."""
        await service.in_batch(events, tx, NotifyService.on_submitted, waiting=True)

    @consumers.subscribe(topics.MEDIATION_EXPERT_INVITED, ExpertInvited, name="expert_invitations",
                         group_id="yima-notify.expert_invitations", rare=True)
    async def on_expert_invited(event: ExpertInvited, tx: Tx) -> None:
        """受邀专家本人获知邀请（站内信；有手机号的另发短信）"""
        await service.on_expert_invited(event, tx)

    @consumers.subscribe(topics.MEDIATION_EXPERT_ANSWERED, ExpertAnswered, name="expert_answers",
                         group_id="yima-notify.expert_answers", rare=True)
    async def on_expert_answered(event: ExpertAnswered, tx: Tx) -> None:
        """承办单位获知受邀专家的答复（同意、谢绝或需回避），谢绝时请另行邀请"""
        await service.on_expert_answered(event, tx)

    for topic, model, name, doc in HEARD:
        async def handler(events: list[Event], tx: Tx) -> None:
            await service.in_batch(events, tx, NotifyService.handle)

        handler.__doc__ = doc
        # One consumer group per subscriber (beyond the original two): a restart then rebalances small groups
        # in parallel instead of one group of a dozen members, one join after another (ADR 0051).
        group = None if topic == topics.CASE_STATUS else f"yima-notify.{name}"
        # An idle consumer of a topic that comes seldom asks the broker every 0.5 s, not every 60 ms (ADR 0201);
        # a case's steps and its assignment keep the short wait.
        rare = topic not in (topics.CASE_STATUS, topics.CASE_ASSIGNED)
        consumers.subscribe_batch(topic, model, name=name, group_id=group, rare=rare)(handler)
