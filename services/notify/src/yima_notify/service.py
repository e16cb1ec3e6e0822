"""Notify's use cases: who hears what, over which channel — staged exactly once per (event, recipient, channel).

The consumer side (this module) runs inside the consumer's transaction and only STAGES: one document per
(source event, recipient, channel) in ``notifications`` (the ledger; its ``_id`` is a function of the triple, so unique
per triple). The in-app inbox is our own database, so an inbox message is delivered right there, in the same
transaction. Every outside channel (SMS, WeChat, e-mail, webhook) is sent later by the delivery worker
(:mod:`yima_notify.worker`), never from inside a transaction. Storage only through ports.py (contacts, the ledger;
Mongo in adapters/mongo_repo.py); the inboxes' read side is inbox.py; when a text goes (the SMS digest) is
decided in core/digest.py.

Contacts: the applicant's (and a proxy submitter's) phone comes from ``case.submitted``, encrypted at rest;
an event that arrives before it (topics are not ordered with each other) waits in ``pending_events`` and is
planned when the contact arrives. Staff are addressed by their unit (the staff directory lives in routing):
the unit's inbox plus the unit's configured webhook / e-mail / WeChat. An invited expert is addressed as
``person:<person_id>`` with the contact mediation's ``mediation.expert_invited`` carries (ADR 0052); notify keeps
that contact, so the expert also hears of a session booked later (``mediation.scheduled`` names the persons). The
expert's answer (``mediation.expert_answered``) goes to the hosting unit.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from bson import ObjectId
from yima_contracts import (
    Actor,
    CaseAssigned,
    CaseClosed,
    CaseStatusChanged,
    CaseSubmitted,
    Event,
    ExpertAnswered,
    ExpertInvited,
    MediationScheduled,
    NotificationSent,
    parse_event,
    topics,
)
from yima_contracts.codes import ActorKind, SupervisionStep
from yima_contracts.human_codes import display_code, normalize_code
from yima_contracts.personal import mask_name
from yima_contracts.risk_events import FollowupDue, WarningRaised
from yima_contracts.routing_events import CaseEscalated, JointSummoned, LeaderAssigned, SupervisionNotice
from yima_kit.consumer import Tx
from yima_kit.crypto import FieldCipher
from yima_kit.logging import get_logger

from .config import NotifySettings
from .core import templates as t
from .core.policy import parse_quiet_hours, release_time
from .inbox import InboxReads
from .ports import CaseContact, NotifyRepository

log = get_logger(__name__)
E = TypeVar("E", bound=Event)

# Events whose own message tells the applicant of a step (see plan): a case.status naming one of them in
# ``announced_by`` gives the applicant no second message.
ANNOUNCED_TO_APPLICANT = frozenset({MediationScheduled.EVENT_TYPE, CaseClosed.EVENT_TYPE})
INTRUSIVE = ("sms", "wechat")  # channels that wake people: quiet hours and digests apply


def notification_id(event_id: str, recipient: str, channel: str) -> str:
    """The ledger key of (source event, recipient, channel); ≤ 64 characters (the contract's limit)."""
    nid = f"{event_id}|{recipient}|{channel}"
    if len(nid) <= 64:
        return nid
    return f"{event_id}|{hashlib.sha256(f'{recipient}|{channel}'.encode()).hexdigest()[:24]}"


def aware(dt: datetime) -> datetime:
    """The database may hand back naive UTC datetimes."""
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


normalize_tracking_code = normalize_code  # the shape of intake's tracking codes (contracts)


@dataclass(frozen=True)
class Recipient:
    id: str  # "applicant", "proxy", "unit:<code>", "person:<person_id>"
    kind: str  # applicant | proxy | staff | expert (NotificationSent.recipient_kind)
    unit_code: str | None = None


class NotifyService(InboxReads):
    def __init__(self, repo: NotifyRepository, cipher: FieldCipher, settings: NotifySettings | None = None,
                 enabled_channels: set[str] | None = None, clock: Callable[[], datetime] | None = None) -> None:
        self.settings = settings or NotifySettings()
        self.links = self.settings.link_policy
        self.clock = clock or (lambda: datetime.now(UTC))
        self.repo = repo
        self.contacts = repo.contacts
        self.ledger = repo.ledger
        self.cipher = cipher
        self.enabled = enabled_channels if enabled_channels is not None else {"webhook"}
        self.quiet = parse_quiet_hours(self.settings.quiet_hours)
        # the delivery worker's wake-up (set by the worker): which channel, and when the message is due
        self.on_queued: Callable[[str | None, datetime | None], None] = lambda channel, due: None
        # Set by this process's delivery worker when it runs (worker.enable_taking, ADR 0209): a batch's texts due
        # now that the worker may take at once are staged already claimed, and handed to it once committed.
        self.take_at_once: Callable[[list[dict[str, Any]], Any], Awaitable[None]] | None = None
        self.on_taken: Callable[[str, dict[str, Any]], None] = lambda channel, doc: None
        self._due_now: list[dict[str, Any]] | None = None  # in a batch's view: its texts due now, in staging order
        self._static_contacts: dict[str, dict[str, str]] = (
            json.loads(self.settings.unit_contacts_json) if self.settings.unit_contacts_json.strip() else {}
        )

    async def setup(self) -> None:
        await self.repo.setup()

    async def in_batch(self, events: Sequence[E], tx: Tx, handle: Callable[[NotifyService, E, Tx], Awaitable[None]],
                       *, waiting: bool = False) -> None:
        """A poll's events in the order they came, as ``handle`` plans one (ADR 0155): the cases' contacts read in
        one query (``waiting``: and the events parked for them), the ledger entries of the batch written with one
        read and one insert, the contacts' changes once — all in the consumer's one transaction."""
        view = copy.copy(self)
        view.contacts = self.contacts.in_batch(tx.session)
        view.ledger = self.ledger.in_batch(tx.session)
        view._due_now = [] if self.take_at_once is not None else None
        await view.contacts.load([e.case_id for e in events], waiting=waiting, session=tx.session)
        for event in events:
            await handle(view, event, tx)
        if view._due_now and self.take_at_once is not None:
            await self.take_at_once(view._due_now, tx.session)  # claimed on insert: no claim update (ADR 0209)
        await view.ledger.flush()
        await view.contacts.flush()

    # --- contacts -----------------------------------------------------------------------------------

    async def on_submitted(self, event: CaseSubmitted, tx: Tx) -> None:
        enc = self.cipher.encrypt
        doc: dict[str, Any] = {
            "case_number": event.case_number,
            "phone": enc(event.applicant.phone, context="recipients.phone"),
            "phone_key": self.cipher.blind_index(event.applicant.phone, context="recipients.phone"),
            "tracking_code": enc(event.tracking_code, context="recipients.tracking_code"),
            "tracking_index": self.cipher.blind_index(normalize_tracking_code(event.tracking_code),
                                                      context="recipients.tracking_code"),
            "location_unit": event.location.unit_code,
            "applicant_masked": mask_name(event.applicant.name),
        }
        if event.applicant_wechat_openid:
            doc["wechat_openid"] = enc(event.applicant_wechat_openid, context="notifications.address")
        if event.proxy is not None:
            doc["proxy_phone"] = enc(event.proxy.submitter.phone, context="recipients.phone")
            doc["proxy_phone_key"] = self.cipher.blind_index(event.proxy.submitter.phone, context="recipients.phone")
        # An event that came first wrote this document too (see handle), so the two transactions conflict and one
        # retries, seeing the other — no event is left waiting unseen.
        await self.contacts.save_case(event.case_id, doc, tx.session)
        for p in await self.contacts.waiting(event.case_id, tx.session):
            await self.plan(parse_event(p.source), tx)
            await self.contacts.unpark(p.id, tx.session)

    async def case_record(self, case_id: str, tx: Tx) -> CaseContact | None:
        return await self.contacts.case(case_id, tx.session)

    async def unit_contacts_of(self, unit_code: str) -> dict[str, str]:
        own = await self.contacts.unit_channels(unit_code)  # outside the batch's transaction (ADR 0219)
        if own is not None:
            return own
        if unit_code in self._static_contacts:
            return dict(self._static_contacts[unit_code])
        # "*": every other unit, "{unit}" standing for its code (the local run points all units at the dev gateway)
        return {k: v.replace("{unit}", unit_code) for k, v in self._static_contacts.get("*", {}).items()}

    # --- planning: who hears what ----------------------------------------------------------------------

    async def handle(self, event: Event, tx: Tx) -> None:
        """Entry point of every consumer: plan now, or wait for the case's contacts."""
        record = await self.case_record(event.case_id, tx)
        if record is None:
            await self.contacts.park(str(event.event_id), event.case_id, event.model_dump_json(), datetime.now(UTC),
                                     tx.session)
            # Touch the case's contact document: if case.submitted is being processed right now, one of the
            # two transactions hits a write conflict and is retried — never both commit blind to each other.
            await self.contacts.touch_case(event.case_id, tx.session)
            return
        await self.plan(event, tx, record)

    def _safe_links(self, event: E) -> E:
        """A link from an event reaches people only with an allowed scheme and host (docs/adr/0072)."""
        url = getattr(event, "join_url", None)
        if url and not self.links.allows(url):
            log.warning("link left out of a message: scheme or host not allowed", event_id=str(event.event_id),
                        event_type=event.event_type)
            return event.model_copy(update={"join_url": None})
        return event

    async def plan(self, event: Event, tx: Tx, record: CaseContact | None = None) -> None:
        event = self._safe_links(event)
        record = record or await self.case_record(event.case_id, tx)
        assert record is not None
        cn = record.case_number
        if isinstance(event, CaseStatusChanged):
            await self._plan_status(event, tx, record)
        elif isinstance(event, CaseAssigned):
            await self.to_unit(tx, event, event.unit_code, t.render_unit_assigned(event, cn), record)
        elif isinstance(event, SupervisionNotice):
            await self.to_unit(tx, event, event.unit_code, t.render_supervision(event, cn), record)
            if event.step is not SupervisionStep.WARNING and event.supervisor_unit_code != event.unit_code:
                await self.to_unit(tx, event, event.supervisor_unit_code,
                                   t.render_supervision(event, cn, to_supervisor=True), record)
        elif isinstance(event, CaseEscalated):
            await self.to_unit(tx, event, event.to_unit_code, t.render_escalated(event, cn, incoming=True), record)
            await self.to_unit(tx, event, event.from_unit_code, t.render_escalated(event, cn, incoming=False), record)
        elif isinstance(event, JointSummoned):
            for unit in dict.fromkeys(event.summoned_unit_codes):
                await self.to_unit(tx, event, unit, t.render_joint_summoned(event, cn), record)
        elif isinstance(event, LeaderAssigned):
            await self.to_unit(tx, event, event.unit_code, t.render_leader_assigned(event, cn), record)
        elif isinstance(event, WarningRaised):
            # the place's unit and the chain above it (community, street): each hears of it once
            for unit in dict.fromkeys([*([event.unit_code] if event.unit_code else []), *event.chain_unit_codes]):
                await self.to_unit(tx, event, unit, t.render_warning(event, own_place=unit == event.unit_code),
                                   record)
        elif isinstance(event, MediationScheduled):
            await self._plan_session(event, tx, record)
        elif isinstance(event, CaseClosed):
            await self.to_applicant(tx, event, t.render_rating_request(event, cn), record)
        elif isinstance(event, FollowupDue):
            await self.to_applicant(tx, event, t.render_followup_applicant(event, cn), record)
            if event.unit_code:
                await self.to_unit(tx, event, event.unit_code, t.render_followup_unit(event, cn), record)

    async def _plan_status(self, event: CaseStatusChanged, tx: Tx, record: CaseContact) -> None:
        if event.acting_unit_code and event.acting_unit_code != record.acting_unit:
            await self.contacts.set_acting_unit(event.case_id, event.acting_unit_code, tx.session)
            record = record.acting(event.acting_unit_code)
        code = self.cipher.decrypt(record.tracking_code, context="recipients.tracking_code")
        msg = t.render_applicant(event, record.case_number, display_code(normalize_tracking_code(code)))
        # A step announced by its own richer event (a session's time and link, the closing with the rating
        # request) reaches the applicant through that event's message: one message per step, not two. The
        # proxy submitter hears of it here.
        own = event.announced_by in ANNOUNCED_TO_APPLICANT
        await self.to_applicant(tx, event, msg, record, channels=() if own else ("inbox", "sms"),
                                proxy_msg=t.render_proxy(event, record.case_number, record.applicant_masked))

    async def _plan_session(self, event: MediationScheduled, tx: Tx, record: CaseContact) -> None:
        cn = record.case_number
        await self.to_applicant(tx, event, t.render_session(event, cn, reminder=False), record)
        remind_at = event.starts_at - timedelta(hours=self.settings.reminder_hours_before)
        if remind_at > self.clock():
            reminder = t.render_session(event, cn, reminder=True)
            await self.to_applicant(tx, event, reminder, record, channels=("sms", "wechat"), not_before=remind_at,
                                    recipient_suffix="#reminder")
        if event.expert_kinds:
            # The hosting unit's desk still hears which experts the session needs (and confirms with them).
            await self.to_unit(tx, event, event.unit_code, t.render_expert_invitation(event, cn), record,
                               kind="expert")
        for person_id in dict.fromkeys(event.expert_person_ids):
            await self._session_to_expert(tx, event, person_id, cn)

    async def _session_to_expert(self, tx: Tx, event: MediationScheduled, person_id: str, cn: str) -> None:
        """An invited expert hears the session's time: inbox (with an online session's link) and one SMS (without
        it) to the phone mediation gave in the invitation. The invitation is another topic and may not have been
        read yet: then the SMS waits in the ledger (``awaiting_contact``) until it is, or the session starts."""
        rcpt = Recipient(f"person:{person_id}", "expert")
        scope = [event.unit_code]
        await self.stage(tx, event, rcpt, "inbox", t.render_expert_session(event, cn, with_link=True), scope=scope,
                         case_number=cn)
        if "sms" not in self.enabled:
            return
        # Write the expert's contact document either way: an invitation being read at this very moment writes it
        # too, so one of the two transactions retries and sees the other — no SMS is left waiting unseen.
        await self.contacts.note_expert_session(person_id, tx.session)
        contact = await self.contacts.expert(person_id, tx.session)
        texts: list[tuple[Recipient, t.Rendered, datetime | None]] = [
            (rcpt, t.render_expert_session(event, cn, with_link=False), None)]
        remind_at = event.starts_at - timedelta(hours=self.settings.reminder_hours_before)
        if remind_at > self.clock():  # the applicant's reminder rule: experts forget too
            texts.append((Recipient(f"person:{person_id}#reminder", "expert"),
                          t.render_expert_session(event, cn, with_link=False, reminder=True), remind_at))
        for who, sms, not_before in texts:
            if contact is not None and contact.seen_at is not None:
                if contact.phone:
                    await self.stage(tx, event, who, "sms", sms, address=contact.phone,
                                     address_key=contact.phone_key, scope=scope, case_number=cn,
                                     not_before=not_before)
                continue
            await self.stage(tx, event, who, "sms", sms, scope=scope, case_number=cn, not_before=not_before,
                             awaiting_contact_until=event.starts_at)

    async def on_expert_invited(self, event: ExpertInvited, tx: Tx) -> None:
        """The invited expert hears of it: their inbox, and one SMS when mediation knows a phone. The event
        carries all the text needs (case number, category), so it never waits for the case's contacts."""
        event = self._safe_links(event)
        msg = t.render_expert_invited(event, self.settings.mediation_public_url)
        rcpt = Recipient(f"person:{event.person_id}", "expert")
        scope = [event.unit_code]  # a message that finally fails lands in the hosting unit's inbox
        await self.stage(tx, event, rcpt, "inbox", msg, scope=scope, case_number=event.case_number)
        if event.expert_phone and "sms" in self.enabled:
            # A resent invitation (staff sent a new code; the old link is dead): a text of an older one still
            # waiting (quiet hours, the digest window) is withdrawn, so no digest carries the dead link. The
            # events of one case come in order (same key), so "older" is simply "already staged".
            await self.ledger.withdraw_invitation_texts(event.invitation_id, str(event.event_id), tx.session)
            await self.stage(tx, event, rcpt, "sms", msg,
                             address=self.cipher.encrypt(event.expert_phone, context="recipients.phone"),
                             address_key=self.cipher.blind_index(event.expert_phone, context="recipients.phone"),
                             scope=scope, case_number=event.case_number,
                             extra={"invitation_id": event.invitation_id})
        await self._learn_expert(event, tx)

    async def on_expert_answered(self, event: ExpertAnswered, tx: Tx) -> None:
        """The hosting unit hears an invited expert's answer (a decline: invite someone else): its inbox and its
        configured channels. Like the invitation, the event carries the case number: it never waits for the
        case's contacts (the applicant's contacts are not needed for a unit message)."""
        await self.to_unit(tx, event, event.unit_code, t.render_expert_answered(event),
                           CaseContact(event.case_number))

    async def _learn_expert(self, event: ExpertInvited, tx: Tx) -> None:
        """Keep the expert's contact (that of the newest invitation: invitations of different cases are read in any
        order), then release the session texts that waited for it."""
        pid = event.person_id
        known = await self.contacts.expert(pid, tx.session)
        update: dict[str, Any] = {"$inc": {"invitations": 1}}  # always a write: see _session_to_expert
        if known is None or known.seen_at is None or aware(known.seen_at) <= event.occurred_at:
            phone = event.expert_phone
            update["$set"] = {
                "seen_at": event.occurred_at,
                "phone": self.cipher.encrypt(phone, context="recipients.phone") if phone else None,
                "phone_key": self.cipher.blind_index(phone, context="recipients.phone") if phone else None,
            }
        await self.contacts.learn_expert(pid, update, tx.session)
        contact = await self.contacts.expert(pid, tx.session)
        assert contact is not None
        now = self.clock()
        for w in await self.ledger.awaiting_contact(pid, tx.session):
            if contact.phone and aware(w["expires_at"]) > now:
                base = max(now, aware(w["not_before"]))  # a reminder keeps its time
                due = base if w.get("urgent") else release_time(base, self.quiet)
                change = {"state": "queued", "not_before": due, "address": contact.phone,
                          "address_key": contact.phone_key}
            else:  # no phone (inbox only), or the session has begun: a text now would only confuse
                change = {"state": "dropped", "dropped_reason": "no_phone" if not contact.phone else "expired"}
            await self.ledger.resolve_awaiting(w["_id"], change, tx.session)
            if change["state"] == "queued":
                tx.after_commit(self._wake_for(w.get("channel", "sms"), due))

    def _wake_for(self, channel: str, due: datetime) -> Callable[[], None]:
        return lambda: self.on_queued(channel, due)

    # --- staging ---------------------------------------------------------------------------------------

    def _scope(self, record: CaseContact, *units: str | None) -> list[str]:
        scope = [u for u in (*units, record.acting_unit, record.location_unit) if u]
        return list(dict.fromkeys(scope)) or [self.settings.ops_unit_code]

    async def to_applicant(self, tx: Tx, event: Event, msg: t.Rendered, record: CaseContact, *,
                           proxy_msg: t.Rendered | None = None, channels: tuple[str, ...] = ("inbox", "sms"),
                           not_before: datetime | None = None, recipient_suffix: str = "") -> None:
        scope = self._scope(record, getattr(event, "acting_unit_code", None), getattr(event, "unit_code", None))
        # One message to the phone per step: a WeChat template message when the applicant came through the
        # mini-program (an openid is known) and WeChat is configured, else a text. The choice depends only on
        # the case, so a redelivered event picks the same channel and the ledger keeps it to one. Once WeChat refused
        # the applicant for good (unsubscribed, bad openid: the worker sets ``wechat_off``), the case's later steps go
        # by text at once — the step that hit the refusal already went by text as its fallback (ADR 0053).
        wechat = record.wechat_openid and not record.wechat_off and "wechat" in self.enabled
        phone_channel = "wechat" if wechat else "sms"
        rcpt = Recipient("applicant" + recipient_suffix, "applicant")
        if "inbox" in channels:
            await self.stage(tx, event, rcpt, "inbox", msg, scope=scope, not_before=not_before,
                             case_number=record.case_number)
        if any(ch in INTRUSIVE for ch in channels) and phone_channel in self.enabled:
            await self.stage(tx, event, rcpt, phone_channel, msg,
                             address=record.wechat_openid if phone_channel == "wechat" else record.phone,
                             address_key=record.phone_key, scope=scope, not_before=not_before,
                             case_number=record.case_number)
        if proxy_msg is not None and record.proxy_phone and "sms" in self.enabled:
            # 代办人: told every step of the case they submitted (by SMS; the inbox is the applicant's).
            await self.stage(tx, event, Recipient("proxy" + recipient_suffix, "proxy"), "sms", proxy_msg,
                             address=record.proxy_phone, address_key=record.proxy_phone_key,
                             scope=scope, not_before=not_before, case_number=record.case_number)

    async def to_unit(self, tx: Tx, event: Event, unit_code: str, msg: t.Rendered, record: CaseContact, *,
                      kind: str = "staff") -> None:
        rcpt = Recipient(f"unit:{unit_code}", kind, unit_code)
        scope = [unit_code]
        await self.stage(tx, event, rcpt, "inbox", msg, scope=scope, case_number=record.case_number)
        contacts = await self.unit_contacts_of(unit_code)
        for ch, field in (("webhook", "webhook_url"), ("email", "email"), ("wechat", "wechat_openid")):
            if ch in self.enabled and contacts.get(field):
                await self.stage(tx, event, rcpt, ch, msg,
                                 address=self.cipher.encrypt(contacts[field], context="notifications.address"),
                                 address_key=f"unit:{unit_code}", scope=scope, case_number=record.case_number)

    async def stage(self, tx: Tx, event: Event, rcpt: Recipient, channel: str, msg: t.Rendered, *,
                    address: str | None = None, address_key: str | None = None, scope: list[str],
                    case_number: str, not_before: datetime | None = None,
                    awaiting_contact_until: datetime | None = None, extra: dict[str, Any] | None = None
                    ) -> str | None:
        """One ledger entry; inbox delivered at once (same transaction), other channels queued for the worker —
        or, with ``awaiting_contact_until``, parked without an address until the contact comes (or that time)."""
        nid = notification_id(str(event.event_id), rcpt.id, channel)
        now = self.clock()
        doc: dict[str, Any] = {
            "_id": nid, "source_event_id": str(event.event_id), "source_event_type": event.event_type,
            "case_id": event.case_id, "case_number": case_number, "correlation_id": event.correlation_id,
            "recipient": rcpt.id, "recipient_kind": rcpt.kind, "unit_code": rcpt.unit_code, "channel": channel,
            "template_id": msg.template_id, "title": msg.title,
            "text": self.cipher.encrypt(msg.text, context="notifications.text"),
            "urgent": msg.urgent, "scope_units": scope, "attempts": 0, "created_at": now, **(extra or {}),
            "seq": ObjectId(),  # staging order within the same millisecond (a person's texts go in order)
            "occurred_at": getattr(event, "occurred_at", None),  # a digest tells the steps in their order
        }
        if channel == "inbox":
            doc.update(state="delivered", delivered_at=now, read_at=None)
            # delivered in our own database: told on notification.sent once written (a batch writes at its end)
            await self.ledger.add_new(doc, tx.session,
                                      lambda: tx.emit(topics.NOTIFICATION_SENT, self.sent_event(doc, event.event_id)))
            return nid
        due = max(now, not_before) if not_before else now
        if channel in INTRUSIVE and not msg.urgent:
            due = release_time(due, self.quiet)
        doc.update(state="queued", not_before=due, address=address, address_key=address_key or rcpt.id,
                   batch_id=None, owner=None, claimed_at=None)
        if awaiting_contact_until is not None:  # never claimed by the worker in this state
            doc.update(state="awaiting_contact", expires_at=awaiting_contact_until)

        elif self._due_now is not None and due <= now:
            self._due_now.append(doc)  # the worker may take it at once (ADR 0209)

        def queued() -> None:
            if (after_commit := getattr(tx, "after_commit", None)) is None:
                return
            if doc["state"] == "sending":  # taken at once: the worker sends it in its next round
                after_commit(lambda: self.on_taken(channel, doc))
            elif doc["state"] == "queued":
                # wakes the worker's loop of that channel once the message is visible (no polling)
                after_commit(lambda: self.on_queued(channel, doc["not_before"]))

        await self.ledger.add_new(doc, tx.session, queued)  # one upsert; in a batch, with the batch's others
        return nid

    @staticmethod
    def sent_event(doc: dict[str, Any], source_event_id: Any, held_until: datetime | None = None) -> NotificationSent:
        return NotificationSent(
            case_id=doc["case_id"], correlation_id=doc.get("correlation_id") or doc["case_id"],
            causation_id=source_event_id, actor=Actor(kind=ActorKind.SYSTEM, service="notify"),
            notification_id=doc["_id"], source_event_id=source_event_id, recipient_kind=doc["recipient_kind"],
            channel=doc["channel"], template_id=doc["template_id"], held_until=held_until,
        )
