"""The supervision chain (pure): 谁分配、谁督办.

For an assignment with a deadline the supervising unit gets, in order: a warning at the end of the working
day before the deadline, a 督办 notice at the deadline, a second notice, an escalation to the next level up
and finally the responsible leader — each at a working-day offset from the deadline on the Chinese
statutory calendar. The sweeper (adapters/sweeper.py) fires the steps; this module only says when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from yima_contracts.codes import SupervisionStep
from yima_kit.calendar import WorkingCalendar

from .rules import SupervisionPolicy

ORDER = (
    SupervisionStep.WARNING,
    SupervisionStep.NOTICE,
    SupervisionStep.SECOND_NOTICE,
    SupervisionStep.ESCALATED,
    SupervisionStep.LEADER,
)


@dataclass(frozen=True)
class PlannedStep:
    step: SupervisionStep
    at: datetime


def plan(due_at: datetime, policy: SupervisionPolicy, calendar: WorkingCalendar, *,
         not_before: datetime | None = None) -> list[PlannedStep]:
    """Every step of the chain with its time; a warning that would fall before ``not_before`` is left out."""
    steps: list[PlannedStep] = []
    if policy.warning_before_working_days:
        at, _ = calendar.subtract_working_days(due_at, policy.warning_before_working_days)
        if not_before is None or at > not_before:
            steps.append(PlannedStep(SupervisionStep.WARNING, at))
    steps.append(PlannedStep(SupervisionStep.NOTICE, due_at))
    for step, days in (
        (SupervisionStep.SECOND_NOTICE, policy.second_notice_after_working_days),
        (SupervisionStep.ESCALATED, policy.escalate_after_working_days),
        (SupervisionStep.LEADER, policy.leader_after_working_days),
    ):
        steps.append(PlannedStep(step, calendar.add_working_days(due_at, days)[0]))
    return steps


def next_step(due_at: datetime, policy: SupervisionPolicy, calendar: WorkingCalendar, done: list[str], *,
              not_before: datetime | None = None) -> PlannedStep | None:
    """The first planned step not yet done."""
    return next((p for p in plan(due_at, policy, calendar, not_before=not_before) if p.step.value not in done), None)


MESSAGES_ZH: dict[SupervisionStep, str] = {
    SupervisionStep.WARNING: "【临期预警】{unit}承办的案件{case}将于{due}到期，请抓紧办理并及时反馈。",
    SupervisionStep.NOTICE: (
        "【督办通知】{unit}承办的案件{case}已于{due}到期未办结，{supervisor}现予督办，请立即办理并反馈。"
    ),
    SupervisionStep.SECOND_NOTICE: "【再次督办】{unit}承办的案件{case}逾期未办结（期限{due}），请当日反馈办理情况。",
    SupervisionStep.ESCALATED: "【提级办理】案件{case}经两次督办仍未办结，已由{unit}提级至上一级办理。",
    SupervisionStep.LEADER: "【领导督办】案件{case}逾期未办结（期限{due}），请分包领导{leader}牵头协调化解。",
}
