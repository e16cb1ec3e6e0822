"""The steps of registering a new case, each a small function the service calls in order (service.submit): who may
use the channel, which unit a desk registers for, how the category is decided, and what one registration writes —
the case record (personal fields encrypted), the ``case.submitted`` event and the applicant's first timeline steps.
Pure apart from the cipher handed in: no database, no broker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID, uuid5

from yima_contracts import Actor, CaseStatusChanged, CaseSubmitted
from yima_contracts.codes import ActorKind, CaseState, Category
from yima_contracts.personal import phone_last4
from yima_kit.auth import StaffClaims
from yima_kit.crypto import FieldCipher

from .core import submission as texts
from .core.classify import classify
from .core.submission import CHANNEL_ROLES, STAFF_CHANNELS, SubmitCase
from .results import StaffForbidden, StaffRequired


@dataclass(frozen=True)
class NewCase:
    """What a new case writes in its unit of work: its document, its first timeline steps, its submission."""

    doc: dict[str, Any]
    steps: list[CaseStatusChanged]
    submitted: CaseSubmitted


def authorize_channel(cmd: SubmitCase, staff: StaffClaims | None) -> None:
    """A staff channel needs a staff token of a role that may use it."""
    if cmd.channel in STAFF_CHANNELS:
        if staff is None:
            raise StaffRequired(cmd.channel)
        if staff.role not in CHANNEL_ROLES[cmd.channel]:
            raise StaffForbidden(cmd.channel)


def for_own_unit(cmd: SubmitCase, staff: StaffClaims | None) -> SubmitCase:
    """A desk (or a grid worker) registers disputes of its own area unless told otherwise."""
    if staff is None or cmd.location.unit_code is not None:
        return cmd
    return cmd.model_copy(update={"location": cmd.location.model_copy(update={"unit_code": staff.unit})})


def actor_of(staff: StaffClaims | None) -> Actor:
    if staff is None:
        return Actor(kind=ActorKind.APPLICANT)
    return Actor(kind=ActorKind.STAFF, unit_code=staff.unit, staff_id=staff.sub, role=staff.role)


# A registration step's event id follows from its case (ADR 0190): the timeline projection knows intake's own steps
# when they come back from Kafka without reading anything — they are on the case document already.
_STEP_IDS = UUID("6f1c3b1e-6c2d-4b8e-9f0a-1d2e3c4b5a69")
_MAX_FIRST_STEPS = 4


def registration_step_id(case_id: str, i: int) -> UUID:
    return uuid5(_STEP_IDS, f"{case_id}/{i}")


def is_registration_step(event: CaseStatusChanged) -> bool:
    """A step intake wrote with the case itself (the case document holds it and its state)."""
    return any(event.event_id == registration_step_id(event.case_id, i) for i in range(_MAX_FIRST_STEPS))


@dataclass(frozen=True)
class Ruling:
    """The category of a new case and who decided it."""

    category: Category
    sub_item: str | None
    source: Literal["applicant", "classifier", "staff"]
    needs_review: bool


def categorize(cmd: SubmitCase, staff: StaffClaims | None) -> Ruling:
    """The category the applicant (or the desk) chose, else the classifier's (reviewed by staff when unsure)."""
    if cmd.category is not None:
        return Ruling(cmd.category, cmd.sub_item, "staff" if staff else "applicant", False)
    c = classify(cmd.description)
    return Ruling(c.category, c.sub_item, "classifier", c.needs_review)


