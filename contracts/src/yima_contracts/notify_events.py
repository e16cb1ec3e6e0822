"""Events the notify service publishes beside ``notification.sent``."""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from .events import Event


class NotificationFailed(Event):
    """A message that finally failed after its retries: visible to staff, never silently lost."""

    EVENT_TYPE: ClassVar[str] = "notification.failed.v1"
    event_type: Literal["notification.failed.v1"] = "notification.failed.v1"

    notification_id: str = Field(max_length=64)
    source_event_id: UUID
    recipient_kind: Literal["applicant", "proxy", "staff", "expert"]
    channel: Literal["sms", "wechat", "email", "webhook", "inbox"]
    attempts: int = Field(ge=1)
    error: str = Field(max_length=500, description="what went wrong (no personal data)")


MODELS = (NotificationFailed,)
