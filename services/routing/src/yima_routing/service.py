"""Routing's use cases: join a case's facts with its risk, assign it, take the unit's feedback, supervise.

A case is assigned once both ``case.submitted`` and ``case.risk_assessed`` have arrived, whichever comes second
(they travel on different topics, so their order is not guaranteed). Both handlers write the same case document
inside their transactions, so two racing handlers conflict and one retries: the case is assigned exactly once.

谁分配、谁督办: every assignment names its supervising unit (the assigning one) and carries its supervision
chain (``sup_*`` fields, indexed by due time) that :mod:`.adapters.sweeper` drives. A return (退回) goes back to
the supervisor for re-dispatch; a failure or an overdue chain moves the case up a level with its history.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

from pymongo import AsyncMongoClient
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
from yima_contracts.codes import (
    ActorKind,
    CaseState,
    Category,
    Channel,
    FeedbackKind,
    RiskLevel,
    SupervisionStep,
    UnitKind,
)
from yima_contracts.routing_events import (
    CaseEscalated,
    DeadlineChanged,
    JointReport,
    JointSummoned,
    LeaderAssigned,
    ReferralOutcome,
    SupervisionNotice,
)
from yima_kit.auth import StaffClaims
from yima_kit.calendar import SHANGHAI, WorkingCalendar
from yima_kit.consumer import PermanentError, Tx
from yima_kit.crypto import FieldCipher
from yima_kit.outbox import Outbox
from yima_kit.uow import UnitOfWork

from .core import supervision
from .core.directory import Directory, Unit
from .core.rules import CaseFacts, Decision, RuleSet, decide, supervisor_of

SYSTEM = Actor(kind=ActorKind.SYSTEM, service="routing")
Clock = Callable[[], datetime]
TopicEnsurer = Callable[[str], Awaitable[None]]

OPEN = ("assigned", "accepted")  # the assignment is still being worked on: the chain runs

JOINT_REPORT_WHAT_ZH = "到场时间、参加人员、已做的处置和意见"

_FEEDBACK_STATUS: dict[FeedbackKind, tuple[CaseState, str, str]] = {
    FeedbackKind.ACCEPTED: (CaseState.ACCEPTED, "承办单位已受理", "承办单位将联系您了解情况并组织调解"),
    FeedbackKind.RETURNED: (CaseState.RETURNED, "案件正在重新分派", "督办单位将把案件交给更合适的单位，分派后会通知您"),
    FeedbackKind.PROGRESS: (CaseState.ACCEPTED, "办理进展", "承办单位正在办理"),
    FeedbackKind.RESOLVED: (CaseState.RESOLVED, "纠纷已化解", "请对办理结果进行评价"),
    FeedbackKind.FAILED: (CaseState.FAILED, "调解未成功", "督办单位将研究下一步处理方式并通知您"),
}


class Refused(Exception):
    """A staff action that is not allowed or not possible now (HTTP 403/404/409 with a Chinese message)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _fmt(t: datetime) -> str:
    return t.astimezone(SHANGHAI).strftime("%Y年%m月%d日%H:%M")


def staff_actor(claims: StaffClaims) -> Actor:
    return Actor(kind=ActorKind.STAFF, unit_code=claims.unit, staff_id=claims.sub, role=claims.role)


