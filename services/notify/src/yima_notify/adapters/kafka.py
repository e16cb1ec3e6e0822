"""Notify's consumers: contacts from case.submitted, one message per applicant-visible step."""

from __future__ import annotations

from yima_contracts import CaseStatusChanged, CaseSubmitted, NotificationSent, topics
from yima_kit.consumer import EventConsumers, Tx

from ..service import NotifyService


def register(consumers: EventConsumers, service: NotifyService) -> None:
    consumers.publishes(topics.NOTIFICATION_SENT, NotificationSent, "一条通知已送达（每个事件、收件人、渠道仅一次）")
    @consumers.subscribe(topics.CASE_SUBMITTED, CaseSubmitted, name="recipients")
    async def on_case_submitted(event: CaseSubmitted, tx: Tx) -> None:
        """Remember how to reach the applicant; send what was waiting for it."""
        await service.on_submitted(event, tx)

    @consumers.subscribe(topics.CASE_STATUS, CaseStatusChanged, name="applicant_steps")
    async def on_case_status(event: CaseStatusChanged, tx: Tx) -> None:
        """Tell the applicant about an applicant-visible step, once."""
        await service.on_status(event, tx)
