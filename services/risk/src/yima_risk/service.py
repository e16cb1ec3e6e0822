"""Risk's use cases: keep each case's facts, re-assess on every new fact, publish every change, schedule the
follow-up visit of a red case when it closes, and raise early warnings.

It talks to its storage only through ports.py (RiskRepository: cases, assessments, warnings, corrections;
FollowupTimers: the durable follow-up timers); the rules are pure (core/: ``rules.assess``, the group-dispute
rule ``rules.group_dispute``, the early warnings ``warnings.detect``, staff ``corrections``).

Events of one case arrive on several topics in no fixed order between topics: a fact that comes before
``case.submitted`` is kept, and the case is assessed once the submission is there.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from yima_contracts import Actor, CaseAssigned, CaseFeedback, CaseRiskAssessed, CaseSubmitted, Event, topics
from yima_contracts.codes import ActorKind, Category, FeedbackKind, RiskLevel
from yima_contracts.intake_events import CaseUpdated
from yima_contracts.mediation_events import CaseClosed, MediationConcluded, MediationSessionHeld
from yima_contracts.risk_events import WarningRaised
from yima_contracts.routing_events import LeaderAssigned
from yima_kit.audit import AuditLog
from yima_kit.consumer import Tx
from yima_kit.crypto import FieldCipher
from yima_kit.outbox import Outbox
from yima_kit.uow import UnitOfWork

from .core.corrections import Correction, apply_correction
from .core.rules import Assessment, CaseFacts, assess
from .core.ruleset import RuleSet
from .core.second_opinion import SecondOpinion
from .core.warnings import CaseRef, detect, normalize_org, reads_for, warning_keys
from .ports import Doc, FollowupTimers, RiskRepository
from .staff import StaffUseCases

SYSTEM = Actor(kind=ActorKind.SYSTEM, service="risk")

# Every published change says which event caused it (besides ``causation_id``), as a person reads it.
_CAUSE_ZH = {
    "case.submitted.v1": "纠纷登记",
    "case.updated.v1": "案情有新情况",
    "case.leader_assigned.v1": "确定分包领导",
    "mediation.session_held.v1": "调解员记录了调解情况",
    "mediation.concluded.v1": "调解结束",
    "case.closed.v1": "案件办结",
}
_FEEDBACK_CAUSE_ZH = {
    FeedbackKind.ACCEPTED: "承办单位受理", FeedbackKind.RETURNED: "承办单位退回",
    FeedbackKind.PROGRESS: "承办单位反馈办理进展",
    FeedbackKind.RESOLVED: "承办单位反馈已化解", FeedbackKind.FAILED: "承办单位反馈调解未成功",
}


def cause_zh(event: Event) -> str:
    if isinstance(event, CaseFeedback):
        return _FEEDBACK_CAUSE_ZH.get(event.kind, "承办单位反馈")
    return _CAUSE_ZH.get(event.event_type, event.event_type)
E = TypeVar("E", bound=Event)
_WARN_NS = uuid.UUID("0b9f7d0e-2c55-4b8e-8f0e-7f3f1e2a9c44")


class Places(Protocol):
    """The unit directory's names and chains of places (adapters/places.py)."""

    async def know(self, codes: Iterable[str]) -> None: ...
    def name(self, code: str) -> str | None: ...
    def chain(self, code: str) -> list[str]: ...


class _NoPlaces:
    """No directory: places by their codes, each its own chain."""

    async def know(self, codes: Iterable[str]) -> None:
        return None

    def name(self, code: str) -> str | None:
        return None

    def chain(self, code: str) -> list[str]:
        return [code]


