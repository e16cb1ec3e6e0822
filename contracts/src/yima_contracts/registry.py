"""Every event model, by type and by topic, and ``parse_event`` that reads any of them. Each area module lists its
own models in ``MODELS``.

The registry sits above every event module and nothing below imports it back: ``events`` defines the envelope,
the area modules build on it, and the registry gathers them all (docs/adr/0116).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter

from . import intake_events, mediation_events, notify_events, risk_events, routing_events, staff_events, topics
from .events import (
    CORE_MODELS,
    CaseAssigned,
    CaseFeedback,
    CaseRiskAssessed,
    CaseStatusChanged,
    CaseSubmitted,
    Event,
    NotificationSent,
    UnitCaseAssigned,
)

EVENT_MODELS: tuple[type[Event], ...] = (
    *CORE_MODELS,
    *intake_events.MODELS,
    *risk_events.MODELS,
    *routing_events.MODELS,
    *mediation_events.MODELS,
    *notify_events.MODELS,
    *staff_events.MODELS,
)
EVENTS_BY_TYPE: dict[str, type[Event]] = {m.EVENT_TYPE: m for m in EVENT_MODELS}

# Which event types travel on which topic (unit topics are a pattern: see topics.unit_topic).
TOPIC_EVENTS: dict[str, tuple[type[Event], ...]] = {
    topics.CASE_SUBMITTED: (CaseSubmitted,),
    topics.CASE_RISK_ASSESSED: (CaseRiskAssessed,),
    topics.CASE_ASSIGNED: (CaseAssigned,),
    "unit.{unit_code}.cases": (UnitCaseAssigned,),
    # a unit's own system answers its work orders and reports in to a summons (吹哨报到) on its feedback topic
    "unit.{unit_code}.feedback": (CaseFeedback, routing_events.JointReport),
    topics.CASE_FEEDBACK: (CaseFeedback,),
    topics.CASE_STATUS: (CaseStatusChanged,),
    topics.NOTIFICATION_SENT: (NotificationSent,),
    topics.CASE_UPDATED: (intake_events.CaseUpdated,),
    topics.CASE_RATED: (intake_events.CaseRated,),
    topics.CASE_FOLLOWUP_DUE: (risk_events.FollowupDue,),
    topics.WARNING_RAISED: (risk_events.WarningRaised,),
    topics.CASE_RISK_CORRECTED: (risk_events.RiskCorrected,),
    topics.CASE_SUPERVISION_NOTICE: (routing_events.SupervisionNotice,),
    topics.CASE_ESCALATED: (routing_events.CaseEscalated,),
    topics.CASE_JOINT_SUMMONED: (routing_events.JointSummoned,),
    topics.CASE_JOINT_REPORT: (routing_events.JointReport,),
    topics.CASE_REFERRAL_OUTCOME: (routing_events.ReferralOutcome,),
    topics.CASE_LEADER_ASSIGNED: (routing_events.LeaderAssigned,),
    topics.CASE_DEADLINE_CHANGED: (routing_events.DeadlineChanged,),
    topics.MEDIATION_SCHEDULED: (mediation_events.MediationScheduled,),
    topics.MEDIATION_EXPERT_INVITED: (mediation_events.ExpertInvited,),
    topics.MEDIATION_EXPERT_ANSWERED: (mediation_events.ExpertAnswered,),
    topics.MEDIATION_SESSION_HELD: (mediation_events.MediationSessionHeld,),
    topics.MEDIATION_CONCLUDED: (mediation_events.MediationConcluded,),
    topics.CASE_TRANSFERRED: (mediation_events.CaseTransferred,),
    topics.CASE_CLOSED: (mediation_events.CaseClosed,),
    topics.NOTIFICATION_FAILED: (notify_events.NotificationFailed,),
    topics.STAFF_SESSION_REVOKED: (staff_events.StaffSessionRevoked,),
    topics.CASE_RETENTION_EXPIRED: (intake_events.CaseRetentionExpired,),
}


def parse_event(data: bytes | str | dict[str, Any]) -> Event:
    """Parse any known event by its ``event_type``; raises pydantic.ValidationError or ValueError."""
    obj = json.loads(data) if isinstance(data, bytes | str) else data
    if not isinstance(obj, dict):
        raise ValueError("event must be a JSON object")
    et = obj.get("event_type")
    model = EVENTS_BY_TYPE.get(et) if isinstance(et, str) else None
    if model is None:
        raise ValueError(f"unknown event_type {et!r}")
    return model.model_validate(obj)


def one_of(*models: type[Event]) -> type[Event]:
    """A model for a consumer that takes several event types on one topic, told apart by ``event_type``: its
    ``model_validate_json`` answers the right model's instance (or raises ValidationError) and its JSON Schema is
    the union's. E.g. ``one_of(CaseFeedback, JointReport)`` for a unit's feedback topic."""
    if len(models) < 2:
        raise ValueError("one_of takes two event models or more")
    adapter: TypeAdapter[Any] = TypeAdapter(
        Annotated[Union[models], Field(discriminator="event_type")]  # type: ignore[arg-type,valid-type]  # noqa: UP007
    )

    class OneOf(Event):
        @classmethod
        def model_validate_json(cls, json_data: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            return adapter.validate_json(json_data)

        @classmethod
        def model_json_schema(cls, *args: Any, ref_template: str = "#/$defs/{model}", **kwargs: Any) -> Any:
            return adapter.json_schema(ref_template=ref_template)

    OneOf.__name__ = OneOf.__qualname__ = "Or".join(m.__name__ for m in models)
    return OneOf
