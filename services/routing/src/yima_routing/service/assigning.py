"""Assigning: join a case's facts with its risk and assign it by the rules (once both have arrived, whichever
comes second — they travel on different topics), dispatch it by hand, escalate it a level up.

A case is assigned exactly once by its events: both handlers write the same case document inside their
transactions, so two racing handlers conflict and one retries. 谁分配、谁督办: every assignment names its
supervising unit (the assigning one) and carries its supervision chain (core/assignment.py).
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from yima_contracts import (
    Actor,
    CaseAssigned,
    CaseRiskAssessed,
    CaseStatusChanged,
    CaseSubmitted,
    Location,
    Party,
    UnitCaseAssigned,
    topics,
)
from yima_contracts.codes import CaseState, Category, Channel, RiskLevel
from yima_contracts.routing_events import CaseEscalated, LeaderAssigned
from yima_kit.auth import StaffClaims
from yima_kit.consumer import Tx

from ..core.assignment import Assignment
from ..core.case import Case
from ..core.directory import Unit
from ..core.rules import Decision, decide, supervisor_of
from .base import SYSTEM, Refused, staff_actor
from .joint import JointSummons


class Assigning(JointSummons):
    async def on_submitted(self, event: CaseSubmitted, tx: Tx) -> None:
        enc = self.cipher.encrypt
        facts = {
            "case_number": event.case_number,
            "channel": event.channel.value,
            "category": event.category.value,
            "description": enc(event.description, context="routing.description"),
            "applicant_name": enc(event.applicant.name, context="routing.applicant.name"),
            "applicant_phone": enc(event.applicant.phone, context="routing.applicant.phone"),
            "location_unit_code": event.location.unit_code,
            "address": enc(event.location.address, context="routing.address") if event.location.address else None,
            "party_count": event.party_count,
            "amount_yuan": event.amount_yuan,
            "correlation_id": event.correlation_id,
            "submitted_at": event.submitted_at,
            "court_reference": event.court_reference,
        }
        if event.location.unit_code is None and event.location.address:
            located = self.directory.locate(event.location.address)
            facts["located_unit_code"] = located.code if located else None
        # 接件即办: settled at the desk when it was registered (intake closed it) — nobody is assigned.
        settled = {"how": "settled_on_spot", "at": self.now()} if event.settled_on_spot else None
        await self.cases.save_facts(event.case_id, facts, settled, tx.session)
        await self._assign_if_ready(event.case_id, tx)

    async def on_risk_assessed(self, event: CaseRiskAssessed, tx: Tx) -> None:
        await self.cases.set_risk(event.case_id, {"level": event.level.value, "event_id": str(event.event_id)},
                                  tx.session)
        case = await self.cases.get(event.case_id, tx.session)
        if case and case.assigned and event.level is RiskLevel.RED and not case.leader and case.assigned_unit:
            await self._name_leader(case, case.assigned_unit, tx)  # turned red after assignment
        await self._assign_if_ready(event.case_id, tx)

    async def _assign_if_ready(self, case_id: str, tx: Tx) -> None:
        case = await self.cases.get(case_id, tx.session)
        if not case or case.routed or case.assigned:
            return  # routed once: later rounds come from returns, escalations and dispatchers, not from events
        facts = case.rule_input()
        if facts is None or case.ended:
            return  # not both known yet; or settled on the spot, or closed/transferred before its risk was known
        decision = decide(facts, self.rules, self.directory)
        aid = await self._assign(case, decision.unit, decision.supervisor, round_=1, rule_id=decision.rule_id,
                                 reason_zh=decision.reason_zh, working_days=decision.working_days, actor=SYSTEM,
                                 tx=tx)
        if decision.summon:  # 全科会诊: the rule calls further units in; the assigned unit leads
            await self._summon(case, aid, decision.unit.code, [u.code for u in decision.summon],
                               decision.reason_zh, SYSTEM, tx)
        if facts.risk is RiskLevel.RED:
            await self._name_leader(case, decision.unit.code, tx)

    async def _assign(self, case: Case, unit: Unit, sup: Unit, *, round_: int, rule_id: str,
                      reason_zh: str, working_days: int, actor: Actor, tx: Tx,
                      status_title: str = "案件已分派", escalated_from: str | None = None) -> str:
        if self.ensure_topic is not None:
            await self.ensure_topic(unit.code)  # idempotent; see ADR 0021 (unit topics are created lazily)
        f, risk = case.facts, case.risk_level
        assert f is not None and risk is not None
        now = self.now()
        term = Assignment.first_term(now, working_days, self.deadline_rules)
        a = Assignment.model_validate({
            "_id": str(uuid4()), "case_id": case.id, "round": round_, "unit_code": unit.code,
            "supervisor_unit_code": sup.code, "rule_id": rule_id, "ruleset_version": self.rules.version,
            "reason_zh": reason_zh, "risk_level": risk.value, "category": f.category, "case_number": f.case_number,
            "state": "assigned", "assigned_at": now, "assigned_by": actor.model_dump(mode="json", exclude_none=True),
            "working_days": working_days, "due_at": term.due_at, "due_provisional": term.provisional,
            "escalated_from": escalated_from, "sup_active": True, "sup_done": [],
            "sup_next_step": term.next.step.value if term.next else None,
            "sup_next_at": term.next.at if term.next else None, "paused": False, "history": []})
        await self.assignments.insert(a, tx.session)
        await self.cases.mark_assigned(case.id, a.id, unit.code, round_, tx.session)
        self._announce(case, a, unit, sup, actor, status_title, tx)
        return a.id

    def _announce(self, case: Case, a: Assignment, unit: Unit, sup: Unit, actor: Actor, status_title: str,
                  tx: Tx) -> None:
        """case.assigned (everyone), the unit's work order on its own topic (with the applicant), the status."""
        f, risk, d = case.facts, RiskLevel(a.risk_level), self.directory
        assert f is not None
        common: dict[str, Any] = {"case_id": case.id, "correlation_id": f.correlation_id, "actor": actor}
        dec = self.cipher.decrypt
        tx.emit(topics.CASE_ASSIGNED, CaseAssigned(
            **common, assignment_id=a.id, unit_code=unit.code, unit_name=unit.name,
            supervisor_unit_code=sup.code, supervisor_unit_name=sup.name, category=Category(f.category),
            risk_level=risk, rule_id=a.rule_id, reason_zh=a.reason_zh[:500], due_at=a.due_at,
            unit_path=list(d.unit_path(unit.code)), supervisor_unit_path=list(d.unit_path(sup.code)),
            location_unit_path=list(d.unit_path(f.location_unit_code)) if f.location_unit_code else [],
        ))
        tx.emit(topics.unit_topic(unit.code), UnitCaseAssigned(
            **common, assignment_id=a.id, unit_code=unit.code, unit_name=unit.name,
            unit_path=list(d.unit_path(unit.code)), in_platform=unit.in_platform, case_number=f.case_number,
            channel=Channel(f.channel), category=Category(f.category), risk_level=risk,
            description=dec(f.description, context="routing.description"),
            applicant=Party(name=dec(f.applicant_name, context="routing.applicant.name"),
                            phone=dec(f.applicant_phone, context="routing.applicant.phone")),
            location=Location(unit_code=f.location_unit_code,
                              address=dec(f.address, context="routing.address") if f.address else None),
            supervisor_unit_code=sup.code, supervisor_unit_name=sup.name, due_at=a.due_at,
            court_reference=f.court_reference if f.channel == Channel.COURT_REFERRAL.value else None,
        ))
        tx.emit(topics.CASE_STATUS, CaseStatusChanged(
            **common, state=CaseState.ESCALATED if a.escalated_from else CaseState.ASSIGNED, title_zh=status_title,
            detail_zh=f"已交由{unit.name}办理，{sup.name}督办",
            acting_unit_code=unit.code, acting_unit_name=unit.name,
            next_step_zh=f"{unit.name}将在受理后联系您", due_at=a.due_at,
        ))

    async def _name_leader(self, case: Case, unit_code: str, tx: Tx) -> None:
        """A red case gets a named responsible leader (分包领导): the handling unit's or the nearest above."""
        leader = self.directory.leader_for(unit_code, case.id)
        if leader is None:
            return
        await self.cases.set_leader(case.id, {"staff_id": leader.id, "name": leader.name, "unit_code": leader.unit,
                                              "at": self.now()}, tx.session)
        tx.emit(topics.CASE_LEADER_ASSIGNED, LeaderAssigned(
            case_id=case.id, correlation_id=case.correlation_id, actor=SYSTEM,
            leader_staff_id=leader.id, leader_name=leader.name, unit_code=leader.unit))

    async def _escalate(self, a: Assignment, reason: str, reason_zh: str, actor: Actor, tx: Tx) -> str | None:
        directory = self.directory
        target = directory.escalation_target(a.unit_code, self.rules.default_unit)
        case = await self.cases.get(a.case_id, tx.session)
        if target is None or case is None or case.risk_level is None:
            return None  # already at the top: the leader step of the chain follows
        default = directory.get(self.rules.default_unit)
        assert default is not None
        sup = supervisor_of(target, directory, default)
        await self.assignments.set_state(a.id, "escalated", tx.session)
        new_id = await self._assign(
            case, target, sup, round_=int(case.round or a.round) + 1, rule_id=f"escalated_{reason}",
            reason_zh=reason_zh, working_days=self.rules.deadlines_working_days[case.risk_level],
            actor=actor, tx=tx, status_title="案件已提级办理", escalated_from=a.id)
        frm = directory.get(a.unit_code)
        await self.cases.add_escalation(a.case_id, {
            "from": a.unit_code, "to": target.code, "reason": reason, "reason_zh": reason_zh,
            "at": self.now(), "assignment_id": new_id}, tx.session)
        tx.emit(topics.CASE_ESCALATED, CaseEscalated(
            case_id=a.case_id, correlation_id=case.correlation_id, actor=actor,
            from_unit_code=a.unit_code, to_unit_code=target.code, reason=reason,  # type: ignore[arg-type]
            reason_zh=f"{frm.name if frm else a.unit_code} → {target.name}：{reason_zh}"[:300],
            assignment_id=new_id))
        return new_id

    async def escalate(self, claims: StaffClaims, assignment_id: str, reason: str, tx: Tx) -> str:
        """提级 by hand: the supervising unit moves the case one level up, with its history."""
        a = await self._supervised(claims, assignment_id, tx)
        new_id = await self._escalate(a, "manual", reason, staff_actor(claims), tx)
        if new_id is None:
            raise Refused(409, "top_level", "承办单位已是最高一级，不能再提级；可转交领导督办")
        return new_id

    async def dispatch(self, claims: StaffClaims, case_id: str, unit_code: str, reason: str,
                       working_days: int | None, tx: Tx) -> str:
        """Manual dispatch (overrides the rules, with a reason): the dispatcher's unit becomes the supervisor."""
        directory = self.directory
        case = await self.cases.get(case_id, tx.session)
        if case is None or case.facts is None or case.risk_level is None:
            raise Refused(404, "not_found", "案件不存在或尚未完成登记")
        target = directory.get(unit_code)
        if target is None or not target.active:
            raise Refused(422, "unknown_unit", "目标单位不存在或已停用")
        current = await self.assignments.get(case.assigned, tx.session) if case.assigned else None
        if current is not None and not current.is_open:
            raise Refused(409, "closed", "该案件当前交办已结束，不能重新分派")
        if case.ended:
            raise Refused(409, "closed", "案件已结案或已转出")
        pending = case.pending_dispatch
        owner = current.supervisor_unit_code if current else pending.supervisor_unit_code if pending else None
        if owner is None or not self.can_act_on(claims, owner):
            raise Refused(403, "not_supervisor", "只有督办单位（或其上级）可以重新分派此案件")
        if unit_code in case.excluded_units:
            raise Refused(409, "returned_by_unit", "该单位已退回此案件，请选择其他单位")
        if current is not None:
            await self.assignments.stop(current.id, "reassigned", tx.session)
        sup = directory.get(claims.unit)
        assert sup is not None
        return await self._assign(
            case, target, sup, round_=int(case.round or 1) + 1, rule_id="manual",
            reason_zh=reason, working_days=working_days or self.rules.deadlines_working_days[case.risk_level],
            actor=staff_actor(claims), tx=tx, status_title="案件已重新分派")

    def suggest_decision(self, case: Case) -> Decision | None:
        """The rules' decision now (unit, rule and its reason), without the units that returned the case."""
        facts = case.rule_input(exclude=True)
        if facts is None:
            return None
        decision = decide(facts, self.rules, self.directory)
        return None if decision.unit.code in case.excluded_units else decision
