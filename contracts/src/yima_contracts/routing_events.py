"""Events the routing service publishes beside ``case.assigned`` and the unit topics."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from .codes import SupervisionStep
from .events import Event, UnitCode, UtcDatetime


class SupervisionNotice(Event):
    """谁分配、谁督办: the supervising unit warns before the deadline, issues 督办 at it, and so on up."""

    EVENT_TYPE: ClassVar[str] = "case.supervision_notice.v1"
    event_type: Literal["case.supervision_notice.v1"] = "case.supervision_notice.v1"

    assignment_id: str = Field(max_length=64)
    step: SupervisionStep
    unit_code: UnitCode = Field(description="the unit that holds the assignment")
    supervisor_unit_code: UnitCode
    leader_staff_id: str | None = Field(default=None, max_length=64, description="for step=leader")
    due_at: UtcDatetime
    message_zh: str = Field(max_length=300)
    joint_id: str | None = Field(
        default=None, max_length=64,
        description="吹哨报到: set when a summoned unit (unit_code) did not report in by due_at; the lead unit "
        "(supervisor_unit_code) presses it")


class CaseEscalated(Event):
    EVENT_TYPE: ClassVar[str] = "case.escalated.v1"
    event_type: Literal["case.escalated.v1"] = "case.escalated.v1"

    from_unit_code: UnitCode
    to_unit_code: UnitCode
    reason: Literal["overdue", "failed", "returned", "manual"]
    reason_zh: str = Field(max_length=300)
    assignment_id: str = Field(max_length=64, description="the new assignment at the higher level")


class JointSummoned(Event):
    """吹哨报到: a lead unit summons others; each must report in; the lead keeps responsibility."""

    EVENT_TYPE: ClassVar[str] = "case.joint_summoned.v1"
    event_type: Literal["case.joint_summoned.v1"] = "case.joint_summoned.v1"

    lead_unit_code: UnitCode
    summoned_unit_codes: list[UnitCode] = Field(min_length=1)
    reason_zh: str = Field(max_length=300)
    report_by: UtcDatetime
    # Added compatibly (optional; older producers leave them out): what a summoned unit needs to answer.
    joint_id: str | None = Field(
        default=None, max_length=64,
        description="the summons' id: a summoned unit reports on it with POST /api/v1/joint/{joint_id}/report or "
        "a case.joint_report.v1 on its unit.<code>.feedback topic")
    lead_unit_name: str | None = Field(default=None, max_length=100, description="the lead unit (牵头单位) by name")
    report_what_zh: str = Field(
        default="", max_length=300, description="what a summoned unit reports (到场时间、参加人员、处置意见)")


class JointReport(Event):
    """吹哨报到: a summoned unit reports in (报到) and on what it did, from its own system (on its
    own ``unit.<code>.feedback`` topic, which only its principal may write; ``case.joint_report`` for principals an
    operator authorised) — the same as ``POST /api/v1/joint/{joint_id}/report`` in yima's console."""

    EVENT_TYPE: ClassVar[str] = "case.joint_report.v1"
    event_type: Literal["case.joint_report.v1"] = "case.joint_report.v1"

    joint_id: str = Field(max_length=64)
    unit_code: UnitCode = Field(description="the summoned unit that reports")
    note: str = Field(min_length=1, max_length=2000, description="到场时间、参加人员、处置意见")


class LeaderAssigned(Event):
    """A red case gets a named responsible leader (分包领导) who follows it to the end."""

    EVENT_TYPE: ClassVar[str] = "case.leader_assigned.v1"
    event_type: Literal["case.leader_assigned.v1"] = "case.leader_assigned.v1"

    leader_staff_id: str = Field(max_length=64)
    leader_name: str = Field(max_length=50)
    unit_code: UnitCode


class DeadlineChanged(Event):
    EVENT_TYPE: ClassVar[str] = "case.deadline_changed.v1"
    event_type: Literal["case.deadline_changed.v1"] = "case.deadline_changed.v1"

    assignment_id: str = Field(max_length=64)
    change: Literal["paused", "resumed", "recomputed"]
    reason_zh: str = Field(max_length=300)
    due_at: UtcDatetime | None = Field(default=None, description="None while paused")
    provisional: bool = Field(default=False, description="the calendar of that year is not yet published")


class ReferralOutcome(Event):
    """诉前委派: the outcome of a court-referred case, back to the court (topic ``case.referral_outcome``), as the
    court's own system consumes it — like ``case.feedback``, addressed to the referring court's centre."""

    EVENT_TYPE: ClassVar[str] = "case.referral_outcome.v1"
    event_type: Literal["case.referral_outcome.v1"] = "case.referral_outcome.v1"

    referring_unit_code: UnitCode = Field(description="the court's centre that referred the case and supervises it")
    court_reference: str = Field(max_length=64, description="the court's case number (法院案号)")
    case_number: str = Field(max_length=40)
    assignment_id: str = Field(max_length=64)
    handling_unit_code: UnitCode
    handling_unit_name: str | None = Field(default=None, max_length=100)
    outcome: Literal["resolved", "failed", "returned"] = Field(
        description="resolved: mediated (an agreement); failed: mediation did not succeed — the court proceeds; "
        "returned: the unit gave it back — the court's centre re-dispatches")
    note_zh: str = Field(default="", max_length=1000, description="the handling unit's note or reason")


MODELS = (ReferralOutcome, JointReport, SupervisionNotice, CaseEscalated, JointSummoned, LeaderAssigned,
          DeadlineChanged)
