"""A case's fact document and how every event changes it (pure: no database, no framework).

Insight counts cases, not events. Each case has one :class:`CaseFact`: where it is counted (its
:class:`Slice`: the day it was received, its unit with the unit's ancestors, category, channel, risk level
and handling mode) and what it counts for (its :data:`MEASURES`, mostly 0/1 flags). An event changes the
fact; the counters then change by the difference (:func:`delta`): the old vector leaves the old slice and
the new vector enters the new one. So a case is counted once however often it is reopened or its level or
unit changes, and replaying the same events in the same order gives the same counters. The definitions are
in docs/insight-definitions.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from yima_contracts import (
    CaseAssigned,
    CaseClosed,
    CaseEscalated,
    CaseFeedback,
    CaseRated,
    CaseRiskAssessed,
    CaseStatusChanged,
    CaseSubmitted,
    CaseTransferred,
    CaseUpdated,
    Event,
    JointSummoned,
    MediationConcluded,
    SupervisionNotice,
    UnitCaseAssigned,
)
from yima_contracts.codes import FeedbackKind, Outcome, SupervisionStep

# China Standard Time: a "day" of the table is a day in the district, not in UTC.
CST = timezone(timedelta(hours=8), "CST")

# What a case counts for. Flags are 0/1; rating_sum and notices are sums.
MEASURES: tuple[str, ...] = (
    "received", "accepted", "closed", "resolved", "failed", "transferred",
    "med_concluded", "med_success",
    "settled_community", "settled_street", "settled_district",
    "overdue", "notices", "on_time",
    "rated", "rating_sum", "satisfied",
    "red", "yellow", "blue",
)

# Handling modes (办理方式).
MODES: dict[str, str] = {
    "pending": "待分派",
    "on_spot": "接件即办",
    "platform": "平台内办理",
    "own_system": "部门自有系统办理",
    "joint": "吹哨报到联办",
}
LEVEL_NAMES = {"community": "社区（村）", "street": "街道（乡镇）", "district": "区级"}
NO_UNIT = "-"  # a case not yet assigned to any unit
NO_LEVEL = "none"  # a case not yet assessed

# Supervision steps that mean the deadline has passed (a warning comes before it).
_OVERDUE_STEPS = {SupervisionStep.NOTICE, SupervisionStep.SECOND_NOTICE, SupervisionStep.ESCALATED,
                  SupervisionStep.LEADER}


def local_day(at: datetime) -> str:
    return at.astimezone(CST).date().isoformat()


def code_path(code: str) -> tuple[str, ...]:
    """A unit's path read from its code alone, where the code is an administrative division code (district 6
    digits, street 9, community 12; a grid or studio adds letters to its community's or street's code):
    the fall-back while no work order has told the unit's path. Other codes: the unit alone."""
    digits = code[: len(code) - len(code.lstrip("0123456789"))] if code[:1].isdigit() else ""
    prefixes = [digits[:n] for n in (6, 9, 12) if len(digits) >= n]
    if not prefixes:
        return (code,)
    return tuple(dict.fromkeys([*prefixes, code]))


def admin_level(unit_path: tuple[str, ...] | list[str]) -> str | None:
    """The administrative level a unit settles at: that of its nearest ancestor-or-self with an
    administrative division code (6 digits district, 9 street, 12 community; grids and studios take their
    community's or street's; departments and committees under the district are district level)."""
    for code in reversed(tuple(unit_path)):
        if code.isdigit():
            if len(code) >= 12:
                return "community"
            if len(code) >= 9:
                return "street"
            return "district"
    return None


@dataclass(frozen=True)
class Slice:
    """Where a case is counted."""

    day: str
    unit: str
    unit_path: tuple[str, ...]
    category: str
    channel: str
    level: str
    mode: str

    def key(self) -> tuple[Any, ...]:
        return (self.day, self.unit, self.unit_path, self.category, self.channel, self.level, self.mode)


