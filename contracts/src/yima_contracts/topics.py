"""Kafka topic names.

These names are public: departments that run their own systems consume and produce on them with any
Kafka client. Change one only with an ADR (docs/adr/) and a new event version.
"""

from __future__ import annotations

import re

CASE_SUBMITTED = "case.submitted"
CASE_RISK_ASSESSED = "case.risk_assessed"
CASE_ASSIGNED = "case.assigned"
# Deprecated for departments' own systems (docs/adr/0071-per-unit-feedback-topics.md): they answer on
# unit_feedback_topic(<code>). Written only by principals an ACL names (mediation for the units that work in
# yima's console; departments during the deprecation period).
CASE_FEEDBACK = "case.feedback"
CASE_STATUS = "case.status"
NOTIFICATION_SENT = "notification.sent"

# intake
CASE_UPDATED = "case.updated"  # new facts: a repeat report, details added, category corrected, emergency
CASE_RATED = "case.rated"
CASE_RETENTION_EXPIRED = "case.retention_expired"  # personal data past its period: every service erases its copy
# risk
CASE_FOLLOWUP_DUE = "case.followup_due"  # 回头看 of a red case after closing
WARNING_RAISED = "warning.raised"  # 预警: clusters, one respondent, sudden rises
CASE_RISK_CORRECTED = "case.risk_corrected"  # staff corrected a level (lowered: the supervisor must see it)
# routing and supervision
CASE_SUPERVISION_NOTICE = "case.supervision_notice"  # warning / 督办 / second notice / escalated / leader
CASE_ESCALATED = "case.escalated"
CASE_JOINT_SUMMONED = "case.joint_summoned"  # 吹哨报到
CASE_JOINT_REPORT = "case.joint_report"  # a summoned unit reports in from its own system (ADR 0065)
CASE_REFERRAL_OUTCOME = "case.referral_outcome"  # 诉前委派: the outcome back to the referring court (ADR 0066)
CASE_LEADER_ASSIGNED = "case.leader_assigned"  # 分包领导 of a red case
CASE_DEADLINE_CHANGED = "case.deadline_changed"  # clock paused / resumed / recomputed
# mediation
MEDIATION_SCHEDULED = "mediation.scheduled"
MEDIATION_EXPERT_INVITED = "mediation.expert_invited"  # an expert is told of an invitation (notify)
MEDIATION_EXPERT_ANSWERED = "mediation.expert_answered"  # the hosting unit hears an expert's answer (notify)
MEDIATION_SESSION_HELD = "mediation.session_held"
MEDIATION_CONCLUDED = "mediation.concluded"
CASE_TRANSFERRED = "case.transferred"  # 诉调对接: arbitration, litigation, administrative
CASE_CLOSED = "case.closed"
# notify
NOTIFICATION_FAILED = "notification.failed"
# staff accounts (routing): sessions ended before their tokens expire; every service refuses them (ADR 0130)
STAFF_SESSION_REVOKED = "staff.session_revoked"

SERVICES = ("intake", "routing", "risk", "mediation", "notify", "insight")

UNIT_CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_UNIT_CODE_RE = re.compile(UNIT_CODE_PATTERN)


def unit_topic(unit_code: str) -> str:
    """The per-unit assignment topic a department's own system consumes: ``unit.<unit_code>.cases``."""
    if not _UNIT_CODE_RE.match(unit_code):
        raise ValueError(f"invalid unit code {unit_code!r}: must match {UNIT_CODE_PATTERN}")
    return f"unit.{unit_code}.cases"


def unit_feedback_topic(unit_code: str) -> str:
    """The per-unit feedback topic: ``unit.<unit_code>.feedback``. Only that unit's principal may write it
    (Kafka ACL), so the topic says who answered (docs/adr/0071-per-unit-feedback-topics.md)."""
    return unit_topic(unit_code).removesuffix(".cases") + ".feedback"


# Routing and risk subscribe to every unit's feedback topic by this regular expression.
UNIT_FEEDBACK_PATTERN = r"unit\..+\.feedback"
_UNIT_FEEDBACK_RE = re.compile(r"^unit\.([A-Za-z0-9][A-Za-z0-9_-]{0,63})\.feedback$")


def unit_of_feedback_topic(topic: str) -> str | None:
    """The unit whose feedback topic ``topic`` is, or None when it is no unit's feedback topic."""
    m = _UNIT_FEEDBACK_RE.match(topic)
    return m.group(1) if m else None


def dlq_topic(service: str) -> str:
    """Dead-letter topic of one service: ``dlq.<service>``."""
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}")
    return f"dlq.{service}"


# Topics every deployment must have before the services start (unit topics come from the org directory).
PLATFORM_TOPICS: tuple[str, ...] = (
    CASE_SUBMITTED,
    CASE_RISK_ASSESSED,
    CASE_ASSIGNED,
    CASE_FEEDBACK,
    CASE_STATUS,
    NOTIFICATION_SENT,
    CASE_UPDATED,
    CASE_RATED,
    CASE_FOLLOWUP_DUE,
    WARNING_RAISED,
    CASE_RISK_CORRECTED,
    CASE_SUPERVISION_NOTICE,
    CASE_ESCALATED,
    CASE_JOINT_SUMMONED,
    CASE_JOINT_REPORT,
    CASE_REFERRAL_OUTCOME,
    CASE_LEADER_ASSIGNED,
    CASE_DEADLINE_CHANGED,
    MEDIATION_SCHEDULED,
    MEDIATION_EXPERT_INVITED,
    MEDIATION_EXPERT_ANSWERED,
    MEDIATION_SESSION_HELD,
    MEDIATION_CONCLUDED,
    CASE_TRANSFERRED,
    CASE_CLOSED,
    NOTIFICATION_FAILED,
    STAFF_SESSION_REVOKED,
    CASE_RETENTION_EXPIRED,
    *(f"dlq.{s}" for s in SERVICES),
)
