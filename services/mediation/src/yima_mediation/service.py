"""Mediation's use cases: take a unit's work orders, accept or return them (answering on ``case.feedback``
like any department system), assign mediators, invite experts, schedule and record sessions, sign the
agreement, send it for judicial confirmation, or hand the case over with its file; then close it.

Every state change and the events it promises are written in ONE transaction (the outbox); HTTP knows
nothing of Mongo and the consumers know nothing of HTTP.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar
from uuid import uuid4

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError
from yima_contracts import (
    Actor,
    CaseClosed,
    CaseFeedback,
    CaseStatusChanged,
    CaseTransferred,
    Event,
    ExpertAnswered,
    ExpertInvited,
    MediationConcluded,
    MediationScheduled,
    MediationSessionHeld,
    UnitCaseAssigned,
    topics,
)
from yima_contracts.codes import ActorKind, CaseState, Category, FeedbackKind, Outcome, StaffRole
from yima_contracts.mediation_events import ExpertAnswer
from yima_contracts.personal import mask_name, mask_numbers_in_text, mask_phone
from yima_kit.audit import AuditLog
from yima_kit.auth import StaffClaims
from yima_kit.consumer import Tx
from yima_kit.crypto import FieldCipher
from yima_kit.mongo import increment
from yima_kit.outbox import Outbox, Outgoing
from yima_kit.uow import UnitOfWork

from .config import MediationSettings
from .core import states
from .core.agreement_pdf import AgreementDoc, AgreementParty, Confirmation, render_agreement, sha256_hex
from .core.conflict import PartyRef, PersonRef, Relation, conflicts
from .core.fonts import FontUnavailable, ensure_cjk_font
from .core.invite_code import new_invite_code, validate_invite_code
from .core.package import build_package, json_file
from .core.schedule import (
    ScheduleError,
    Window,
    check_async_window,
    check_live_session,
    next_turn,
    room_slots,
    unavailable_parties,
)

T = TypeVar("T")

EXPERT_KINDS = ("judge", "prosecutor", "police", "lawyer", "counsellor", "community_worker", "deputy", "sage",
                "volunteer")
EXPERT_KIND_ZH = {"judge": "法官", "prosecutor": "检察官", "police": "民警", "lawyer": "律师",
                  "counsellor": "心理咨询师", "community_worker": "社区工作者", "deputy": "两代表一委员",
                  "sage": "乡贤", "volunteer": "志愿者", "mediator": "调解员"}
KIND_ZH = {"people": "人民调解", "administrative": "行政调解", "judicial": "司法调解"}
TRANSFER_ZH = {"arbitration": "仲裁", "litigation": "诉讼", "administrative": "行政处理"}
MODE_ZH = {"online": "线上视频调解", "offline": "线下调解", "async": "错时异步调解"}
# Who phones the parties (docs/adr/0046): within the handling unit only (MediationService.needs_contact).
CONTACT_ROLES = (StaffRole.ADMIN, StaffRole.DISPATCHER, StaffRole.MEDIATOR)
REVEAL_REASON_MIN = 4  # characters: "联系当事人" passes, a bare "看看" does not
DOCUMENT_ZH = {"agreement": "调解协议书", "package": "移交卷宗"}  # documents that carry the parties in full


class InviteNotFound(Exception):
    """No invitation behind the code, or the wrong phone digits: one answer for both."""


class InviteLocked(Exception):
    """Too many wrong checks on one code: locked for a while."""


class Refused(Exception):
    """A request that cannot be carried out, with a status and a reason a person can read."""

    def __init__(self, status: int, field: str, code: str, message: str, errors: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.status = status
        self.field = field
        self.code = code
        self.message = message
        self.errors = errors or [{"field": field, "code": code, "message": message}]


def _now() -> datetime:
    return datetime.now(UTC)


def _stated_reason(reason: str | None, refusal: str) -> str:
    """Why someone without the need sees personal data in full (docs/adr/0046): at least
    ``REVEAL_REASON_MIN`` characters besides spaces, else 422 ``reason_required`` with ``refusal``."""
    reason = " ".join((reason or "").split())
    if len(reason.replace(" ", "")) < REVEAL_REASON_MIN:
        raise Refused(422, "reason", "reason_required", refusal)
    return reason


def _aware(dt: datetime | None) -> datetime | None:
    # Mongo gives back naive UTC unless the client is tz_aware: normalise.
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


class MediationService:
    def __init__(self, db: AsyncDatabase[Any], client: Any, outbox: Outbox, cipher: FieldCipher,
                 settings: MediationSettings, clock: Callable[[], datetime] = _now) -> None:
        self.now = clock  # injectable: tests move time past a session's start
        self.db = db
        self.client = client
        self.outbox = outbox
        self.cipher = cipher
        self.settings = settings
        self.cases = db["cases"]
        self.people = db["people"]
        self.rooms = db["rooms"]
        self.room_slots = db["room_slots"]
        self.sessions = db["sessions"]
        self.invitations = db["invitations"]
        self.agreements = db["agreements"]
        self.packages = db["packages"]
        self.invite_failures = db["invite_failures"]
        # The weighty actions (sign, close, transfer) also append a record of their own in their transaction,
        # as the last write (the head is held only until the commit); every call is in it anyway (app.py).
        self.audit = AuditLog(db, cipher)

    async def setup(self) -> None:
        await self.cases.create_index([("unit_code", 1), ("state", 1)])
        await self.cases.create_index("case_id")
        await self.cases.create_index([("unit_path", 1), ("state", 1)])
        await self.people.create_index([("unit_code", 1), ("kind", 1)])
        await self.sessions.create_index("assignment_id")
        await self.invitations.create_index("assignment_id")
        await self.invitations.create_index("code_idx")
        await self.invite_failures.create_index("expires_at", expireAfterSeconds=0)
        await self.agreements.create_index("sha256", unique=True, partialFilterExpression={"state": "signed"})
        await self.agreements.create_index("assignment_id")
        await self.packages.create_index("sha256")
        # Every field of the conditional updates and look-ups (the MongoDB-wire stand-in's planner uses an index
        # only when it holds them all; ADR 0060).
        for col in (self.cases, self.agreements, self.invitations, self.sessions):
            await col.create_index([("_id", 1), ("state", 1)])
        await self.invitations.create_index([("assignment_id", 1), ("state", 1)])
        await self.people.create_index([("_id", 1), ("active", 1)])
        await self.invite_failures.create_index([("key", 1), ("expires_at", 1)])

    # --- helpers -----------------------------------------------------------------------------------

    def _enc(self, value: str, ctx: str) -> str:
        return self.cipher.encrypt(value, context=f"mediation.{ctx}")

    def _dec(self, token: str, ctx: str) -> str:
        return self.cipher.decrypt(token, context=f"mediation.{ctx}")

    def _idx(self, value: str) -> str:
        return self.cipher.blind_index(value.strip(), context="mediation.person_name")

    async def _tx(self, work: Callable[[AsyncClientSession, list[Outgoing]], Awaitable[T]]) -> T:
        async def run(tx: Tx) -> T:
            out: list[Outgoing] = []
            result = await work(tx.session, out)
            tx.emitted.extend(out)
            return result

        return await UnitOfWork(self.client, self.outbox).run(run)

    async def _case(self, assignment_id: str, claims: StaffClaims, session: AsyncClientSession | None = None
                    ) -> dict[str, Any]:
        doc = await self.cases.find_one({"_id": assignment_id}, session=session)
        # Same answer for "no such case" and "not your unit's": nobody learns of other units' cases.
        if doc is None or not claims.may_act_on(doc["unit_code"], doc.get("unit_path", ())):
            raise Refused(404, "assignment_id", "not_found", "未找到该案件，或不属于本单位")
        return doc

    async def _move(self, session: AsyncClientSession, case: dict[str, Any], move: str, new_state: str | None,
                    extra: dict[str, Any] | None = None, note: dict[str, Any] | None = None) -> None:
        try:
            states.check(move, case["state"])
        except states.IllegalMove as exc:
            raise Refused(409, "state", "illegal_transition", str(exc)) from exc
        upd: dict[str, Any] = {"$set": {**(extra or {}), "updated_at": self.now()}}
        if new_state:
            upd["$set"]["state"] = new_state
        if note:
            upd["$push"] = {"timeline": {"at": self.now(), **note}}
        res = await self.cases.update_one({"_id": case["_id"], "state": case["state"]}, upd, session=session)
        if res.modified_count != 1:
            raise Refused(409, "state", "concurrent_change", "案件刚被他人更新，请刷新后重试")

    @staticmethod
    def _actor(claims: StaffClaims) -> Actor:
        return Actor(kind=ActorKind.STAFF, unit_code=claims.unit, staff_id=claims.sub, role=claims.role)

    @staticmethod
    def _common(case: dict[str, Any], claims: StaffClaims | None) -> dict[str, Any]:
        actor = (MediationService._actor(claims) if claims
                 else Actor(kind=ActorKind.SYSTEM, service="mediation"))
        return {"case_id": case["case_id"], "correlation_id": case["correlation_id"], "actor": actor}

    def _status(self, case: dict[str, Any], claims: StaffClaims | None, state: CaseState, title: str,
                detail: str = "", next_step: str = "", due_at: datetime | None = None,
                announced_by: str | None = None) -> Outgoing:
        """A timeline step; ``announced_by`` names the event published with it whose own message tells the
        applicant (so the applicant gets one message for the step, not two)."""
        return Outgoing(topics.CASE_STATUS, CaseStatusChanged(
            **self._common(case, claims), state=state, title_zh=title[:100], detail_zh=detail[:500],
            acting_unit_code=case["unit_code"], acting_unit_name=case.get("unit_name"),
            next_step_zh=next_step[:300], due_at=due_at, announced_by=announced_by))

    def _feedback(self, case: dict[str, Any], claims: StaffClaims, kind: FeedbackKind, reason: str | None = None,
                  note: str | None = None) -> Outgoing:
        return Outgoing(topics.CASE_FEEDBACK, CaseFeedback(
            **self._common(case, claims), causation_id=case.get("order_event_id"),
            assignment_id=case["_id"], unit_code=case["unit_code"], kind=kind, reason=reason, note=note))

    def _party_refs(self, case: dict[str, Any]) -> list[PartyRef]:
        return [PartyRef(p["party_id"], p["role"], p["name_idx"]) for p in case.get("parties", [])]

    # --- work orders (consumer) --------------------------------------------------------------------

    async def on_work_order(self, event: UnitCaseAssigned, tx: Tx) -> None:
        """A unit that works in yima got a case: it enters the unit's queue, waiting to be accepted. Orders
        of units with their own systems (``in_platform`` false, the directory's word) are theirs to answer."""
        if not event.in_platform:
            return
        if await self.cases.find_one({"_id": event.assignment_id}, {"_id": 1}, session=tx.session):
            return
        unit_name = event.unit_name or event.unit_code
        applicant = {
            "party_id": "p1", "role": "applicant", "is_organisation": False,
            "name": self._enc(event.applicant.name, "party.name"), "name_idx": self._idx(event.applicant.name),
            "phone": self._enc(event.applicant.phone, "party.phone"),
        }
        await self.cases.insert_one({
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
        }, session=tx.session)

    async def on_escalated(self, event: Any, tx: Tx) -> None:
        """Routing escalated the case from one of our units: that unit's open work on it ends there."""
        open_states = [states.NEW, states.ACCEPTED, states.IN_MEDIATION, states.PAUSED, states.FAILED]
        await self.cases.update_many(
            {"case_id": event.case_id, "unit_code": event.from_unit_code, "state": {"$in": open_states},
             "_id": {"$ne": event.assignment_id}},
            {"$set": {"state": states.ESCALATED, "updated_at": self.now()},
             "$push": {"timeline": {"at": self.now(), "what": "escalated_by_supervisor",
                                    "text_zh": f"督办单位已将案件提级：{event.reason_zh}"[:300]}}},
            session=tx.session)

    # --- queue, acceptance -------------------------------------------------------------------------

    @staticmethod
    def needs_contact(claims: StaffClaims, case: dict[str, Any]) -> bool:
        """Whether the caller sees the parties' contact data in full (docs/adr/0046): the handling unit's
        admins, dispatchers and mediators, who phone the parties. Leaders, and staff of the units above who
        supervise the case, see it masked and reveal one party's with a reason (:meth:`reveal_contact`)."""
        return claims.unit == case["unit_code"] and claims.role in CONTACT_ROLES

    def _party_view(self, p: dict[str, Any], contact: bool) -> dict[str, Any]:
        name = self._dec(p["name"], "party.name")
        phone = self._dec(p["phone"], "party.phone") if p.get("phone") else None
        return {
            "party_id": p["party_id"], "role": p["role"], "is_organisation": p.get("is_organisation", False),
            "name": name if (contact or p.get("is_organisation")) else mask_name(name),  # a company's name is no
            "phone": (phone if contact else mask_phone(phone)) if phone else None,  # person's: it stays whole
        }

    def case_view(self, case: dict[str, Any], *, detail: bool = False, contact: bool = False) -> dict[str, Any]:
        """``detail``: with the timeline (one case, not a list); ``contact``: the parties' names and phones in
        full, else masked (张* / 138****5678)."""
        view = {
            "assignment_id": case["_id"], "case_id": case["case_id"], "case_number": case["case_number"],
            "unit_code": case["unit_code"], "unit_name": case.get("unit_name"), "state": case["state"],
            "state_zh": states.STATE_ZH.get(case["state"], case["state"]), "category": case["category"],
            "risk_level": case["risk_level"], "channel": case["channel"], "kind": case.get("kind", "people"),
            "supervisor_unit_name": case["supervisor_unit_name"], "due_at": _aware(case["due_at"]),
            "description": self._free_text(self._dec(case["description"], "description"), case, contact),
            "parties": [self._party_view(p, contact) for p in case.get("parties", [])], "contact_masked": not contact,
            "mediators": [{"person_id": m["person_id"], "name": m["name"]} for m in case.get("mediators", [])],
            "no_shows": case.get("no_shows", 0), "agreement_id": case.get("agreement_id"),
            "judicial": case.get("judicial"), "package_id": case.get("package_id"),
            "court_reference": case.get("court_reference"),
        }
        if detail:
            view["timeline"] = [{k: (_aware(v) if k == "at" else self._free_text(v, case, contact)
                                     if k == "text_zh" else v) for k, v in t.items()}
                                for t in case.get("timeline", [])]
        return view

    def _free_text(self, text: str, case: dict[str, Any], contact: bool) -> str:
        """What people typed (the description, a record's next step) for a viewer who sees the parties masked:
        the parties' own names masked where they appear, and every phone- or ID-like number (docs/adr/0046).
        Other names cannot be told from ordinary words and stay."""
        if contact or not isinstance(text, str):
            return text
        for p in case.get("parties", []):
            if p.get("is_organisation"):
                continue
            name = self._dec(p["name"], "party.name")
            if len(name) >= 2:
                text = text.replace(name, mask_name(name))
        return mask_numbers_in_text(text)

    async def queue(self, claims: StaffClaims, state: str | None, below: bool = False) -> list[dict[str, Any]]:
        """The unit's own queue; with ``below``, the cases of every unit under it too (supervisors, leaders).
        A list shows the parties masked to everyone: whoever phones a party opens the case."""
        q: dict[str, Any] = {"unit_code": claims.unit}
        if below:
            if claims.role not in (StaffRole.ADMIN, StaffRole.LEADER, StaffRole.DISPATCHER):
                raise Refused(403, "scope", "forbidden", "只有调度、领导和管理员可查看下级单位的案件")
            q = {"unit_path": claims.unit}
        if state:
            q["state"] = state
        return [self.case_view(c) async for c in self.cases.find(q).sort("received_at", 1).limit(200)]

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
        reason = _stated_reason(reason,
                                f"查看当事人完整信息须填写理由（至少{REVEAL_REASON_MIN}个字），理由将记入审计日志")
        party = next((p for p in case.get("parties", []) if p["party_id"] == party_id), None)
        if party is None:
            raise Refused(404, "party_id", "not_found", "本案没有这位当事人")
        await self.audit.append_alone(self.client, actor=claims, action="case.party_contact.reveal",
                                      object_type="assignment", object_id=assignment_id, personal_data=True,
                                      detail=f"{party_id}：{mask_numbers_in_text(reason)}")  # no numbers kept
        return self._party_view(party, contact=True)

    async def _document_read(self, claims: StaffClaims, case: dict[str, Any], kind: str, reason: str | None) -> None:
        """A signed agreement or a transfer package is a legal document and carries the parties in full; it is
        never masked. Who needs the contact data downloads it as they read the case; anyone else (leaders, units
        above) states a reason. Either way the read is recorded before the bytes are given (docs/adr/0046)."""
        detail = kind
        if not self.needs_contact(claims, case):
            why = _stated_reason(reason, f"下载{DOCUMENT_ZH[kind]}原件须填写事由（至少{REVEAL_REASON_MIN}个字），"
                                         "原件含当事人完整信息，事由将记入审计日志")
            detail = f"{kind}：{mask_numbers_in_text(why)}"  # no numbers kept, as for a reveal
        await self.audit.append_alone(self.client, actor=claims, action="case.document.full_read",
                                      object_type="assignment", object_id=case["_id"], personal_data=True,
                                      detail=detail)

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
            await self.cases.update_one({"_id": case["_id"]}, {"$push": {"parties": party}}, session=s)
            # Someone already acting on the case may be related to the new party: say so at once.
            warnings = []
            acting = [m["person_id"] for m in case.get("mediators", [])] + [
                i["person_id"] async for i in self.invitations.find(
                    {"assignment_id": case["_id"], "state": {"$in": ["invited", "accepted"]}}, session=s)]
            new_ref = [PartyRef(pid, role, self._idx(name))]
            async for p in self.people.find({"_id": {"$in": acting}}, session=s):
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
        await self.cases.update_one({"_id": case["_id"]}, {"$set": {
            f"availability.{party_id}": [{"start": a, "end": b} for a, b in windows]}})
        return {"party_id": party_id, "windows": len(windows)}

    # --- people: mediators and experts ---------------------------------------------------------------

    async def register_person(self, claims: StaffClaims, kind: str, name: str, phone: str | None,
                              fields: list[str], relations: list[tuple[str, str]], employer: str | None,
                              staff_id: str | None, title_zh: str | None) -> dict[str, Any]:
        pid = str(uuid4())
        await self.people.insert_one({
            "_id": pid, "unit_code": claims.unit, "kind": kind, "name": self._enc(name, "person.name"),
            "name_idx": self._idx(name), "phone": self._enc(phone, "person.phone") if phone else None,
            "fields": fields, "title_zh": title_zh, "staff_id": staff_id,
            "relations": [{"name_idx": self._idx(n), "relation_zh": r} for n, r in relations],
            "employer_idx": self._idx(employer) if employer else None, "active": True, "created_at": self.now(),
        })
        return {"person_id": pid}

    def person_view(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"person_id": p["_id"], "unit_code": p["unit_code"], "kind": p["kind"],
                "kind_zh": EXPERT_KIND_ZH.get(p["kind"], p["kind"]), "name": self._dec(p["name"], "person.name"),
                "title_zh": p.get("title_zh"), "fields": p.get("fields", [])}

    async def list_people(self, claims: StaffClaims, kind: str | None, field: str | None,
                          unit: str | None) -> list[dict[str, Any]]:
        q: dict[str, Any] = {"active": True, "unit_code": unit or claims.unit}
        if kind:
            q["kind"] = kind
        if field:
            q["fields"] = field
        return [self.person_view(p) async for p in self.people.find(q).limit(500)]

    def _conflicts(self, person: dict[str, Any], case: dict[str, Any]) -> list[str]:
        ref = PersonRef(person["name_idx"],
                        tuple(Relation(r["name_idx"], r["relation_zh"]) for r in person.get("relations", [])),
                        person.get("employer_idx"))
        return conflicts(ref, self._party_refs(case))

    async def assign_mediators(self, assignment_id: str, claims: StaffClaims, person_ids: list[str]
                               ) -> dict[str, Any]:
        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            case = await self._case(assignment_id, claims, s)
            chosen = []
            errors = []
            for pid in person_ids:
                p = await self.people.find_one({"_id": pid, "active": True}, session=s)
                if p is None or p["kind"] != "mediator" or p["unit_code"] != case["unit_code"]:
                    errors.append({"field": "person_ids", "code": "not_a_mediator_of_unit",
                                   "message": f"{pid}不是本单位的调解员"})
                    continue
                name = self._dec(p["name"], "person.name")
                for reason in self._conflicts(p, case):
                    errors.append({"field": "person_ids", "code": "conflict_of_interest",
                                   "message": f"调解员{name}{reason}"})
                chosen.append({"person_id": pid, "name": name, "staff_id": p.get("staff_id")})
            if errors:
                raise Refused(409 if all(e["code"] == "conflict_of_interest" for e in errors) else 422,
                              "person_ids", errors[0]["code"], errors[0]["message"], errors)
            await self._move(s, case, "assign_mediators", None, {"mediators": chosen},
                             {"what": "mediators", "text_zh": "指定调解员：" + "、".join(c["name"] for c in chosen)})
            return {"mediators": [{"person_id": c["person_id"], "name": c["name"]} for c in chosen]}

        return await self._tx(work)

    async def invite(self, assignment_id: str, claims: StaffClaims, person_id: str, session_id: str | None
                     ) -> dict[str, Any]:
        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            case = await self._case(assignment_id, claims, s)
            try:
                states.check("invite", case["state"])
            except states.IllegalMove as exc:
                raise Refused(409, "state", "illegal_transition", str(exc)) from exc
            p = await self.people.find_one({"_id": person_id, "active": True}, session=s)
            if p is None or p["kind"] == "mediator":
                raise Refused(422, "person_id", "not_an_expert", "专家库中没有这位专家")
            name = self._dec(p["name"], "person.name")
            ses = None
            if session_id:
                ses = await self.sessions.find_one({"_id": session_id, "assignment_id": case["_id"]}, session=s)
                if ses is None:
                    raise Refused(422, "session_id", "unknown_session", "本案没有这个调解场次")
            reasons = self._conflicts(p, case)
            inv = {"_id": str(uuid4()), "assignment_id": case["_id"], "case_id": case["case_id"],
                   "person_id": person_id, "kind": p["kind"], "name": name, "session_id": session_id,
                   "state": "refused" if reasons else "invited", "reasons": reasons, "at": self.now()}
            # The expert's own page (/invite/{code}) is opened with the last four digits of their phone: without
            # a phone there is no check, and no SMS to carry the code, so no code. Only keyed hashes are kept.
            phone = self._dec(p["phone"], "person.phone") if p.get("phone") else None
            code = new_invite_code() if phone and not reasons else None
            if code and phone:
                inv |= {"code_idx": self._code_idx(code), "check_idx": self._check_idx(inv["_id"], phone[-4:])}
            if reasons:
                await self.invitations.insert_one(inv)  # kept outside the aborted transaction: the refusal is audited
                raise Refused(409, "person_id", "conflict_of_interest",
                              f"{EXPERT_KIND_ZH[p['kind']]}{name}{reasons[0]}",
                              [{"field": "person_id", "code": "conflict_of_interest", "message": r} for r in reasons])
            await self.invitations.insert_one(inv, session=s)
            await self.cases.update_one({"_id": case["_id"]}, {"$push": {"timeline": {
                "at": self.now(), "what": "invited", "text_zh": f"邀请{EXPERT_KIND_ZH[p['kind']]}{name}参与调解"}}},
                session=s)
            # The expert hears of it (notify): in the same transaction as the invitation, so neither goes alone.
            out.append(self._invited(case, claims, inv, p, ses, code))
            return {"invitation_id": inv["_id"], "state": "invited"}

        return await self._tx(work)

    def _invited(self, case: dict[str, Any], claims: StaffClaims, inv: dict[str, Any], person: dict[str, Any],
                 ses: dict[str, Any] | None, code: str | None) -> Outgoing:
        unit_name = case.get("unit_name") or case["unit_code"]
        reply = (f"请打开短信中的链接答复是否参加，也可联系{unit_name}" if code
                 else f"请尽快联系{unit_name}答复是否参加")
        return Outgoing(topics.MEDIATION_EXPERT_INVITED, ExpertInvited(
            **self._common(case, claims), invitation_id=inv["_id"], assignment_id=case["_id"],
            unit_code=case["unit_code"], unit_name=unit_name[:100], person_id=inv["person_id"],
            expert_kind=person["kind"], expert_name=inv["name"][:50],
            expert_phone=self._dec(person["phone"], "person.phone") if person.get("phone") else None,
            case_number=case["case_number"], category=Category(case["category"]),
            session_id=ses["_id"] if ses else None, mode=ses["mode"] if ses else None,
            starts_at=_aware(ses["starts_at"]) if ses else None, place_zh=ses.get("place_zh") if ses else None,
            join_url=ses.get("join_url") if ses else None,
            reply_zh=reply[:200], invitation_code=code))

    # the invitation's state after an answer → what the desk is told (a refusal here is always a conflict)
    ANSWERS: ClassVar[dict[str, ExpertAnswer]] = {"accepted": "accepted", "declined": "declined",
                                                  "refused": "refused_conflict"}

    def _answered(self, case: dict[str, Any], claims: StaffClaims | None, inv: dict[str, Any], state: str,
                  reason: str | None) -> Outgoing:
        return Outgoing(topics.MEDIATION_EXPERT_ANSWERED, ExpertAnswered(
            **self._common(case, claims), invitation_id=inv["_id"], assignment_id=case["_id"],
            unit_code=case["unit_code"], person_id=inv["person_id"], expert_kind=inv["kind"],
            expert_name=inv["name"][:50], answer=self.ANSWERS[state],
            reason_zh=reason[:500] if reason else None, answered_by="staff" if claims else "expert",
            case_number=case["case_number"]))

    async def answer_invitation(self, invitation_id: str, claims: StaffClaims, accept: bool, reason: str | None
                                ) -> dict[str, Any]:
        """Staff record an expert's answer (given by phone, in person)."""
        inv = await self.invitations.find_one({"_id": invitation_id})
        if inv is None:
            raise Refused(404, "invitation_id", "not_found", "未找到该邀请")
        await self._case(inv["assignment_id"], claims)
        return await self._answer(invitation_id, claims, accept, reason)

    async def answer_as_expert(self, invitation: dict[str, Any], accept: bool, reason: str | None) -> dict[str, Any]:
        """The expert answers on their own page (the caller has opened the invitation with its code and check)."""
        return await self._answer(invitation["_id"], None, accept, reason)

    async def _answer(self, invitation_id: str, claims: StaffClaims | None, accept: bool, reason: str | None
                      ) -> dict[str, Any]:
        """One logic for both answers: only an invitation still waiting is answered, only while the case is in
        mediation; an acceptance is checked again for conflicts of interest (a party added since the invitation
        may be the expert's relative or employer) — a conflict turns the invitation into a refusal. The case's
        timeline says who answered; the audit chain records it in the same transaction."""
        by_expert = claims is None

        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            inv = await self.invitations.find_one({"_id": invitation_id}, session=s)
            if inv is None:
                raise Refused(404, "invitation_id", "not_found", "未找到该邀请")
            if inv["state"] != "invited":
                raise Refused(409, "state", "already_answered",
                              "因存在应当回避的情形，不能参加本案调解" if inv["state"] == "refused" else "该邀请已答复")
            case = await self.cases.find_one({"_id": inv["assignment_id"]}, session=s)
            if case is None:
                raise Refused(404, "invitation_id", "not_found", "未找到该邀请")
            try:
                states.check("answer_invitation", case["state"])
            except states.IllegalMove as exc:
                raise Refused(409, "state", "illegal_transition", "本案调解已结束或尚未开始，无需答复") from exc
            who = f"{EXPERT_KIND_ZH.get(inv['kind'], inv['kind'])}{inv['name']}"
            p = await self.people.find_one({"_id": inv["person_id"]}, session=s) if accept else None
            reasons = self._conflicts(p, case) if p else []
            new = "refused" if reasons else ("accepted" if accept else "declined")
            upd: dict[str, Any] = {"state": new, "answered_at": self.now(),
                                   "answered_by": "expert" if by_expert else f"staff:{claims.sub if claims else ''}"}
            if reasons:
                upd["reasons"] = reasons
            else:
                upd["answer_reason"] = reason
            res = await self.invitations.update_one({"_id": invitation_id, "state": "invited"}, {"$set": upd},
                                                    session=s)
            if res.modified_count != 1:
                raise Refused(409, "state", "already_answered", "该邀请已答复")
            text = (f"{who}答复同意，但{reasons[0]}，已改为不予邀请" if reasons
                    else f"{who}{'同意' if accept else '谢绝'}参加调解" + ("（本人在线答复）" if by_expert else "")
                    + (f"：{reason}" if reason and not accept else ""))
            await self.cases.update_one({"_id": case["_id"]}, {"$push": {"timeline": {
                "at": self.now(), "what": "invitation_answered", "text_zh": text[:300]}}}, session=s)
            await self.audit.append(s, actor=claims or f"expert:{inv['person_id']}", action="invitation.answer",
                                    object_type="invitation", object_id=invitation_id,
                                    detail=f"state={new} by={'expert' if by_expert else 'staff'}")
            # The hosting unit's desk hears it at once (notify), in the same transaction as the answer: a
            # decline or a refusal means it must invite someone else. Staged for a refusal too: it commits.
            out.append(self._answered(case, claims, inv, new, "；".join(reasons) if reasons else reason))
            return {"invitation_id": invitation_id, "state": new, "reasons": reasons, "who": who}

        result = await self._tx(work)
        if result["reasons"]:  # committed as a refusal; the caller hears why it was not an acceptance
            # The expert reads it on their page: a message naming no party. Staff read the reason itself.
            message = ("因存在应当回避的情形，按规定不能参加本案调解" if by_expert
                       else f"{result['who']}{result['reasons'][0]}，已改为不予邀请")
            raise Refused(409, "accept", "conflict_of_interest", message,
                          [{"field": "accept", "code": "conflict_of_interest", "message": r}
                           for r in result["reasons"]])
        return {"invitation_id": invitation_id, "state": result["state"]}

    async def resend_invitation(self, invitation_id: str, claims: StaffClaims, assignment_id: str | None = None
                                ) -> dict[str, Any]:
        """Staff send an expert the invitation SMS again (lost or deleted): a NEW code replaces the old one, which
        stops opening the page at once (a text lying around on an old phone opens nothing), and a new
        ``mediation.expert_invited`` (new event id, same invitation) carries it, in one transaction with the audit
        record. Only while the invitation still matters (waiting for an answer, or accepted: the page holds the
        video link) and at most ``invite_resend_max_per_day`` times in 24 hours. ``assignment_id``: the case the
        caller is on (the console), which the invitation must belong to."""
        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            inv = await self.invitations.find_one({"_id": invitation_id}, session=s)
            if inv is None or (assignment_id is not None and inv["assignment_id"] != assignment_id):
                raise Refused(404, "invitation_id", "not_found", "未找到该邀请")
            try:
                case = await self._case(inv["assignment_id"], claims, s)
            except Refused:  # another unit's invitation: the same answer as none at all
                raise Refused(404, "invitation_id", "not_found", "未找到该邀请") from None
            who = f"{EXPERT_KIND_ZH.get(inv['kind'], inv['kind'])}{inv['name']}"
            if inv["state"] not in ("invited", "accepted"):
                raise Refused(409, "state", "not_resendable",
                              f"{who}已谢绝参加，无需重新发送" if inv["state"] == "declined"
                              else f"{who}因回避未被邀请，不能发送邀请短信")
            try:
                states.check("answer_invitation", case["state"])
            except states.IllegalMove as exc:
                raise Refused(409, "state", "illegal_transition", "本案调解已结束或尚未开始，无需重新发送") from exc
            p = await self.people.find_one({"_id": inv["person_id"]}, session=s)
            phone = self._dec(p["phone"], "person.phone") if p and p.get("phone") else None
            if p is None or not phone:
                raise Refused(409, "phone", "no_phone", f"专家库中没有{who}的手机号，无法发送短信，请电话联系")
            now = self.now()
            since = now - timedelta(days=1)
            recent = [t for t in inv.get("resent_at", []) if (_aware(t) or since) > since]
            limit = self.settings.invite_resend_max_per_day
            if len(recent) >= limit:
                raise Refused(409, "invitation_id", "resend_limit",
                              f"24小时内已重新发送{len(recent)}次（最多{limit}次），请电话联系{who}")
            code = new_invite_code()
            # Compare-and-set on the code being replaced: two resends at once cannot both pass the limit, nor
            # leave a code that no text carries. The phone may have changed since: the check follows it.
            res = await self.invitations.update_one(
                {"_id": invitation_id, "state": inv["state"],
                 "code_idx": inv["code_idx"] if inv.get("code_idx") else {"$exists": False}},
                {"$set": {"code_idx": self._code_idx(code), "check_idx": self._check_idx(invitation_id, phone[-4:])},
                 "$push": {"resent_at": now}}, session=s)
            if res.modified_count != 1:
                raise Refused(409, "state", "concurrent_change", "该邀请刚被他人更新，请刷新后重试")
            if inv.get("code_idx"):  # the wrong checks counted against the old code guard nothing any more
                await self.invite_failures.delete_many({"key": inv["code_idx"]}, session=s)
            await self.cases.update_one({"_id": case["_id"]}, {"$push": {"timeline": {
                "at": now, "what": "invitation_resent",
                "text_zh": f"向{who}重新发送邀请短信（原短信中的链接已失效）"}}}, session=s)
            await self.audit.append(s, actor=claims, action="invitation.resend", object_type="invitation",
                                    object_id=invitation_id,
                                    detail=f"state={inv['state']} resends_24h={len(recent) + 1}")
            ses = (await self.sessions.find_one({"_id": inv["session_id"]}, session=s)
                   if inv.get("session_id") else None)
            out.append(self._invited(case, claims, inv, p, ses, code))
            return {"invitation_id": invitation_id, "state": inv["state"], "resends_24h": len(recent) + 1}

        return await self._tx(work)

    # --- the expert's own page (/invite/{code}) ------------------------------------------------------

    def _code_idx(self, code: str) -> str:
        return self.cipher.blind_index(code, context="mediation.invite_code")

    def _check_idx(self, invitation_id: str, last4: str) -> str:
        return self.cipher.blind_index(last4, context=f"mediation.invite_check:{invitation_id}")

    def invite_form_token(self, invitation_id: str, check: str) -> str:
        """The answer form's token: a keyed MAC of the invitation and its check, so an answer is only taken
        from a page this service rendered for that invitation."""
        return self.cipher.blind_index(f"{invitation_id}|{check}", context="mediation.invite_form")[:32]

    async def open_invitation(self, raw_code: str, check: str, now: datetime | None = None) -> dict[str, Any]:
        """The invitation behind a code if the check (last four digits of the expert's phone) matches. Raises
        InviteCodeError (a typo), InviteLocked (too many wrong checks) or InviteNotFound (no such code or a wrong
        check: one answer). A refused invitation has no code."""
        code = validate_invite_code(raw_code)
        now = now or self.now()
        key = self._code_idx(code)
        if await self.invite_failures.count_documents(
                {"key": key, "expires_at": {"$gt": now}}) >= self.settings.invite_max_failures:
            raise InviteLocked()
        inv = await self.invitations.find_one({"code_idx": key})
        if inv is None or not (len(check) == 4 and check.isdigit()) or inv.get("check_idx") != self._check_idx(
                inv["_id"], check):
            await self.invite_failures.insert_one(
                {"key": key, "expires_at": now + timedelta(minutes=self.settings.invite_lock_minutes)})
            raise InviteNotFound()
        return inv

    async def expert_view(self, inv: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
        """What the invited expert reads: who invites to which case (number, category, hosting unit — nothing of
        the parties, not the description), the invitation's state, and the sessions they are asked to, with an
        online session's video link once they have accepted and until the session ends."""
        now = now or self.now()
        case = await self.cases.find_one({"_id": inv["assignment_id"]}) or {}
        # An invitation naming a session asks the expert to that one (and to those booked with them since); one
        # naming none asks them to the case's mediation: every session of the case.
        q: dict[str, Any] = {"assignment_id": inv["assignment_id"]}
        if inv.get("session_id"):
            q["$or"] = [{"experts.person_id": inv["person_id"]}, {"_id": inv["session_id"]}]
        sessions = []
        async for ses in self.sessions.find(q).sort("starts_at", 1):
            ends = _aware(ses["ends_at"])
            over = ses["state"] != "scheduled" or (ends is not None and ends <= now)
            link = (ses.get("join_url") if ses["mode"] == "online" and not over and inv["state"] == "accepted"
                    else None)
            sessions.append({"mode": ses["mode"], "mode_zh": MODE_ZH.get(ses["mode"], ses["mode"]),
                             "format": ses.get("format"), "starts_at": _aware(ses["starts_at"]), "ends_at": ends,
                             "place_zh": ses.get("place_zh"), "join_url": link, "over": over})
        return {"invitation_id": inv["_id"], "state": inv["state"], "kind_zh": EXPERT_KIND_ZH.get(inv["kind"], ""),
                "name": inv["name"], "case_number": case.get("case_number", ""),
                "category": case.get("category", ""), "unit_name": case.get("unit_name") or case.get("unit_code", ""),
                "case_open": case.get("state") in states.MOVES["answer_invitation"],
                "answer_reason": inv.get("answer_reason"), "reasons": inv.get("reasons", []), "sessions": sessions}

    async def list_invitations(self, assignment_id: str, claims: StaffClaims) -> list[dict[str, Any]]:
        case = await self._case(assignment_id, claims)
        invs = [i async for i in self.invitations.find({"assignment_id": case["_id"]})]
        # whether the expert can be texted (the console offers to resend the SMS only then); not the phone itself
        texted = {p["_id"] async for p in self.people.find(
            {"_id": {"$in": [i["person_id"] for i in invs]}}, {"phone": 1}) if p.get("phone")}
        return [{"invitation_id": i["_id"], "person_id": i["person_id"], "kind": i["kind"], "name": i["name"],
                 "state": i["state"], "reasons": i.get("reasons", []), "session_id": i.get("session_id"),
                 "has_phone": i["person_id"] in texted,
                 "resent_at": _aware(i["resent_at"][-1]) if i.get("resent_at") else None}
                for i in invs]

    async def add_room(self, claims: StaffClaims, name_zh: str) -> dict[str, Any]:
        rid = str(uuid4())
        await self.rooms.insert_one({"_id": rid, "unit_code": claims.unit, "name_zh": name_zh})
        return {"room_id": rid}

    async def list_rooms(self, claims: StaffClaims, unit: str | None = None) -> list[dict[str, Any]]:
        return [{"room_id": r["_id"], "name_zh": r["name_zh"]}
                async for r in self.rooms.find({"unit_code": unit or claims.unit}).sort("name_zh", 1).limit(200)]

    async def list_sessions(self, assignment_id: str, claims: StaffClaims) -> list[dict[str, Any]]:
        """A case's sessions, oldest first, as ``GET /sessions/{id}`` shows one (no statements, no summary)."""
        case = await self._case(assignment_id, claims)
        out = []
        async for ses in self.sessions.find({"assignment_id": case["_id"]}).sort("starts_at", 1):
            view: dict[str, Any] = {k: (_aware(v) if isinstance(v, datetime) else v) for k, v in ses.items()
                                    if k not in ("_id", "turns")}
            if view.get("record"):
                view["record"] = {k: v for k, v in view["record"].items() if k != "summary"}
            out.append(view | {"session_id": ses["_id"], "turns": len(ses.get("turns", []))})
        return out

    # --- sessions ------------------------------------------------------------------------------------

    async def schedule(self, assignment_id: str, claims: StaffClaims, *, mode: str, fmt: str, starts_at: datetime,
                       ends_at: datetime, room_id: str | None, join_url: str | None, caucus_party_id: str | None,
                       party_order: list[str] | None) -> dict[str, Any]:
        now = self.now()
        try:
            if mode == "async":
                check_async_window(starts_at, ends_at, now)
            else:
                check_live_session(starts_at, ends_at, now,
                                   working_hours=not self.settings.sessions_at_any_hour)
        except ScheduleError as exc:
            raise Refused(422, exc.field, exc.code, exc.message) from exc

        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            case = await self._case(assignment_id, claims, s)
            if not case.get("mediators"):
                raise Refused(409, "mediators", "no_mediator", "请先指定调解员")
            party_ids = [p["party_id"] for p in case["parties"]]
            if fmt == "caucus" and caucus_party_id not in party_ids:
                raise Refused(422, "caucus_party_id", "unknown_party", "背靠背调解须指明单独会见的当事人")
            if mode != "async":
                avail = {pid: [Window(_aware(w["start"]), _aware(w["end"])) for w in ws]  # type: ignore[arg-type]
                         for pid, ws in case.get("availability", {}).items()
                         if fmt == "joint" or pid == caucus_party_id}
                busy = unavailable_parties(starts_at, ends_at, avail)
                if busy:
                    raise Refused(409, "starts_at", "party_unavailable",
                                  f"当事人{'、'.join(busy)}在该时间不方便，请按其可参加时间安排")
            sid = str(uuid4())
            place = None
            url = None
            if mode == "offline":
                room = await self.rooms.find_one({"_id": room_id or "", "unit_code": case["unit_code"]}, session=s)
                if room is None:
                    raise Refused(422, "room_id", "unknown_room", "线下调解须选择本单位的调解室")
                place = room["name_zh"]
                slots = [{"_id": f"{room['_id']}|{t.isoformat()}", "room_id": room["_id"], "slot": t,
                          "session_id": sid} for t in room_slots(starts_at, ends_at)]
                try:
                    await self.room_slots.insert_many(slots, session=s)
                except (DuplicateKeyError, BulkWriteError) as exc:
                    if isinstance(exc, BulkWriteError) and not any(
                            e.get("code") == 11000 for e in exc.details.get("writeErrors", [])):
                        raise
                    raise Refused(409, "room_id", "room_taken", f"{place}在该时间段已被预约") from exc
            elif mode == "online":
                url = join_url or f"{self.settings.video_base_url.rstrip('/')}/{sid}"
            order = party_order or party_ids
            if mode == "async" and (set(order) - set(party_ids) or len(order) < 2):
                raise Refused(422, "party_order", "bad_order", "错时调解须列出至少两位本案当事人的答复顺序")
            invited = [i async for i in self.invitations.find(
                {"assignment_id": case["_id"], "state": {"$in": ["invited", "accepted"]}}, session=s)]
            await self.sessions.insert_one({
                "_id": sid, "assignment_id": case["_id"], "case_id": case["case_id"], "unit_code": case["unit_code"],
                "unit_path": case.get("unit_path", []),
                "mode": mode, "format": fmt, "kind": case.get("kind", "people"), "starts_at": starts_at,
                "ends_at": ends_at, "room_id": room_id if mode == "offline" else None, "place_zh": place,
                "join_url": url, "caucus_party_id": caucus_party_id, "party_order": order, "turns": [],
                "experts": [{"person_id": i["person_id"], "kind": i["kind"], "name": i["name"]} for i in invited],
                "state": "scheduled", "created_at": self.now(), "created_by": claims.sub}, session=s)
            when = _fmt_local(starts_at)
            what = MODE_ZH[mode] + ("（背靠背）" if fmt == "caucus" else "")
            where = place or ("请凭查询码在查询页点击“进入视频调解”" if mode == "online"
                              else f"请在{_fmt_local(ends_at)}前按顺序答复")
            await self._move(s, case, "schedule", states.IN_MEDIATION, None,
                             {"what": "scheduled", "session_id": sid, "text_zh": f"安排{what}：{when}，{where}"})
            msg = f"已为您安排{what}，时间：{when}，{where}。"
            out.append(Outgoing(topics.MEDIATION_SCHEDULED, MediationScheduled(
                **self._common(case, claims), session_id=sid, unit_code=case["unit_code"], mode=mode,  # type: ignore[arg-type]
                format=fmt, kind=case.get("kind", "people"), starts_at=starts_at, ends_at=ends_at,  # type: ignore[arg-type]
                place_zh=place, join_url=url, expert_kinds=sorted({i["kind"] for i in invited}),
                # each expert invited (and not declined) hears the time from notify, which knows their contact
                # from mediation.expert_invited: the persons, never their phones, travel here
                expert_person_ids=list(dict.fromkeys(i["person_id"] for i in invited))[:50],
                applicant_message_zh=msg[:300])))
            out.append(self._status(case, claims, CaseState.IN_MEDIATION, "已安排调解", msg,
                                    "请按时参加；如不能参加，请提前联系调解员",
                                    announced_by=MediationScheduled.EVENT_TYPE))
            return {"session_id": sid, "join_url": url, "place_zh": place, "state": "scheduled"}

        return await self._tx(work)

    async def get_session(self, session_id: str, claims: StaffClaims) -> dict[str, Any]:
        ses = await self.sessions.find_one({"_id": session_id})
        if ses is None or not claims.may_act_on(ses["unit_code"], ses.get("unit_path", ())):
            raise Refused(404, "session_id", "not_found", "未找到该调解场次")
        return {k: (_aware(v) if isinstance(v, datetime) else v) for k, v in ses.items() if k != "_id"} | {
            "session_id": ses["_id"]}

    async def add_turn(self, session_id: str, claims: StaffClaims, party_id: str, statement: str) -> dict[str, Any]:
        ses = await self.sessions.find_one({"_id": session_id})
        if ses is None or not claims.may_act_on(ses["unit_code"], ses.get("unit_path", ())):
            raise Refused(404, "session_id", "not_found", "未找到该调解场次")
        if ses["mode"] != "async" or ses["state"] != "scheduled":
            raise Refused(409, "session_id", "not_async", "该场次不是进行中的错时调解")
        now = self.now()
        if not _aware(ses["starts_at"]) <= now <= _aware(ses["ends_at"]):  # type: ignore[operator]
            raise Refused(409, "session_id", "outside_window", "不在答复期内")
        expected = next_turn(ses["party_order"], [t["party_id"] for t in ses["turns"]])
        if party_id != expected:
            raise Refused(409, "party_id", "not_your_turn", f"现在应由{expected}答复")
        turn = {"party_id": party_id, "statement": self._enc(statement, "turn"), "at": now}
        res = await self.sessions.update_one({"_id": session_id, "turns": {"$size": len(ses["turns"])}},
                                             {"$push": {"turns": turn}})
        if res.modified_count != 1:
            raise Refused(409, "party_id", "concurrent_change", "对方刚刚答复，请刷新后重试")
        return {"turns": len(ses["turns"]) + 1,
                "next_party_id": next_turn(ses["party_order"], [*[t["party_id"] for t in ses["turns"]], party_id])}

    async def record_session(self, session_id: str, claims: StaffClaims, attended: list[str], absent: list[str],
                             summary: str, next_step: str) -> dict[str, Any]:
        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            ses = await self.sessions.find_one({"_id": session_id}, session=s)
            if ses is None or not claims.may_act_on(ses["unit_code"], ses.get("unit_path", ())):
                raise Refused(404, "session_id", "not_found", "未找到该调解场次")
            if ses["state"] != "scheduled":
                raise Refused(409, "session_id", "already_recorded", "该场次已有记录，不能重复记录")
            starts_at = _aware(ses["starts_at"])
            if starts_at is not None and self.now() < starts_at:
                raise Refused(409, "session_id", "not_started",
                              f"该场次定于{_fmt_local(starts_at)}开始，开始前不能记录调解情况")
            case = await self._case(ses["assignment_id"], claims, s)
            party_ids = {p["party_id"] for p in case["parties"]}
            expected = {ses["caucus_party_id"]} if ses["format"] == "caucus" else party_ids
            unknown = set(absent) - party_ids
            if unknown:
                raise Refused(422, "absent", "unknown_party", "缺席名单中有非本案当事人")
            live = case["state"] in (states.IN_MEDIATION, states.PAUSED)  # else: recorded after the outcome
            no_show = bool(set(absent) & expected)
            applicant_attended = "p1" in attended or ("p1" in expected and "p1" not in absent)
            record = {"attended": attended, "absent": absent, "summary": self._enc(summary, "record.summary"),
                      "next_step": next_step, "recorded_by": claims.sub, "at": self.now()}
            await self.sessions.update_one({"_id": session_id, "state": "scheduled"}, {"$set": {
                "state": "no_show" if no_show else "held", "record": record}}, session=s)
            paused = False
            if not live:
                await self._move(s, case, "record", None, None,
                                 {"what": "held", "session_id": session_id, "text_zh": f"补录调解记录：{next_step}"})
                out.append(self._held(ses, case, claims, applicant_attended, no_show, False, next_step))
                return {"state": "no_show" if no_show else "held", "case_state": case["state"]}
            if no_show:
                shows = case.get("no_shows", 0) + 1
                if shows >= self.settings.no_shows_before_failure:
                    reason = "当事人经通知多次无正当理由未到场，视为不同意继续调解"
                    await self._move(s, case, "fail", states.FAILED, {"no_shows": shows, "fail_reason": reason},
                                     {"what": "failed", "text_zh": reason})
                    out.append(self._held(ses, case, claims, applicant_attended, True, False,
                                          "调解终止，将转入其他解决途径"))
                    out.append(self._concluded_failure(case, claims, reason, "transfer"))
                    return {"state": states.FAILED, "no_show": True}
                await self._move(s, case, "record", states.PAUSED, {"no_shows": shows},
                                 {"what": "no_show", "session_id": session_id, "text_zh": "当事人未到场，调解暂停"})
                paused = True
                out.append(self._status(case, claims, CaseState.IN_MEDIATION, "当事人未到场，调解暂停",
                                        "本次调解因当事人未到场未能进行", "调解员将与各方联系，重新约定调解时间"))
            else:
                await self._move(s, case, "record", states.IN_MEDIATION, None,
                                 {"what": "held", "session_id": session_id, "text_zh": f"调解记录：下一步{next_step}"})
            out.append(self._held(ses, case, claims, applicant_attended, no_show, paused, next_step))
            return {"state": "no_show" if no_show else "held", "case_state": states.PAUSED if paused else
                    states.IN_MEDIATION}

        return await self._tx(work)

    def _held(self, ses: dict[str, Any], case: dict[str, Any], claims: StaffClaims, applicant_attended: bool,
              no_show: bool, paused: bool, next_step: str) -> Outgoing:
        return Outgoing(topics.MEDIATION_SESSION_HELD, MediationSessionHeld(
            **self._common(case, claims), session_id=ses["_id"], unit_code=case["unit_code"],
            applicant_attended=applicant_attended, no_show=no_show, case_paused=paused,
            next_step_zh=next_step[:300]))

    def _concluded_failure(self, case: dict[str, Any], claims: StaffClaims, reason: str, nxt: str) -> Outgoing:
        msg = {"escalate": "调解未成功，案件将提交上一级调解组织继续调解",
               "transfer": "调解未成功，案件将依法转入仲裁、诉讼或行政途径处理"}.get(nxt, "调解未成功")
        return Outgoing(topics.MEDIATION_CONCLUDED, MediationConcluded(
            **self._common(case, claims), success=False, unit_code=case["unit_code"], reason_zh=reason[:500],
            next_action=nxt, applicant_message_zh=msg))  # type: ignore[arg-type]

    # --- 在线呼叫: a party calls in a judge, lawyer or mediator online, now ------------------------------

    async def call(self, assignment_id: str, claims: StaffClaims, kind: str, party_id: str, unit: str | None
                   ) -> dict[str, Any]:
        """Find someone of that kind who is free and not in conflict, hold them for the call, open a video
        session now and tell the applicant. The hold (``on_call_until``) is claimed atomically, so two calls
        never get the same person."""
        now = self.now()
        minutes = self.settings.call_minutes

        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            case = await self._case(assignment_id, claims, s)
            try:
                states.check("schedule", case["state"])
            except states.IllegalMove as exc:
                raise Refused(409, "state", "illegal_transition", str(exc)) from exc
            if party_id not in {p["party_id"] for p in case["parties"]}:
                raise Refused(422, "party_id", "unknown_party", "本案没有这位当事人")
            q = {"kind": kind, "active": True, "unit_code": unit or case["unit_code"],
                 "$or": [{"on_call_until": None}, {"on_call_until": {"$lt": now}}]}
            conflicted: list[str] = []
            async for p in self.people.find(q, session=s).limit(50):
                if self._conflicts(p, case):
                    conflicted.append(p["_id"])
                    continue
                held = await self.people.find_one_and_update(
                    {"_id": p["_id"], "$or": [{"on_call_until": None}, {"on_call_until": {"$lt": now}}]},
                    {"$set": {"on_call_until": now + timedelta(minutes=minutes)}}, session=s,
                    return_document=ReturnDocument.AFTER)
                if held:
                    break
            else:
                raise Refused(409, "kind", "nobody_free",
                              f"暂无可接入的{EXPERT_KIND_ZH.get(kind, kind)}，请稍后再试或预约调解")
            name = self._dec(held["name"], "person.name")
            sid = str(uuid4())
            url = f"{self.settings.video_base_url.rstrip('/')}/{sid}"
            await self.sessions.insert_one({
                "_id": sid, "assignment_id": case["_id"], "case_id": case["case_id"], "unit_code": case["unit_code"],
                "unit_path": case.get("unit_path", []),
                "mode": "online", "format": "joint", "kind": case.get("kind", "people"), "starts_at": now,
                "ends_at": now + timedelta(minutes=minutes), "room_id": None, "place_zh": None, "join_url": url,
                "caucus_party_id": None, "party_order": [party_id], "turns": [], "on_demand": True,
                "called_by": party_id, "experts": [{"person_id": held["_id"], "kind": kind, "name": name}],
                "state": "scheduled", "created_at": now, "created_by": claims.sub}, session=s)
            await self.invitations.insert_one({
                "_id": str(uuid4()), "assignment_id": case["_id"], "case_id": case["case_id"],
                "person_id": held["_id"], "kind": kind, "name": name, "session_id": sid, "state": "accepted",
                "reasons": [], "via": "call", "at": now}, session=s)
            who = EXPERT_KIND_ZH.get(kind, kind)
            await self._move(s, case, "schedule", states.IN_MEDIATION, None,
                             {"what": "call", "session_id": sid, "text_zh": f"在线呼叫{who}{name}，已接通"})
            msg = f"您呼叫的{who}已接入在线调解，请在查询页点击“进入视频调解”立即进入。"
            out.append(Outgoing(topics.MEDIATION_SCHEDULED, MediationScheduled(
                **self._common(case, claims), session_id=sid, unit_code=case["unit_code"], mode="online",
                format="joint", kind=case.get("kind", "people"), starts_at=now,
                ends_at=now + timedelta(minutes=minutes), join_url=url, expert_kinds=[kind],
                applicant_message_zh=msg)))
            out.append(self._status(case, claims, CaseState.IN_MEDIATION, f"已接通在线{who}", msg,
                                    "请立即通过视频链接进入", announced_by=MediationScheduled.EVENT_TYPE))
            return {"session_id": sid, "join_url": url, "person_id": held["_id"], "name": name,
                    "skipped_for_conflict": len(conflicted)}

        return await self._tx(work)

    async def end_call(self, session_id: str, claims: StaffClaims) -> None:
        ses = await self.sessions.find_one({"_id": session_id})
        if ses is None or not claims.may_act_on(ses["unit_code"], ses.get("unit_path", ())) or not ses.get("on_demand"):
            raise Refused(404, "session_id", "not_found", "未找到该在线呼叫")
        for e in ses.get("experts", []):
            await self.people.update_one({"_id": e["person_id"]}, {"$set": {"on_call_until": None}})

    # --- agreement -----------------------------------------------------------------------------------

    async def draft_agreement(self, assignment_id: str, claims: StaffClaims, facts: str, terms: list[str]
                              ) -> dict[str, Any]:
        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            case = await self._case(assignment_id, claims, s)
            try:
                states.check("draft_agreement", case["state"])
            except states.IllegalMove as exc:
                raise Refused(409, "state", "illegal_transition", str(exc)) from exc
            if len(case["parties"]) < 2:
                raise Refused(422, "parties", "one_party", "调解协议至少需要两方当事人，请先登记被申请人")
            doc = {"assignment_id": case["_id"], "case_id": case["case_id"], "state": "draft",
                   "facts": self._enc(facts, "agreement.facts"),
                   "terms": [self._enc(t, "agreement.terms") for t in terms], "confirmations": [],
                   "updated_at": self.now()}
            existing = await self.agreements.find_one({"assignment_id": case["_id"]}, session=s)
            if existing and existing["state"] == "signed":
                raise Refused(409, "agreement", "signed", "调解协议已签署，不可修改")
            if existing:
                await self.agreements.update_one({"_id": existing["_id"], "state": "draft"}, {"$set": doc}, session=s)
                return {"agreement_id": existing["_id"], "state": "draft"}
            aid = str(uuid4())
            await self.agreements.insert_one({"_id": aid, **doc, "created_at": self.now()}, session=s)
            await self.cases.update_one({"_id": case["_id"]}, {"$set": {"agreement_id": aid}}, session=s)
            return {"agreement_id": aid, "state": "draft"}

        return await self._tx(work)

    async def _agreement(self, agreement_id: str, claims: StaffClaims, s: AsyncClientSession | None = None
                         ) -> tuple[dict[str, Any], dict[str, Any]]:
        ag = await self.agreements.find_one({"_id": agreement_id}, session=s)
        if ag is None:
            raise Refused(404, "agreement_id", "not_found", "未找到该调解协议")
        return ag, await self._case(ag["assignment_id"], claims, s)

    async def confirm(self, agreement_id: str, claims: StaffClaims, party_id: str, method: str) -> dict[str, Any]:
        _, case = await self._agreement(agreement_id, claims)
        if party_id not in {p["party_id"] for p in case["parties"]}:
            raise Refused(422, "party_id", "unknown_party", "本案没有这位当事人")
        res = await self.agreements.update_one(
            {"_id": agreement_id, "state": "draft", "confirmations.party_id": {"$ne": party_id}},
            {"$push": {"confirmations": {"party_id": party_id, "method": method, "at": self.now(), "by": claims.sub}}})
        if res.modified_count != 1:
            raise Refused(409, "agreement", "not_confirmable", "协议已签署或该当事人已确认")
        return {"agreement_id": agreement_id, "confirmed": party_id}

    async def agreement_view(self, agreement_id: str, claims: StaffClaims) -> dict[str, Any]:
        """The agreement as staff see it in the console: its state, text, confirmations (the PDF once signed)."""
        ag, case = await self._agreement(agreement_id, claims)
        return {"agreement_id": ag["_id"], "state": ag["state"], "facts_zh": self._dec(ag["facts"], "agreement.facts"),
                "case_number": case["case_number"], "court_reference": case.get("court_reference"),
                "terms": [self._dec(t, "agreement.terms") for t in ag["terms"]],
                "confirmations": [{"party_id": c["party_id"], "method": c["method"], "at": _aware(c["at"])}
                                  for c in ag.get("confirmations", [])],
                "agreement_no": ag.get("agreement_no"), "sha256": ag.get("sha256")}

    async def font(self) -> Any:
        cache = self.settings.font_cache_path()
        try:
            return await asyncio.to_thread(ensure_cjk_font, self.settings.cjk_font, cache)
        except FontUnavailable as exc:
            raise Refused(503, "font", "font_unavailable", str(exc)) from exc

    async def sign(self, agreement_id: str, claims: StaffClaims) -> dict[str, Any]:
        font = await self.font()

        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            ag, case = await self._agreement(agreement_id, claims, s)
            if ag["state"] == "signed":
                raise Refused(409, "agreement", "signed", "调解协议已签署，不可修改")
            held = await self.sessions.find_one({"assignment_id": case["_id"], "state": "held"}, {"_id": 1},
                                                session=s)
            if held is None:
                raise Refused(409, "sessions", "no_session_held",
                              "尚无已举行并记录的调解场次，不能签署调解协议：请先在调解开始后记录调解情况")
            confirmed = {c["party_id"]: c for c in ag["confirmations"]}
            missing = [p["party_id"] for p in case["parties"] if p["party_id"] not in confirmed]
            if missing:
                raise Refused(409, "confirmations", "unconfirmed", f"尚有当事人未确认协议：{'、'.join(missing)}")
            signed_at = self.now().replace(microsecond=0)
            names = {p["party_id"]: self._dec(p["name"], "party.name") for p in case["parties"]}
            seq = await increment(self.db["counters"], f"agreement|{case['unit_code']}|{signed_at.year}", "n",
                                  session=s)
            agreement_no = f"{case['unit_code']}-调-{signed_at.year}-{seq:05d}"
            experts = [f"{EXPERT_KIND_ZH[i['kind']]}{i['name']}" async for i in self.invitations.find(
                {"assignment_id": case["_id"], "state": "accepted"}, session=s)]
            doc = AgreementDoc(
                agreement_no=agreement_no, kind=case.get("kind", "people"), unit_name=case.get("unit_name", ""),
                case_number=case["case_number"], court_reference=case.get("court_reference"),
                parties=[AgreementParty(p["role"], names[p["party_id"]],
                                        mask_phone(self._dec(p["phone"], "party.phone")) if p.get("phone") else "")
                         for p in case["parties"]],
                facts_zh=self._dec(ag["facts"], "agreement.facts"),
                terms=[self._dec(t, "agreement.terms") for t in ag["terms"]],
                mediators=[m["name"] for m in case.get("mediators", [])], experts=experts,
                confirmations=[Confirmation(names[c["party_id"]], c["method"], _aware(c["at"]))  # type: ignore[arg-type]
                               for c in ag["confirmations"]],
                signed_at=signed_at)
            pdf = await asyncio.to_thread(render_agreement, doc, font)
            digest = sha256_hex(pdf)
            res = await self.agreements.update_one({"_id": agreement_id, "state": "draft"}, {"$set": {
                "state": "signed", "signed_at": signed_at, "agreement_no": agreement_no, "sha256": digest,
                "pdf": self._enc(base64.b64encode(pdf).decode(), "agreement.pdf"), "size": len(pdf),
                "kind": doc.kind, "unit_code": case["unit_code"], "unit_name": doc.unit_name}}, session=s)
            if res.modified_count != 1:
                raise Refused(409, "agreement", "signed", "调解协议已签署，不可修改")
            await self._move(s, case, "sign", states.AGREED, {"agreement_id": agreement_id, "agreement_sha256": digest},
                             {"what": "agreement", "text_zh": f"签署调解协议书{agreement_no}（SHA-256 {digest}）"})
            msg = f"调解成功，各方已签署调解协议书（编号{agreement_no}），可凭协议摘要在平台核验真伪。"
            out.append(Outgoing(topics.MEDIATION_CONCLUDED, MediationConcluded(
                **self._common(case, claims), success=True, unit_code=case["unit_code"], outcome=Outcome.AGREEMENT,
                agreement_id=agreement_id, agreement_sha256=digest, applicant_message_zh=msg)))
            # Routing's answer to this feedback is the applicant's "resolved" step (see ADR 0041).
            out.append(self._feedback(case, claims, FeedbackKind.RESOLVED, note=f"达成调解协议{agreement_no}"))
            await self.audit.append(s, actor=claims, action="agreement.sign", object_type="agreement",
                                    object_id=agreement_id, detail=f"{agreement_no} sha256={digest}")
            return {"agreement_id": agreement_id, "agreement_no": agreement_no, "sha256": digest, "size": len(pdf)}

        return await self._tx(work)

    async def agreement_pdf(self, agreement_id: str, claims: StaffClaims, reason: str | None = None
                            ) -> tuple[bytes, str]:
        """The signed PDF; ``reason``: required of those who see the parties masked (:meth:`_document_read`)."""
        ag, case = await self._agreement(agreement_id, claims)
        if ag["state"] != "signed":
            raise Refused(409, "agreement", "not_signed", "协议尚未签署，没有正式文本")
        await self._document_read(claims, case, "agreement", reason)
        return base64.b64decode(self._dec(ag["pdf"], "agreement.pdf")), ag["agreement_no"]

    async def verify(self, digest: str) -> dict[str, Any] | None:
        ag = await self.agreements.find_one({"sha256": digest.lower(), "state": "signed"})
        if ag is None:
            return None
        return {"valid": True, "agreement_no": ag["agreement_no"], "kind": ag["kind"], "unit_name": ag["unit_name"],
                "signed_at": _aware(ag["signed_at"]), "sha256": ag["sha256"]}

    # --- judicial confirmation, closing --------------------------------------------------------------

    async def request_judicial(self, assignment_id: str, claims: StaffClaims, court_zh: str) -> dict[str, Any]:
        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            case = await self._case(assignment_id, claims, s)
            if case.get("judicial"):
                raise Refused(409, "judicial", "already_requested", "已申请司法确认")
            j = {"court_zh": court_zh, "state": "sent", "sent_at": self.now()}
            await self._move(s, case, "judicial", None, {"judicial": j},
                             {"what": "judicial_sent", "text_zh": f"向{court_zh}申请司法确认"})
            out.append(self._status(case, claims, CaseState.RESOLVED, "已申请司法确认",
                                    f"调解协议已提交{court_zh}申请司法确认", "法院审查后将通知您结果"))
            return {"judicial": j}

        return await self._tx(work)

    async def judicial_answer(self, assignment_id: str, claims: StaffClaims, confirmed: bool, ruling_no: str | None,
                              reason: str | None) -> dict[str, Any]:
        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            case = await self._case(assignment_id, claims, s)
            j = case.get("judicial")
            if not j or j["state"] != "sent":
                raise Refused(409, "judicial", "not_pending", "没有待答复的司法确认申请")
            j = {**j, "state": "confirmed" if confirmed else "rejected", "ruling_no": ruling_no, "reason": reason,
                 "answered_at": self.now()}
            await self._move(s, case, "judicial", None, {"judicial": j}, {
                "what": "judicial_answer",
                "text_zh": f"法院{'裁定确认协议有效' if confirmed else '裁定不予确认'}"
                           + (f"（{ruling_no}）" if ruling_no else "")})
            title = "法院已确认调解协议有效" if confirmed else "法院未予司法确认"
            nxt = "协议具有强制执行力，对方不履行的可申请强制执行" if confirmed else "您可就原纠纷申请仲裁或向法院起诉"
            out.append(self._status(case, claims, CaseState.RESOLVED, title, (reason or "")[:200], nxt))
            return {"judicial": j}

        return await self._tx(work)

    async def close(self, assignment_id: str, claims: StaffClaims) -> dict[str, Any]:
        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            case = await self._case(assignment_id, claims, s)
            j = case.get("judicial")
            if j and j["state"] == "sent":
                raise Refused(409, "judicial", "pending", "司法确认尚未答复，暂不能结案")
            outcome = Outcome.JUDICIAL_CONFIRMATION if j and j["state"] == "confirmed" else Outcome.AGREEMENT
            await self._move(s, case, "close", states.CLOSED, {"closed_at": self.now(), "outcome": outcome.value},
                             {"what": "closed", "text_zh": "结案"})
            out.extend(self._closing(case, claims, outcome, True))
            await self.audit.append(s, actor=claims, action="case.close", object_type="assignment",
                                    object_id=assignment_id, detail=f"outcome={outcome.value}")
            return {"state": states.CLOSED, "outcome": outcome.value}

        return await self._tx(work)

    def _closing(self, case: dict[str, Any], claims: StaffClaims, outcome: Outcome, resolved: bool) -> list[Outgoing]:
        msg = ("您的纠纷已调解成功并办结，欢迎对办理情况进行评价。" if resolved
               else "您的纠纷已转入其他法定途径处理，本平台的调解程序已办结，欢迎对办理情况进行评价。")
        return [
            Outgoing(topics.CASE_CLOSED, CaseClosed(**self._common(case, claims), outcome=outcome,
                                                    unit_code=case["unit_code"], resolved=resolved,
                                                    applicant_message_zh=msg)),
            self._status(case, claims, CaseState.CLOSED, "案件已办结", msg, "请对办理结果进行满意度评价",
                         announced_by=CaseClosed.EVENT_TYPE),
        ]

    # --- failure: escalate or transfer ---------------------------------------------------------------

    async def fail(self, assignment_id: str, claims: StaffClaims, reason: str, nxt: str) -> dict[str, Any]:
        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            case = await self._case(assignment_id, claims, s)
            new = states.ESCALATED if nxt == "escalate" else states.FAILED
            await self._move(s, case, "fail", new, {"fail_reason": reason},
                             {"what": "failed", "text_zh": f"调解不成：{reason}"})
            out.append(self._concluded_failure(case, claims, reason, nxt))
            if nxt == "escalate":
                # The supervisor (routing) re-assigns a level up: the same answer a department system would give.
                out.append(self._feedback(case, claims, FeedbackKind.FAILED, reason=f"{reason}；建议提交上一级调解"))
            return {"state": new}

        return await self._tx(work)

    async def transfer(self, assignment_id: str, claims: StaffClaims, to: str, receiving_body: str) -> dict[str, Any]:
        case0 = await self._case(assignment_id, claims)
        try:
            states.check("transfer", case0["state"])
        except states.IllegalMove as exc:
            raise Refused(409, "state", "illegal_transition", str(exc)) from exc
        data, digest, manifest = await self._package(case0, to, receiving_body)

        async def work(s: AsyncClientSession, out: list[Outgoing]) -> dict[str, Any]:
            case = await self._case(assignment_id, claims, s)
            pid = str(uuid4())
            await self.packages.insert_one({"_id": pid, "assignment_id": case["_id"], "case_id": case["case_id"],
                                            "unit_code": case["unit_code"], "unit_path": case.get("unit_path", []),
                                            "sha256": digest, "size": len(data),
                                            "zip": self._enc(base64.b64encode(data).decode(), "package.zip"),
                                            "to": to, "receiving_body_zh": receiving_body, "created_at": self.now()},
                                           session=s)
            await self._move(s, case, "transfer", states.TRANSFERRED,
                             {"package_id": pid, "package_sha256": digest, "transferred_to": to,
                              "closed_at": self.now(), "outcome": to},
                             {"what": "transferred",
                              "text_zh": f"转{receiving_body}（{TRANSFER_ZH[to]}），卷宗SHA-256 {digest}"})
            msg = (f"调解未成功，您的纠纷已依法转交{receiving_body}（{TRANSFER_ZH[to]}），"
                   "案件材料已一并移交，无需重复提交。")
            out.append(Outgoing(topics.CASE_TRANSFERRED, CaseTransferred(
                **self._common(case, claims), to=to, unit_code=case["unit_code"],  # type: ignore[arg-type]
                receiving_body_zh=receiving_body, file_package_id=pid, file_package_sha256=digest,
                applicant_message_zh=msg[:300])))
            out.append(self._status(case, claims, CaseState.TRANSFERRED, f"已转入{TRANSFER_ZH[to]}程序", msg,
                                    f"{receiving_body}将依法处理并与您联系"))
            out.extend(self._closing(case, claims, Outcome(to), False))
            await self.audit.append(s, actor=claims, action="case.transfer", object_type="assignment",
                                    object_id=assignment_id, detail=f"to={to} package={pid} sha256={digest}")
            return {"state": states.TRANSFERRED, "package_id": pid, "sha256": digest, "files": manifest["files"]}

        return await self._tx(work)

    async def _package(self, case: dict[str, Any], to: str, receiving_body: str
                       ) -> tuple[bytes, str, dict[str, Any]]:
        """The case file: the case, its timeline, its sessions (with records), invitations and documents."""
        view = self.case_view(case, detail=True, contact=True)  # the file for the court: in full
        sessions = []
        async for ses in self.sessions.find({"assignment_id": case["_id"]}).sort("starts_at", 1):
            rec = ses.get("record")
            sessions.append({
                "session_id": ses["_id"], "mode": ses["mode"], "format": ses["format"], "kind": ses["kind"],
                "starts_at": _aware(ses["starts_at"]), "ends_at": _aware(ses["ends_at"]), "place_zh": ses["place_zh"],
                "join_url": ses["join_url"], "state": ses["state"], "experts": ses.get("experts", []),
                "turns": [{"party_id": t["party_id"], "at": _aware(t["at"]),
                           "statement": self._dec(t["statement"], "turn")} for t in ses.get("turns", [])],
                "record": {**{k: v for k, v in rec.items() if k != "summary"},
                           "summary": self._dec(rec["summary"], "record.summary")} if rec else None})
        invitations = [{k: v for k, v in i.items() if k not in ("_id", "code_idx", "check_idx")}
                       async for i in self.invitations.find({"assignment_id": case["_id"]})]
        files: dict[str, bytes] = {"case.json": json_file(view), "sessions.json": json_file(sessions),
                                   "invitations.json": json_file(invitations)}
        ag = await self.agreements.find_one({"assignment_id": case["_id"]})
        if ag and ag["state"] == "signed":
            files[f"documents/agreement-{ag['agreement_no']}.pdf"] = base64.b64decode(
                self._dec(ag["pdf"], "agreement.pdf"))
        manifest = {"case_id": case["case_id"], "case_number": case["case_number"], "assignment_id": case["_id"],
                    "court_reference": case.get("court_reference"),
                    "from_unit": {"code": case["unit_code"], "name": case.get("unit_name")},
                    "to": to, "receiving_body_zh": receiving_body, "created_at": self.now().isoformat()}
        data, digest = build_package(manifest, files)
        return data, digest, {**manifest, "files": sorted(files)}

    async def package_zip(self, package_id: str, claims: StaffClaims, reason: str | None = None
                          ) -> tuple[bytes, str]:
        """The transfer package; ``reason``: as for :meth:`agreement_pdf`."""
        p = await self.packages.find_one({"_id": package_id})
        if p is None or not claims.may_act_on(p["unit_code"], p.get("unit_path", ())):
            raise Refused(404, "package_id", "not_found", "未找到该卷宗")
        await self._document_read(claims, {"_id": p["assignment_id"], "unit_code": p["unit_code"]}, "package", reason)
        return base64.b64decode(self._dec(p["zip"], "package.zip")), p["sha256"]

    async def ingest(self, event: UnitCaseAssigned, consumers: Any) -> bool:
        """Process a work order as the consumer would (for tests and replays)."""
        return bool(await consumers.process_once(event, self.on_work_order, "mediation.work_orders"))


def _fmt_local(dt: datetime) -> str:
    from .core.schedule import SHANGHAI

    return dt.astimezone(SHANGHAI).strftime("%Y年%m月%d日 %H:%M")


__all__ = ["Event", "InviteLocked", "InviteNotFound", "MediationService", "Refused"]
