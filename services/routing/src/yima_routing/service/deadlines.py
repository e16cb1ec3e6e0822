"""The deadline by hand and by the calendar: pause and resume the clock, press the unit (催办), and the
provisional days of years the State Council has not published (admin-entered; deadlines recomputed)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from yima_contracts import CaseStatusChanged, topics
from yima_contracts.codes import CaseState, SupervisionStep
from yima_contracts.routing_events import DeadlineChanged, SupervisionNotice
from yima_kit.auth import StaffClaims
from yima_kit.consumer import Tx

from ..core.assignment import Assignment
from .base import SYSTEM, Refused, fmt_time, staff_actor
from .feedback import Feedback


class Deadlines(Feedback):
    async def pause(self, claims: StaffClaims, assignment_id: str, reason: str, tx: Tx) -> dict[str, Any]:
        a = await self._own_assignment(claims, assignment_id, tx, supervisor_too=True)
        if a.paused:
            raise Refused(409, "already_paused", "办理期限已暂停")
        await self.assignments.pause(a.id, self.now(), reason, claims.sub, tx.session)
        await self._deadline_event(a, "paused", reason, None, False, claims, tx)
        return {"paused": True}

    async def resume(self, claims: StaffClaims, assignment_id: str, reason: str, tx: Tx) -> dict[str, Any]:
        """The working days left at the pause are counted again from the resumption."""
        a = await self._own_assignment(claims, assignment_id, tx, supervisor_too=True)
        if not a.paused:
            raise Refused(409, "not_paused", "办理期限未暂停")
        now = self.now()
        term, left = a.resumed_term(now, self.deadline_rules)
        await self.assignments.resume(a.id, term, {"change": "resumed", "at": now, "by": claims.sub,
                                                   "reason": reason, "working_days_left": left,
                                                   "due_at": term.due_at}, tx.session)
        await self._deadline_event(a, "resumed", reason, term.due_at, term.provisional, claims, tx)
        return {"paused": False, "due_at": term.due_at}

    async def _deadline_event(self, a: Assignment, change: str, reason: str, due_at: datetime | None,
                              provisional: bool, claims: StaffClaims, tx: Tx) -> None:
        corr = await self.cases.correlation_id(a.case_id, tx.session) or a.case_id
        tx.emit(topics.CASE_DEADLINE_CHANGED, DeadlineChanged(
            case_id=a.case_id, correlation_id=corr, actor=staff_actor(claims), assignment_id=a.id,
            change=change, reason_zh=reason[:300], due_at=due_at, provisional=provisional))  # type: ignore[arg-type]
        unit = self.directory.get(a.unit_code)
        tx.emit(topics.CASE_STATUS, CaseStatusChanged(
            case_id=a.case_id, correlation_id=corr, actor=staff_actor(claims),
            state=CaseState.ACCEPTED if a.state == "accepted" else CaseState.ASSIGNED,
            title_zh="办理期限暂停计算" if change == "paused" else "办理期限恢复计算",
            detail_zh=reason[:200], acting_unit_code=a.unit_code, acting_unit_name=unit.name if unit else None,
            next_step_zh="待相关情况具备后恢复办理" if due_at is None else f"请于{fmt_time(due_at)}前办结",
            due_at=due_at))

    async def urge(self, claims: StaffClaims, assignment_id: str, reason: str, tx: Tx) -> dict[str, Any]:
        """催办 by hand: the supervising unit presses the handling unit now (a supervision notice from a person);
        the automatic chain goes on as it was."""
        a = await self._supervised(claims, assignment_id, tx)
        now = self.now()
        await self.assignments.add_history(a.id, {"change": "urged", "at": now, "by": claims.sub, "reason": reason},
                                           tx.session)
        corr = await self.cases.correlation_id(a.case_id, tx.session)
        d = self.directory
        unit, sup = d.get(a.unit_code), d.get(a.supervisor_unit_code)
        msg = (f"【催办】{sup.name if sup else a.supervisor_unit_code}督促{unit.name if unit else a.unit_code}"
               f"加快办理案件{a.label}（期限{fmt_time(a.due_at)}）：{reason}")
        tx.emit(topics.CASE_SUPERVISION_NOTICE, SupervisionNotice(
            case_id=a.case_id, correlation_id=corr or a.case_id, actor=staff_actor(claims), assignment_id=a.id,
            step=SupervisionStep.NOTICE, unit_code=a.unit_code, supervisor_unit_code=a.supervisor_unit_code,
            due_at=a.due_at, message_zh=msg[:300]))
        return {"urged": True, "at": now}

    # --- provisional calendar (years the State Council has not published yet) --------------------------

    async def load_calendar(self) -> None:
        self.calendar = self.calendar.with_days(await self.repos.calendar.days())

    async def set_calendar_day(self, claims: StaffClaims, day: date, workday: bool, reason: str, tx: Tx) -> None:
        if len(claims.unit_path) > 1:
            raise Refused(403, "out_of_scope", "只有区级管理员可以维护节假日安排")
        if self.calendar.is_published(day):
            raise Refused(409, "published", "该年度法定节假日安排已公布，无需手工录入")
        await self.repos.calendar.put_day(day, {"workday": workday, "reason": reason, "by": claims.sub,
                                                "at": self.now()}, tx.session)

    async def recompute_provisional(self) -> int:
        """Recompute the deadlines that were provisional (new admin-entered days, or a newer calendar package).
        Each assignment in its own transaction; a changed deadline is published and its chain re-planned."""
        await self.load_calendar()
        changed = 0
        for aid in await self.assignments.provisional_open_ids():
            async def one(tx: Tx, aid: str = aid) -> bool:
                return await self._recompute(aid, tx)

            changed += bool(await self.run(one))
        return changed

    async def _recompute(self, assignment_id: str, tx: Tx) -> bool:
        a = await self.assignments.get(assignment_id, tx.session)
        if a is None or a.paused or not a.due_provisional:
            return False
        now = self.now()
        term = a.recomputed_term(now, self.deadline_rules)
        if term is None:
            return False
        await self.assignments.set_term(a.id, term, {"change": "recomputed", "at": now, "from": a.due_at,
                                                     "due_at": term.due_at}, tx.session)
        corr = await self.cases.correlation_id(a.case_id, tx.session)
        tx.emit(topics.CASE_DEADLINE_CHANGED, DeadlineChanged(
            case_id=a.case_id, correlation_id=corr or a.case_id, actor=SYSTEM, assignment_id=a.id,
            change="recomputed", reason_zh="节假日安排更新，办理期限按新的工作日重新计算", due_at=term.due_at,
            provisional=term.provisional))
        return True
