"""Event contracts. These pydantic models are the source of truth; JSON Schema and the AsyncAPI document
are generated from them (``python -m yima_contracts.export``) and a test fails when the files drift.

Versioning: ``event_type`` carries the version (``case.assigned.v1``). A compatible change (a new optional
field) keeps the version; an incompatible one adds a new model with ``.v2`` and both are published during
the migration.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, ClassVar, Literal
from uuid import UUID, uuid4

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from .codes import ActorKind, CaseState, Category, Channel, FeedbackKind, RiskLevel, StaffRole
from .personal import normalize_name, normalize_phone
from .topics import UNIT_CODE_PATTERN

# An openid is 28 characters today ([A-Za-z0-9_-]); allow some room without accepting free text.
WECHAT_OPENID_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"
UnitCode = Annotated[str, Field(pattern=UNIT_CODE_PATTERN, description="org unit code, e.g. 410105001")]
Phone = Annotated[str, AfterValidator(normalize_phone)]
PersonName = Annotated[str, AfterValidator(normalize_name)]


def utcnow() -> datetime:
    return datetime.now(UTC)


def _require_utc(v: datetime) -> datetime:
    if v.tzinfo is None:
        raise ValueError("timestamps must carry a time zone (UTC)")
    return v.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_require_utc)]


class Actor(BaseModel):
    """Who acted: a person (staff or applicant), a unit's own system, or a yima service."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ActorKind
    unit_code: UnitCode | None = None
    staff_id: str | None = Field(default=None, max_length=64)
    role: StaffRole | None = None
    service: str | None = Field(default=None, max_length=32, description="yima service, for kind=system")


class Event(BaseModel):
    """The envelope every event carries (DESIGN.md §2)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    EVENT_TYPE: ClassVar[str] = ""

    event_id: UUID = Field(default_factory=uuid4)
    event_type: str
    case_id: str = Field(min_length=1, max_length=64, description="partition key: all events of a case are ordered")
    occurred_at: UtcDatetime = Field(default_factory=utcnow)
    correlation_id: str = Field(min_length=1, max_length=64, description="the case's submission id flows through")
    causation_id: UUID | None = Field(default=None, description="event_id of the event this one answers")
    actor: Actor | None = None


# --- shared value objects -------------------------------------------------------------------------


class Party(BaseModel):
    """A person in the case. Personal data: never logged, masked on display, encrypted at rest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: PersonName
    phone: Phone


