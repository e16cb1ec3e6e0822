"""The handling unit's answers (谁受理、谁反馈) from its own system or yima's console: accepted, progress,
returned (退回, back to the supervisor for re-dispatch), resolved, failed (moves a level up); and the end of a
case elsewhere (closed or transferred), which stops every chain of it."""

from __future__ import annotations

from yima_contracts import CaseFeedback, CaseStatusChanged, topics
from yima_contracts.codes import CaseState, Channel, FeedbackKind, UnitKind
from yima_contracts.routing_events import ReferralOutcome
from yima_kit.auth import StaffClaims
from yima_kit.consumer import PermanentError, Tx

from ..core.assignment import Assignment
from ..core.case import PendingDispatch
from ..core.directory import Unit
from .assigning import Assigning
from .base import SYSTEM, staff_actor

_FEEDBACK_STATUS: dict[FeedbackKind, tuple[CaseState, str, str]] = {
    FeedbackKind.ACCEPTED: (CaseState.ACCEPTED, "承办单位已受理", "承办单位将联系您了解情况并组织调解"),
    FeedbackKind.RETURNED: (CaseState.RETURNED, "案件正在重新分派", "督办单位将把案件交给更合适的单位，分派后会通知您"),
    FeedbackKind.PROGRESS: (CaseState.ACCEPTED, "办理进展", "承办单位正在办理"),
    FeedbackKind.RESOLVED: (CaseState.RESOLVED, "纠纷已化解", "请对办理结果进行评价"),
    FeedbackKind.FAILED: (CaseState.FAILED, "调解未成功", "督办单位将研究下一步处理方式并通知您"),
}
_ENDS_CHAIN = (FeedbackKind.RETURNED, FeedbackKind.RESOLVED, FeedbackKind.FAILED)


class Feedback(Assigning):
    async def on_feedback(self, event: CaseFeedback, tx: Tx, *, from_unit: str | None = None) -> None:
        """``from_unit``: the unit whose own feedback topic this came from (None: case.feedback, whose
        writers are authorised platform principals)."""
        if from_unit is not None and from_unit != event.unit_code:
            raise PermanentError(f"feedback of unit {event.unit_code} written on the topic of unit {from_unit}")
        a = await self.assignments.get(event.assignment_id, tx.session)
        if a is None or a.case_id != event.case_id:
            raise PermanentError(f"no assignment {event.assignment_id} for case {event.case_id}")
        if a.unit_code != event.unit_code:
            # 谁受理、谁反馈: only the unit that holds the assignment may answer on it.
            raise PermanentError(f"unit {event.unit_code} does not hold assignment {event.assignment_id}")
        if not a.is_open:
            return  # the assignment is over (returned, resolved, escalated, reassigned): a late or repeated answer
        if event.kind is FeedbackKind.ACCEPTED and a.state != "assigned":
            return  # accepted twice (a department resent it): nothing new to tell anyone
        state, title, next_step = _FEEDBACK_STATUS[event.kind]
        new_state = {FeedbackKind.PROGRESS: a.state}.get(event.kind, event.kind.value)
        await self.assignments.record_feedback(a.id, new_state, event.kind in _ENDS_CHAIN, {
            "event_id": str(event.event_id), "kind": event.kind.value, "reason": event.reason,
            "note": event.note, "at": event.occurred_at}, tx.session)
        unit = self.directory.get(a.unit_code)
        tx.emit(topics.CASE_STATUS, CaseStatusChanged(
            case_id=event.case_id, correlation_id=event.correlation_id, causation_id=event.event_id,
            # the step happened when the unit answered, not when routing read it: the applicant's texts are told
            # in the order things happened (a session booked a second after 受理 reaches notify sooner, ADR 0067)
            occurred_at=min(event.occurred_at, self.now()),
            actor=event.actor, state=state, title_zh=title,
            detail_zh=(event.note or "")[:200] if event.kind is FeedbackKind.PROGRESS else "",
            acting_unit_code=a.unit_code, acting_unit_name=unit.name if unit else None,
            next_step_zh=next_step, due_at=a.due_at if event.kind is FeedbackKind.ACCEPTED else None,
        ))
        await self._referral_outcome(event, a, unit, tx)
        if event.kind is FeedbackKind.RETURNED:
            # 退回: back to the supervisor for re-dispatch; the returning unit is excluded from later rounds.
            # Nobody may let it sit: if it is not re-dispatched within a working day, the sweeper reminds the
            # supervisor and the unit above it (remind_redispatch).
            remind_at, _ = self.calendar.add_working_days(self.now(), 1)
            await self.cases.await_redispatch(a.case_id, PendingDispatch(
                supervisor_unit_code=a.supervisor_unit_code, returned_by=a.unit_code, assignment_id=a.id,
                reason=event.reason, at=self.now(), remind_at=remind_at, reminded=False), tx.session)
        elif event.kind is FeedbackKind.FAILED:
            await self._escalate(a, "failed", f"承办单位调解未成功：{event.reason}", SYSTEM, tx)

    async def _referral_outcome(self, event: CaseFeedback, a: Assignment, unit: Unit | None, tx: Tx) -> None:
        """诉前委派: the court that referred the case hears how it ended (resolved, failed, returned) on
        ``case.referral_outcome``, as its own system consumes it. The referring court is the court's centre that
        supervises the assignment (the court_referral rules), or handles it itself."""
        if event.kind not in (FeedbackKind.RESOLVED, FeedbackKind.FAILED, FeedbackKind.RETURNED):
            return
        case = await self.cases.get(a.case_id, tx.session)
        f = case.facts if case else None
        if f is None or f.channel != Channel.COURT_REFERRAL.value or not f.court_reference:
            return
        d = self.directory
        court = next((u for u in (d.get(a.supervisor_unit_code), d.get(a.unit_code))
                      if u is not None and u.kind is UnitKind.COURT_CENTRE), None)
        if court is None:
            return
        tx.emit(topics.CASE_REFERRAL_OUTCOME, ReferralOutcome(
            case_id=a.case_id, correlation_id=event.correlation_id, causation_id=event.event_id, actor=event.actor,
            referring_unit_code=court.code, court_reference=f.court_reference, case_number=f.case_number,
            assignment_id=a.id, handling_unit_code=a.unit_code, handling_unit_name=unit.name if unit else None,
            outcome=event.kind.value,  # type: ignore[arg-type]
            note_zh=(event.note or event.reason or "")[:1000]))

    async def return_case(self, claims: StaffClaims, assignment_id: str, reason: str, tx: Tx) -> None:
        """退回 from the platform's console: the same path as a department's ``returned`` feedback."""
        a = await self._own_assignment(claims, assignment_id, tx, supervisor_too=False)
        corr = await self.cases.correlation_id(a.case_id, tx.session)
        event = CaseFeedback(case_id=a.case_id, correlation_id=corr or "-", actor=staff_actor(claims),
                             assignment_id=a.id, unit_code=a.unit_code, kind=FeedbackKind.RETURNED, reason=reason)
        await self.on_feedback(event, tx)

    async def on_case_ended(self, case_id: str, how: str, tx: Tx) -> None:
        """The case was closed or transferred (mediation, 诉调对接): every supervision chain of it stops."""
        now = self.now()
        await self.assignments.end_case(case_id, how, now, tx.session)
        await self.cases.end(case_id, how, now, tx.session)
