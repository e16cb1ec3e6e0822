"""Mediation's consumers: the work orders of the units that work inside yima (see ADR 0040), and the
events it publishes (declared here for the AsyncAPI document)."""

from __future__ import annotations

from yima_contracts import (
    CaseClosed,
    CaseEscalated,
    CaseFeedback,
    CaseStatusChanged,
    CaseTransferred,
    ExpertAnswered,
    ExpertInvited,
    MediationConcluded,
    MediationScheduled,
    MediationSessionHeld,
    UnitCaseAssigned,
    topics,
)
from yima_kit.consumer import EventConsumers, Tx

from ..application import MediationService

# Every unit's work-order topic: which units work in yima's console is the directory's word, carried on each order
# (``in_platform``), so a unit moving into or out of the platform needs no change here (ADR 0040).
WORK_ORDERS = r"unit\..+\.cases"


def register(consumers: EventConsumers, service: MediationService) -> None:
    consumers.publishes(topics.CASE_FEEDBACK, CaseFeedback,
                        "平台内办理的单位的受理、退回、化解、调解不成（与部门自有系统同一契约）")
    consumers.publishes(topics.MEDIATION_SCHEDULED, MediationScheduled,
                        "已安排调解（线上/线下/错时），含给申请人的提示")
    consumers.publishes(topics.MEDIATION_EXPERT_INVITED, ExpertInvited,
                        "已邀请专家参与调解：受邀专家本人及其联系方式、案件编号和类别（不含当事人信息）、答复方式")
    consumers.publishes(topics.MEDIATION_EXPERT_ANSWERED, ExpertAnswered,
                        "受邀专家已答复（同意、谢绝或因回避改为不予邀请；本人在线答复或工作人员代为登记），告知承办单位")
    consumers.publishes(topics.MEDIATION_SESSION_HELD, MediationSessionHeld, "调解已进行或当事人未到场")
    consumers.publishes(topics.MEDIATION_CONCLUDED, MediationConcluded,
                        "调解成功（协议及其SHA-256）或不成（原因、下一步）")
    consumers.publishes(topics.CASE_TRANSFERRED, CaseTransferred, "诉调对接：转仲裁、诉讼或行政途径，随附卷宗包SHA-256")
    consumers.publishes(topics.CASE_CLOSED, CaseClosed, "案件在调解环节办结")
    consumers.publishes(topics.CASE_STATUS, CaseStatusChanged,
                        "申请人可见的一步：已安排调解、暂停、司法确认、已转出、已办结")

    @consumers.subscribe(topics.CASE_ESCALATED, CaseEscalated, name="escalations")
    async def on_escalated(event: CaseEscalated, tx: Tx) -> None:
        """The supervisor moved the case to another unit (overdue, failed, manual): the old unit's work ends."""
        await service.on_escalated(event, tx)

    @consumers.subscribe_batch(WORK_ORDERS, UnitCaseAssigned, name="work_orders", pattern=True)
    async def on_work_orders(events: list[UnitCaseAssigned], tx: Tx) -> None:
        """Work orders for units that handle their cases inside yima enter the units' queues (a poll's orders in
        one read and one write); the orders of units with their own systems are theirs to answer."""
        await service.on_work_orders(events, tx)
