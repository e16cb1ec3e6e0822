"""Acceptance: work orders come in (consumer), the unit's queue, a case as the caller may see it (masked or
in full, the reads of personal data recorded), accepting or returning it, adding parties and their
availability."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from yima_contracts import UnitCaseAssigned
from yima_contracts.codes import FeedbackKind, StaffRole
from yima_contracts.personal import mask_numbers_in_text
from yima_kit.auth import StaffClaims
from yima_kit.consumer import Tx
from yima_kit.outbox import Outgoing

from ..core import states
from ..core.conflict import PartyRef, PersonRef, Relation, conflicts
from .base import EXPERT_KIND_ZH, KIND_ZH, REVEAL_REASON_MIN, Refused, ServiceBase, stated_reason


class Acceptance(ServiceBase):
    async def on_work_order(self, event: UnitCaseAssigned, tx: Tx) -> None:
        await self.on_work_orders([event], tx)

    async def on_work_orders(self, events: Sequence[UnitCaseAssigned], tx: Tx) -> None:
        """A unit that works in yima got a case: it enters the unit's queue, waiting to be accepted. Orders
        of units with their own systems (``in_platform`` false, the directory's word) are theirs to answer.
        A poll's orders at once: one read of which are known already, one write of the new ones."""
        orders: dict[str, UnitCaseAssigned] = {}
        for event in events:
            if event.in_platform:
                orders.setdefault(event.assignment_id, event)  # an order seen twice: the first one counts
        if not orders:
            return
        known = await self.store.cases.existing(list(orders), tx.session)
        new = [self._work_order(e) for a, e in orders.items() if a not in known]
        if new:
            await self.store.cases.add_all(new, tx.session)

    def _work_order(self, event: UnitCaseAssigned) -> dict[str, Any]:
        unit_name = event.unit_name or event.unit_code
        applicant = {
            "party_id": "p1", "role": "applicant", "is_organisation": False,
            "name": self._enc(event.applicant.name, "party.name"), "name_idx": self._idx(event.applicant.name),
            "phone": self._enc(event.applicant.phone, "party.phone"),
        }
        return {
            "_id": event.assignment_id, "case_id": event.case_id, "correlation_id": event.correlation_id,
            "order_event_id": event.event_id, "unit_code": event.unit_code, "unit_name": unit_name,
            # Units above see and supervise the case (StaffClaims.may_act_on); without a path, the unit alone.
            "unit_path": event.unit_path or [event.unit_code],
            "case_number": event.case_number, "channel": event.channel.value, "category": event.category.value,
            "court_reference": event.court_reference,  # 诉前委派: the court's case number, on every document
            "risk_level": event.risk_level.value, "description": self._enc(event.description, "description"),
            "supervisor_unit_code": event.supervisor_unit_code, "supervisor_unit_name": event.supervisor_unit_name,
            "due_at": event.due_at, "state": states.NEW, "kind": "people", "parties": [applicant],
            "mediators": [], "availability": {}, "no_shows": 0, "received_at": self.now(),
            "timeline": [{"at": self.now(), "what": "received",
                          "text_zh": f"收到交办单（督办单位：{event.supervisor_unit_name}）"}],
        }

    async def on_escalated(self, event: Any, tx: Tx) -> None:
        """Routing escalated the case from one of our units: that unit's open work on it ends there."""
        open_states = [states.NEW, states.ACCEPTED, states.IN_MEDIATION, states.PAUSED, states.FAILED]
        await self.store.cases.end_open_work(
            event.case_id, event.from_unit_code, open_states, event.assignment_id,
            {"state": states.ESCALATED, "updated_at": self.now()},
            {"at": self.now(), "what": "escalated_by_supervisor",
             "text_zh": f"督办单位已将案件提级：{event.reason_zh}"[:300]}, tx.session)

    async def queue(self, claims: StaffClaims, state: str | None, below: bool = False) -> list[dict[str, Any]]:
        """The unit's own queue; with ``below``, the cases of every unit under it too (supervisors, leaders).
        A list shows the parties masked to everyone: whoever phones a party opens the case."""
        if below and claims.role not in (StaffRole.ADMIN, StaffRole.LEADER, StaffRole.DISPATCHER):
            raise Refused(403, "scope", "forbidden", "只有调度、领导和管理员可查看下级单位的案件")
        found = await self.store.cases.queue(claims.unit, claims.unit if below else None, state)
        return [self.case_view(c) for c in found]

    async def get_case(self, assignment_id: str, claims: StaffClaims) -> dict[str, Any]:
        """A case as the caller may see it; the parties' contact data in full only for those who need it."""
        case = await self._case(assignment_id, claims)
        return self.case_view(case, detail=True, contact=self.needs_contact(claims, case))

    async def read_case(self, assignment_id: str, claims: StaffClaims) -> dict[str, Any]:
        """:meth:`get_case` for a person reading it (API, console page): a view with the parties' contact data
        in full is recorded as a read of personal data first (no record, no data)."""
        view = await self.get_case(assignment_id, claims)
        if not view["contact_masked"]:
            await self.audit.append_alone(self.client, actor=claims, action="case.personal_data.read",
                                          object_type="assignment", object_id=assignment_id, personal_data=True,
                                          detail="full")
        return view

    async def reveal_contact(self, assignment_id: str, claims: StaffClaims, party_id: str, reason: str
                             ) -> dict[str, Any]:
        """One party's name and phone in full for someone who may act on the case, with a reason kept in the
        audit chain (who, which case, which party, why) before the data is given."""
        case = await self._case(assignment_id, claims)  # 404 alike for other units' cases
        reason = stated_reason(reason,
                                f"查看当事人完整信息须填写理由（至少{REVEAL_REASON_MIN}个字），理由将记入审计日志")
        party = next((p for p in case.get("parties", []) if p["party_id"] == party_id), None)
        if party is None:
            raise Refused(404, "party_id", "not_found", "本案没有这位当事人")
        await self.audit.append_alone(self.client, actor=claims, action="case.party_contact.reveal",
                                      object_type="assignment", object_id=assignment_id, personal_data=True,
                                      detail=f"{party_id}：{mask_numbers_in_text(reason)}")  # no numbers kept
        return self._party_view(party, contact=True)

    async def accept(self, assignment_id: str, claims: StaffClaims, kind: str) -> dict[str, Any]:
        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            case = await self._case(assignment_id, claims, s)
            await self._move(s, case, "accept", states.ACCEPTED, {"kind": kind, "accepted_at": self.now()},
                             {"what": "accepted", "text_zh": f"{claims.name or claims.sub}受理，{KIND_ZH[kind]}"})
            out.append(self._feedback(case, claims, FeedbackKind.ACCEPTED, note=f"平台内受理，{KIND_ZH[kind]}"))
            return {"state": states.ACCEPTED}

        return await self._tx(work)

    async def give_back(self, assignment_id: str, claims: StaffClaims, reason: str) -> dict[str, Any]:
        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            case = await self._case(assignment_id, claims, s)
            await self._move(s, case, "return", states.RETURNED, {"return_reason": reason},
                             {"what": "returned", "text_zh": f"退回：{reason}"})
            out.append(self._feedback(case, claims, FeedbackKind.RETURNED, reason=reason))
            return {"state": states.RETURNED}

        return await self._tx(work)

    async def add_party(self, assignment_id: str, claims: StaffClaims, role: str, name: str, phone: str | None,
                        is_organisation: bool) -> dict[str, Any]:
        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            case = await self._case(assignment_id, claims, s)
            pid = f"p{len(case.get('parties', [])) + 1}"
            party = {"party_id": pid, "role": role, "is_organisation": is_organisation,
                     "name": self._enc(name, "party.name"), "name_idx": self._idx(name),
                     "phone": self._enc(phone, "party.phone") if phone else None}
            await self.store.cases.add_party(case["_id"], party, s)
            # Someone already acting on the case may be related to the new party: say so at once.
            warnings = []
            acting = [m["person_id"] for m in case.get("mediators", [])] + [
                i["person_id"] for i in await self.store.invitations.acting(case["_id"], s)]
            new_ref = [PartyRef(pid, role, self._idx(name))]
            for p in await self.store.people.many(acting, s):
                ref = PersonRef(p["name_idx"], tuple(Relation(r["name_idx"], r["relation_zh"])
                                                     for r in p.get("relations", [])), p.get("employer_idx"))
                for reason in conflicts(ref, new_ref):
                    warnings.append({"person_id": p["_id"], "name": self._dec(p["name"], "person.name"),
                                     "message": f"{EXPERT_KIND_ZH.get(p['kind'], p['kind'])}"
                                                f"{self._dec(p['name'], 'person.name')}{reason}"})
            return {"party_id": pid, "conflicts": warnings}

        return await self._tx(work)

    async def set_availability(self, assignment_id: str, claims: StaffClaims, party_id: str,
                               windows: list[tuple[datetime, datetime]]) -> dict[str, Any]:
        case = await self._case(assignment_id, claims)
        if party_id not in {p["party_id"] for p in case["parties"]}:
            raise Refused(422, "party_id", "unknown_party", "本案没有这位当事人")
        await self.store.cases.set_availability(case["_id"], party_id, [{"start": a, "end": b} for a, b in windows])
        return {"party_id": party_id, "windows": len(windows)}

    async def ingest(self, event: UnitCaseAssigned, consumers: Any) -> bool:
        """Process a work order as the consumer would (for tests and replays)."""
        return bool(await consumers.process_once(event, self.on_work_order, "mediation.work_orders"))
