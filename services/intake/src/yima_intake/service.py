"""Intake's use cases: submit a case (one read of the applicant's recent cases — a retry? a repeat report? —, the
case number from the process's block of numbers — one atomic increment per block, ADR 0211 —, then ONE short
transaction of two writes: the case, carrying its idempotency key and first timeline steps, and its outbox entries;
ADR 0190), link a repeat report to the first case, read the tracking view, rate a closed case. Knows nothing of
HTTP; talks to Mongo and Kafka only through the repository and the unit of work (yima_kit.uow). The steps of a
registration are in ``registration``, the answers and refusals in ``results``, the applicant's view in
``core/public_view``."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError
from yima_contracts import Actor, CaseStatusChanged, MediationScheduled, topics
from yima_contracts.codes import ActorKind, CaseState
from yima_contracts.intake_events import CaseRated, CaseUpdated
from yima_kit.auth import StaffClaims
from yima_kit.crypto import FieldCipher
from yima_kit.outbox import Outbox
from yima_kit.throttle import Throttled
from yima_kit.uow import Together, Tx, UnitOfWork

from .config import IntakeSettings
from .core import submission as texts
from .core.identity import format_case_number, new_tracking_code, validate_tracking_code
from .core.numbering import CaseNumbers
from .core.public_view import RATEABLE, public_view
from .core.ratelimit import WindowCounter
from .core.repeat import same_dispute
from .core.submission import SubmitCase, check_channel_rules
from .ports import ApplicantInbox, CaseRepository
from .registration import (
    NewCase,
    Registration,
    Ruling,
    actor_of,
    authorize_channel,
    categorize,
    for_own_unit,
    is_registration_step,
)
from .results import (
    IdempotencyConflict,
    RatingRefused,
    StaffForbidden,
    StaffRequired,
    Submitted,
    TrackLocked,
    TrackNotFound,
)

__all__ = [
    "IdempotencyConflict",
    "IntakeService",
    "RatingRefused",
    "StaffForbidden",
    "StaffRequired",
    "Submitted",
    "TrackLocked",
    "TrackNotFound",
    "public_view",
]


class IntakeService:
    def __init__(
        self, settings: IntakeSettings, repo: CaseRepository, outbox: Outbox, cipher: FieldCipher, client: Any,
        inbox: ApplicantInbox | None = None,
    ) -> None:
        self.settings = settings
        self.inbox = inbox
        self.repo = repo
        self.outbox = outbox
        self.cipher = cipher
        self.client = client
        self.uow = UnitOfWork(client, outbox)
        # concurrent submissions share a transaction (group commit, ADR 0219): one write of the cases, one of
        # their events, one commit — the database serves a burst with a handful of transactions, not one each
        self.registrations: Together[NewCase] = Together(self.uow, self._write_new_cases,
                                                         max_items=settings.submit_group_max)
        self.limits = WindowCounter()
        self.numbers = CaseNumbers(repo.reserve_case_numbers, settings.case_number_block, repo.give_back_case_numbers)

    async def hit_rate_limit(self, key: str, window_start: datetime, expires_at: datetime | None = None) -> int:
        """Count one submission of a client (``ip:…`` or ``staff:…``) in its minute; returns the count. In the
        process: no database round trip on the request path (core/ratelimit.py)."""
        return self.limits.hit(key, window_start)

    def tracking_hash(self, code: str) -> str:
        return self.cipher.blind_index(code, context="tracking_code")

    def applicant_key(self, phone: str) -> str:
        return self.cipher.blind_index(phone, context="applicant.phone")

    # --- submission ----------------------------------------------------------------------------------

    async def submit(
        self,
        cmd: SubmitCase,
        *,
        idempotency_key: str | None,
        staff: StaffClaims | None = None,
        now: datetime | None = None,
    ) -> Submitted:
        """Register a dispute, or answer with the case it already is: the same Idempotency-Key (a retry), or the
        same dispute of the same applicant still open (a repeat report, linked to the first case)."""
        now = now or datetime.now(UTC)
        authorize_channel(cmd, staff)
        fingerprint = hashlib.sha256(cmd.model_dump_json().encode()).hexdigest()  # as the applicant sent it
        cmd = for_own_unit(cmd, staff)
        check_channel_rules(cmd)
        applicant_key = self.applicant_key(cmd.applicant.phone)
        # ONE read before the write (ADR 0190): the applicant's recent cases answer both "is this a retry?" (a
        # case carries the keys it was made or joined with) and "is this a repeat report?". A key found nowhere
        # here (an older case, a concurrent retry) meets the unique index on the write and is answered then.
        recent = await self.repo.recent_cases_of_applicant(
            applicant_key, now - timedelta(days=self.settings.repeat_window_days))
        if idempotency_key and (prior := _replay_among(recent, idempotency_key, fingerprint)):
            return prior
        ruling = categorize(cmd, staff)
        actor = actor_of(staff)
        first = self._find_repeat_target(recent, cmd, ruling.category.value, cmd.location.unit_code)
        if first is None:
            return await self._register(cmd, ruling, actor, staff, applicant_key, idempotency_key, fingerprint, now)
        try:
            return await self._link_repeat(first, cmd, actor, idempotency_key, fingerprint, now)
        except DuplicateKeyError:
            return await self._replay_or_raise(idempotency_key, fingerprint)

    async def _register(
        self, cmd: SubmitCase, ruling: Ruling, actor: Actor, staff: StaffClaims | None, applicant_key: str,
        idempotency_key: str | None, fingerprint: str, now: datetime,
    ) -> Submitted:
        # From the process's block (one atomic increment per block, outside the transaction: concurrent
        # submissions never conflict on the counter; ADRs 0060, 0211). A submission whose transaction then fails
        # leaves its number unused (a gap, rare).
        prefix = self.settings.case_number_prefix
        seq = await self.numbers.take(f"{prefix}-{now.year}")
        reg = Registration(cmd, ruling, actor, staff, case_id=str(uuid4()),
                           case_number=format_case_number(prefix, now.year, seq), tracking_code=new_tracking_code(),
                           applicant_key=applicant_key, submitted_id=uuid4(), now=now)
        steps = reg.first_steps()

        doc = reg.case_document(self.cipher, self.tracking_hash(reg.tracking_code), steps)
        if idempotency_key:
            doc["idempotency"] = [{"key": idempotency_key, "fingerprint": fingerprint}]

        try:
            await self.registrations.run(NewCase(doc, steps, reg.submitted_event()))
        except DuplicateKeyError:
            # A concurrent retry with the same key won the race: answer with its case.
            return await self._replay_or_raise(idempotency_key, fingerprint)
        return Submitted(reg.case_id, reg.case_number, reg.tracking_code, True, ruling.category.value,
                         ruling.sub_item, ruling.needs_review, state=reg.state())

    async def _write_new_cases(self, cases: list[NewCase], tx: Tx) -> None:
        """The cases with their first timeline steps (the applicant sees them at once) and their outbox entries:
        two writes and the commit (ADR 0190), for one submission or for all that came while the last committed."""
        await self.repo.insert_cases([(c.doc, c.steps) for c in cases], tx.session)
        for c in cases:
            tx.emit(topics.CASE_SUBMITTED, c.submitted)
            for step in c.steps:
                tx.emit(topics.CASE_STATUS, step)

    def _find_repeat_target(
        self, recent: list[dict[str, Any]], cmd: SubmitCase, category: str, unit: str | None
    ) -> dict[str, Any] | None:
        for case in recent:
            if case.get("closed_at") or case.get("state") in RATEABLE or case.get("state") == CaseState.RATED.value:
                continue  # a closed case is not reopened by a new report: that is a new case
            old_text = self.cipher.decrypt(case["description"], context="cases.description")
            if same_dispute(cmd.description, category, unit, old_text, case["category"],
                            case.get("location_unit_code")):
                return case
        return None

    async def _link_repeat(
        self, first: dict[str, Any], cmd: SubmitCase, actor: Actor, idempotency_key: str | None,
        fingerprint: str, now: datetime,
    ) -> Submitted:
        case_id = first["_id"]

        async def work(tx: Tx) -> tuple[int, str]:
            session = tx.session
            count, state = await self.repo.add_repeat_report(
                case_id,
                {
                    "channel": cmd.channel.value,
                    "at": now,
                    "description": self.cipher.encrypt(cmd.description, context="cases.repeat.description"),
                    "registered_by": actor.staff_id,
                },
                session,
                {"key": idempotency_key, "fingerprint": fingerprint} if idempotency_key else None,
            )
            updated = CaseUpdated(
                case_id=case_id, correlation_id=case_id, actor=actor, kind="repeat_report",
                repeat_count=count, repeat_channel=cmd.channel, additional_description=cmd.description,
            )
            # A note in intake's own timeline, not a case.status step: it changes no state.
            await self.repo.add_timeline_note(
                case_id, state,
                {"title_zh": texts.REPEAT_TITLE, "detail_zh": f"这是您第{count}次反映此事，已并入同一案件一并处理",
                 "occurred_at": now, "event_id": str(updated.event_id)},
                session,
            )
            tx.emit(topics.CASE_UPDATED, updated)
            return count, state

        count, state = await self.uow.run(work)
        return Submitted(case_id, first["case_number"], None, False, first["category"], first.get("sub_item"),
                         first.get("needs_review", False), repeat=True, repeat_count=count, state=state)

    async def _replay(self, key: str, fingerprint: str) -> Submitted | None:
        found = await self.repo.find_by_idempotency_key(key)
        if not found:
            return None
        used, case = found
        if used != fingerprint:
            raise IdempotencyConflict(key)
        return _submitted_again(case)

    async def _replay_or_raise(self, key: str | None, fingerprint: str) -> Submitted:
        if key:
            prior = await self._replay(key, fingerprint)
            if prior:
                return prior
        raise RuntimeError("duplicate key without an idempotency record")

    # --- tracking and rating -------------------------------------------------------------------------

    async def check_phone(self, case: dict[str, Any], last4: str) -> bool:
        want = case["applicant"]["phone_last4_hash"]
        return self.cipher.blind_index(last4, context=f"last4:{case['_id']}") == want

    async def open_case(self, raw_code: str, check: str, now: datetime | None = None,
                        client: str = "unknown") -> dict[str, Any]:
        """The case behind a tracking code, if the phone check matches. Raises TrackingCodeError (a typo),
        TrackLocked (this client must wait: wrong checks, counted per code and client with growing delays,
        so a stranger holding the code cannot lock the applicant out) or TrackNotFound (no such case or a
        wrong check: one answer)."""
        code = validate_tracking_code(raw_code)
        now = now or datetime.now(UTC)
        th = self.tracking_hash(code)

        async def look() -> tuple[dict[str, Any] | None, bool]:
            case = await self.repo.find_by_tracking_hash(th)
            return case, case is not None and await self.check_phone(case, check)

        try:  # counted before the check runs (yima_kit.throttle, as notify's inbox)
            case, right = await self.repo.guard_check(th, client, now, look)
        except Throttled as exc:
            raise TrackLocked(exc.minutes_zh()) from exc
        if case is None or not right:
            raise TrackNotFound(code)
        return case

    async def tracking_view(self, case: dict[str, Any], raw_code: str, check: str) -> dict[str, Any]:
        """The applicant's view of a case ``open_case`` just gave out for this code and check (never call it
        before: notify is asked with the same code and check), with the messages from notify's inbox."""
        code = validate_tracking_code(raw_code)

        async def messages() -> list[dict[str, Any]] | None:
            return await self.inbox.messages(code, check) if self.inbox else None

        # notify may take up to its time limit: the database reads do not wait for it.
        timeline, sessions, inbox = await asyncio.gather(
            self.repo.timeline(case), self.repo.sessions(case["_id"]), messages())
        return public_view(case, timeline, sessions, messages=inbox)

    async def rate(self, case: dict[str, Any], score: int, comment: str | None, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        state = case.get("state")
        if state == CaseState.RATED.value or await self.repo.get_rating(case["_id"]):
            raise RatingRefused("already_rated", "该案件已经评价过了，每个案件只能评价一次")
        if not case.get("closed_at") and state not in RATEABLE:
            raise RatingRefused("not_closed", "案件办结后才能评价，请在收到办结通知后再来")
        case_id = case["_id"]
        actor = Actor(kind=ActorKind.APPLICANT)

        async def work(tx: Tx) -> None:
            session = tx.session
            await self.repo.insert_rating({"_id": case_id, "score": score, "rated_at": now,
                                           "comment": self.cipher.encrypt(comment, context="ratings.comment")
                                           if comment else None}, session)
            rated = CaseRated(case_id=case_id, correlation_id=case_id, actor=actor, score=score,
                              comment=comment, rated_at=now)
            status = CaseStatusChanged(case_id=case_id, correlation_id=case_id, causation_id=rated.event_id,
                                       actor=actor, state=CaseState.RATED, title_zh=texts.RATED_TITLE,
                                       detail_zh=f"您的评价：{score}星")
            tx.emit(topics.CASE_RATED, rated)
            tx.emit(topics.CASE_STATUS, status)

        try:
            await self.uow.run(work)
        except DuplicateKeyError as exc:
            raise RatingRefused("already_rated", "该案件已经评价过了，每个案件只能评价一次") from exc

    async def record_status(self, event: CaseStatusChanged, session: AsyncClientSession) -> None:
        await self.record_statuses([event], session)

    async def record_statuses(self, events: list[CaseStatusChanged], session: AsyncClientSession) -> None:
        """A poll's steps at once, in the order they came; intake's own registration steps are on their case
        already (ADR 0190) and cost nothing here."""
        await self.repo.add_timeline_entries([e for e in events if not is_registration_step(e)], session)

    async def reload(self, case: dict[str, Any]) -> dict[str, Any]:
        """The case as stored now (after a rating, say); the given one if it has gone."""
        return await self.repo.get_case(case["_id"]) or case

    async def request_status(self, case_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """A case by its id and its timeline (Open311's status request); None if there is no such case."""
        case = await self.repo.get_case(case_id)
        if case is None:
            return None
        return case, await self.repo.timeline(case)

    async def record_session(self, event: MediationScheduled, session: AsyncClientSession) -> None:
        """A mediation session goes on the tracking page; a video link only if the link policy allows it."""
        if event.join_url and not self.settings.link_policy.allows(event.join_url):
            event = event.model_copy(update={"join_url": None})
        await self.repo.add_session(event, session)


def _replay_among(cases: list[dict[str, Any]], key: str, fingerprint: str) -> Submitted | None:
    """The answer to a retry: the case among ``cases`` that carries ``key`` (made or joined with it); the same key
    with another submission is refused."""
    for case in cases:
        used = next((k["fingerprint"] for k in case.get("idempotency", ()) if k["key"] == key), None)
        if used is None:
            continue
        if used != fingerprint:
            raise IdempotencyConflict(key)
        return _submitted_again(case)
    return None


def _submitted_again(case: dict[str, Any]) -> Submitted:
    return Submitted(case["_id"], case["case_number"], None, False, case["category"], case.get("sub_item"),
                     case["needs_review"], repeat=case.get("repeat_count", 1) > 1,
                     repeat_count=case.get("repeat_count", 1), state=case.get("state", "submitted"))