class RiskService(StaffUseCases):
    def __init__(
        self, repo: RiskRepository, rules: RuleSet, cipher: FieldCipher, timers: FollowupTimers,
        followup_delay: timedelta, opinion: SecondOpinion | None = None, *, client: Any = None,
        outbox: Outbox | None = None, audit: AuditLog | None = None, places: Places | None = None,
    ) -> None:
        self.places: Places = places or _NoPlaces()
        self.repo = repo
        self.rules = rules
        self.cipher = cipher
        self.timers = timers
        self.followup_delay = followup_delay
        self.opinion = opinion
        self.client, self.outbox, self.audit = client, outbox, audit
        self.uow = UnitOfWork(client, outbox) if client is not None and outbox is not None else None

    async def setup(self) -> None:
        await self.repo.setup()
        await self.timers.setup()

    # --- a poll's events at once (ADR 0155) ----------------------------------------------------------------

    async def in_batch(self, events: Sequence[E], tx: Tx, handle: Callable[[RiskService, E, Tx], Awaitable[None]],
                       ) -> None:
        """Apply a poll's events of one topic in the order they came, as ``handle`` does one: the batch's cases are
        read in one query, changed in memory event after event, and written once at the end with the batch's
        assessments and unit paths — all inside the consumer's one transaction (ledger and outbox included)."""
        view = copy.copy(self)
        view.repo = self.repo.in_batch(tx.session)
        await view.repo.load_cases({e.case_id for e in events})
        submissions = [e for e in events if isinstance(e, CaseSubmitted)]
        if submissions:  # what every submission reads, for the whole batch at once: not three reads per case
            window = timedelta(days=self.rules.repeat.earlier_cases_window_days)
            await view.repo.load_submissions(
                {self._applicant_key(e) for e in submissions}, min(e.submitted_at for e in submissions) - window,
                sorted({k for e in submissions for k in warning_keys(self._case_ref(e))}))
        for event in events:
            await handle(view, event, tx)
        await view.repo.flush(tx.session)

    # --- facts in ------------------------------------------------------------------------------------

    async def on_assigned(self, event: CaseAssigned, tx: Tx) -> None:
        """Where the case sits in the hierarchy: the staff views are scoped by it (a unit and the ones above)."""
        paths = {code: path for code, path in (
            (event.unit_code, event.unit_path), (event.supervisor_unit_code, event.supervisor_unit_path))
            if path}
        known = {p[i]: p[:i + 1] for p in (event.unit_path, event.supervisor_unit_path, event.location_unit_path)
                 for i in range(len(p))}
        sets: Doc = {f"unit_paths.{code}": path for code, path in paths.items()}
        sets["assigned_units"] = [event.unit_code, event.supervisor_unit_code]
        await self.repo.update_case(event.case_id, {"$set": sets}, tx.session)
        await self.repo.learn_unit_paths(known, tx.session)

    async def on_submitted(self, event: CaseSubmitted, tx: Tx) -> None:
        s = tx.session
        applicant_key = self._applicant_key(event)
        since = event.submitted_at - timedelta(days=self.rules.repeat.earlier_cases_window_days)
        earlier = [i for i in await self.repo.earlier_cases(applicant_key, event.category.value, since,
                                                            event.submitted_at, s) if i != event.case_id][:20]
        new = self._case_ref(event)
        await self.repo.update_case(
            event.case_id,
            {"$set": {
                "submitted": True,
                "correlation_id": event.correlation_id,
                "case_number": event.case_number,
                "category": event.category.value,
                "description": self.cipher.encrypt(event.description, context="risk.description"),
                "submitted_at": event.submitted_at,
                "party_count": event.party_count,
                "amount_yuan": event.amount_yuan,
                "vulnerable": [v.value for v in event.vulnerable],
                "emergency_submitted": event.emergency,
                "repeat_of": event.repeat_of,
                "earlier_case_ids": earlier,
                "applicant_key": applicant_key,
                "unit_code": event.location.unit_code,
                "respondent_org": new.respondent_org,
            }},
            s,
        )
        await self._reassess(event.case_id, event, tx)
        await self._warnings(event, new, tx)

    async def on_updated(self, event: CaseUpdated, tx: Tx) -> None:
        ops: dict[str, Any] = {"$set": {}}
        if event.kind == "repeat_report":
            case = await self.repo.case(event.case_id, tx.session, ["repeat_count"])
            known = (case or {}).get("repeat_count") or 1
            ops["$set"]["repeat_count"] = max(known + 1, event.repeat_count or 0)
        elif event.kind == "details_added" and event.additional_description:
            ops["$push"] = {"additional": self.cipher.encrypt(event.additional_description,
                                                              context="risk.description")}
        elif event.kind == "category_corrected" and event.category:
            ops["$set"]["category"] = event.category.value
            await self.repo.set_indexed_category(event.case_id, event.category.value, tx.session)
        elif event.kind == "emergency_flagged":
            ops["$set"]["emergency_flagged"] = event.emergency if event.emergency is not None else True
        if not ops["$set"]:
            del ops["$set"]
        if ops:
            await self.repo.update_case(event.case_id, ops, tx.session)
        await self._reassess(event.case_id, event, tx)

    async def on_leader_assigned(self, event: LeaderAssigned, tx: Tx) -> None:
        await self.repo.update_case(
            event.case_id,
            {"$set": {"leader": {"staff_id": event.leader_staff_id, "name": event.leader_name,
                                 "unit_code": event.unit_code, "at": event.occurred_at}}},
            tx.session,
        )
        await self._reassess(event.case_id, event, tx)

    async def on_feedback(self, event: CaseFeedback, tx: Tx) -> None:
        changes: dict[str, Any] = {"handling_unit": event.unit_code}
        if event.kind is FeedbackKind.ACCEPTED:
            changes["accepted"] = True
        elif event.kind is FeedbackKind.RETURNED:
            changes["accepted"] = False
        elif event.kind is FeedbackKind.RESOLVED:
            changes["resolved"] = True
        elif event.kind is FeedbackKind.FAILED:
            changes["mediation_failed"] = True
        elif event.kind is FeedbackKind.PROGRESS:  # the handling unit (or its leader) recorded what it did
            changes["handling_action"] = {"event_type": event.event_type, "event_id": str(event.event_id),
                                          "at": event.occurred_at}
        await self.repo.update_case(event.case_id, {"$set": changes}, tx.session)
        await self._reassess(event.case_id, event, tx)

    async def on_session_held(self, event: MediationSessionHeld, tx: Tx) -> None:
        """A mediator recorded a session that took place (调处): handling has begun. A no-show is no handling."""
        if event.no_show:
            return
        await self.repo.update_case(
            event.case_id,
            {"$set": {"handling_action": {"event_type": event.event_type, "event_id": str(event.event_id),
                                          "at": event.occurred_at}}},
            tx.session)
        await self._reassess(event.case_id, event, tx)

    async def on_mediation_concluded(self, event: MediationConcluded, tx: Tx) -> None:
        changes = {"resolved": True} if event.success else {"mediation_failed": True}
        await self.repo.update_case(event.case_id, {"$set": changes}, tx.session)
        await self._reassess(event.case_id, event, tx)

    async def on_closed(self, event: CaseClosed, tx: Tx) -> None:
        changes: dict[str, Any] = {"closed": {"at": event.occurred_at, "unit_code": event.unit_code,
                                              "outcome": event.outcome.value, "resolved": event.resolved}}
        if event.resolved:
            changes["resolved"] = True
        await self.repo.update_case(event.case_id, {"$set": changes}, tx.session)
        await self._reassess(event.case_id, event, tx)
        await self._schedule_followup(event, tx)

    # --- assessment ---------------------------------------------------------------------------------

    def facts_of(self, case: dict[str, Any]) -> CaseFacts:
        """The facts the rules read. The lifecycle's "handling under the leader" (red → yellow, 调处后) begins
        only when the handling unit has accepted AND the leader or a mediator recorded an action (a progress
        report, a session held): naming a leader is not handling, so the rules see the leader from then on."""
        dec = self.cipher.decrypt
        handling_begun = bool(case.get("accepted")) and bool(case.get("handling_action"))
        leader = (case.get("leader") or {}) if handling_begun else {}
        handling = case.get("handling_red_rules")
        return CaseFacts(
            category=Category(case["category"]),
            description=dec(case["description"], context="risk.description"),
            submitted_at=case["submitted_at"],
            additional=tuple(dec(t, context="risk.description") for t in case.get("additional", [])),
            party_count=case.get("party_count"),
            amount_yuan=case.get("amount_yuan"),
            vulnerable=tuple(case.get("vulnerable") or ()),
            emergency=bool(case.get("emergency_submitted")) or bool(case.get("emergency_flagged")),
            repeat_of=case.get("repeat_of"),
            repeat_count=case.get("repeat_count") or 1,
            earlier_case_ids=tuple(case.get("earlier_case_ids") or ()),
            mediation_failed=bool(case.get("mediation_failed")),
            leader_staff_id=leader.get("staff_id"),
            leader_name=leader.get("name"),
            accepted=bool(case.get("accepted")),
            resolved=bool(case.get("resolved")),
            handling_red_rules=tuple(handling) if handling is not None else None,
        )

    async def _reassess(self, case_id: str, cause: Event, tx: Tx) -> Assessment | None:
        s = tx.session
        case = await self.repo.case(case_id, s)
        if not case or not case.get("submitted"):
            return None  # facts kept; assessed when the submission arrives
        facts = self.facts_of(case)
        opinion = self.opinion.opinion(self._text(facts)) if self.opinion is not None else None
        a = assess(facts, self.rules, opinion)  # a confident second opinion raises the rules' level one step
        correction = Correction.of(case.get("correction"))
        a = apply_correction(a, correction)  # a staff correction stands until new facts raise the rules' level
        review = self._needs_review(facts, a, correction)
        rule_ids = [h.rule_id for h in a.hits]
        reason_zh = f"起因：{cause_zh(cause)}。{a.reason_zh}"
        if len(reason_zh) > 500:
            reason_zh = reason_zh[:499] + "…"
        changes: dict[str, Any] = {"last_assessed_at": cause.occurred_at}
        if a.stage == "handling" and a.own_level is RiskLevel.RED and case.get("handling_red_rules") is None:
            changes["handling_red_rules"] = list(a.red_rule_ids)  # what the leader took on
        if RiskLevel.RED in (a.level, a.own_level):
            changes["ever_red"] = True
        previous = RiskLevel(case["level"]) if case.get("level") else None
        changes["needs_review"] = review
        same = (previous is a.level and case.get("score") == a.score and case.get("rule_ids") == rule_ids
                and case.get("ruleset_version") == a.ruleset_version)
        if not same:
            result = CaseRiskAssessed(
                case_id=case_id,
                correlation_id=case.get("correlation_id") or cause.correlation_id,
                causation_id=cause.event_id,
                actor=SYSTEM,
                level=a.level,
                previous_level=previous,
                score=a.score,
                rules_fired=list(a.hits),
                ruleset_version=a.ruleset_version,
                reason_zh=reason_zh,
                needs_review=review,
                staff_corrected=correction.direction if correction and correction.applies(a) else None,
            )
            await self.repo.add_assessment(
                {"_id": str(result.event_id), "case_id": case_id, "category": case["category"],
                 "trigger": cause.event_type, "trigger_event_id": str(cause.event_id), "stage": a.stage,
                 "own_level": a.own_level.value,
                 "previous_level": previous.value if previous else None,
                 **result.model_dump(mode="json", include={"level", "score", "rules_fired", "ruleset_version",
                                                            "reason_zh"}),
                 "occurred_at": result.occurred_at},
                session=s,
            )
            changes.update({"level": a.level.value, "own_level": a.own_level.value, "score": a.score,
                            "rule_ids": rule_ids, "ruleset_version": a.ruleset_version, "stage": a.stage,
                            "reason_zh": reason_zh, "cause": cause.event_type})
            tx.emit(topics.CASE_RISK_ASSESSED, result)
        await self.repo.update_case(case_id, {"$set": changes}, s, upsert=False)
        return a

    def _needs_review(self, facts: CaseFacts, a: Assessment, correction: Correction | None) -> bool:
        """The second opinion disagrees with the rules' first level (so a level it raised is always reviewed); a
        person who corrected it has reviewed it."""
        if self.opinion is None or correction is not None or a.stage == "resolved":
            return False
        return self.opinion.needs_review(self._text(facts), a.level_by_rules)

    @staticmethod
    def _text(facts: CaseFacts) -> str:
        return " ".join((facts.description, *facts.additional))

    async def _schedule_followup(self, event: CaseClosed, tx: Tx) -> None:
        case = await self.repo.case(event.case_id, tx.session)
        if not case or not case.get("ever_red"):
            return
        due_at = event.occurred_at + self.followup_delay
        leader = case.get("leader") or {}
        rule_ids = case.get("handling_red_rules") or case.get("rule_ids") or []
        names = self.rules.rule_names()
        what = "、".join(names.get(r, r) for r in rule_ids if r != "score")[:120]
        reason = f"红色风险案件已结案，须回头看：回访当事人，确认矛盾未反弹。曾触发：{what or '红色风险'}"
        await self.timers.schedule(
            tx.session, case_id=event.case_id, correlation_id=case.get("correlation_id") or event.correlation_id,
            due_at=due_at, unit_code=event.unit_code, leader_staff_id=leader.get("staff_id"), reason_zh=reason,
        )
        await self.repo.update_case(event.case_id, {"$set": {"followup_due_at": due_at}}, tx.session, upsert=False)

    # --- early warnings -----------------------------------------------------------------------------

    def _applicant_key(self, event: CaseSubmitted) -> str:
        return self.cipher.blind_index(event.applicant.phone, context="risk.applicant")

    @staticmethod
    def _case_ref(event: CaseSubmitted) -> CaseRef:
        org = normalize_org(event.respondent.name) if event.respondent and event.respondent.is_organisation else None
        return CaseRef(event.case_id, event.category, event.submitted_at, event.location.unit_code, org)

    async def _warnings(self, event: CaseSubmitted, new: CaseRef, tx: Tx) -> None:
        s = tx.session
        await self.repo.index_case(new, s)
        ws = self.rules.warnings
        # what was raised decides what is read: only the cases of the warnings that can still be raised
        state = await self.repo.warning_state(new, warning_keys(new), s)
        recent = await self.repo.recent_cases(new, reads_for(new, ws, state.last_raised, state.known_since), s)
        codes = {c for c in {r.unit_code for r in recent} | {new.unit_code} if c}
        await self.places.know(codes)
        names = {c: n for c in codes if (n := self.places.name(c))}
        for f in detect(new, recent, ws, state.last_raised, known_since=state.known_since, place_names=names):
            warning_id = str(uuid.uuid5(_WARN_NS, f"{f.key}|{event.case_id}"))
            w = WarningRaised(
                case_id=event.case_id, correlation_id=event.correlation_id, causation_id=event.event_id,
                actor=SYSTEM, warning_id=warning_id, kind=f.kind, category=f.category, unit_code=f.unit_code,
                respondent=f.respondent, case_ids=list(f.case_ids), window_days=f.window_days,
                threshold=f.threshold, message_zh=f.message_zh[:300], ruleset_version=self.rules.version,
                place_name=self.places.name(f.unit_code) if f.unit_code else None,
                chain_unit_codes=self.places.chain(f.unit_code) if f.unit_code else [],
            )
            await self.repo.add_warning(
                {"_id": warning_id, "key": f.key, "raised_at": new.at,
                 **w.model_dump(mode="json", exclude={"event_id", "event_type", "actor", "causation_id"})},
                s,
            )
            tx.emit(topics.WARNING_RAISED, w)
