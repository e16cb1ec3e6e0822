"""Intake's use cases: submit a case (the case number from one atomic increment, then ONE short transaction:
case, idempotency key, first timeline steps, outbox), link a repeat report to the first case, read the tracking
view, rate a closed case. Knows nothing of HTTP; talks to Mongo and Kafka only through the repository and the
unit of work (yima_kit.uow)."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import uuid4

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError
from yima_contracts import Actor, CaseStatusChanged, CaseSubmitted, topics
from yima_contracts.codes import ActorKind, CaseState, Category, Channel
from yima_contracts.intake_events import CaseRated, CaseUpdated
from yima_contracts.personal import phone_last4
from yima_kit.auth import StaffClaims
from yima_kit.crypto import FieldCipher
from yima_kit.outbox import Outbox
from yima_kit.throttle import Throttled
from yima_kit.uow import Tx, UnitOfWork

from .config import IntakeSettings
from .core import submission as texts
from .core.classify import classify
from .core.identity import format_case_number, new_tracking_code, validate_tracking_code
from .core.ratelimit import WindowCounter
from .core.repeat import same_dispute
from .core.submission import CHANNEL_ROLES, STAFF_CHANNELS, SubmitCase, check_channel_rules
from .ports import ApplicantInbox, CaseRepository

# States after which the applicant may rate (the closing step arrives on case.status as ``closed``).
RATEABLE = frozenset({CaseState.CLOSED.value, CaseState.FOLLOWED_UP.value})


@dataclass(frozen=True)
class Submitted:
    case_id: str
    case_number: str
    tracking_code: str | None  # None when the answer is an earlier case (the code was given then)
    created: bool
    category: str
    sub_item: str | None
    needs_review: bool
    repeat: bool = False  # this submission was linked to an earlier case as a repeat report
    repeat_count: int = 1
    state: str = CaseState.SUBMITTED.value


class IdempotencyConflict(Exception):
    """The same Idempotency-Key was used for a different submission."""


class StaffRequired(Exception):
    """A staff channel without a valid staff token."""


class StaffForbidden(Exception):
    """A staff token whose role may not use this channel."""


class TrackLocked(Exception):
    def __init__(self, wait_zh: str) -> None:
        super().__init__(wait_zh)
        self.wait_zh = wait_zh

    def message_zh(self) -> str:
        return f"核对失败次数过多，请{self.wait_zh}后再试"


class TrackNotFound(Exception):
    pass


class RatingRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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
        self.limits = WindowCounter()

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
        now = now or datetime.now(UTC)
        if cmd.channel in STAFF_CHANNELS:
            if staff is None:
                raise StaffRequired(cmd.channel)
            if staff.role not in CHANNEL_ROLES[cmd.channel]:
                raise StaffForbidden(cmd.channel)
        fingerprint = hashlib.sha256(cmd.model_dump_json().encode()).hexdigest()
        if staff is not None and cmd.location.unit_code is None:
            # A desk (or a grid worker) registers disputes of its own area unless told otherwise.
            cmd = cmd.model_copy(update={"location": cmd.location.model_copy(update={"unit_code": staff.unit})})
        check_channel_rules(cmd)
        if idempotency_key:
            prior = await self._replay(idempotency_key, fingerprint)
            if prior:
                return prior
        sub_item = cmd.sub_item
        source: Literal["applicant", "classifier", "staff"]
        if cmd.category is not None:
            category, source, needs_review = cmd.category, ("staff" if staff else "applicant"), False
        else:
            c = classify(cmd.description)
            category, source, needs_review, sub_item = c.category, "classifier", c.needs_review, c.sub_item
        location = cmd.location
        actor = (
            Actor(kind=ActorKind.STAFF, unit_code=staff.unit, staff_id=staff.sub, role=staff.role)
            if staff
            else Actor(kind=ActorKind.APPLICANT)
        )
        applicant_key = self.applicant_key(cmd.applicant.phone)
        first = await self._find_repeat_target(cmd, category.value, location.unit_code, applicant_key, now)
        if first is not None:
            try:
                return await self._link_repeat(first, cmd, actor, idempotency_key, fingerprint, now)
            except DuplicateKeyError:
                return await self._replay_or_raise(idempotency_key, fingerprint)

        case_id = str(uuid4())
        tracking_code = new_tracking_code()
        enc = self.cipher.encrypt

        # One atomic increment, outside the transaction: concurrent submissions never conflict on the counter
        # (inside, every one of them would write the same document and all but one would retry). A submission
        # whose transaction then fails leaves its number unused (a gap, rare; ADR 0060).
        seq = await self.repo.next_case_seq(f"{self.settings.case_number_prefix}-{now.year}", None)
        case_number = format_case_number(self.settings.case_number_prefix, now.year, seq)
        submitted_id = uuid4()
        steps = self._first_steps(cmd, case_id, case_number, submitted_id, actor, now)

        async def work(tx: Tx) -> str:
            session = tx.session
            if idempotency_key:
                await self.repo.claim_idempotency_key(idempotency_key, fingerprint, case_id, session)
            doc: dict[str, Any] = {
                "_id": case_id,
                "case_number": case_number,
                "tracking_hash": self.tracking_hash(tracking_code),
                "channel": cmd.channel.value,
                "category": category.value,
                "sub_item": sub_item,
                "category_source": source,
                "needs_review": needs_review,
                "description": enc(cmd.description, context="cases.description"),
                "applicant": {
                    "name": enc(cmd.applicant.name, context="cases.applicant.name"),
                    "phone": enc(cmd.applicant.phone, context="cases.applicant.phone"),
                    "resident_id": (
                        enc(cmd.applicant.resident_id, context="cases.applicant.resident_id")
                        if cmd.applicant.resident_id
                        else None
                    ),
                    "phone_last4_hash": self.cipher.blind_index(
                        phone_last4(cmd.applicant.phone), context=f"last4:{case_id}"
                    ),
                },
                "applicant_key": applicant_key,
                "location_unit_code": location.unit_code,
                "address": enc(location.address, context="cases.address") if location.address else None,
                "emergency": cmd.emergency,
                "settled_on_spot": cmd.settled_on_spot,
                "settlement_note": (
                    enc(cmd.settlement_note, context="cases.settlement_note") if cmd.settlement_note else None
                ),
                "proxy": (
                    {
                        "submitter_name": enc(cmd.proxy.submitter.name, context="cases.proxy.name"),
                        "submitter_phone": enc(cmd.proxy.submitter.phone, context="cases.proxy.phone"),
                        "relation": cmd.proxy.relation,
                        "consent": cmd.proxy.consent,
                    }
                    if cmd.proxy
                    else None
                ),
                "court_reference": cmd.court_reference,
                "external_reference": cmd.external_reference,
                "registered_by": {"staff_id": staff.sub, "unit": staff.unit, "role": staff.role.value}
                if staff
                else None,
                "repeat_count": 1,
                "submitted_at": now,
                # the state of its last registration step (the timeline below), as its projection would set it
                "state": steps[-1].state.value,
                **({"closed_at": s.occurred_at} if (s := _closed_step(steps)) else {}),
            }
            await self.repo.insert_case(doc, session)
            submitted = CaseSubmitted(
                event_id=submitted_id,
                case_id=case_id,
                correlation_id=case_id,
                actor=actor,
                case_number=case_number,
                tracking_code=tracking_code,
                channel=cmd.channel,
                category=category,
                category_source=source,
                description=cmd.description,
                applicant=cmd.applicant.party(),
                location=location,
                submitted_at=now,
                sub_item=sub_item,
                respondent=cmd.respondent,
                party_count=cmd.party_count,
                amount_yuan=cmd.amount_yuan,
                vulnerable=cmd.vulnerable,
                emergency=cmd.emergency,
                settled_on_spot=cmd.settled_on_spot,
                proxy=cmd.proxy,
                court_reference=cmd.court_reference,
                applicant_wechat_openid=cmd.applicant.wechat_openid,
            )
            tx.emit(topics.CASE_SUBMITTED, submitted)
            for step in steps:
                tx.emit(topics.CASE_STATUS, step)
            # The applicant sees the registration at once, before the projection reads it back from Kafka.
            await self.repo.insert_timeline_entries(steps, session)
            return case_number

        try:
            case_number = await self.uow.run(work)
        except DuplicateKeyError:
            # A concurrent retry with the same key won the race: answer with its case.
            return await self._replay_or_raise(idempotency_key, fingerprint)
        state = CaseState.CLOSED.value if cmd.settled_on_spot else CaseState.SUBMITTED.value
        return Submitted(case_id, case_number, tracking_code, True, category.value, sub_item, needs_review,
                         state=state)

    def _first_steps(
        self, cmd: SubmitCase, case_id: str, case_number: str, cause: Any, actor: Actor, now: datetime
    ) -> list[CaseStatusChanged]:
        """The applicant-visible steps of registration (never personal data)."""

        def step(state: CaseState, title: str, detail: str = "", next_step: str = "", i: int = 0) -> CaseStatusChanged:
            return CaseStatusChanged(
                case_id=case_id, correlation_id=case_id, causation_id=cause, actor=actor, state=state,
                title_zh=title, detail_zh=detail, next_step_zh=next_step,
                occurred_at=now + timedelta(milliseconds=i),  # keeps the timeline's order
                acting_unit_code=actor.unit_code,
            )

        steps = [step(CaseState.SUBMITTED, texts.RECEIVED_TITLE, f"案件编号{case_number}",
                      "" if cmd.settled_on_spot else texts.RECEIVED_NEXT)]
        if cmd.emergency:
            steps.append(step(CaseState.SUBMITTED, texts.EMERGENCY_TITLE, texts.EMERGENCY_DETAIL,
                              texts.EMERGENCY_NEXT, 1))
        if cmd.settled_on_spot:
            steps.append(step(CaseState.RESOLVED, texts.SETTLED_TITLE, "工作人员已在受理时当场化解您的纠纷", "", 2))
            steps.append(step(CaseState.CLOSED, texts.CLOSED_TITLE, "", texts.CLOSED_NEXT, 3))
        return steps

    async def _find_repeat_target(
        self, cmd: SubmitCase, category: str, unit: str | None, applicant_key: str, now: datetime
    ) -> dict[str, Any] | None:
        since = now - timedelta(days=self.settings.repeat_window_days)
        for case in await self.repo.recent_cases_of_applicant(applicant_key, since):
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

        async def work(tx: Tx) -> int:
            session = tx.session
            if idempotency_key:
                await self.repo.claim_idempotency_key(idempotency_key, fingerprint, case_id, session)
            count = await self.repo.add_repeat_report(
                case_id,
                {
                    "channel": cmd.channel.value,
                    "at": now,
                    "description": self.cipher.encrypt(cmd.description, context="cases.repeat.description"),
                    "registered_by": actor.staff_id,
                },
                session,
            )
            updated = CaseUpdated(
                case_id=case_id, correlation_id=case_id, actor=actor, kind="repeat_report",
                repeat_count=count, repeat_channel=cmd.channel, additional_description=cmd.description,
            )
            # A note in intake's own timeline, not a case.status step: it changes no state.
            await self.repo.add_timeline_note(
                case_id,
                {"title_zh": texts.REPEAT_TITLE, "detail_zh": f"这是您第{count}次反映此事，已并入同一案件一并处理",
                 "occurred_at": now, "event_id": str(updated.event_id)},
                session,
            )
            tx.emit(topics.CASE_UPDATED, updated)
            return count

        count = await self.uow.run(work)
        return Submitted(case_id, first["case_number"], None, False, first["category"], first.get("sub_item"),
                         first.get("needs_review", False), repeat=True, repeat_count=count,
                         state=first.get("state") or CaseState.SUBMITTED.value)

    async def _replay(self, key: str, fingerprint: str) -> Submitted | None:
        found = await self.repo.find_idempotency_key(key)
        if not found:
            return None
        if found["fingerprint"] != fingerprint:
            raise IdempotencyConflict(key)
        case = await self.repo.get_case(found["case_id"])
        assert case is not None  # written in the same transaction as the key
        return Submitted(case["_id"], case["case_number"], None, False, case["category"], case.get("sub_item"),
                         case["needs_review"], repeat=case.get("repeat_count", 1) > 1,
                         repeat_count=case.get("repeat_count", 1), state=case.get("state", "submitted"))

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
            self.repo.timeline(case["_id"]), self.repo.sessions(case["_id"]), messages())
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
        await self.repo.add_timeline_entry(event, session)


def _closed_step(steps: list[CaseStatusChanged]) -> CaseStatusChanged | None:
    return next((s for s in steps if s.state is CaseState.CLOSED), None)


def public_view(case: dict[str, Any], timeline: list[dict[str, Any]],
                sessions: list[dict[str, Any]] | None = None, now: datetime | None = None,
                messages: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The applicant's redacted view: no personal data of anyone, no risk level, no internal notes.
    ``messages`` are notify's inbox messages; None when they could not be had (the view says so)."""
    from yima_contracts.codes import CATEGORY_NAMES_ZH

    from .core.taxonomy import sub_item_name

    shanghai = timedelta(hours=8)
    steps = [
        {
            "state": t["state"],
            "title": t["title_zh"],
            "detail": t.get("detail_zh", ""),
            "unit": t.get("acting_unit_name"),
            "next_step": t.get("next_step_zh", ""),
            "due_at": t["due_at"].isoformat() if t.get("due_at") else None,
            "due_at_local": (t["due_at"] + shanghai).strftime("%Y-%m-%d %H:%M") if t.get("due_at") else None,
            "at": t["occurred_at"].isoformat(),
            "at_local": (t["occurred_at"] + shanghai).strftime("%Y-%m-%d %H:%M"),
        }
        for t in timeline
    ]
    last = steps[-1] if steps else None
    category = Category(case["category"])
    state = last["state"] if last else case["state"]
    return {
        "case_number": case["case_number"],
        "category": case["category"],
        "category_name": CATEGORY_NAMES_ZH[category],
        "sub_item": case.get("sub_item"),
        "sub_item_name": sub_item_name(category, case.get("sub_item")),
        "channel": case["channel"],
        "emergency": bool(case.get("emergency")),
        "state": state,
        "current_unit": next((s["unit"] for s in reversed(steps) if s["unit"]), None),
        "next_step": next((s["next_step"] for s in reversed(steps) if s["next_step"]), ""),
        "can_rate": bool(case.get("closed_at")) or state in RATEABLE,
        "repeat_count": case.get("repeat_count", 1),
        "timeline": steps,
        "sessions": _session_views(sessions or [], now or datetime.now(UTC)),
        "messages": None if messages is None else _message_views(messages),
        "messages_unavailable": messages is None,
    }


