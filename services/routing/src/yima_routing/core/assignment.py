"""An assignment (交办) and its clock, pure: the due-date rule and the next supervision step in one place.

The due date: ``working_days`` working days after the assignment, at 18:00 Asia/Shanghai of the last one, on
the statutory calendar (:mod:`yima_kit.calendar`). A pause stops the clock; a resumption counts the working
days that were left at the pause again from then. A deadline that falls in a year the State Council has not
published is provisional and recomputed once the year's days are known (entered by an admin, or a newer
calendar package). Whenever the deadline is set, the supervision chain is planned again from it
(:mod:`.supervision`): the next step is the first one not yet done; a warning already in the past is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from yima_contracts.codes import SupervisionStep
from yima_kit.calendar import WorkingCalendar

from . import supervision
from .rules import SupervisionPolicy

OPEN = ("assigned", "accepted")  # the assignment is still being worked on: the chain runs


@dataclass(frozen=True)
class DeadlineRules:
    """What an assignment's clock runs on: the calendar (with its admin-entered days) and the chain's policy."""

    calendar: WorkingCalendar
    policy: SupervisionPolicy


@dataclass(frozen=True)
class Term:
    """A deadline and the supervision step that comes next on it."""

    due_at: datetime
    provisional: bool
    next: supervision.PlannedStep | None

    @classmethod
    def starting(cls, start: datetime, working_days: int, rules: DeadlineRules, *, done: list[str],
                 now: datetime | None) -> Term:
        """``working_days`` after ``start``; the chain planned from the new deadline (``now``: no past warning)."""
        due_at, provisional = rules.calendar.add_working_days(start, working_days)
        return cls(due_at, provisional, supervision.next_step(due_at, rules.policy, rules.calendar, done,
                                                              not_before=now))


class Assignment(BaseModel):
    """One round of a case at a unit, as routing keeps it (collection ``assignments``)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: str = Field(alias="_id")
    case_id: str
    round: int
    unit_code: str
    supervisor_unit_code: str
    rule_id: str
    ruleset_version: str | None = None
    reason_zh: str
    risk_level: str
    category: str | None = None
    case_number: str | None = None
    state: str
    assigned_at: datetime
    assigned_by: dict[str, Any] = {}
    working_days: int
    due_at: datetime
    due_provisional: bool = False
    escalated_from: str | None = None
    sup_active: bool = True
    sup_done: list[str] = []
    sup_next_step: str | None = None
    sup_next_at: datetime | None = None
    paused: bool = False
    paused_at: datetime | None = None
    pause_reason: str | None = None
    history: list[dict[str, Any]] = []
    feedback: list[dict[str, Any]] | None = None  # the unit's answers, from its first one

    @property
    def is_open(self) -> bool:
        return self.state in OPEN

    @property
    def label(self) -> str:
        """How notices name the case: its number, else its id."""
        return self.case_number or self.case_id

    # --- the clock ----------------------------------------------------------------------------------

    @staticmethod
    def first_term(now: datetime, working_days: int, rules: DeadlineRules) -> Term:
        """A new assignment's deadline and its first supervision step."""
        return Term.starting(now, working_days, rules, done=[], now=now)

    def resumed_term(self, now: datetime, rules: DeadlineRules) -> tuple[Term, int]:
        """The deadline after a pause: the working days left at the pause, counted again from ``now``."""
        assert self.paused_at is not None
        left = rules.calendar.working_days_between(self.paused_at, self.due_at)
        return Term.starting(now, left, rules, done=self.sup_done, now=now), left

    def recomputed_term(self, now: datetime, rules: DeadlineRules) -> Term | None:
        """A provisional deadline on the calendar as it is now (from the last resumption, else the assignment);
        None when nothing changes."""
        resumed = [h for h in self.history if h.get("change") == "resumed"]
        base, days = (resumed[-1]["at"], resumed[-1]["working_days_left"]) if resumed else (
            self.assigned_at, self.working_days)
        term = Term.starting(base, days, rules, done=self.sup_done, now=now)
        if term.due_at == self.due_at and term.provisional == self.due_provisional:
            return None
        return term

    def chain_after(self, step: SupervisionStep, rules: DeadlineRules) -> supervision.PlannedStep | None:
        """The step after ``step`` fired: the chain runs on while the unit works on the case (and once more
        after its escalation: the leader step); otherwise it ends."""
        continues = self.is_open or (step is SupervisionStep.ESCALATED and self.state == "escalated")
        if not continues:
            return None
        return supervision.next_step(self.due_at, rules.policy, rules.calendar, [*self.sup_done, step.value])

    def overdue(self, now: datetime) -> bool:
        return not self.paused and self.due_at <= now

    def working_days_left(self, now: datetime, calendar: WorkingCalendar) -> int | None:
        """Working days to the deadline (negative: overdue by that many); None while paused."""
        if self.paused:
            return None
        if self.overdue(now):
            return -calendar.working_days_between(self.due_at, now)
        return calendar.working_days_between(now, self.due_at)

    def urged(self) -> int:
        return sum(1 for h in self.history if h.get("change") == "urged")