class CaseFact(BaseModel):
    """What insight knows of one case: no personal data (no names, phones, descriptions)."""

    model_config = ConfigDict(extra="ignore")

    case_id: str
    case_number: str | None = None
    received_at: datetime | None = None
    channel: str | None = None
    category: str | None = None
    level: str = NO_LEVEL
    unit: str = NO_UNIT
    unit_path: list[str] = Field(default_factory=list)
    assignment_id: str | None = None
    assigned_at: datetime | None = None
    in_platform: bool | None = None
    on_spot: bool = False
    joint: bool = False
    state: str = "submitted"
    due_at: datetime | None = None
    # flags and sums, see MEASURES
    accepted: bool = False
    closed: bool = False
    outcome: str | None = None  # resolved | failed | transferred | withdrawn (the latest)
    outcome_at: datetime | None = None
    settled_level: str | None = None
    med_concluded: bool = False
    med_success: bool = False
    med_at: datetime | None = None
    overdue: bool = False
    notices: int = 0
    rating: int | None = None

    @property
    def mode(self) -> str:
        if self.joint:
            return "joint"
        if self.on_spot:
            return "on_spot"
        if self.in_platform is None:
            return "pending"
        return "platform" if self.in_platform else "own_system"

    def slice(self) -> Slice | None:
        """None until the case's submission is known: a case is counted from the day it was received."""
        if self.received_at is None or self.channel is None or self.category is None:
            return None
        return Slice(local_day(self.received_at), self.unit, tuple(self.unit_path), self.category, self.channel,
                     self.level, self.mode)

    def vector(self) -> dict[str, int]:
        if self.slice() is None:
            return {}
        resolved = self.outcome == "resolved"
        v = {
            "received": 1,
            "accepted": int(self.accepted),
            "closed": int(self.closed),
            "resolved": int(resolved),
            "failed": int(self.outcome == "failed"),
            "transferred": int(self.outcome == "transferred"),
            "med_concluded": int(self.med_concluded),
            "med_success": int(self.med_concluded and self.med_success),
            "settled_community": int(resolved and self.settled_level == "community"),
            "settled_street": int(resolved and self.settled_level == "street"),
            "settled_district": int(resolved and self.settled_level == "district"),
            "overdue": int(self.overdue),
            "notices": self.notices,
            "on_time": int(self.closed and not self.overdue),
            "rated": int(self.rating is not None),
            "rating_sum": self.rating or 0,
            "satisfied": int(self.rating is not None and self.rating >= 4),
            "red": int(self.level == "red"),
            "yellow": int(self.level == "yellow"),
            "blue": int(self.level == "blue"),
        }
        return {k: n for k, n in v.items() if n}


Delta = dict[Slice, dict[str, int]]


def delta(before: CaseFact | None, after: CaseFact) -> Delta:
    """How the counters change when a case's fact goes from ``before`` to ``after``."""
    out: Delta = {}

    def add(s: Slice | None, vec: Mapping[str, int], sign: int) -> None:
        if s is None:
            return
        cur = out.setdefault(s, {})
        for k, n in vec.items():
            cur[k] = cur.get(k, 0) + sign * n

    if before is not None:
        add(before.slice(), before.vector(), -1)
    add(after.slice(), after.vector(), +1)
    return {s: {k: n for k, n in v.items() if n} for s, v in out.items() if any(v.values())}


@dataclass(frozen=True)
class UnitSeen:
    """A unit's name (and path, when the event carries it) learnt from an event."""

    code: str
    name: str | None
    path: tuple[str, ...] = ()


def units_in(event: Event) -> list[UnitSeen]:
    """The unit names events carry: insight's directory snapshot (it never reads routing's directory)."""
    if isinstance(event, UnitCaseAssigned):
        return [UnitSeen(event.unit_code, event.unit_name, tuple(event.unit_path)),
                UnitSeen(event.supervisor_unit_code, event.supervisor_unit_name)]
    if isinstance(event, CaseAssigned):
        return [UnitSeen(event.unit_code, event.unit_name),
                UnitSeen(event.supervisor_unit_code, event.supervisor_unit_name)]
    if isinstance(event, CaseStatusChanged) and event.acting_unit_code and event.acting_unit_name:
        return [UnitSeen(event.acting_unit_code, event.acting_unit_name)]
    return []


