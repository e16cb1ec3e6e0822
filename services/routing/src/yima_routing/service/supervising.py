"""The supervision chain as the sweeper drives it (adapters/sweeper.py): warning, 督办 notice, second notice,
escalation a level up, the responsible leader — and the reminder of a returned case that waits for re-dispatch."""

from __future__ import annotations

from typing import Any

from yima_contracts import CaseStatusChanged, topics
from yima_contracts.codes import CaseState, SupervisionStep
from yima_contracts.routing_events import SupervisionNotice
from yima_kit.consumer import Tx

from ..core import supervision
from ..core.assignment import OPEN, Assignment
from ..core.case import Case
from .base import SYSTEM, fmt_time
from .deadlines import Deadlines


class Supervising(Deadlines):
    async def fire_step(self, assignment_id: str, expected_step: str, tx: Tx) -> bool:
        """Fire one supervision step. Conditional on the step still being the next one, so two replicas
        (or a replay after a crash) can never fire it twice: the loser's update matches nothing."""
        a = await self.assignments.get(assignment_id, tx.session)
        if a is None or not a.sup_active or a.paused or a.sup_next_step != expected_step:
            return False
        step = SupervisionStep(expected_step)
        nxt = a.chain_after(step, self.deadline_rules)
        entry = {"change": f"supervision.{step.value}", "at": self.now()}
        if not await self.assignments.advance_chain(a, step.value, nxt, entry, tx.session):
            return False
        case = await self.cases.get(a.case_id, tx.session)
        if case is None:
            return True
        leader = case.leader
        if step is SupervisionStep.LEADER:
            leader = leader or self._leader_of(case, a)
            current = await self.assignments.state(case.assigned, tx.session) if case.assigned else None
            if current is not None and current not in OPEN:
                return True  # resolved (or handed on) at the higher level meanwhile: no leader needed
        if step is SupervisionStep.ESCALATED:
            if not a.is_open:
                return True  # resolved or handed on meanwhile: nothing to escalate
            reason = f"逾期未办结（期限{fmt_time(a.due_at)}），经两次督办仍未办结"
            if await self._escalate(a, "overdue", reason, SYSTEM, tx) is None:
                return True
        self._notify_step(a, case, step, leader, tx)
        return True

    def _leader_of(self, case: Case, a: Assignment) -> dict[str, Any] | None:
        named = self.directory.leader_for(case.assigned_unit or a.unit_code, case.id)
        return {"staff_id": named.id, "name": named.name} if named else None

    def _notify_step(self, a: Assignment, case: Case, step: SupervisionStep, leader: dict[str, Any] | None,
                     tx: Tx) -> None:
        d = self.directory
        unit, sup = d.get(a.unit_code), d.get(a.supervisor_unit_code)
        msg = supervision.MESSAGES_ZH[step].format(
            unit=unit.name if unit else a.unit_code, case=a.label, due=fmt_time(a.due_at),
            supervisor=sup.name if sup else a.supervisor_unit_code,
            leader=(leader or {}).get("name", "（未指定）"))
        tx.emit(topics.CASE_SUPERVISION_NOTICE, SupervisionNotice(
            case_id=a.case_id, correlation_id=case.correlation_id, actor=SYSTEM, assignment_id=a.id, step=step,
            unit_code=a.unit_code, supervisor_unit_code=a.supervisor_unit_code,
            leader_staff_id=(leader or {}).get("staff_id") if step is SupervisionStep.LEADER else None,
            due_at=a.due_at, message_zh=msg[:300]))
        if step is SupervisionStep.NOTICE:
            # The applicant should know that the case is late and being pressed (no personal data here).
            tx.emit(topics.CASE_STATUS, CaseStatusChanged(
                case_id=a.case_id, correlation_id=case.correlation_id, actor=SYSTEM,
                state=CaseState.ACCEPTED if a.state == "accepted" else CaseState.ASSIGNED,
                title_zh="案件已督办",
                detail_zh=f"{sup.name if sup else '督办单位'}已督促{unit.name if unit else '承办单位'}加快办理",
                acting_unit_code=a.unit_code, acting_unit_name=unit.name if unit else None,
                next_step_zh="承办单位将尽快办理并反馈", due_at=None))

    async def remind_redispatch(self, case_id: str, tx: Tx) -> bool:
        """A returned case still waits at its supervisor a working day later: 督办 to the supervisor, copied to
        the unit above it. Fires once per return (conditional on ``reminded`` still being false)."""
        if not await self.cases.claim_redispatch_reminder(case_id, tx.session):
            return False
        case = await self.cases.get(case_id, tx.session)
        if case is None or case.ended or case.facts is None or case.pending_dispatch is None:
            return True
        p = case.pending_dispatch
        d = self.directory
        holder = d.get(p.supervisor_unit_code)
        above = holder.parent if holder and holder.parent else p.supervisor_unit_code
        returned_by = d.get(p.returned_by)
        tx.emit(topics.CASE_SUPERVISION_NOTICE, SupervisionNotice(
            case_id=case_id, correlation_id=case.facts.correlation_id, actor=SYSTEM,
            assignment_id=p.assignment_id, step=SupervisionStep.NOTICE, unit_code=p.supervisor_unit_code,
            supervisor_unit_code=above, due_at=p.remind_at,
            message_zh=(f"【待重新分派】案件{case.facts.case_number}于{fmt_time(p.at)}被"
                        f"{returned_by.name if returned_by else p.returned_by}退回（{p.reason or ''}），"
                        f"至今未重新分派，请督办单位立即处理。")[:300]))
        return True