class Location(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    unit_code: UnitCode | None = Field(default=None, description="grid/community/street the dispute is in")
    address: str | None = Field(default=None, max_length=200)


class VulnerableKind(StrEnum):
    ELDERLY = "elderly"
    DISABLED = "disabled"
    MINOR = "minor"
    PREGNANT = "pregnant"


class Respondent(BaseModel):
    """The other side of the dispute, as the applicant names it (an employer, a neighbour, a company).

    A person's name here is personal data like the applicant's; an organisation's name is not, and is
    what early warnings cluster on (one employer owing wages in several places).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    is_organisation: bool = False


class ProxyInfo(BaseModel):
    """代办: who submitted for whom, and the applicant's consent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    submitter: Party
    relation: str = Field(min_length=1, max_length=40, description="e.g. 子女, 社区工作人员, 网格员")
    consent: Literal["written", "verbal_recorded", "in_person"]


class RuleHit(BaseModel):
    """One risk rule that fired, with its evidence: assessments are explainable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule_id: str = Field(max_length=64)
    name_zh: str = Field(max_length=100)
    level: RiskLevel
    weight: int
    evidence: list[str] = Field(default_factory=list, max_length=20)


# --- the case's events --------------------------------------------------------------------------


class CaseSubmitted(Event):
    """Intake registered a case. Carries what downstream services need to classify, assess and route."""

    EVENT_TYPE: ClassVar[str] = "case.submitted.v1"
    event_type: Literal["case.submitted.v1"] = "case.submitted.v1"

    case_number: str = Field(max_length=40)
    tracking_code: str = Field(max_length=20, description="sent to the applicant by notify; never shown to units")
    channel: Channel
    category: Category
    category_source: Literal["applicant", "classifier", "staff"]
    description: str = Field(min_length=1, max_length=5000)
    applicant: Party
    location: Location = Field(default_factory=Location)
    submitted_at: UtcDatetime
    # Structured facts (optional; risk and routing rules read them beside the text).
    sub_item: str | None = Field(default=None, max_length=64, description="second-level category code")
    respondent: Respondent | None = None
    party_count: int | None = Field(default=None, ge=1, le=100000, description="people on the applicant's side")
    amount_yuan: float | None = Field(default=None, ge=0, description="sum in dispute")
    vulnerable: list[VulnerableKind] = Field(default_factory=list)
    emergency: bool = Field(default=False, description="应急联办: violence under way, a group gathering")
    settled_on_spot: bool = Field(default=False, description="接件即办: reception settled it at intake")
    proxy: ProxyInfo | None = None
    court_reference: str | None = Field(default=None, max_length=64, description="诉前委派 case reference")
    repeat_of: str | None = Field(default=None, max_length=64, description="case_id this repeats, if linked")
    applicant_wechat_openid: str | None = Field(
        default=None, pattern=WECHAT_OPENID_PATTERN,
        description="the applicant's WeChat openid (mini-program / 公众号), for template messages; notify only")


class CaseRiskAssessed(Event):
    EVENT_TYPE: ClassVar[str] = "case.risk_assessed.v1"
    event_type: Literal["case.risk_assessed.v1"] = "case.risk_assessed.v1"

    level: RiskLevel
    previous_level: RiskLevel | None = None
    score: int = Field(ge=0)
    rules_fired: list[RuleHit] = Field(default_factory=list)
    ruleset_version: str = Field(max_length=40)
    reason_zh: str = Field(max_length=500, description="a reason a person can read")
    needs_review: bool = Field(default=False, description="the statistical second opinion disagrees by a level or "
                                                          "more: a person should look at the level")
    staff_corrected: Literal["raised", "lowered", "confirmed"] | None = Field(
        default=None, description="the level was set by staff (see case.risk_corrected); lowered = for the supervisor")


class CaseAssigned(Event):
    """Routing assigned the case to a unit; the assigning unit supervises (谁分配、谁督办)."""

    EVENT_TYPE: ClassVar[str] = "case.assigned.v1"
    event_type: Literal["case.assigned.v1"] = "case.assigned.v1"

    assignment_id: str = Field(max_length=64)
    unit_code: UnitCode
    unit_name: str = Field(max_length=100)
    supervisor_unit_code: UnitCode
    supervisor_unit_name: str = Field(max_length=100)
    category: Category
    risk_level: RiskLevel
    rule_id: str = Field(max_length=64, description="the routing rule that fired")
    reason_zh: str = Field(max_length=500)
    due_at: UtcDatetime
    unit_path: list[UnitCode] = Field(
        default_factory=list, max_length=12,
        description="codes from the top of the hierarchy down to the assigned unit: the units above may see the "
                    "case (other services scope their staff views with it; empty from older producers)")
    supervisor_unit_path: list[UnitCode] = Field(default_factory=list, max_length=12,
                                                 description="the same for the supervising unit")
    location_unit_path: list[UnitCode] = Field(
        default_factory=list, max_length=12,
        description="the same for the unit where the dispute arose (location.unit_code), when known")


class UnitCaseAssigned(Event):
    """The work order on ``unit.<unit_code>.cases``: what a department's own system needs to handle the case.

    Answer on ``case.feedback`` with a :class:`CaseFeedback` naming the same ``assignment_id``.
    """

    EVENT_TYPE: ClassVar[str] = "unit.case_assigned.v1"
    event_type: Literal["unit.case_assigned.v1"] = "unit.case_assigned.v1"

    assignment_id: str = Field(max_length=64)
    unit_code: UnitCode
    unit_name: str | None = Field(default=None, max_length=100)
    unit_path: list[UnitCode] = Field(
        default_factory=list, max_length=10,
        description="codes from the top of the hierarchy down to the unit itself: units above may see the case")
    in_platform: bool = Field(
        default=False,
        description="the unit handles cases in yima's own console (the mediation service takes this order); "
        "false: the unit's own system answers on case.feedback")
    case_number: str = Field(max_length=40)
    channel: Channel
    category: Category
    risk_level: RiskLevel
    description: str = Field(max_length=5000)
    applicant: Party
    location: Location
    supervisor_unit_code: UnitCode
    supervisor_unit_name: str = Field(max_length=100)
    due_at: UtcDatetime
    feedback_topic: Literal["case.feedback"] = "case.feedback"
    court_reference: str | None = Field(
        default=None, max_length=64,
        description="诉前委派: the court's case number; the court's centre supervises and hears the outcome "
        "(case.referral_outcome). Added compatibly: absent for other channels")


class CaseFeedback(Event):
    """A unit's answer on an assignment (谁受理、谁反馈), from yima's console or a department's own system."""

    EVENT_TYPE: ClassVar[str] = "case.feedback.v1"
    event_type: Literal["case.feedback.v1"] = "case.feedback.v1"

    assignment_id: str = Field(max_length=64)
    unit_code: UnitCode
    kind: FeedbackKind
    reason: str | None = Field(default=None, max_length=1000)
    note: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _reason_required(self) -> CaseFeedback:
        if self.kind in (FeedbackKind.RETURNED, FeedbackKind.FAILED) and not (self.reason or "").strip():
            raise ValueError(f"feedback of kind {self.kind.value!r} needs a reason (退回/失败须说明理由)")
        return self


class CaseStatusChanged(Event):
    """One applicant-visible step of the case's timeline (topic ``case.status``).

    Never carries personal data: intake builds the tracking view and notify the messages from it.
    """

    EVENT_TYPE: ClassVar[str] = "case.status.v1"
    event_type: Literal["case.status.v1"] = "case.status.v1"

    state: CaseState
    title_zh: str = Field(max_length=100, description="what happened")
    detail_zh: str = Field(default="", max_length=500)
    acting_unit_code: UnitCode | None = None
    acting_unit_name: str | None = Field(default=None, max_length=100, description="who acts now")
    next_step_zh: str = Field(default="", max_length=300, description="what comes next")
    due_at: UtcDatetime | None = None
    announced_by: str | None = Field(
        default=None, max_length=64, pattern=r"^[a-z_.]+\.v\d+$",
        description="type of the event, published with this step, whose own message tells the applicant of it "
        "(e.g. mediation.scheduled.v1 with the time and link): the timeline shows the step, notify sends no second "
        "message for it")


class NotificationSent(Event):
    EVENT_TYPE: ClassVar[str] = "notification.sent.v1"
    event_type: Literal["notification.sent.v1"] = "notification.sent.v1"

    notification_id: str = Field(max_length=64)
    source_event_id: UUID
    recipient_kind: Literal["applicant", "proxy", "staff", "expert"]
    channel: Literal["sms", "wechat", "email", "webhook", "inbox"]
    template_id: str = Field(max_length=64)
    held_until: UtcDatetime | None = Field(
        default=None,
        description="the message was not to go before this time by policy (quiet hours, the digest window's one text "
        "per person, a retry's back-off): how late it went is measured from here, not from its source event",
    )


CORE_MODELS: tuple[type[Event], ...] = (
    CaseSubmitted,
    CaseRiskAssessed,
    CaseAssigned,
    UnitCaseAssigned,
    CaseFeedback,
    CaseStatusChanged,
    NotificationSent,
)