SESSION_MODE_ZH = {"online": "线上视频调解", "offline": "现场调解", "async": "错时异步调解"}


def _session_views(sessions: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The applicant's mediation sessions: when, how, where; the video link only until the session ends."""
    shanghai = timedelta(hours=8)
    out = []
    for s in sessions:
        starts = s["starts_at"].replace(tzinfo=UTC)
        ends = s["ends_at"].replace(tzinfo=UTC) if s.get("ends_at") else starts + timedelta(hours=2)
        out.append({
            "mode": s["mode"], "mode_name": SESSION_MODE_ZH.get(s["mode"], s["mode"]),
            "starts_at_local": (starts + shanghai).strftime("%Y-%m-%d %H:%M"),
            "ends_at_local": (ends + shanghai).strftime("%Y-%m-%d %H:%M"),
            "place": s.get("place_zh"), "over": ends <= now,
            "join_url": s.get("join_url") if s["mode"] == "online" and ends > now else None,
        })
    return out


# notify's channels, as the applicant knows them (the inbox holds in-app messages; the field is optional)
NOTIFY_CHANNEL_ZH = {"inbox": "站内信", "sms": "短信", "wechat": "微信", "email": "电子邮件"}


def _message_views(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """notify's messages for the applicant: newest first, times in Beijing time, the channel in Chinese."""
    out = []
    for m in sorted(messages, key=lambda m: _utc(m["created_at"]), reverse=True):
        at = _utc(m["created_at"])
        channel = str(m.get("channel") or "inbox")
        out.append({
            "at": at.isoformat(), "at_local": (at + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M"),
            "title": str(m.get("title") or ""), "text": m["text"],
            "channel": channel, "channel_name": NOTIFY_CHANNEL_ZH.get(channel, "其他"),
        })
    return out


def _utc(iso: str) -> datetime:
    at = datetime.fromisoformat(iso)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)  # notify stores UTC


def channel_of(value: str) -> Channel:
    return Channel(value)
