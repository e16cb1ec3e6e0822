"""Routing's use cases: join a case's facts with its risk, assign it, take the unit's feedback.

A case is assigned once both ``case.submitted`` and ``case.risk_assessed`` have arrived, whichever
comes second (they travel on different topics, so their order is not guaranteed). Both handlers write
the same case document inside their transactions, so two racing handlers conflict and one retries:
the case is assigned exactly once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from pymongo.asynchronous.database import AsyncDatabase
from yima_contracts import (
    Actor,
    CaseAssigned,
    CaseFeedback,
    CaseRiskAssessed,
    CaseStatusChanged,
    CaseSubmitted,
    Location,
    Party,
    UnitCaseAssigned,
    topics,
)
from yima_contracts.codes import ActorKind, CaseState, Category, Channel, FeedbackKind, RiskLevel
from yima_kit.consumer import PermanentError, Tx
from yima_kit.crypto import FieldCipher

from .core.deadlines import add_working_days
from .core.directory import Directory
from .core.rules import CaseFacts, RuleSet, decide

SYSTEM = Actor(kind=ActorKind.SYSTEM, service="routing")

_FEEDBACK_STATUS: dict[FeedbackKind, tuple[CaseState, str, str]] = {
    FeedbackKind.ACCEPTED: (CaseState.ACCEPTED, "承办单位已受理", "承办单位将联系您了解情况并组织调解"),
    FeedbackKind.RETURNED: (CaseState.RETURNED, "案件正在重新分派", "督办单位将把案件交给更合适的单位，分派后会通知您"),
    FeedbackKind.PROGRESS: (CaseState.ACCEPTED, "办理进展", "承办单位正在办理"),
    FeedbackKind.RESOLVED: (CaseState.RESOLVED, "纠纷已化解", "请对办理结果进行评价"),
    FeedbackKind.FAILED: (CaseState.FAILED, "调解未成功", "督办单位将研究下一步处理方式并通知您"),
}


class RoutingService:
    def __init__(self, db: AsyncDatabase[Any], directory: Directory, rules: RuleSet, cipher: FieldCipher) -> None:
        self.cases = db["cases"]
        self.assignments = db["assignments"]
        self.directory = directory
        self.rules = rules
        self.cipher = cipher

    async def setup(self) -> None:
        await self.assignments.create_index([("case_id", 1), ("round", 1)], unique=True)
        await self.assignments.create_index([("unit_code", 1), ("state", 1)])

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
            "correlation_id": event.correlation_id,
        }
        await self.cases.update_one({"_id": event.case_id}, {"$set": {"facts": facts}}, upsert=True, session=tx.session)
        await self._assign_if_ready(event.case_id, tx)

    async def on_risk_assessed(self, event: CaseRiskAssessed, tx: Tx) -> None:
        await self.cases.update_one(
            {"_id": event.case_id},
            {"$set": {"risk": {"level": event.level.value, "event_id": str(event.event_id)}}},
            upsert=True,
            session=tx.session,
        )
        await self._assign_if_ready(event.case_id, tx)

    async def _assign_if_ready(self, case_id: str, tx: Tx) -> None:
        case = await self.cases.find_one({"_id": case_id}, session=tx.session)
        if not case or "facts" not in case or "risk" not in case or case.get("assigned"):
            return
        f = case["facts"]
        risk = RiskLevel(case["risk"]["level"])
        decision = decide(
            CaseFacts(Channel(f["channel"]), Category(f["category"]), risk, f.get("location_unit_code")),
            self.rules,
            self.directory,
        )
        now = datetime.now(UTC)
        due_at, provisional = add_working_days(now, decision.working_days)
        assignment_id = str(uuid4())
        unit, sup = decision.unit, decision.supervisor
        await self.assignments.insert_one(
            {
                "_id": assignment_id,
                "case_id": case_id,
                "round": 1,
                "unit_code": unit.code,
                "supervisor_unit_code": sup.code,
                "rule_id": decision.rule_id,
                "ruleset_version": self.rules.version,
                "reason_zh": decision.reason_zh,
                "risk_level": risk.value,
                "state": "assigned",
                "assigned_at": now,
                "due_at": due_at,
                "due_provisional": provisional,
            },
            session=tx.session,
        )
        await self.cases.update_one({"_id": case_id}, {"$set": {"assigned": assignment_id}}, session=tx.session)
        common = {"case_id": case_id, "correlation_id": f["correlation_id"], "actor": SYSTEM}
        dec = self.cipher.decrypt
        tx.emit(topics.CASE_ASSIGNED, CaseAssigned(
            **common, assignment_id=assignment_id, unit_code=unit.code, unit_name=unit.name,
            supervisor_unit_code=sup.code, supervisor_unit_name=sup.name, category=Category(f["category"]),
            risk_level=risk, rule_id=decision.rule_id, reason_zh=decision.reason_zh, due_at=due_at,
        ))
        tx.emit(topics.unit_topic(unit.code), UnitCaseAssigned(
            **common, assignment_id=assignment_id, unit_code=unit.code, case_number=f["case_number"],
            channel=Channel(f["channel"]), category=Category(f["category"]), risk_level=risk,
            description=dec(f["description"], context="routing.description"),
            applicant=Party(name=dec(f["applicant_name"], context="routing.applicant.name"),
                            phone=dec(f["applicant_phone"], context="routing.applicant.phone")),
            location=Location(unit_code=f.get("location_unit_code"),
                              address=dec(f["address"], context="routing.address") if f.get("address") else None),
            supervisor_unit_code=sup.code, supervisor_unit_name=sup.name, due_at=due_at,
        ))
        tx.emit(topics.CASE_STATUS, CaseStatusChanged(
            **common, state=CaseState.ASSIGNED, title_zh="案件已分派",
            detail_zh=f"已交由{unit.name}办理，{sup.name}督办",
            acting_unit_code=unit.code, acting_unit_name=unit.name,
            next_step_zh=f"{unit.name}将在受理后联系您", due_at=due_at,
        ))

    async def on_feedback(self, event: CaseFeedback, tx: Tx) -> None:
        a = await self.assignments.find_one({"_id": event.assignment_id}, session=tx.session)
        if a is None or a["case_id"] != event.case_id:
            raise PermanentError(f"no assignment {event.assignment_id} for case {event.case_id}")
        if a["unit_code"] != event.unit_code:
            # 谁受理、谁反馈: only the unit that holds the assignment may answer on it.
            raise PermanentError(f"unit {event.unit_code} does not hold assignment {event.assignment_id}")
        if event.kind is FeedbackKind.ACCEPTED and a["state"] != "assigned":
            return  # accepted twice (a department resent it): nothing new to tell anyone
        state, title, next_step = _FEEDBACK_STATUS[event.kind]
        new_state = {FeedbackKind.PROGRESS: a["state"]}.get(event.kind, event.kind.value)
        await self.assignments.update_one(
            {"_id": a["_id"]},
            {"$set": {"state": new_state}, "$push": {"feedback": {
                "event_id": str(event.event_id), "kind": event.kind.value, "reason": event.reason,
                "note": event.note, "at": event.occurred_at}}},
            session=tx.session,
        )
        unit = self.directory.get(a["unit_code"])
        tx.emit(topics.CASE_STATUS, CaseStatusChanged(
            case_id=event.case_id, correlation_id=event.correlation_id, causation_id=event.event_id,
            actor=event.actor, state=state, title_zh=title,
            detail_zh=(event.note or "")[:200] if event.kind is FeedbackKind.PROGRESS else "",
            acting_unit_code=a["unit_code"], acting_unit_name=unit.name if unit else None,
            next_step_zh=next_step, due_at=a["due_at"] if event.kind is FeedbackKind.ACCEPTED else None,
        ))