class RoutingService:
    def __init__(self, db: AsyncDatabase[Any], directory: Callable[[], Directory], rules: RuleSet,
                 cipher: FieldCipher, *, client: AsyncMongoClient[Any] | None = None, outbox: Outbox | None = None,
                 ensure_topic: TopicEnsurer | None = None, clock: Clock | None = None) -> None:
        self.db = db
        self.cases = db["cases"]
        self.assignments = db["assignments"]
        self.joints = db["joint_summons"]
        self.calendar_days = db["calendar"]
        self.calendar = WorkingCalendar()  # with the admin-entered days of unpublished years (load_calendar)
        self._directory = directory
        self.rules = rules
        self.cipher = cipher
        self.client = client
        self.outbox = outbox
        self.ensure_topic = ensure_topic
        self.now: Clock = clock or (lambda: datetime.now(UTC))

    @property
    def directory(self) -> Directory:
        return self._directory()

    async def setup(self) -> None:
        await self.assignments.create_index([("case_id", 1), ("round", 1)], unique=True)
        await self.assignments.create_index([("unit_code", 1), ("state", 1)])
        await self.assignments.create_index([("supervisor_unit_code", 1), ("state", 1)])
        # The sweeper's reads (every field of each filter in one index: the MongoDB-wire stand-in's planner uses
        # no other), its compare-and-set claims by _id (adapters/sweeper.py, ADR 0060) and its overdue gauge.
        await self.assignments.create_index([("sup_active", 1), ("paused", 1), ("sup_next_at", 1)])
        await self.assignments.create_index([("_id", 1), ("sup_claimed_until", 1)])
        await self.assignments.create_index([("sup_active", 1), ("due_at", 1)])
        await self.assignments.create_index([("case_id", 1), ("state", 1)])
        await self.cases.create_index([("pending_dispatch.supervisor_unit_code", 1)], sparse=True)
        await self.cases.create_index([("pending_dispatch.reminded", 1), ("pending_dispatch.remind_at", 1)])
        await self.cases.create_index([("_id", 1), ("pending_dispatch.claimed_until", 1)])
        await self.joints.create_index([("reminded", 1), ("report_by", 1)])
        await self.joints.create_index([("_id", 1), ("claimed_until", 1)])
        await self.joints.create_index([("unit_codes", 1), ("at", -1)])
        await self.assignments.create_index([("due_provisional", 1), ("paused", 1), ("state", 1)])  # recompute

    async def run(self, work: Callable[[Tx], Awaitable[Any]]) -> Any:
        """A use case outside a consumer: one transaction, its events staged in the outbox."""
        client, outbox = self.client, self.outbox
        assert client is not None and outbox is not None
        return await UnitOfWork(client, outbox).run(work)

    # --- consumers ---------------------------------------------------------------------------------

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
        settled = {"ended": {"how": "settled_on_spot", "at": self.now()}} if event.settled_on_spot else {}
        # 接件即办: settled at the desk when it was registered (intake closed it) — nobody is assigned.
        await self.cases.update_one({"_id": event.case_id}, {"$set": {"facts": facts, **settled}}, upsert=True,
                                    session=tx.session)
        await self._assign_if_ready(event.case_id, tx)

    async def on_risk_assessed(self, event: CaseRiskAssessed, tx: Tx) -> None:
        await self.cases.update_one(
            {"_id": event.case_id},
            {"$set": {"risk": {"level": event.level.value, "event_id": str(event.event_id)}}},
            upsert=True,
            session=tx.session,
        )
        case = await self.cases.find_one({"_id": event.case_id}, session=tx.session)
        if case and case.get("assigned") and event.level is RiskLevel.RED and not case.get("leader"):
            await self._name_leader(case, case["assigned_unit"], tx)  # turned red after assignment
        await self._assign_if_ready(event.case_id, tx)

    async def _assign_if_ready(self, case_id: str, tx: Tx) -> None:
        case = await self.cases.find_one({"_id": case_id}, session=tx.session)
        if not case or "facts" not in case or "risk" not in case or case.get("routed") or case.get("assigned"):
            return  # routed once: later rounds come from returns, escalations and dispatchers, not from events
        if case.get("ended"):
            return  # settled on the spot, or closed/transferred before its risk was known: nothing to assign
        f = case["facts"]
        risk = RiskLevel(case["risk"]["level"])
        directory = self.directory
        decision = decide(
            CaseFacts(Channel(f["channel"]), Category(f["category"]), risk,
                      f.get("location_unit_code") or f.get("located_unit_code"),
                      f.get("party_count"), f.get("amount_yuan")),
            self.rules,
            directory,
        )
        aid = await self._assign(case, decision.unit, decision.supervisor, round_=1, rule_id=decision.rule_id,
                                 reason_zh=decision.reason_zh, working_days=decision.working_days, actor=SYSTEM,
                                 tx=tx)
        if decision.summon:  # 全科会诊: the rule calls further units in; the assigned unit leads
            await self._summon(case, aid, decision.unit.code, [u.code for u in decision.summon],
                               decision.reason_zh, SYSTEM, tx)
        if risk is RiskLevel.RED:
            await self._name_leader(case, decision.unit.code, tx)

    async def _assign(self, case: dict[str, Any], unit: Unit, sup: Unit, *, round_: int, rule_id: str,
                      reason_zh: str, working_days: int, actor: Actor, tx: Tx,
                      status_title: str = "案件已分派", escalated_from: str | None = None) -> str:
        if self.ensure_topic is not None:
            await self.ensure_topic(unit.code)  # idempotent; see ADR 0021 (unit topics are created lazily)
        f = case["facts"]
        case_id = case["_id"]
        risk = RiskLevel(case["risk"]["level"])
        now = self.now()
        due_at, provisional = self.calendar.add_working_days(now, working_days)
        assignment_id = str(uuid4())
        first = supervision.next_step(due_at, self.rules.supervision, self.calendar, [], not_before=now)
        await self.assignments.insert_one(
            {
                "_id": assignment_id,
                "case_id": case_id,
                "round": round_,
                "unit_code": unit.code,
                "supervisor_unit_code": sup.code,
                "rule_id": rule_id,
                "ruleset_version": self.rules.version,
                "reason_zh": reason_zh,
                "risk_level": risk.value,
                "category": f["category"],
                "case_number": f["case_number"],
                "state": "assigned",
                "assigned_at": now,
                "assigned_by": actor.model_dump(mode="json", exclude_none=True),
                "working_days": working_days,
                "due_at": due_at,
                "due_provisional": provisional,
                "escalated_from": escalated_from,
                "sup_active": True,
                "sup_done": [],
                "sup_next_step": first.step.value if first else None,
                "sup_next_at": first.at if first else None,
                "sup_claimed_until": None,
                "paused": False,
                "history": [],
            },
            session=tx.session,
        )
        await self.cases.update_one(
            {"_id": case_id},
            {"$set": {"assigned": assignment_id, "assigned_unit": unit.code, "round": round_, "routed": True},
             "$unset": {"pending_dispatch": ""}},
            session=tx.session,
        )
        common = {"case_id": case_id, "correlation_id": f["correlation_id"], "actor": actor}
        dec = self.cipher.decrypt
        tx.emit(topics.CASE_ASSIGNED, CaseAssigned(
            **common, assignment_id=assignment_id, unit_code=unit.code, unit_name=unit.name,
            supervisor_unit_code=sup.code, supervisor_unit_name=sup.name, category=Category(f["category"]),
            risk_level=risk, rule_id=rule_id, reason_zh=reason_zh[:500], due_at=due_at,
            unit_path=list(self.directory.unit_path(unit.code)),
            supervisor_unit_path=list(self.directory.unit_path(sup.code)),
            location_unit_path=list(self.directory.unit_path(f["location_unit_code"]))
            if f.get("location_unit_code") else [],
        ))
        tx.emit(topics.unit_topic(unit.code), UnitCaseAssigned(
            **common, assignment_id=assignment_id, unit_code=unit.code, unit_name=unit.name,
            unit_path=list(self.directory.unit_path(unit.code)), in_platform=unit.in_platform,
            case_number=f["case_number"],
            channel=Channel(f["channel"]), category=Category(f["category"]), risk_level=risk,
            description=dec(f["description"], context="routing.description"),
            applicant=Party(name=dec(f["applicant_name"], context="routing.applicant.name"),
                            phone=dec(f["applicant_phone"], context="routing.applicant.phone")),
            location=Location(unit_code=f.get("location_unit_code"),
                              address=dec(f["address"], context="routing.address") if f.get("address") else None),
            supervisor_unit_code=sup.code, supervisor_unit_name=sup.name, due_at=due_at,
            court_reference=f.get("court_reference") if f.get("channel") == Channel.COURT_REFERRAL.value else None,
        ))
        tx.emit(topics.CASE_STATUS, CaseStatusChanged(
            **common, state=CaseState.ESCALATED if escalated_from else CaseState.ASSIGNED, title_zh=status_title,
            detail_zh=f"已交由{unit.name}办理，{sup.name}督办",
            acting_unit_code=unit.code, acting_unit_name=unit.name,
            next_step_zh=f"{unit.name}将在受理后联系您", due_at=due_at,
        ))
        return assignment_id

    async def _referral_outcome(self, event: CaseFeedback, a: dict[str, Any], unit: Unit | None, tx: Tx) -> None:
        """诉前委派: the court that referred the case hears how it ended (resolved, failed, returned) on
        ``case.referral_outcome``, as its own system consumes it. The referring court is the court's centre that
        supervises the assignment (the court_referral rules), or handles it itself."""
        if event.kind not in (FeedbackKind.RESOLVED, FeedbackKind.FAILED, FeedbackKind.RETURNED):
            return
        case = await self.cases.find_one({"_id": a["case_id"]}, {"facts": 1}, session=tx.session)
        f = (case or {}).get("facts") or {}
        if f.get("channel") != Channel.COURT_REFERRAL.value or not f.get("court_reference"):
            return
        d = self.directory
        court = next((u for u in (d.get(a["supervisor_unit_code"]), d.get(a["unit_code"]))
                      if u is not None and u.kind is UnitKind.COURT_CENTRE), None)
        if court is None:
            return
        tx.emit(topics.CASE_REFERRAL_OUTCOME, ReferralOutcome(
            case_id=a["case_id"], correlation_id=event.correlation_id, causation_id=event.event_id, actor=event.actor,
            referring_unit_code=court.code, court_reference=f["court_reference"], case_number=f["case_number"],
            assignment_id=a["_id"], handling_unit_code=a["unit_code"], handling_unit_name=unit.name if unit else None,
            outcome=event.kind.value,  # type: ignore[arg-type]
            note_zh=(event.note or event.reason or "")[:1000]))

    async def _name_leader(self, case: dict[str, Any], unit_code: str, tx: Tx) -> None:
        """A red case gets a named responsible leader (分包领导): the handling unit's or the nearest above."""
        leader = self.directory.leader_for(unit_code, case["_id"])
        if leader is None:
            return
        await self.cases.update_one({"_id": case["_id"]}, {"$set": {"leader": {
            "staff_id": leader.id, "name": leader.name, "unit_code": leader.unit, "at": self.now()}}},
            session=tx.session)
        tx.emit(topics.CASE_LEADER_ASSIGNED, LeaderAssigned(
            case_id=case["_id"], correlation_id=case["facts"]["correlation_id"], actor=SYSTEM,
            leader_staff_id=leader.id, leader_name=leader.name, unit_code=leader.unit))

    async def on_feedback(self, event: CaseFeedback, tx: Tx, *, from_unit: str | None = None) -> None:
        """``from_unit``: the unit whose own feedback topic this came from (None: case.feedback, whose
        writers are authorised platform principals)."""
        if from_unit is not None and from_unit != event.unit_code:
            raise PermanentError(f"feedback of unit {event.unit_code} written on the topic of unit {from_unit}")
        a = await self.assignments.find_one({"_id": event.assignment_id}, session=tx.session)
        if a is None or a["case_id"] != event.case_id:
            raise PermanentError(f"no assignment {event.assignment_id} for case {event.case_id}")
        if a["unit_code"] != event.unit_code:
            # 谁受理、谁反馈: only the unit that holds the assignment may answer on it.
            raise PermanentError(f"unit {event.unit_code} does not hold assignment {event.assignment_id}")
        if a["state"] not in OPEN:
            return  # the assignment is over (returned, resolved, escalated, reassigned): a late or repeated answer
        if event.kind is FeedbackKind.ACCEPTED and a["state"] != "assigned":
            return  # accepted twice (a department resent it): nothing new to tell anyone
        state, title, next_step = _FEEDBACK_STATUS[event.kind]
        new_state = {FeedbackKind.PROGRESS: a["state"]}.get(event.kind, event.kind.value)
        ends_chain = event.kind in (FeedbackKind.RETURNED, FeedbackKind.RESOLVED, FeedbackKind.FAILED)
        await self.assignments.update_one(
            {"_id": a["_id"]},
            {"$set": {"state": new_state, **({"sup_active": False, "sup_next_at": None} if ends_chain else {})},
             "$push": {"feedback": {
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
        await self._referral_outcome(event, a, unit, tx)
        if event.kind is FeedbackKind.RETURNED:
            # 退回: back to the supervisor for re-dispatch; the returning unit is excluded from later rounds.
            # Nobody may let it sit: if it is not re-dispatched within a working day, the sweeper reminds the
            # supervisor and the unit above it (remind_redispatch).
            remind_at, _ = self.calendar.add_working_days(self.now(), 1)
            await self.cases.update_one({"_id": a["case_id"]}, {
                "$set": {"pending_dispatch": {
                    "supervisor_unit_code": a["supervisor_unit_code"], "returned_by": a["unit_code"],
                    "assignment_id": a["_id"], "reason": event.reason, "at": self.now(),
                    "remind_at": remind_at, "reminded": False, "claimed_until": None}},
                "$addToSet": {"excluded_units": a["unit_code"]},
                "$unset": {"assigned": ""}}, session=tx.session)
        elif event.kind is FeedbackKind.FAILED:
            await self._escalate(a, "failed", f"承办单位调解未成功：{event.reason}", SYSTEM, tx)

    async def on_case_ended(self, case_id: str, how: str, tx: Tx) -> None:
        """The case was closed or transferred (mediation, 诉调对接): every supervision chain of it stops."""
        await self.assignments.update_many(
            {"case_id": case_id, "$or": [{"state": {"$in": list(OPEN)}}, {"sup_active": True}]},
            {"$set": {"sup_active": False, "sup_next_at": None},
             "$push": {"history": {"change": f"case.{how}", "at": self.now()}}},
            session=tx.session)
        await self.assignments.update_many({"case_id": case_id, "state": {"$in": list(OPEN)}},
                                           {"$set": {"state": how}}, session=tx.session)
        await self.cases.update_one({"_id": case_id}, {"$set": {"ended": {"how": how, "at": self.now()}},
                                                       "$unset": {"pending_dispatch": ""}},
                                    upsert=True, session=tx.session)

    # --- escalation, re-dispatch, pause --------------------------------------------------------------

    async def _escalate(self, a: dict[str, Any], reason: str, reason_zh: str, actor: Actor, tx: Tx) -> str | None:
        directory = self.directory
        target = directory.escalation_target(a["unit_code"], self.rules.default_unit)
        case = await self.cases.find_one({"_id": a["case_id"]}, session=tx.session)
        if target is None or case is None:
            return None  # already at the top: the leader step of the chain follows
        default = directory.get(self.rules.default_unit)
        assert default is not None
        sup = supervisor_of(target, directory, default)
        await self.assignments.update_one({"_id": a["_id"]}, {"$set": {"state": "escalated"}}, session=tx.session)
        new_id = await self._assign(
            case, target, sup, round_=int(case.get("round", a["round"])) + 1, rule_id=f"escalated_{reason}",
            reason_zh=reason_zh, working_days=self.rules.deadlines_working_days[RiskLevel(case["risk"]["level"])],
            actor=actor, tx=tx, status_title="案件已提级办理", escalated_from=a["_id"])
        frm = directory.get(a["unit_code"])
        await self.cases.update_one({"_id": a["case_id"]}, {"$push": {"escalations": {
            "from": a["unit_code"], "to": target.code, "reason": reason, "reason_zh": reason_zh,
            "at": self.now(), "assignment_id": new_id}}}, session=tx.session)
        tx.emit(topics.CASE_ESCALATED, CaseEscalated(
            case_id=a["case_id"], correlation_id=case["facts"]["correlation_id"], actor=actor,
            from_unit_code=a["unit_code"], to_unit_code=target.code, reason=reason,  # type: ignore[arg-type]
            reason_zh=f"{frm.name if frm else a['unit_code']} → {target.name}：{reason_zh}"[:300],
            assignment_id=new_id))
        return new_id

    async def dispatch(self, claims: StaffClaims, case_id: str, unit_code: str, reason: str,
                       working_days: int | None, tx: Tx) -> str:
        """Manual dispatch (overrides the rules, with a reason): the dispatcher's unit becomes the supervisor."""
        directory = self.directory
        case = await self.cases.find_one({"_id": case_id}, session=tx.session)
        if case is None or "facts" not in case or "risk" not in case:
            raise Refused(404, "not_found", "案件不存在或尚未完成登记")
        target = directory.get(unit_code)
        if target is None or not target.active:
            raise Refused(422, "unknown_unit", "目标单位不存在或已停用")
        current = await self.assignments.find_one({"_id": case.get("assigned")}, session=tx.session) \
            if case.get("assigned") else None
        pending = case.get("pending_dispatch")
        if current is not None and current["state"] not in OPEN:
            raise Refused(409, "closed", "该案件当前交办已结束，不能重新分派")
        if case.get("ended"):
            raise Refused(409, "closed", "案件已结案或已转出")
        owner = current["supervisor_unit_code"] if current else (pending or {}).get("supervisor_unit_code")
        if owner is None or not claims.may_act_on(owner, directory.unit_path(owner)):
            raise Refused(403, "not_supervisor", "只有督办单位（或其上级）可以重新分派此案件")
        if unit_code in case.get("excluded_units", ()):
            raise Refused(409, "returned_by_unit", "该单位已退回此案件，请选择其他单位")
        if current is not None:
            await self.assignments.update_one({"_id": current["_id"]}, {"$set": {
                "state": "reassigned", "sup_active": False, "sup_next_at": None}}, session=tx.session)
        sup = directory.get(claims.unit)
        assert sup is not None
        risk = RiskLevel(case["risk"]["level"])
        return await self._assign(
            case, target, sup, round_=int(case.get("round", 1)) + 1, rule_id="manual",
            reason_zh=reason, working_days=working_days or self.rules.deadlines_working_days[risk],
            actor=staff_actor(claims), tx=tx, status_title="案件已重新分派")

    def suggest(self, case: dict[str, Any]) -> Unit | None:
        """What the rules would choose now, without the units that returned the case (for re-dispatch)."""
        decision = self.suggest_decision(case)
        return decision.unit if decision else None

    def suggest_decision(self, case: dict[str, Any]) -> Decision | None:
        """The rules' decision now (unit, rule and its reason), without the units that returned the case."""
        f, risk = case.get("facts"), case.get("risk")
        if not f or not risk:
            return None
        decision = decide(CaseFacts(Channel(f["channel"]), Category(f["category"]), RiskLevel(risk["level"]),
                                    f.get("location_unit_code") or f.get("located_unit_code"),
                                    f.get("party_count"), f.get("amount_yuan"),
                                    frozenset(case.get("excluded_units", ()))), self.rules, self.directory)
        return None if decision.unit.code in case.get("excluded_units", ()) else decision

    async def pause(self, claims: StaffClaims, assignment_id: str, reason: str, tx: Tx) -> dict[str, Any]:
        a = await self._own_assignment(claims, assignment_id, tx, supervisor_too=True)
        if a["paused"]:
            raise Refused(409, "already_paused", "办理期限已暂停")
        now = self.now()
        await self.assignments.update_one({"_id": a["_id"]}, {
            "$set": {"paused": True, "paused_at": now, "pause_reason": reason, "sup_next_at": None},
            "$push": {"history": {"change": "paused", "at": now, "by": claims.sub, "reason": reason}}},
            session=tx.session)
        await self._deadline_event(a, "paused", reason, None, False, claims, tx)
        return {"paused": True}

    async def resume(self, claims: StaffClaims, assignment_id: str, reason: str, tx: Tx) -> dict[str, Any]:
        """The working days left at the pause are counted again from the resumption."""
        a = await self._own_assignment(claims, assignment_id, tx, supervisor_too=True)
        if not a["paused"]:
            raise Refused(409, "not_paused", "办理期限未暂停")
        now = self.now()
        left = self.calendar.working_days_between(a["paused_at"], a["due_at"])
        due_at, provisional = self.calendar.add_working_days(now, left)
        nxt = supervision.next_step(due_at, self.rules.supervision, self.calendar, a["sup_done"], not_before=now)
        await self.assignments.update_one({"_id": a["_id"]}, {
            "$set": {"paused": False, "due_at": due_at, "due_provisional": provisional,
                     "sup_next_step": nxt.step.value if nxt else None, "sup_next_at": nxt.at if nxt else None},
            "$push": {"history": {"change": "resumed", "at": now, "by": claims.sub, "reason": reason,
                                  "working_days_left": left, "due_at": due_at}}},
            session=tx.session)
        await self._deadline_event(a, "resumed", reason, due_at, provisional, claims, tx)
        return {"paused": False, "due_at": due_at}

    async def _deadline_event(self, a: dict[str, Any], change: str, reason: str, due_at: datetime | None,
                              provisional: bool, claims: StaffClaims, tx: Tx) -> None:
        case = await self.cases.find_one({"_id": a["case_id"]}, {"facts.correlation_id": 1}, session=tx.session)
        corr = case["facts"]["correlation_id"] if case else a["case_id"]
        tx.emit(topics.CASE_DEADLINE_CHANGED, DeadlineChanged(
            case_id=a["case_id"], correlation_id=corr, actor=staff_actor(claims), assignment_id=a["_id"],
            change=change, reason_zh=reason[:300], due_at=due_at, provisional=provisional))  # type: ignore[arg-type]
        unit = self.directory.get(a["unit_code"])
        tx.emit(topics.CASE_STATUS, CaseStatusChanged(
            case_id=a["case_id"], correlation_id=corr, actor=staff_actor(claims),
            state=CaseState.ACCEPTED if a["state"] == "accepted" else CaseState.ASSIGNED,
            title_zh="办理期限暂停计算" if change == "paused" else "办理期限恢复计算",
            detail_zh=reason[:200], acting_unit_code=a["unit_code"], acting_unit_name=unit.name if unit else None,
            next_step_zh="待相关情况具备后恢复办理" if due_at is None else f"请于{_fmt(due_at)}前办结",
            due_at=due_at))

    async def _own_assignment(self, claims: StaffClaims, assignment_id: str, tx: Tx, *,
                              supervisor_too: bool) -> dict[str, Any]:
        a = await self.assignments.find_one({"_id": assignment_id}, session=tx.session)
        if a is None:
            raise Refused(404, "not_found", "交办记录不存在")
        d = self.directory
        allowed = claims.may_act_on(a["unit_code"], d.unit_path(a["unit_code"])) or (
            supervisor_too and claims.may_act_on(a["supervisor_unit_code"], d.unit_path(a["supervisor_unit_code"])))
        if not allowed:
            raise Refused(404, "not_found", "交办记录不存在")  # no hint that it exists in another unit
        if a["state"] not in OPEN:
            raise Refused(409, "closed", "该交办已结束，不能再操作")
        return a

    async def urge(self, claims: StaffClaims, assignment_id: str, reason: str, tx: Tx) -> dict[str, Any]:
        """催办 by hand: the supervising unit presses the handling unit now (a supervision notice from a person);
        the automatic chain goes on as it was."""
        a = await self._supervised(claims, assignment_id, tx)
        now = self.now()
        await self.assignments.update_one({"_id": a["_id"]}, {"$push": {"history": {
            "change": "urged", "at": now, "by": claims.sub, "reason": reason}}}, session=tx.session)
        case = await self.cases.find_one({"_id": a["case_id"]}, {"facts.correlation_id": 1}, session=tx.session)
        d = self.directory
        unit, sup = d.get(a["unit_code"]), d.get(a["supervisor_unit_code"])
        msg = (f"【催办】{sup.name if sup else a['supervisor_unit_code']}督促{unit.name if unit else a['unit_code']}"
               f"加快办理案件{a.get('case_number', a['case_id'])}（期限{_fmt(a['due_at'])}）：{reason}")
        tx.emit(topics.CASE_SUPERVISION_NOTICE, SupervisionNotice(
            case_id=a["case_id"], correlation_id=case["facts"]["correlation_id"] if case else a["case_id"],
            actor=staff_actor(claims), assignment_id=a["_id"], step=SupervisionStep.NOTICE,
            unit_code=a["unit_code"], supervisor_unit_code=a["supervisor_unit_code"], due_at=a["due_at"],
            message_zh=msg[:300]))
        return {"urged": True, "at": now}

    async def escalate(self, claims: StaffClaims, assignment_id: str, reason: str, tx: Tx) -> str:
        """提级 by hand: the supervising unit moves the case one level up, with its history."""
        a = await self._supervised(claims, assignment_id, tx)
        new_id = await self._escalate(a, "manual", reason, staff_actor(claims), tx)
        if new_id is None:
            raise Refused(409, "top_level", "承办单位已是最高一级，不能再提级；可转交领导督办")
        return new_id

    async def _supervised(self, claims: StaffClaims, assignment_id: str, tx: Tx) -> dict[str, Any]:
        a = await self.assignments.find_one({"_id": assignment_id}, session=tx.session)
        d = self.directory
        if a is None or not claims.may_act_on(a["supervisor_unit_code"], d.unit_path(a["supervisor_unit_code"])):
            raise Refused(404, "not_found", "交办记录不存在")  # only the supervisor (or above) presses
        if a["state"] not in OPEN:
            raise Refused(409, "closed", "该交办已结束，不能再操作")
        return a

    async def return_case(self, claims: StaffClaims, assignment_id: str, reason: str, tx: Tx) -> None:
        """退回 from the platform's console: the same path as a department's ``returned`` feedback."""
        a = await self._own_assignment(claims, assignment_id, tx, supervisor_too=False)
        case = await self.cases.find_one({"_id": a["case_id"]}, {"facts.correlation_id": 1}, session=tx.session)
        event = CaseFeedback(case_id=a["case_id"], correlation_id=case["facts"]["correlation_id"] if case else "-",
                             actor=staff_actor(claims), assignment_id=a["_id"], unit_code=a["unit_code"],
                             kind=FeedbackKind.RETURNED, reason=reason)
        await self.on_feedback(event, tx)

    async def summon(self, claims: StaffClaims, case_id: str, units: list[str], reason: str, tx: Tx) -> str:
        """吹哨报到: the unit holding the case summons others; each must report in; the lead keeps responsibility."""
        case = await self.cases.find_one({"_id": case_id}, session=tx.session)
        if not case or not case.get("assigned"):
            raise Refused(404, "not_found", "案件不存在或尚未分派")
        a = await self._own_assignment(claims, case["assigned"], tx, supervisor_too=False)
        d = self.directory
        unknown = [u for u in units if d.get(u) is None or u == a["unit_code"]]
        if unknown:
            raise Refused(422, "unknown_unit", f"不能召集这些单位：{'、'.join(unknown)}")
        return await self._summon(case, a["_id"], a["unit_code"], units, reason, staff_actor(claims), tx)

    async def _summon(self, case: dict[str, Any], assignment_id: str, lead: str, units: list[str], reason: str,
                      actor: Actor, tx: Tx) -> str:
        now = self.now()
        report_by, _ = self.calendar.add_working_days(now, 1)
        joint_id = str(uuid4())
        await self.joints.insert_one({"_id": joint_id, "case_id": case["_id"], "assignment_id": assignment_id,
                                      "case_number": case["facts"].get("case_number"),
                                      "lead_unit_code": lead, "reason": reason, "at": now,
                                      "report_by": report_by, "reminded": False, "claimed_until": None,
                                      "unit_codes": list(units),
                                      "units": {u: {"reported_at": None, "note": None} for u in units}},
                                     session=tx.session)
        lead_unit = self.directory.get(lead)
        tx.emit(topics.CASE_JOINT_SUMMONED, JointSummoned(
            case_id=case["_id"], correlation_id=case["facts"]["correlation_id"], actor=actor,
            lead_unit_code=lead, summoned_unit_codes=units, reason_zh=reason[:300], report_by=report_by,
            joint_id=joint_id, lead_unit_name=lead_unit.name if lead_unit else None,
            report_what_zh=JOINT_REPORT_WHAT_ZH))
        return joint_id

    async def report_in(self, claims: StaffClaims, joint_id: str, note: str, tx: Tx) -> dict[str, Any]:
        """A summoned unit reports in from yima's console (the same as a ``case.joint_report`` on Kafka)."""
        return await self._report_in(joint_id, claims.unit, note, claims.sub, tx)

    async def on_joint_report(self, event: JointReport, tx: Tx) -> None:
        """A summoned unit reports in from its own system (topic ``case.joint_report``). A report on a summons
        that does not exist or does not summon that unit cannot be applied: dead-lettered with the reason."""
        try:
            await self._report_in(event.joint_id, event.unit_code, event.note, f"system:{event.unit_code}", tx,
                                  case_id=event.case_id)
        except Refused as exc:
            raise PermanentError(f"joint report {event.joint_id} by {event.unit_code}: {exc.message}") from exc

    async def _report_in(self, joint_id: str, unit: str, note: str, by: str, tx: Tx,
                         case_id: str | None = None) -> dict[str, Any]:
        j = await self.joints.find_one({"_id": joint_id}, session=tx.session)
        if j is None or unit not in j["units"] or (case_id is not None and j["case_id"] != case_id):
            raise Refused(404, "not_found", "没有找到召集本单位的联合处置")
        if j["units"][unit].get("reported_at") and j["units"][unit].get("note") == note:
            pass  # the same report again (a redelivery or a resend): nothing new
        else:
            await self.joints.update_one({"_id": joint_id}, {"$set": {
                f"units.{unit}": {"reported_at": self.now(), "note": note, "by": by}}}, session=tx.session)
        j = await self.joints.find_one({"_id": joint_id}, session=tx.session)
        assert j is not None
        missing = [u for u, r in j["units"].items() if not r.get("reported_at")]
        return {"joint_id": joint_id, "waiting_for": missing}

    async def open_summons(self, unit: str) -> list[dict[str, Any]]:
        """吹哨报到 a unit has been summoned to and not yet reported on (its own system may poll this too)."""
        out = []
        async for j in self.joints.find({"unit_codes": unit, f"units.{unit}.reported_at": None}).sort("at", -1):
            case = await self.cases.find_one({"_id": j["case_id"]}, {"ended": 1, "facts.case_number": 1})
            if case is None or case.get("ended"):
                continue
            out.append(self._summons_view(j, case))
        return out

    async def summons(self, joint_id: str) -> dict[str, Any] | None:
        j = await self.joints.find_one({"_id": joint_id})
        if j is None:
            return None
        case = await self.cases.find_one({"_id": j["case_id"]}, {"ended": 1, "facts.case_number": 1}) or {}
        names = {u.code: u.name for code in j["units"] if (u := self.directory.get(code)) is not None}
        return self._summons_view(j, case) | {"units": {
            u: {"name": names.get(u, u), "reported_at": r.get("reported_at"), "note": r.get("note")}
            for u, r in j["units"].items()}}

    def _summons_view(self, j: dict[str, Any], case: dict[str, Any]) -> dict[str, Any]:
        lead = self.directory.get(j["lead_unit_code"])
        return {"joint_id": j["_id"], "case_id": j["case_id"],
                "case_number": j.get("case_number") or case.get("facts", {}).get("case_number"),
                "lead_unit_code": j["lead_unit_code"], "lead_unit_name": lead.name if lead else None,
                "reason_zh": j["reason"], "summoned_at": j["at"], "report_by": j["report_by"],
                "report_what_zh": JOINT_REPORT_WHAT_ZH,
                "how_to_report_zh": "在平台“吹哨报到”中报到（POST /api/v1/joint/{joint_id}/report），"
                                    "或由本单位系统在 case.joint_report 主题上报到"}

    # --- provisional calendar (years the State Council has not published yet) --------------------------

    async def load_calendar(self) -> None:
        self.calendar = self.calendar.with_days(
            {date.fromisoformat(d["_id"]): bool(d["workday"]) async for d in self.calendar_days.find({})})

    async def set_calendar_day(self, claims: StaffClaims, day: date, workday: bool, reason: str, tx: Tx) -> None:
        if len(claims.unit_path) > 1:
            raise Refused(403, "out_of_scope", "只有区级管理员可以维护节假日安排")
        if self.calendar.is_published(day):
            raise Refused(409, "published", "该年度法定节假日安排已公布，无需手工录入")
        await self.calendar_days.update_one({"_id": day.isoformat()}, {"$set": {
            "workday": workday, "reason": reason, "by": claims.sub, "at": self.now()}}, upsert=True,
            session=tx.session)

    async def recompute_provisional(self) -> int:
        """Recompute the deadlines that were provisional (new admin-entered days, or a newer calendar package).
        Each assignment in its own transaction; a changed deadline is published and its chain re-planned."""
        await self.load_calendar()
        changed = 0
        ids = [d["_id"] async for d in self.assignments.find(
            {"due_provisional": True, "paused": False, "state": {"$in": list(OPEN)}}, {"_id": 1})]
        for aid in ids:
            async def one(tx: Tx, aid: str = aid) -> bool:
                return await self._recompute(aid, tx)

            changed += bool(await self.run(one))
        return changed

    async def _recompute(self, assignment_id: str, tx: Tx) -> bool:
        a = await self.assignments.find_one({"_id": assignment_id}, session=tx.session)
        if a is None or a["paused"] or not a.get("due_provisional"):
            return False
        resumed = [h for h in a.get("history", []) if h.get("change") == "resumed"]
        base, days = (resumed[-1]["at"], resumed[-1]["working_days_left"]) if resumed else (
            a["assigned_at"], a["working_days"])
        due_at, provisional = self.calendar.add_working_days(base, days)
        if due_at == a["due_at"] and provisional == a["due_provisional"]:
            return False
        nxt = supervision.next_step(due_at, self.rules.supervision, self.calendar, a["sup_done"], not_before=self.now())
        await self.assignments.update_one({"_id": a["_id"]}, {
            "$set": {"due_at": due_at, "due_provisional": provisional,
                     "sup_next_step": nxt.step.value if nxt else None, "sup_next_at": nxt.at if nxt else None},
            "$push": {"history": {"change": "recomputed", "at": self.now(), "from": a["due_at"], "due_at": due_at}}},
            session=tx.session)
        case = await self.cases.find_one({"_id": a["case_id"]}, {"facts.correlation_id": 1}, session=tx.session)
        tx.emit(topics.CASE_DEADLINE_CHANGED, DeadlineChanged(
            case_id=a["case_id"], correlation_id=case["facts"]["correlation_id"] if case else a["case_id"],
            actor=SYSTEM, assignment_id=a["_id"], change="recomputed",
            reason_zh="节假日安排更新，办理期限按新的工作日重新计算", due_at=due_at, provisional=provisional))
        return True

    async def remind_redispatch(self, case_id: str, tx: Tx) -> bool:
        """A returned case still waits at its supervisor a working day later: 督办 to the supervisor, copied to
        the unit above it. Fires once per return (conditional on ``reminded`` still being false)."""
        res = await self.cases.update_one(
            {"_id": case_id, "pending_dispatch.reminded": False},
            {"$set": {"pending_dispatch.reminded": True, "pending_dispatch.claimed_until": None}},
            session=tx.session)
        if res.modified_count != 1:
            return False
        case = await self.cases.find_one({"_id": case_id}, session=tx.session)
        if case is None or case.get("ended") or "facts" not in case:
            return True
        p = case["pending_dispatch"]
        d = self.directory
        holder = d.get(p["supervisor_unit_code"])
        above = holder.parent if holder and holder.parent else p["supervisor_unit_code"]
        returned_by = d.get(p["returned_by"])
        tx.emit(topics.CASE_SUPERVISION_NOTICE, SupervisionNotice(
            case_id=case_id, correlation_id=case["facts"]["correlation_id"], actor=SYSTEM,
            assignment_id=p["assignment_id"], step=SupervisionStep.NOTICE, unit_code=p["supervisor_unit_code"],
            supervisor_unit_code=above, due_at=p["remind_at"],
            message_zh=(f"【待重新分派】案件{case['facts']['case_number']}于{_fmt(p['at'])}被"
                        f"{returned_by.name if returned_by else p['returned_by']}退回（{p.get('reason') or ''}），"
                        f"至今未重新分派，请督办单位立即处理。")[:300]))
        return True

    async def remind_joint(self, joint_id: str, tx: Tx) -> bool:
        """吹哨报到: at ``report_by`` every summoned unit that has not reported in gets a notice from the lead unit.
        Fires once (conditional on ``reminded`` still being false)."""
        j = await self.joints.find_one({"_id": joint_id}, session=tx.session)
        if j is None or j.get("reminded"):
            return False
        res = await self.joints.update_one({"_id": joint_id, "reminded": False},
                                           {"$set": {"reminded": True, "claimed_until": None}}, session=tx.session)
        if res.modified_count != 1:
            return False
        missing = [u for u, r in j["units"].items() if not r.get("reported_at")]
        case = await self.cases.find_one({"_id": j["case_id"]}, session=tx.session)
        if not missing or case is None or case.get("ended"):
            return True
        d = self.directory
        lead = d.get(j["lead_unit_code"])
        for code in missing:
            unit = d.get(code)
            tx.emit(topics.CASE_SUPERVISION_NOTICE, SupervisionNotice(
                case_id=j["case_id"], correlation_id=case["facts"]["correlation_id"], actor=SYSTEM,
                assignment_id=j["assignment_id"], step=SupervisionStep.NOTICE, unit_code=code,
                supervisor_unit_code=j["lead_unit_code"], due_at=j["report_by"], joint_id=joint_id,
                message_zh=(f"【吹哨报到】{unit.name if unit else code}未在{_fmt(j['report_by'])}前报到，"
                            f"请立即与牵头单位{lead.name if lead else j['lead_unit_code']}联系并参与联合处置。")[:300]))
        return True

    # --- supervision (driven by the sweeper) ---------------------------------------------------------

    async def fire_step(self, assignment_id: str, expected_step: str, tx: Tx) -> bool:
        """Fire one supervision step. Conditional on the step still being the next one, so two replicas
        (or a replay after a crash) can never fire it twice: the loser's update matches nothing."""
        a = await self.assignments.find_one({"_id": assignment_id}, session=tx.session)
        if a is None or not a.get("sup_active") or a.get("paused") or a.get("sup_next_step") != expected_step:
            return False
        step = SupervisionStep(expected_step)
        done = [*a["sup_done"], step.value]
        now = self.now()
        continues = a["state"] in OPEN or (step is SupervisionStep.ESCALATED and a["state"] == "escalated")
        nxt = supervision.next_step(a["due_at"], self.rules.supervision, self.calendar, done) if continues else None
        res = await self.assignments.update_one(
            {"_id": a["_id"], "sup_next_step": expected_step, "sup_active": True},
            {"$set": {"sup_done": done, "sup_next_step": nxt.step.value if nxt else None,
                      "sup_next_at": nxt.at if nxt else None, "sup_active": nxt is not None,
                      "sup_claimed_until": None},
             "$push": {"history": {"change": f"supervision.{step.value}", "at": now}}},
            session=tx.session)
        if res.modified_count != 1:
            return False
        case = await self.cases.find_one({"_id": a["case_id"]}, session=tx.session)
        if case is None:
            return True
        d = self.directory
        corr = case["facts"]["correlation_id"]
        unit, sup = d.get(a["unit_code"]), d.get(a["supervisor_unit_code"])
        leader = case.get("leader")
        if step is SupervisionStep.LEADER:
            current_unit = case.get("assigned_unit", a["unit_code"])
            if not leader:
                named = d.leader_for(current_unit, case["_id"])
                leader = {"staff_id": named.id, "name": named.name} if named else None
            current = await self.assignments.find_one({"_id": case.get("assigned")}, {"state": 1},
                                                      session=tx.session) if case.get("assigned") else None
            if current is not None and current["state"] not in OPEN:
                return True  # resolved (or handed on) at the higher level meanwhile: no leader needed
        if step is SupervisionStep.ESCALATED:
            if a["state"] not in OPEN:
                return True  # resolved or handed on meanwhile: nothing to escalate
            new_id = await self._escalate(a, "overdue", f"逾期未办结（期限{_fmt(a['due_at'])}），经两次督办仍未办结",
                                          SYSTEM, tx)
            if new_id is None:
                return True
        msg = supervision.MESSAGES_ZH[step].format(
            unit=unit.name if unit else a["unit_code"], case=a.get("case_number", a["case_id"]),
            due=_fmt(a["due_at"]), supervisor=sup.name if sup else a["supervisor_unit_code"],
            leader=(leader or {}).get("name", "（未指定）"))
        tx.emit(topics.CASE_SUPERVISION_NOTICE, SupervisionNotice(
            case_id=a["case_id"], correlation_id=corr, actor=SYSTEM, assignment_id=a["_id"], step=step,
            unit_code=a["unit_code"], supervisor_unit_code=a["supervisor_unit_code"],
            leader_staff_id=(leader or {}).get("staff_id") if step is SupervisionStep.LEADER else None,
            due_at=a["due_at"], message_zh=msg[:300]))
        if step is SupervisionStep.NOTICE:
            # The applicant should know that the case is late and being pressed (no personal data here).
            tx.emit(topics.CASE_STATUS, CaseStatusChanged(
                case_id=a["case_id"], correlation_id=corr, actor=SYSTEM,
                state=CaseState.ACCEPTED if a["state"] == "accepted" else CaseState.ASSIGNED,
                title_zh="案件已督办",
                detail_zh=f"{sup.name if sup else '督办单位'}已督促{unit.name if unit else '承办单位'}加快办理",
                acting_unit_code=a["unit_code"], acting_unit_name=unit.name if unit else None,
                next_step_zh="承办单位将尽快办理并反馈", due_at=None))
        return True