def apply(fact: CaseFact | None, event: Event, paths: Mapping[str, tuple[str, ...]] | None = None) -> CaseFact:
    """The case's fact after ``event``. ``paths``: unit code → path from the top, as far as known (a unit's
    path travels on its work orders; ``case.assigned`` names only the unit)."""
    f = (fact or CaseFact(case_id=event.case_id)).model_copy(deep=True)
    change(f, event, paths or {})
    return f


def change(f: CaseFact, event: Event, paths: Mapping[str, tuple[str, ...]]) -> None:
    """:func:`apply` in place (a batch or a replay changes its own copy event after event)."""
    rule = _RULES.get(type(event))
    if rule is not None:
        rule(f, event, paths)


Paths = Mapping[str, tuple[str, ...]]


def _set_unit(f: CaseFact, code: str, path: tuple[str, ...] | list[str] | None, paths: Paths) -> None:
    f.unit = code
    known = tuple(path or ()) or paths.get(code) or ()
    if not known or known[-1] != code:
        known = code_path(code)
    f.unit_path = list(known)


def _level_of(f: CaseFact, code: str, paths: Paths) -> str | None:
    """The administrative level of the unit that settled the case."""
    return admin_level(paths.get(code) or _path_of(f, code))


def _submitted(f: CaseFact, e: CaseSubmitted, paths: Paths) -> None:
    f.case_number = e.case_number
    f.received_at = e.submitted_at
    f.channel = e.channel.value
    if f.category is None:
        f.category = e.category.value
    if e.settled_on_spot:
        f.on_spot = True
        if f.unit == NO_UNIT and e.location.unit_code:  # settled where it was received
            _set_unit(f, e.location.unit_code, None, paths)
        f.accepted = f.closed = True
        _set_outcome(f, "resolved", e.submitted_at,
                     admin_level((e.location.unit_code,)) if e.location.unit_code else None)
        f.state = "closed"


def _updated(f: CaseFact, e: CaseUpdated, paths: Paths) -> None:
    if e.kind == "category_corrected" and e.category is not None:
        f.category = e.category.value


def _assessed(f: CaseFact, e: CaseRiskAssessed, paths: Paths) -> None:
    f.level = e.level.value


def _assigned(f: CaseFact, e: CaseAssigned, paths: Paths) -> None:
    if f.assigned_at is not None and e.occurred_at < f.assigned_at:
        return  # an older assignment delivered late
    if f.assignment_id != e.assignment_id:
        f.in_platform = None  # known from the new work order
    f.assignment_id, f.assigned_at, f.due_at = e.assignment_id, e.occurred_at, e.due_at
    _set_unit(f, e.unit_code, f.unit_path if f.unit == e.unit_code else None, paths)
    if f.level == NO_LEVEL:
        f.level = e.risk_level.value
    if f.category is None:
        f.category = e.category.value
    if not f.closed:
        f.state = "assigned"


def _work_order(f: CaseFact, e: UnitCaseAssigned, paths: Paths) -> None:
    # The work order arrives on its unit's topic, maybe before or after case.assigned: it refines the current
    # assignment, never brings back an older one.
    if not (f.assignment_id in (None, e.assignment_id) or (f.assigned_at and e.occurred_at > f.assigned_at)):
        return
    if f.assignment_id != e.assignment_id:
        f.assignment_id, f.assigned_at = e.assignment_id, e.occurred_at
    _set_unit(f, e.unit_code, e.unit_path, paths)
    f.in_platform = e.in_platform
    if f.category is None:
        f.category = e.category.value
    if f.level == NO_LEVEL:
        f.level = e.risk_level.value


def _feedback(f: CaseFact, e: CaseFeedback, paths: Paths) -> None:
    at = e.occurred_at
    if e.kind is FeedbackKind.ACCEPTED:
        f.accepted = True
        if not f.closed:
            f.state = "accepted"
    elif e.kind is FeedbackKind.RESOLVED:
        f.accepted = f.closed = True
        _set_outcome(f, "resolved", at, _level_of(f, e.unit_code, paths))
        _set_mediation(f, True, at)
        f.state = "closed"
    elif e.kind is FeedbackKind.FAILED:
        _set_outcome(f, "failed", at)
        _set_mediation(f, False, at)
        if not f.closed:
            f.state = "failed"


