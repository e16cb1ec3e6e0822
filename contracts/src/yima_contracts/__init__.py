"""yima_contracts — the one package every yima service and every department integration shares."""

from . import codes, headers, personal, topics
from .events import (
    EVENT_MODELS,
    EVENTS_BY_TYPE,
    Actor,
    CaseAssigned,
    CaseFeedback,
    CaseRiskAssessed,
    CaseStatusChanged,
    CaseSubmitted,
    Event,
    Location,
    NotificationSent,
    Party,
    RuleHit,
    UnitCaseAssigned,
    parse_event,
)

# Which event types travel on which topic (unit topics are a pattern: see topics.unit_topic).
TOPIC_EVENTS: dict[str, tuple[type[Event], ...]] = {
    topics.CASE_SUBMITTED: (CaseSubmitted,),
    topics.CASE_RISK_ASSESSED: (CaseRiskAssessed,),
    topics.CASE_ASSIGNED: (CaseAssigned,),
    "unit.{unit_code}.cases": (UnitCaseAssigned,),
    topics.CASE_FEEDBACK: (CaseFeedback,),
    topics.CASE_STATUS: (CaseStatusChanged,),
    topics.NOTIFICATION_SENT: (NotificationSent,),
}

__all__ = [
    "EVENTS_BY_TYPE",
    "EVENT_MODELS",
    "TOPIC_EVENTS",
    "Actor",
    "CaseAssigned",
    "CaseFeedback",
    "CaseRiskAssessed",
    "CaseStatusChanged",
    "CaseSubmitted",
    "Event",
    "Location",
    "NotificationSent",
    "Party",
    "RuleHit",
    "UnitCaseAssigned",
    "codes",
    "headers",
    "parse_event",
    "personal",
    "topics",
]
