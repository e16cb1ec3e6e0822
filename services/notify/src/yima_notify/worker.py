"""The delivery worker: sends what the consumers staged, once in effect (ADR 0050).

One loop per outside channel (a slow or broken channel never holds up the others), in every replica. It sleeps
while there is nothing to send: the consumers wake it when they commit a queued message (same process), else it
looks again after a wait that doubles from ``worker_poll_seconds`` up to ``worker_idle_max_seconds``, never past
the next message's due time (ADR 0060). Each round takes up to ``worker_claim_batch`` batches at once:

1. **Claim** atomically (queued → sending, with this worker as owner): two replicas never send the same message
   (claims.py: webhooks and e-mails in bulk, texts one batch per person per round in a fixed handful of calls,
   a vanished worker's claims taken over after ``claim_ttl_seconds`` under the SAME idempotency key). The
   round's claiming calls are bounded together (``worker_round_seconds``); nothing ends a channel's loop but a
   cancel — an error is logged and the loop goes on.
2. **Digest / throttle** (SMS, WeChat): at most one text per recipient per ``digest_window_seconds``; what
   piles up meanwhile (or over the quiet hours) goes as ONE text — decided by ``core.digest``
   (``sms_digest_decision``, ``wait_for_earlier``); this module reads the facts and does what it says. A batch's
   members and its key (the id of its first notification) are fixed when it forms, so a retry or takeover resends
   exactly the same thing. The ledger is reached through ``ports.DeliveryQueue`` (adapters/mongo_queue.py).
3. **Send** through the channel adapter with the idempotency key (different people at once, one person's in
   order), then **mark** the round's deliveries and stage their ``notification.sent`` in one transaction.
   Remaining window: a crash between the gateway's accept and the
   mark makes the takeover send again — harmless where the gateway deduplicates on the key (SMS gateway,
   WeChat ``client_msg_id``, webhooks), a possible duplicate for SMTP (documented in ADR 0050).
4. **Fail** with backoff and bounded attempts; a circuit breaker per channel stops claiming while the channel
   is down, so an outage does not eat the attempts. A message that finally fails is marked ``failed``,
   ``notification.failed`` is published, and the unit concerned hears of it in its inbox.
5. **Fall back**: an applicant's WeChat message that finally fails (or that WeChat refuses for good: the user
   unsubscribed) is staged once as a text to the applicant's phone, in the same transaction as the failure, under
   the ledger key a text of that step would have had anyway — so still one per (event, recipient, channel),
   whatever crashes or redeliveries come (ADR 0053).
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter
from yima_contracts import Actor, NotificationFailed, topics
from yima_contracts.codes import ActorKind
from yima_kit.logging import get_logger
from yima_kit.uow import Tx, UnitOfWork

from .claims import Claims
from .core import templates as t
from .core.digest import DigestPart, plan_digest
from .core.policy import LONG_SMS_MAX_CHARS, CircuitBreaker, backoff
from .ports import DeliveryError, Doc, Message, PermanentError
from .service import INTRUSIVE, NotifyService, Recipient, aware, notification_id

log = get_logger(__name__)
# One count per attempt to hand a message (or a digest) to its channel: delivered, error (retried or failed
# later), refused (permanently). The alert on the delivery failure rate reads it (deploy/monitoring).
DELIVERIES = Counter("yima_notify_deliveries_total", "Attempts to deliver a message, by channel and outcome",
                     ["channel", "outcome"])


def utcnow() -> datetime:
    return datetime.now(UTC)


class DeliveryWorker:
    def __init__(self, service: NotifyService, client: Any, outbox: Any, channels: dict[str, Any],
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.svc = service
        self.s = service.settings
        self.client = client
        self.outbox = outbox
        self.queue = service.repo.queue
        self.channels = channels
        self.clock = clock
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.breakers = {ch: CircuitBreaker(self.s.breaker_threshold, self.s.breaker_cooldown_seconds)
                         for ch in channels}
        self.wakeups = {ch: asyncio.Event() for ch in channels}
        self.uow = UnitOfWork(client, outbox)
        self.claims = Claims(self.queue, self.s, self.owner)  # what a round takes (claims.py)
        self._next_due: dict[str, datetime | None] = {}
        self._wait: dict[str, float] = {}  # per channel: the next idle wait (doubles up to the idle maximum)
        self._began: dict[str, float] = {}  # per channel: when the last round began (loop time)
        self._taken: dict[str, list[Doc]] = {}  # per channel: texts staged already this worker's (ADR 0209)
        service.on_queued = self.wake

    def wake(self, channel: str | None = None, due: datetime | None = None) -> None:
        """A message was queued (committed) in this process: the loop of its channel (every loop when None)
        looks now — or, for a message due later (quiet hours), knows not to sleep past it."""
        for ch, event in self.wakeups.items():
            if channel is None or ch == channel:
                if due is not None:
                    known = self._next_due.get(ch)
                    self._next_due[ch] = due if known is None else min(known, due)
                event.set()

    # --- loop ------------------------------------------------------------------------------------------

    async def run_channel(self, channel: str) -> None:
        """The channel's loop, for ever: a round, then a wait (unless it was busy). Nothing ends it but a
        cancel: an error in a round or around it is logged and the loop goes on (a silent end would leave the
        channel's messages queued for good while the process looks healthy)."""
        self._wait[channel] = self.s.worker_poll_seconds
        while True:
            try:
                await self._turn(channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug around the round: say so and go on after a pause
                log.error("delivery loop error", channel=channel, error=type(exc).__name__, detail=str(exc)[:200])
                await asyncio.sleep(self.s.worker_poll_seconds)

    async def _turn(self, channel: str) -> None:
        loop = asyncio.get_running_loop()
        # Rounds start at most every ``worker_gather_seconds``: what the consumers of a busy process queue
        # meanwhile is claimed and marked in one round, not one round per commit.
        if (left := self._began.get(channel, 0.0) + self.s.worker_gather_seconds - loop.time()) > 0:
            await asyncio.sleep(left)
        began = self._began[channel] = loop.time()
        woken = self.wakeups[channel]
        woken.clear()  # before the round: a message queued during it wakes the wait below at once
        try:
            busy = await self.step(channel)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # database blinked (or a call outlived its bound): the ledger keeps everything
            log.warning("delivery round failed", channel=channel, error=type(exc).__name__, detail=str(exc)[:200])
            busy = False
        if (took := loop.time() - began) > self.s.worker_round_seconds:
            log.warning("delivery round slow", channel=channel, seconds=round(took, 1))
        if busy:
            self._wait[channel] = self.s.worker_poll_seconds
            return
        timeout = wait = self._wait[channel]
        for at in (self._next_due.get(channel), self.claims.stale_check_at.get(channel)):
            if at is not None:  # never sleep past a due message or a claim that may have expired
                timeout = min(timeout, max(self.s.worker_poll_seconds, (at - self.clock()).total_seconds()))
        try:
            await asyncio.wait_for(woken.wait(), timeout=timeout)
            self._wait[channel] = self.s.worker_poll_seconds
        except TimeoutError:
            self._wait[channel] = min(wait * 2, self.s.worker_idle_max_seconds)

    def start(self) -> list[asyncio.Task[None]]:
        self.enable_taking()
        tasks = [asyncio.create_task(self.run_channel(ch), name=f"notify-{ch}") for ch in self.channels]
        for task in tasks:
            task.add_done_callback(_ended)
        return tasks

    async def drain(self, channel: str | None = None, max_steps: int = 1000) -> None:
        """Run until nothing is due (tests and tools)."""
        for ch in [channel] if channel else list(self.channels):
            for _ in range(max_steps):
                if not await self.step(ch):
                    break

    # --- one round -------------------------------------------------------------------------------------

    async def step(self, channel: str) -> bool:
        """Claim and deliver up to ``worker_claim_batch`` batches of ``channel``; False when there was nothing
        to do. The claiming's database calls are bounded together (``worker_round_seconds``): a call that hangs
        fails the round (logged), never the loop."""
        breaker = self.breakers[channel]
        if not breaker.allow():
            return False
        now = self.clock()
        with self.queue.bounded(self.s.worker_round_seconds):
            batches, busy = await self._claim_round(channel, now)
            if not batches:
                breaker.probing = False
                if not busy:  # the loop looks again within its wait (idle maximum at most): nothing later matters
                    wait = self._wait.get(channel, self.s.worker_idle_max_seconds)
                    self._next_due[channel] = await self.queue.next_due(channel, now + timedelta(seconds=2 * wait))
                return busy
        await self.deliver_many(channel, batches)
        return True

    async def _claim_round(self, channel: str, now: datetime) -> tuple[list[list[Doc]], bool]:
        batches: list[list[Doc]] = []
        if taken := await self.claims.take_over_stale(channel, now):
            batches.append(taken)
        # what was staged already ours goes after what this round claims (older texts first)
        at_once = [[d] for d in self._taken.pop(channel, []) if d["claimed_at"] + self.claims.ttl / 2 > now]
        n = self.s.worker_claim_batch - len(batches) - len(at_once)
        if channel in INTRUSIVE:
            people = {b[0]["address_key"] for b in batches + at_once}
            texts, busy = await self.claims.texts(channel, n, people, now)
            return batches + texts + at_once, busy
        return batches + await self.claims.bulk(channel, n, now) + at_once, False

    # --- texts claimed on insert (ADR 0209) -------------------------------------------------------------

    def enable_taking(self) -> None:
        """From now on the consumers of this process stage the texts this worker may send at once already claimed
        by it (``take_at_once``) and hand them over when committed (``adopt``): no claim update for them."""
        self.svc.take_at_once = self.take_at_once
        self.svc.on_taken = self.adopt

    async def take_at_once(self, docs: list[Doc], session: Any) -> None:
        """Of a consumer batch's new texts due now (in staging order), make this worker the owner of those it would
        send alone in its next round anyway, before they are written (in the batch's transaction): a webhook or an
        e-mail whose channel is up; a text (SMS, WeChat) that is the batch's only one to its person, when nothing
        of the person's is on its way (queued or being sent: order) and their digest window is over (throttle).
        The person's send time is written with them (``note_sent``): a batch taking a text for the same person at
        the same moment conflicts with this one, retries and sees it. The rest stays queued, for the rounds; a
        text inside its person's window is staged due at the window's end (the round would hold it till then:
        one write fewer)."""
        now = self.clock()
        people: dict[str, dict[str, list[Doc]]] = {}
        for d in docs:
            channel = d["channel"]
            if channel not in self.channels or self.breakers[channel].state != "closed" or d["not_before"] > now:
                continue
            if channel in INTRUSIVE:
                people.setdefault(channel, {}).setdefault(d["address_key"], []).append(d)
            else:
                self._claim_at_once(d, now)
        window = timedelta(seconds=self.s.digest_window_seconds)
        for channel, texts in people.items():
            last = await self.queue.last_sent_many(channel, list(texts)) if window > timedelta(0) else {}
            for key, at in last.items():
                if at + window > now:  # inside the person's window: due at its end, as the round would hold it
                    for d in texts[key]:
                        d["not_before"] = max(d["not_before"], at + window)
            # several to one person: the round makes them one digest
            keys = [k for k, ds in texts.items() if len(ds) == 1 and ds[0]["not_before"] <= now]
            if not keys:
                continue
            flights = await self.queue.in_flight_many(channel, keys)
            free = [k for k in keys if not flights.get(k)]
            for k in free:
                self._claim_at_once(texts[k][0], now)
            if free and window > timedelta(0):
                await self.queue.note_sent(channel, free, now, session)

    def _claim_at_once(self, doc: Doc, now: datetime) -> None:
        doc.update(state="sending", owner=self.owner, claimed_at=now)

    def adopt(self, channel: str, doc: Doc) -> None:
        """A text claimed on insert is committed: sent in the channel's next round. Should this process end first,
        its claim expires and a takeover sends it (under the same key), as for any claim."""
        self._taken.setdefault(channel, []).append(doc)
        self.wake(channel)

    async def claim(self, channel: str, *, skip_addresses: set[str] | None = None,
                    stale: bool = True) -> list[Doc] | None:
        """One batch, message by message (tests and tools; claims.Claims.one)."""
        now = self.clock()
        if stale and (taken := await self.claims.take_over_stale(channel, now)):
            return taken
        return await self.claims.one(channel, now, skip_addresses=skip_addresses)

    def _messages(self, channel: str, batch: list[Doc]) -> list[Message]:
        """The batch as texts: one, or a digest split where it does not fit (core.digest; none dropped). The first
        text keeps the batch's key, the next ones ``<key>.<n>``: a retry resends each under its own key."""
        dec = self.svc.cipher.decrypt
        first = batch[0]
        # the steps in the order they happened (events of one case come on several topics, staged in any order)
        batch = sorted(batch, key=lambda d: (d.get("occurred_at") or d["created_at"], d["created_at"]))
        texts = [dec(d["text"], context="notifications.text") for d in batch]
        parts = (plan_digest(t.SIGNATURE, texts, LONG_SMS_MAX_CHARS) if channel in INTRUSIVE
                 else [DigestPart(texts[0], (0,))])
        address = dec(first["address"], context=(
            "recipients.phone" if channel == "sms" else "notifications.address"))
        key = first.get("batch_id") or first["_id"]  # a batch of one has no batch_id until a retry (ADR 0060)
        out = []
        for n, part in enumerate(parts):
            docs = [batch[i] for i in part.members]
            one = len(docs) == 1
            out.append(Message(
                key=key if n == 0 else f"{key}.{n}", address=address,
                title=docs[0]["title"] if one else "新消息汇总", text=part.text,
                template_id=docs[0]["template_id"] if one else "digest.v2",
                meta={"case_id": docs[0]["case_id"], "case_number": docs[0].get("case_number", ""),
                      "source_event_id": docs[0]["source_event_id"],
                      "source_event_type": docs[0]["source_event_type"],
                      "notification_ids": [d["_id"] for d in docs]},
            ))
        return out

    async def deliver(self, channel: str, batch: list[Doc]) -> None:
        await self.deliver_many(channel, [batch])

    async def deliver_many(self, channel: str, batches: list[list[Doc]]) -> None:
        """Send the round's batches — one person's (or unit's) in order, different ones at once — then mark every
        one that went in ONE transaction."""
        by_address: dict[str, list[list[Doc]]] = {}
        for b in batches:
            if b:
                by_address.setdefault(str(b[0].get("address_key")), []).append(b)

        async def in_order(queue: list[list[Doc]]) -> list[list[Doc]]:
            return [b for b in queue if await self._send(channel, b)]

        sent = [b for done in await asyncio.gather(*(in_order(q) for q in by_address.values())) for b in done]
        if sent:
            await self.mark_delivered(channel, [d for b in sent for d in b], batches=len(sent))

    async def _send(self, channel: str, batch: list[Doc]) -> bool:
        """True when the channel took the batch; a failure is recorded here (retry later, or failed for good)."""
        breaker = self.breakers[channel]
        try:
            for msg in self._messages(channel, batch):
                await self.channels[channel].send(msg)
        except PermanentError as exc:
            DELIVERIES.labels(channel, "refused").inc()
            breaker.success()  # the channel answered; this message cannot go
            await self.fail(channel, batch, str(exc), permanent=True)
            return False
        except DeliveryError as exc:
            DELIVERIES.labels(channel, "error").inc()
            breaker.failure()
            await self.retry_or_fail(channel, batch, str(exc))
            return False
        except Exception as exc:  # a bug or bad data: do not lose the message; count it as an attempt
            DELIVERIES.labels(channel, "error").inc()
            breaker.failure()
            await self.retry_or_fail(channel, batch, f"{type(exc).__name__}")
            return False
        breaker.success()
        DELIVERIES.labels(channel, "delivered").inc()
        return True

    async def mark_delivered(self, channel: str, docs: list[Doc], batches: int = 1) -> None:
        """Mark what was sent delivered and stage its ``notification.sent``: one read, one update, one throttle
        write and one outbox insert for the whole round."""
        now = self.clock()
        ids = [d["_id"] for d in docs]
        held = held_until(docs)

        async def work(tx: Tx) -> int:
            still = await self.queue.mark_delivered(self.owner, ids, now, tx.session)
            if not still:
                return 0
            for d in docs:
                if d["_id"] in still:
                    tx.emit(topics.NOTIFICATION_SENT, self.svc.sent_event(
                        d, uuid.UUID(d["source_event_id"]), held.get(d.get("batch_id") or d["_id"])))
            if channel in INTRUSIVE:  # the digest window starts again for each person who got a text
                people = sorted({d["address_key"] for d in docs if d["_id"] in still})
                await self.queue.note_sent(channel, people, now, tx.session)
            return len(still)

        n = await self.uow.run(work)
        if n < len(docs):  # another worker took a batch over (we were too slow): it resends under the same key
            log.warning("delivery marked by another worker", channel=channel, batches=batches,
                        marked=n, sent=len(docs))

    async def retry_or_fail(self, channel: str, batch: list[Doc], error: str) -> None:
        attempts = max(d.get("attempts", 0) for d in batch) + 1
        if attempts >= self.s.max_attempts:
            await self.fail(channel, batch, error, attempts=attempts)
            return
        due = self.clock() + backoff(attempts, self.s.retry_base_seconds, self.s.retry_max_seconds)
        key = batch[0].get("batch_id") or batch[0]["_id"]  # a retry keeps its batch (members and key)
        await self.queue.requeue(self.owner, [d["_id"] for d in batch],
                                 {"not_before": due, "attempts": attempts, "last_error": error[:300], "batch_id": key})
        self.wake(channel, due)  # the loop's next wait ends by this retry's due time
        self._next_due[channel] = min(due, self._next_due.get(channel) or due)
        log.info("delivery will be retried", channel=channel, batch=key, attempts=attempts,
                 error=error[:200])

    async def fail(self, channel: str, batch: list[Doc], error: str, attempts: int | None = None,
                   permanent: bool = False) -> None:
        now = self.clock()
        attempts = attempts or max(d.get("attempts", 0) for d in batch) + 1

        async def work(tx: Tx) -> None:
            session = tx.session
            for d in batch:
                change = {"failed_at": now, "attempts": attempts, "last_error": error[:300]}
                if not await self.queue.mark_failed(d["_id"], self.owner, change, session):
                    continue
                source = uuid.UUID(d["source_event_id"])
                tx.emit(topics.NOTIFICATION_FAILED, NotificationFailed(
                    case_id=d["case_id"], correlation_id=d.get("correlation_id") or d["case_id"],
                    causation_id=source, actor=Actor(kind=ActorKind.SYSTEM, service="notify"),
                    notification_id=d["_id"], source_event_id=source, recipient_kind=d["recipient_kind"],
                    channel=d["channel"], attempts=attempts, error=error[:500],
                ))
                fallback = None
                if d["channel"] == "wechat" and d["recipient_kind"] == "applicant":
                    fallback = await self._fall_back_to_sms(tx, d, permanent)
                await self._tell_staff(tx, d, error, fallback)

        await self.uow.run(work)
        log.error("delivery failed for good", channel=channel, batch=batch[0].get("batch_id") or batch[0]["_id"],
                  error=error[:200])

    async def _fall_back_to_sms(self, tx: Tx, d: Doc, permanent: bool) -> str | None:
        """The applicant must not stay uninformed (they may be elderly, their WeChat unsubscribed or down): the same
        text once by SMS, when notify knows the phone. Its ledger key is (event, recipient, "sms") — the key a text
        of that step has anyway — and this runs only in the transaction that moves the WeChat message to
        ``failed``, so a takeover, a second worker or a redelivered event never adds a second text."""
        if "sms" not in self.svc.enabled:
            return None
        contacts = self.svc.repo.contacts
        record = await contacts.case(d["case_id"], tx.session)
        if record is None or not record.phone:
            return None
        if permanent:  # WeChat refused this person for good: the case's later steps go by text at once
            await contacts.set_wechat_off(d["case_id"], tx.session)
        dec = self.svc.cipher.decrypt
        msg = t.Rendered(d["template_id"], d["title"], dec(d["text"], context="notifications.text"),
                         urgent=bool(d.get("urgent")))
        await self.svc.stage(tx, _Source(d), Recipient(d["recipient"], d["recipient_kind"]), "sms",  # type: ignore[arg-type]
                             msg, address=record.phone, address_key=record.phone_key,
                             scope=d.get("scope_units") or [self.s.ops_unit_code],
                             case_number=d.get("case_number", ""), extra={"fallback_of": d["_id"]})
        nid = notification_id(d["source_event_id"], d["recipient"], "sms")
        await self.queue.note_fallback(d["_id"], {"channel": "sms", "notification_id": nid}, tx.session)
        return nid

    async def _tell_staff(self, tx: Tx, d: Doc, error: str, fallback: str | None = None) -> None:
        """A message that finally failed lands in the inbox of the unit concerned (never silently lost); when it
        went by another channel instead, the notice says so (nobody needs to call the applicant)."""
        unit = (d.get("scope_units") or [self.s.ops_unit_code])[0]
        channel: str = d["channel"]
        channel_zh = t.CHANNEL_NAMES_ZH.get(channel, channel)
        msg = (t.render_delivery_fallback(channel_zh, t.CHANNEL_NAMES_ZH["sms"], d["template_id"],
                                          d.get("case_number", ""), error) if fallback else
               t.render_delivery_failed(channel_zh, d["template_id"], d.get("case_number", ""), error))
        rcpt = Recipient(f"unit:{unit}#failed:{d['_id']}", "staff", unit)
        src = _Source(d)
        await self.svc.stage(tx, src, rcpt, "inbox", msg, scope=[unit],  # type: ignore[arg-type]
                             case_number=d.get("case_number", ""))


def held_until(docs: list[Doc]) -> dict[str, datetime]:
    """Per batch (a digest's key, or the text's own id): the latest time one of its texts was held to by policy —
    quiet hours, the digest window (its first text is held to the window's end; the ones gathered with it went
    then too), a retry's back-off — when that is later than the text was made (``notification.sent``'s
    ``held_until``)."""
    out: dict[str, datetime] = {}
    for d in docs:
        nb, made = d.get("not_before"), d.get("created_at")
        if nb is None or made is None:
            continue
        nb, made = aware(nb), aware(made)
        if nb > made:
            key = d.get("batch_id") or d["_id"]
            out[key] = max(nb, out.get(key, nb))
    return out


def _ended(task: asyncio.Task[None]) -> None:
    """A channel's loop never ends but by a cancel (shutdown): anything else is said, not swallowed."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("delivery loop ended", task=task.get_name(), error=type(exc).__name__, detail=str(exc)[:200])


class _Source:
    """The failed message's source event, as far as staging a staff notice needs it."""

    def __init__(self, d: Doc) -> None:
        self.event_id = f"{d['source_event_id']}"
        self.event_type = d["source_event_type"]
        self.case_id = d["case_id"]
        self.correlation_id = d.get("correlation_id") or d["case_id"]