def _concluded(f: CaseFact, e: MediationConcluded, paths: Paths) -> None:
    _set_mediation(f, e.success, e.occurred_at)
    if e.success:
        _set_outcome(f, "resolved", e.occurred_at, _level_of(f, e.unit_code or f.unit, paths))
    else:
        _set_outcome(f, "failed", e.occurred_at)


def _transferred(f: CaseFact, e: CaseTransferred, paths: Paths) -> None:
    _set_outcome(f, "transferred", e.occurred_at)
    if not f.closed:
        f.state = "transferred"


def _closed(f: CaseFact, e: CaseClosed, paths: Paths) -> None:
    at = e.occurred_at
    f.closed = True
    f.state = "closed"
    if e.outcome is not Outcome.WITHDRAWN:
        _set_mediation(f, e.resolved, at)
    if e.resolved:
        _set_outcome(f, "resolved", at, _level_of(f, e.unit_code, paths))
    elif e.outcome in (Outcome.ARBITRATION, Outcome.LITIGATION, Outcome.ADMINISTRATIVE):
        _set_outcome(f, "transferred", at)
    elif e.outcome is Outcome.WITHDRAWN:
        _set_outcome(f, "withdrawn", at)
    else:
        _set_outcome(f, "failed", at)


def _notice(f: CaseFact, e: SupervisionNotice, paths: Paths) -> None:
    if e.step in _OVERDUE_STEPS and e.joint_id is None:
        f.overdue = True
    if e.step is not SupervisionStep.WARNING:
        f.notices += 1


def _escalated(f: CaseFact, e: CaseEscalated, paths: Paths) -> None:
    f.overdue = f.overdue or e.reason == "overdue"


def _joint(f: CaseFact, e: JointSummoned, paths: Paths) -> None:
    f.joint = True


def _rated(f: CaseFact, e: CaseRated, paths: Paths) -> None:
    f.rating = e.score


# Which rule changes the fact for which event (an event type not listed changes nothing).
_RULES: dict[type[Event], Callable[[CaseFact, Any, Paths], None]] = {
    CaseSubmitted: _submitted, CaseUpdated: _updated, CaseRiskAssessed: _assessed, CaseAssigned: _assigned,
    UnitCaseAssigned: _work_order, CaseFeedback: _feedback, MediationConcluded: _concluded,
    CaseTransferred: _transferred, CaseClosed: _closed, SupervisionNotice: _notice, CaseEscalated: _escalated,
    JointSummoned: _joint, CaseRated: _rated,
}


def fold(facts: Mapping[str, CaseFact], events: list[Event], paths: Paths) -> tuple[dict[str, CaseFact], Delta]:
    """A batch of events applied in order to the facts they concern (``facts``: those stored, by case id; a
    case not in it is new). Returns the changed facts and the counters' change for the whole batch: the sum of
    each event's delta, which is each case's delta from its stored fact to its final one."""
    after: dict[str, CaseFact] = {}
    for e in events:
        f = after.get(e.case_id)
        if f is None:
            stored = facts.get(e.case_id)
            f = after[e.case_id] = stored.model_copy(deep=True) if stored else CaseFact(case_id=e.case_id)
        change(f, e, paths)
    out: Delta = {}
    for case_id, fact in after.items():
        for s, vec in delta(facts.get(case_id), fact).items():
            cur = out.setdefault(s, {})
            for k, n in vec.items():
                cur[k] = cur.get(k, 0) + n
    return after, {s: {k: n for k, n in v.items() if n} for s, v in out.items() if any(v.values())}


def _set_outcome(f: CaseFact, outcome: str, at: datetime, settled_level: str | None = None) -> None:
    """The latest outcome wins, whatever order the topics deliver them in."""
    if f.outcome_at is None or at >= f.outcome_at:
        f.outcome, f.outcome_at = outcome, at
        f.settled_level = settled_level if outcome == "resolved" else None


def _set_mediation(f: CaseFact, success: bool, at: datetime) -> None:
    f.med_concluded = True
    if f.med_at is None or at >= f.med_at:
        f.med_success, f.med_at = success, at


def _path_of(f: CaseFact, code: str) -> tuple[str, ...]:
    if code == f.unit and f.unit_path:
        return tuple(f.unit_path)
    return code_path(code)
