"""Events the mediation service publishes (acceptance itself goes out as ``case.feedback``).

Every event names what the applicant should be told (``applicant_message_zh``); the applicant-visible
steps also go out as ``case.status`` (see docs/adr/0041-mediation-events-and-feedback.md).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from .codes import Category, Outcome
from .events import Event, Phone, UnitCode, UtcDatetime

MediationKind = Literal["people", "administrative", "judicial"]  # 人民调解 / 行政调解 / 司法调解
SessionMode = Literal["online", "offline", "async"]
SessionFormat = Literal["joint", "caucus"]  # 联合 / 背靠背
ExpertKind = Literal["judge", "prosecutor", "police", "lawyer", "counsellor", "community_worker", "deputy", "sage",
                     "volunteer", "mediator"]


class MediationScheduled(Event):
    EVENT_TYPE: ClassVar[str] = "mediation.scheduled.v1"
    event_type: Literal["mediation.scheduled.v1"] = "mediation.scheduled.v1"

    session_id: str = Field(max_length=64)
    unit_code: UnitCode
    mode: SessionMode
    format: SessionFormat = "joint"
    kind: MediationKind = Field(default="people", description="人民调解 / 行政调解 / 司法调解")
    starts_at: UtcDatetime = Field(description="start (async: when the window opens)")
    ends_at: UtcDatetime | None = Field(default=None, description="end (async: when the window closes)")
    place_zh: str | None = Field(default=None, max_length=200, description="room at a centre (offline)")
    join_url: str | None = Field(default=None, max_length=500, description="video link (online)")
    expert_kinds: list[str] = Field(default_factory=list, description="judge, lawyer, … invited")
    applicant_message_zh: str = Field(max_length=300, description="what the applicant should be told")
    expert_person_ids: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=50,
        description="the experts invited to the case (invitation not declined) as mediation's person ids, so "
        "notify can tell each of them the session (their contact comes from mediation.expert_invited, never here)",
    )


class ExpertInvited(Event):
    """An expert (法官, 律师, 心理咨询师, …) was invited to take part in a case's mediation.

    Mediation holds the experts' registry and contacts, so the invitation names its recipient: notify tells
    the expert directly (SMS to ``expert_phone`` when there is one, and the inbox of ``person:<person_id>``).
    Nothing of the parties travels here: the case is named by its number and category only.
    """

    EVENT_TYPE: ClassVar[str] = "mediation.expert_invited.v1"
    event_type: Literal["mediation.expert_invited.v1"] = "mediation.expert_invited.v1"

    invitation_id: str = Field(max_length=64)
    assignment_id: str = Field(max_length=64)
    unit_code: UnitCode = Field(description="the unit hosting the mediation")
    unit_name: str = Field(max_length=100, description="the hosting unit's name, as the expert reads it")
    person_id: str = Field(max_length=64, description="the expert in mediation's registry (notify: person:<id>)")
    expert_kind: ExpertKind
    expert_name: str = Field(min_length=1, max_length=50, description="as in mediation's registry")
    expert_phone: Phone | None = Field(default=None, description="mobile or landline; none = inbox only")
    case_number: str = Field(max_length=40)
    category: Category
    session_id: str | None = Field(default=None, max_length=64, description="the session, if one is known")
    mode: SessionMode | None = Field(default=None, description="the session's mode, if one is known")
    starts_at: UtcDatetime | None = Field(default=None, description="the session's start, if one is known")
    place_zh: str | None = Field(default=None, max_length=200, description="room at a centre (offline)")
    join_url: str | None = Field(default=None, max_length=500, description="video link (online)")
    reply_zh: str = Field(max_length=200, description="what the expert should do to accept or decline")
    reply_url: str | None = Field(default=None, max_length=500, description="where to answer online, if anywhere")
    invitation_code: str | None = Field(
        default=None, min_length=12, max_length=20, pattern=r"^[0-9A-Z]+$",
        description="the expert's code for their own invitation page (mediation's /invite/{code}, opened with the "
        "last four digits of their phone): sent to the expert by notify only, never shown to units, never logged; "
        "none when mediation knows no phone of the expert",
    )


ExpertAnswer = Literal["accepted", "declined", "refused_conflict"]


class ExpertAnswered(Event):
    """An invited expert's answer was recorded: by the expert on their own page, or by staff for them.

    For the hosting unit's desk only (notify tells the unit, never the parties): a decline means it must invite
    someone else. The expert is not a party, so they are named; nothing of the parties travels here, and no phone.
    ``refused_conflict``: the expert accepted, but a conflict of interest found at that moment (a party added since
    the invitation) turned the acceptance into a refusal; ``reason_zh`` then says why, naming the party's role only.
    """

    EVENT_TYPE: ClassVar[str] = "mediation.expert_answered.v1"
    event_type: Literal["mediation.expert_answered.v1"] = "mediation.expert_answered.v1"

    invitation_id: str = Field(max_length=64)
    assignment_id: str = Field(max_length=64)
    unit_code: UnitCode = Field(description="the unit hosting the mediation (the one told)")
    person_id: str = Field(max_length=64, description="the expert in mediation's registry")
    expert_kind: ExpertKind
    expert_name: str = Field(min_length=1, max_length=50, description="as in mediation's registry")
    answer: ExpertAnswer = Field(description="accepted / declined / refused_conflict (accepted, but must recuse)")
    reason_zh: str | None = Field(
        default=None, max_length=500,
        description="declined: the reason the expert gave (if any); refused_conflict: why the expert must recuse "
        "(staff-facing, names a party's role, never a party)")
    answered_by: Literal["expert", "staff"] = Field(
        description="expert: on their own invitation page; staff: recorded for them (the actor names who)")
    case_number: str = Field(max_length=40)


class MediationSessionHeld(Event):
    EVENT_TYPE: ClassVar[str] = "mediation.session_held.v1"
    event_type: Literal["mediation.session_held.v1"] = "mediation.session_held.v1"

    session_id: str = Field(max_length=64)
    unit_code: UnitCode | None = None
    applicant_attended: bool
    no_show: bool = Field(default=False, description="a party did not come")
    case_paused: bool = Field(default=False, description="the case waits for a party after a no-show")
    next_step_zh: str = Field(default="", max_length=300)


class MediationConcluded(Event):
    EVENT_TYPE: ClassVar[str] = "mediation.concluded.v1"
    event_type: Literal["mediation.concluded.v1"] = "mediation.concluded.v1"

    success: bool
    unit_code: UnitCode | None = None
    outcome: Outcome | None = None
    agreement_id: str | None = Field(default=None, max_length=64)
    agreement_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    reason_zh: str = Field(default="", max_length=500, description="why it failed, if it failed")
    next_action: Literal["", "escalate", "transfer", "close"] = Field(
        default="", description="failure: escalate a level (routing re-assigns), transfer (诉调对接) or close")
    applicant_message_zh: str = Field(max_length=300)


class CaseTransferred(Event):
    """诉调对接: handed to arbitration, litigation or an administrative channel with the case file."""

    EVENT_TYPE: ClassVar[str] = "case.transferred.v1"
    event_type: Literal["case.transferred.v1"] = "case.transferred.v1"

    to: Literal["arbitration", "litigation", "administrative"]
    unit_code: UnitCode | None = Field(default=None, description="the unit that handed it over")
    receiving_body_zh: str = Field(max_length=100)
    file_package_id: str | None = Field(default=None, max_length=64)
    file_package_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    applicant_message_zh: str = Field(max_length=300)


class CaseClosed(Event):
    EVENT_TYPE: ClassVar[str] = "case.closed.v1"
    event_type: Literal["case.closed.v1"] = "case.closed.v1"

    outcome: Outcome
    unit_code: UnitCode = Field(description="the unit that closed it")
    resolved: bool = Field(description="resolved (调成) or not; counts for the success rate")
    applicant_message_zh: str = Field(max_length=300)


MODELS = (MediationScheduled, ExpertInvited, ExpertAnswered, MediationSessionHeld, MediationConcluded, CaseTransferred,
          CaseClosed)
