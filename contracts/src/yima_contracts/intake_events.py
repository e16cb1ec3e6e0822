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


MODELS = (CaseUpdated, CaseRated)