@dataclass(frozen=True)
class Registration:
    """Everything one new case is registered with."""

    cmd: SubmitCase
    ruling: Ruling
    actor: Actor
    staff: StaffClaims | None
    case_id: str
    case_number: str
    tracking_code: str
    applicant_key: str
    submitted_id: UUID
    now: datetime

    def first_steps(self) -> list[CaseStatusChanged]:
        """The applicant-visible steps of registration (never personal data)."""

        def step(state: CaseState, title: str, detail: str = "", next_step: str = "", i: int = 0) -> CaseStatusChanged:
            return CaseStatusChanged(
                event_id=registration_step_id(self.case_id, i), case_id=self.case_id, correlation_id=self.case_id,
                causation_id=self.submitted_id, actor=self.actor,
                state=state, title_zh=title, detail_zh=detail, next_step_zh=next_step,
                occurred_at=self.now + timedelta(milliseconds=i),  # keeps the timeline's order
                acting_unit_code=self.actor.unit_code,
            )

        cmd = self.cmd
        steps = [step(CaseState.SUBMITTED, texts.RECEIVED_TITLE, f"案件编号{self.case_number}",
                      "" if cmd.settled_on_spot else texts.RECEIVED_NEXT)]
        if cmd.emergency:
            steps.append(step(CaseState.SUBMITTED, texts.EMERGENCY_TITLE, texts.EMERGENCY_DETAIL,
                              texts.EMERGENCY_NEXT, 1))
        if cmd.settled_on_spot:
            steps.append(step(CaseState.RESOLVED, texts.SETTLED_TITLE, "工作人员已在受理时当场化解您的纠纷", "", 2))
            steps.append(step(CaseState.CLOSED, texts.CLOSED_TITLE, "", texts.CLOSED_NEXT, 3))
        return steps

    def state(self) -> str:
        """The state the new case answers with."""
        return CaseState.CLOSED.value if self.cmd.settled_on_spot else CaseState.SUBMITTED.value

    def submitted_event(self) -> CaseSubmitted:
        cmd, ruling = self.cmd, self.ruling
        return CaseSubmitted(
            event_id=self.submitted_id, case_id=self.case_id, correlation_id=self.case_id, actor=self.actor,
            case_number=self.case_number, tracking_code=self.tracking_code, channel=cmd.channel,
            category=ruling.category, category_source=ruling.source, description=cmd.description,
            applicant=cmd.applicant.party(), location=cmd.location, submitted_at=self.now, sub_item=ruling.sub_item,
            respondent=cmd.respondent, party_count=cmd.party_count, amount_yuan=cmd.amount_yuan,
            vulnerable=cmd.vulnerable, emergency=cmd.emergency, settled_on_spot=cmd.settled_on_spot, proxy=cmd.proxy,
            court_reference=cmd.court_reference, applicant_wechat_openid=cmd.applicant.wechat_openid,
        )

    def case_document(self, cipher: FieldCipher, tracking_hash: str, steps: list[CaseStatusChanged]) -> dict[str, Any]:
        """The case record: personal fields encrypted, the code only as its blind index."""
        cmd, ruling, staff, enc = self.cmd, self.ruling, self.staff, cipher.encrypt
        closed = next((s for s in steps if s.state is CaseState.CLOSED), None)
        return {
            "_id": self.case_id,
            "case_number": self.case_number,
            "tracking_hash": tracking_hash,
            "channel": cmd.channel.value,
            "category": ruling.category.value,
            "sub_item": ruling.sub_item,
            "category_source": ruling.source,
            "needs_review": ruling.needs_review,
            "description": enc(cmd.description, context="cases.description"),
            "applicant": self._applicant(cipher),
            "applicant_key": self.applicant_key,
            "location_unit_code": cmd.location.unit_code,
            "address": enc(cmd.location.address, context="cases.address") if cmd.location.address else None,
            "emergency": cmd.emergency,
            "settled_on_spot": cmd.settled_on_spot,
            "settlement_note": (
                enc(cmd.settlement_note, context="cases.settlement_note") if cmd.settlement_note else None
            ),
            "proxy": self._proxy(cipher),
            "court_reference": cmd.court_reference,
            "external_reference": cmd.external_reference,
            "registered_by": {"staff_id": staff.sub, "unit": staff.unit, "role": staff.role.value} if staff else None,
            "repeat_count": 1,
            "submitted_at": self.now,
            # the state of its last registration step (the timeline), as its projection would set it
            "state": steps[-1].state.value,
            # settled on the spot: closed, and its retention period runs from now (docs/retention.md)
            **({"closed_at": closed.occurred_at, "ended_at": closed.occurred_at} if closed else {}),
        }

    def _applicant(self, cipher: FieldCipher) -> dict[str, Any]:
        applicant, enc = self.cmd.applicant, cipher.encrypt
        return {
            "name": enc(applicant.name, context="cases.applicant.name"),
            "phone": enc(applicant.phone, context="cases.applicant.phone"),
            "resident_id": (
                enc(applicant.resident_id, context="cases.applicant.resident_id") if applicant.resident_id else None
            ),
            "phone_last4_hash": cipher.blind_index(phone_last4(applicant.phone), context=f"last4:{self.case_id}"),
        }

    def _proxy(self, cipher: FieldCipher) -> dict[str, Any] | None:
        proxy = self.cmd.proxy
        if proxy is None:
            return None
        return {
            "submitter_name": cipher.encrypt(proxy.submitter.name, context="cases.proxy.name"),
            "submitter_phone": cipher.encrypt(proxy.submitter.phone, context="cases.proxy.phone"),
            "relation": proxy.relation,
            "consent": proxy.consent,
        }
