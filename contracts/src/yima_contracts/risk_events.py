"""Events the risk service publishes beside ``case.risk_assessed``."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from .codes import Category, RiskLevel
from .events import Event, UnitCode, UtcDatetime


class FollowupDue(Event):
    """回头看: a red case's follow-up visit after closing has come due."""

    EVENT_TYPE: ClassVar[str] = "case.followup_due.v1"
    event_type: Literal["case.followup_due.v1"] = "case.followup_due.v1"

    followup_id: str = Field(max_length=64)
    due_at: UtcDatetime
    unit_code: UnitCode | None = Field(default=None, description="unit that handled the case and visits")
    leader_staff_id: str | None = Field(default=None, max_length=64)
    reason_zh: str = Field(max_length=300)


class WarningRaised(Event):
    """预警: disputes cluster. ``case_id`` is the case that crossed the threshold; ``case_ids`` all of them."""

    EVENT_TYPE: ClassVar[str] = "warning.raised.v1"
    event_type: Literal["warning.raised.v1"] = "warning.raised.v1"

    warning_id: str = Field(max_length=64)
    kind: Literal["place_cluster", "respondent_cluster", "surge"]
    category: Category | None = None
    unit_code: UnitCode | None = None
    respondent: str | None = Field(default=None, max_length=100, description="an organisation, never a person")
    case_ids: list[str] = Field(min_length=1, max_length=1000)
    window_days: int = Field(ge=1)
    threshold: int = Field(ge=1)
    message_zh: str = Field(max_length=300)
    ruleset_version: str | None = Field(default=None, max_length=40, description="risk rule set that set the threshold")
    # Added compatibly (optional): the place by the directory's name, and who above it hears of the warning.
    place_name: str | None = Field(default=None, max_length=100, description="the place (unit_code) by its name")
    chain_unit_codes: list[UnitCode] = Field(
        default_factory=list, max_length=10,
        description="the place's chain of units, the place first (grid → community → street → district): each "
        "hears of the warning")


class RiskCorrected(Event):
    """A staff member corrected a case's risk level, with a reason (the actor names who). The corrected level is
    also published as ``case.risk_assessed`` so that routing acts on it; this event is the record for the audit,
    the statistics and the supervisor. A level LOWERED by staff (``lowered``) is always for the supervisor to see:
    risk silently downgraded to dodge assessment must not go unnoticed."""

    EVENT_TYPE: ClassVar[str] = "case.risk_corrected.v1"
    event_type: Literal["case.risk_corrected.v1"] = "case.risk_corrected.v1"

    correction_id: str = Field(max_length=64)
    level: RiskLevel = Field(description="the level staff set")
    previous_level: RiskLevel = Field(description="the case's level before the correction")
    rules_level: RiskLevel = Field(description="what the rules alone say (the first level)")
    direction: Literal["raised", "lowered", "confirmed"]
    lowered: bool = Field(description="staff lowered the level: the supervisor must see it")
    reason_zh: str = Field(min_length=4, max_length=300, description="the stated reason")
    unit_code: UnitCode = Field(description="unit of the staff member who corrected")
    case_unit_code: UnitCode | None = Field(default=None, description="the case's place (its supervising unit's)")
    needs_review: bool = Field(default=False, description="the second opinion had flagged the case for review")
    ruleset_version: str = Field(max_length=40)


MODELS = (FollowupDue, WarningRaised, RiskCorrected)
