"""yima_contracts — the one package every yima service and every department integration shares."""

from . import codes, headers, personal, topics
from .events import (
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
    ProxyInfo,
    Respondent,
    RuleHit,
    UnitCaseAssigned,
    VulnerableKind,
)
from .intake_events import CaseRated, CaseRetentionExpired, CaseUpdated
from .mediation_events import (
    CaseClosed,
    CaseTransferred,
    ExpertAnswered,
    ExpertInvited,
    MediationConcluded,
    MediationScheduled,
    MediationSessionHeld,
)
from .notify_events import NotificationFailed
from .registry import EVENT_MODELS, EVENTS_BY_TYPE, TOPIC_EVENTS, one_of, parse_event
from .risk_events import FollowupDue, WarningRaised
from .routing_events import CaseEscalated, DeadlineChanged, JointSummoned, LeaderAssigned, SupervisionNotice
from .staff_events import StaffSessionRevoked

__all__ = [
    "EVENTS_BY_TYPE",
    "EVENT_MODELS",
    "TOPIC_EVENTS",
    "Actor",
    "CaseAssigned",
    "CaseClosed",
    "CaseEscalated",
    "CaseFeedback",
    "CaseRated",
    "CaseRetentionExpired",
    "CaseRiskAssessed",
    "CaseStatusChanged",
    "CaseSubmitted",
    "CaseTransferred",
    "CaseUpdated",
    "DeadlineChanged",
    "Event",
    "ExpertAnswered",
    "ExpertInvited",
    "FollowupDue",
    "JointSummoned",
    "LeaderAssigned",
    "Location",
    "MediationConcluded",
    "MediationScheduled",
    "MediationSessionHeld",
    "NotificationFailed",
    "NotificationSent",
    "Party",
    "ProxyInfo",
    "Respondent",
    "RuleHit",
    "StaffSessionRevoked",
    "SupervisionNotice",
    "UnitCaseAssigned",
    "VulnerableKind",
    "WarningRaised",
    "codes",
    "headers",
    "one_of",
    "parse_event",
    "personal",
    "topics",
]
