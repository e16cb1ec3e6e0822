"""What every section of mediation's use cases shares: the errors, the unit of work, the case's one move
(:meth:`ServiceBase._move`), the events' common fields and the views of a case (masked or in full)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from pymongo.asynchronous.client_session import AsyncClientSession
from yima_contracts import (
    Actor,
    CaseClosed,
    CaseFeedback,
    CaseStatusChanged,
    MediationConcluded,
    topics,
)
from yima_contracts.codes import ActorKind, CaseState, FeedbackKind, Outcome, StaffRole
from yima_contracts.personal import mask_name, mask_numbers_in_text, mask_phone
from yima_kit.audit import AuditLog
from yima_kit.auth import StaffClaims
from yima_kit.consumer import Tx
from yima_kit.crypto import FieldCipher
from yima_kit.outbox import Outbox, Outgoing
from yima_kit.uow import UnitOfWork

from ..config import MediationSettings
from ..core import states
from ..core.case import MediationCase
from ..core.conflict import PartyRef, PersonRef, Relation, conflicts
from ..core.timefmt import aware
from ..ports import AgreementPrinter, Store

T = TypeVar("T")

EXPERT_KINDS = ("judge", "prosecutor", "police", "lawyer", "counsellor", "community_worker", "deputy", "sage",
                "volunteer")
EXPERT_KIND_ZH = {"judge": "法官", "prosecutor": "检察官", "police": "民警", "lawyer": "律师",
                  "counsellor": "心理咨询师", "community_worker": "社区工作者", "deputy": "两代表一委员",
                  "sage": "乡贤", "volunteer": "志愿者", "mediator": "调解员"}
KIND_ZH = {"people": "人民调解", "administrative": "行政调解", "judicial": "司法调解"}
TRANSFER_ZH = {"arbitration": "仲裁", "litigation": "诉讼", "administrative": "行政处理"}
MODE_ZH = {"online": "线上视频调解", "offline": "线下调解", "async": "错时异步调解"}
# Who phones the parties (docs/adr/0046): within the handling unit only (ServiceBase.needs_contact).
CONTACT_ROLES = (StaffRole.ADMIN, StaffRole.DISPATCHER, StaffRole.MEDIATOR)
REVEAL_REASON_MIN = 4  # characters: "联系当事人" passes, a bare "看看" does not
DOCUMENT_ZH = {"agreement": "调解协议书", "package": "移交卷宗"}  # documents that carry the parties in full


class InviteNotFound(Exception):
    """No invitation behind the code, or the wrong phone digits: one answer for both."""


class InviteLocked(Exception):
    """Too many wrong checks on one code: locked for a while."""


ERASED_ZH = "该案件已过保存期限，文书正文已按规定删除；可凭文书的SHA-256向调解组织核验其存档副本"


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


def stated_reason(reason: str | None, refusal: str) -> str:
    """Why someone without the need sees personal data in full (docs/adr/0046): at least
    ``REVEAL_REASON_MIN`` characters besides spaces, else 422 ``reason_required`` with ``refusal``."""
    reason = " ".join((reason or "").split())
    if len(reason.replace(" ", "")) < REVEAL_REASON_MIN:
        raise Refused(422, "reason", "reason_required", refusal)
    return reason


class ServiceBase:
    def __init__(self, store: Store, client: Any, outbox: Outbox, cipher: FieldCipher, settings: MediationSettings,
                 audit: AuditLog, printer: AgreementPrinter, clock: Callable[[], datetime] = _now) -> None:
        self.now = clock  # injectable: tests move time past a session's start
        self.store = store
        self.client = client
        self.outbox = outbox
        self.cipher = cipher
        self.settings = settings
        self.printer = printer
        # The weighty actions (sign, close, transfer) also append a record of their own in their transaction,
        # as the last write (the head is held only until the commit); every call is in it anyway (app.py).
        self.audit = audit

    async def setup(self) -> None:
        await self.store.setup()

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
        doc = await self.store.cases.get(assignment_id, session)
        # Same answer for "no such case" and "not your unit's": nobody learns of other units' cases.
        if doc is None or not claims.may_act_on(doc["unit_code"], doc.get("unit_path", ())):
            raise Refused(404, "assignment_id", "not_found", "未找到该案件，或不属于本单位")
        return doc

    async def _move(self, session: AsyncClientSession, case: dict[str, Any], move: str, new_state: str | None,
                    extra: dict[str, Any] | None = None, note: dict[str, Any] | None = None) -> None:
        """The case makes ``move`` (to ``new_state``, or staying): refused with IllegalMove by the domain object,
        then written compare-and-set on the state it was checked against."""
        step = MediationCase.of(case).move(move, new_state)
        now = self.now()
        changes: dict[str, Any] = {**(extra or {}), "updated_at": now}
        if new_state:
            changes["state"] = step.to
        if not await self.store.cases.move(case["_id"], step.from_state, changes,
                                           {"at": now, **note} if note else None, session):
            raise Refused(409, "state", "concurrent_change", "案件刚被他人更新，请刷新后重试")

    @staticmethod
    def _actor(claims: StaffClaims) -> Actor:
        return Actor(kind=ActorKind.STAFF, unit_code=claims.unit, staff_id=claims.sub, role=claims.role)

    @staticmethod
    def _common(case: dict[str, Any], claims: StaffClaims | None) -> dict[str, Any]:
        actor = (ServiceBase._actor(claims) if claims
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
            "supervisor_unit_name": case["supervisor_unit_name"], "due_at": aware(case["due_at"]),
            "description": self._free_text(self._dec(case["description"], "description"), case, contact),
            "parties": [self._party_view(p, contact) for p in case.get("parties", [])], "contact_masked": not contact,
            "mediators": [{"person_id": m["person_id"], "name": m["name"]} for m in case.get("mediators", [])],
            "no_shows": case.get("no_shows", 0), "agreement_id": case.get("agreement_id"),
            "judicial": case.get("judicial"), "package_id": case.get("package_id"),
            "court_reference": case.get("court_reference"),
        }
        if detail:
            view["timeline"] = [{k: (aware(v) if k == "at" else self._free_text(v, case, contact)
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

    def person_view(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"person_id": p["_id"], "unit_code": p["unit_code"], "kind": p["kind"],
                "kind_zh": EXPERT_KIND_ZH.get(p["kind"], p["kind"]), "name": self._dec(p["name"], "person.name"),
                "title_zh": p.get("title_zh"), "fields": p.get("fields", [])}

    def _conflicts(self, person: dict[str, Any], case: dict[str, Any]) -> list[str]:
        ref = PersonRef(person["name_idx"],
                        tuple(Relation(r["name_idx"], r["relation_zh"]) for r in person.get("relations", [])),
                        person.get("employer_idx"))
        return conflicts(ref, self._party_refs(case))

    def _concluded_failure(self, case: dict[str, Any], claims: StaffClaims, reason: str, nxt: str) -> Outgoing:
        msg = {"escalate": "调解未成功，案件将提交上一级调解组织继续调解",
               "transfer": "调解未成功，案件将依法转入仲裁、诉讼或行政途径处理"}.get(nxt, "调解未成功")
        return Outgoing(topics.MEDIATION_CONCLUDED, MediationConcluded(
            **self._common(case, claims), success=False, unit_code=case["unit_code"], reason_zh=reason[:500],
            next_action=nxt, applicant_message_zh=msg))  # type: ignore[arg-type]

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

    async def _document_read(self, claims: StaffClaims, case: dict[str, Any], kind: str, reason: str | None) -> None:
        """A signed agreement or a transfer package is a legal document and carries the parties in full; it is
        never masked. Who needs the contact data downloads it as they read the case; anyone else (leaders, units
        above) states a reason. Either way the read is recorded before the bytes are given (docs/adr/0046)."""
        detail = kind
        if not self.needs_contact(claims, case):
            why = stated_reason(reason, f"下载{DOCUMENT_ZH[kind]}原件须填写事由（至少{REVEAL_REASON_MIN}个字），"
                                         "原件含当事人完整信息，事由将记入审计日志")
            detail = f"{kind}：{mask_numbers_in_text(why)}"  # no numbers kept, as for a reveal
        await self.audit.append_alone(self.client, actor=claims, action="case.document.full_read",
                                      object_type="assignment", object_id=case["_id"], personal_data=True,
                                      detail=detail)
