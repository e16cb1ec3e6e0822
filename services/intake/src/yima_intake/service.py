"""Intake's use cases: submit a case (one transaction: counter, case, idempotency key, outbox) and read
its tracking view. Knows nothing of HTTP; talks to Mongo and Kafka only through the repository and
the outbox."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError
from yima_contracts import Actor, CaseStatusChanged, CaseSubmitted, topics
from yima_contracts.codes import ActorKind, CaseState
from yima_contracts.personal import phone_last4
from yima_kit.crypto import FieldCipher
from yima_kit.mongo import in_transaction
from yima_kit.outbox import Outbox, Outgoing

from .config import IntakeSettings
from .core.classify import classify
from .core.identity import format_case_number, new_tracking_code
from .core.submission import RECEIVED_NEXT, RECEIVED_TITLE, SubmitCase
from .ports import CaseRepository


@dataclass(frozen=True)
class Submitted:
    case_id: str
    case_number: str
    tracking_code: str | None  # None when a retried submission returns the first case (code sent by SMS)
    created: bool
    category: str
    needs_review: bool


class IdempotencyConflict(Exception):
    """The same Idempotency-Key was used for a different submission."""


class IntakeService:
    def __init__(
        self, settings: IntakeSettings, repo: CaseRepository, outbox: Outbox, cipher: FieldCipher, client: Any
    ) -> None:
        self.settings = settings
        self.repo = repo
        self.outbox = outbox
        self.cipher = cipher
        self.client = client

    def tracking_hash(self, code: str) -> str:
        return self.cipher.blind_index(code, context="tracking_code")

    async def submit(self, cmd: SubmitCase, *, idempotency_key: str | None, now: datetime | None = None) -> Submitted:
        now = now or datetime.now(UTC)
        fingerprint = hashlib.sha256(cmd.model_dump_json().encode()).hexdigest()
        if idempotency_key:
            prior = await self._replay(idempotency_key, fingerprint)
            if prior:
                return prior
        if cmd.category is not None:
            category, source, needs_review = cmd.category, "applicant", False
        else:
            c = classify(cmd.description)
            category, source, needs_review = c.category, "classifier", c.needs_review
        case_id = str(uuid4())
        tracking_code = new_tracking_code()

        async def work(session: AsyncClientSession) -> str:
            seq = await self.repo.next_case_seq(f"{self.settings.case_number_prefix}-{now.year}", session)
            case_number = format_case_number(self.settings.case_number_prefix, now.year, seq)
            if idempotency_key:
                await self.repo.claim_idempotency_key(idempotency_key, fingerprint, case_id, session)
            await self.repo.insert_case(
                {
                    "_id": case_id,
                    "case_number": case_number,
                    "tracking_hash": self.tracking_hash(tracking_code),
                    "channel": cmd.channel.value,
                    "category": category.value,
                    "category_source": source,
                    "needs_review": needs_review,
                    "state": CaseState.SUBMITTED.value,
                    "description": self.cipher.encrypt(cmd.description, context="cases.description"),
                    "applicant": {
                        "name": self.cipher.encrypt(cmd.applicant.name, context="cases.applicant.name"),
                        "phone": self.cipher.encrypt(cmd.applicant.phone, context="cases.applicant.phone"),
                        "phone_last4_hash": self.cipher.blind_index(
                            phone_last4(cmd.applicant.phone), context=f"last4:{case_id}"
                        ),
                    },
                    "location_unit_code": cmd.location.unit_code,
                    "submitted_at": now,
                },
                session,
            )
            actor = Actor(kind=ActorKind.APPLICANT)
            submitted = CaseSubmitted(
                case_id=case_id,
                correlation_id=case_id,
                actor=actor,
                case_number=case_number,
                tracking_code=tracking_code,
                channel=cmd.channel,
                category=category,
                category_source=source,
                description=cmd.description,
                applicant=cmd.applicant,
                location=cmd.location,
                submitted_at=now,
            )
            status = CaseStatusChanged(
                case_id=case_id,
                correlation_id=case_id,
                causation_id=submitted.event_id,
                actor=actor,
                state=CaseState.SUBMITTED,
                title_zh=RECEIVED_TITLE,
                detail_zh=f"案件编号{case_number}",
                next_step_zh=RECEIVED_NEXT,
            )
            await self.outbox.add(
                session, [Outgoing(topics.CASE_SUBMITTED, submitted), Outgoing(topics.CASE_STATUS, status)]
            )
            return case_number

        try:
            case_number = await in_transaction(self.client, work)
        except DuplicateKeyError:
            # A concurrent retry with the same key won the race: answer with its case.
            if idempotency_key:
                prior = await self._replay(idempotency_key, fingerprint)
                if prior:
                    return prior
            raise
        return Submitted(case_id, case_number, tracking_code, True, category.value, needs_review)

    async def _replay(self, key: str, fingerprint: str) -> Submitted | None:
        found = await self.repo.find_idempotency_key(key)
        if not found:
            return None
        if found["fingerprint"] != fingerprint:
            raise IdempotencyConflict(key)
        case = await self.repo.get_case(found["case_id"])
        assert case is not None  # written in the same transaction as the key
        return Submitted(case["_id"], case["case_number"], None, False, case["category"], case["needs_review"])

    async def check_phone(self, case: dict[str, Any], last4: str) -> bool:
        want = case["applicant"]["phone_last4_hash"]
        return self.cipher.blind_index(last4, context=f"last4:{case['_id']}") == want

    async def record_status(self, event: CaseStatusChanged, session: AsyncClientSession) -> None:
        await self.repo.add_timeline_entry(event, session)


def public_view(case: dict[str, Any], timeline: list[dict[str, Any]]) -> dict[str, Any]:
    """The applicant's redacted view: no personal data of anyone, no risk level, no internal notes."""
    from yima_contracts.codes import CATEGORY_NAMES_ZH, Category

    shanghai = timedelta(hours=8)
    steps = [
        {
            "state": t["state"],
            "title": t["title_zh"],
            "detail": t.get("detail_zh", ""),
            "unit": t.get("acting_unit_name"),
            "next_step": t.get("next_step_zh", ""),
            "due_at": t["due_at"].isoformat() if t.get("due_at") else None,
            "at": t["occurred_at"].isoformat(),
            "at_local": (t["occurred_at"] + shanghai).strftime("%Y-%m-%d %H:%M"),
        }
        for t in timeline
    ]
    last = steps[-1] if steps else None
    return {
        "case_number": case["case_number"],
        "category": case["category"],
        "category_name": CATEGORY_NAMES_ZH[Category(case["category"])],
        "channel": case["channel"],
        "state": last["state"] if last else case["state"],
        "current_unit": next((s["unit"] for s in reversed(steps) if s["unit"]), None),
        "next_step": last["next_step"] if last else "",
        "timeline": steps,
    }


