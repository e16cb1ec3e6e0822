"""Events intake publishes beside ``case.submitted`` (owned by the intake service's maintainers)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from .codes import Category, Channel
from .events import Event, UtcDatetime


class CaseUpdated(Event):
    """New facts about a case. ``kind`` says which; only the fields of that kind are set."""

    EVENT_TYPE: ClassVar[str] = "case.updated.v1"
    event_type: Literal["case.updated.v1"] = "case.updated.v1"

    kind: Literal["repeat_report", "details_added", "category_corrected", "emergency_flagged"]
    repeat_count: int | None = Field(default=None, ge=1, description="reports of this dispute so far (repeat_report)")
    repeat_channel: Channel | None = Field(default=None, description="channel of the repeat report")
    additional_description: str | None = Field(default=None, max_length=5000)
    category: Category | None = None
    sub_item: str | None = Field(default=None, max_length=64)
    emergency: bool | None = None


class CaseRated(Event):
    """满意度评价: the applicant rated a closed case (once)."""

    EVENT_TYPE: ClassVar[str] = "case.rated.v1"
    event_type: Literal["case.rated.v1"] = "case.rated.v1"

    score: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=500)
    rated_at: UtcDatetime


class CaseRetentionExpired(Event):
    """保存期限届满: the case ended (closed, transferred, resolved) longer ago than the platform keeps personal data.
    Intake has erased its own copy in the same transaction; every service that holds personal data of the case
    erases its copy when it reads this, once (docs/retention.md, docs/adr/0125). Carries no personal data."""

    EVENT_TYPE: ClassVar[str] = "case.retention_expired.v1"
    event_type: Literal["case.retention_expired.v1"] = "case.retention_expired.v1"

    case_number: str = Field(max_length=64)
    ended_at: UtcDatetime = Field(description="the case's last step in an ending state (closed, transferred, …)")
    retention_days: float = Field(gt=0, description="the period personal data was kept after ended_at")


MODELS = (CaseUpdated, CaseRated, CaseRetentionExpired)
