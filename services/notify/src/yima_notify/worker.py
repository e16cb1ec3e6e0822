"""The delivery worker: sends what the consumers staged, once in effect (ADR 0050).

One loop per outside channel (a slow or broken channel never holds up the others), in every replica. It sleeps
while there is nothing to send: the consumers wake it when they commit a queued message (same process), else it
looks again after a wait that doubles from ``worker_poll_seconds`` up to ``worker_idle_max_seconds``, never past
the next message's due time (ADR 0060). Each round takes up to ``worker_claim_batch`` batches at once:

1. **Claim** atomically (queued → sending, with this worker as owner): two replicas never send the same message.
   Webhooks and e-mails are claimed in bulk (one read, one ``update_many``, one read back); texts too, one batch
   per person per round (a digest, in order), in a fixed handful of calls for the whole round
   (``_claim_texts``). A claim whose worker vanished (SIGKILL) is taken over after
   ``claim_ttl_seconds``, and sent again under the SAME idempotency key — found by one indexed read, made only
   when the earliest foreign claim can have expired, never on every round.
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

from .core import templates as t
from .core.digest import DigestPart, plan_digest, sms_digest_decision, wait_for_earlier
from .core.policy import LONG_SMS_MAX_CHARS, CircuitBreaker, backoff
from .ports import DeliveryError, Doc, Message, PermanentError
from .service import INTRUSIVE, NotifyService, Recipient, notification_id

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
        # when to look for other workers' expired claims next, per channel (by ``clock``): no scan every round
        self._stale_check_at: dict[str, datetime] = {}
        self._next_due: dict[str, datetime | None] = {}
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
        wait = self.s.worker_poll_seconds
        woken = self.wakeups[channel]
        loop = asyncio.get_running_loop()
        began = 0.0
        while True:
            # Rounds start at most every ``worker_gather_seconds``: what the consumers of a busy process queue
            # meanwhile is claimed and marked in one round, not one round per commit.
            if (left := began + self.s.worker_gather_seconds - loop.time()) > 0:
                await asyncio.sleep(left)
            began = loop.time()
            woken.clear()  # before the round: a message queued during it wakes the wait below at once
            try:
                busy = await self.step(channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database blinked: keep going, the ledger keeps everything
                log.warning("delivery round failed", channel=channel, error=type(exc).__name__, detail=str(exc)[:200])
                busy = False
            if busy:
                wait = self.s.worker_poll_seconds
                continue
            timeout = wait
            for at in (self._next_due.get(channel), self._stale_check_at.get(channel)):
                if at is not None:  # never sleep past a due message or a claim that may have expired
                    timeout = min(timeout, max(self.s.worker_poll_seconds, (at - self.clock()).total_seconds()))
            try:
                await asyncio.wait_for(woken.wait(), timeout=timeout)
                wait = self.s.worker_poll_seconds
            except TimeoutError:
                wait = min(wait * 2, self.s.worker_idle_max_seconds)

    def start(self) -> list[asyncio.Task[None]]:
        return [asyncio.create_task(self.run_channel(ch), name=f"notify-{ch}") for ch in self.channels]

    async def drain(self, channel: str | None = None, max_steps: int = 1000) -> None:
        """Run until nothing is due (tests and tools)."""
        for ch in [channel] if channel else list(self.channels):
            for _ in range(max_steps):
                if not await self.step(ch):
                    break

    # --- one round -------------------------------------------------------------------------------------

    async def step(self, channel: str) -> bool:
        """Claim and deliver up to ``worker_claim_batch`` batches of ``channel``; False when there was nothing
        to do."""
        breaker = self.breakers[channel]
        if not breaker.allow():
            return False
        batches: list[list[Doc]] = []
        busy = False
        taken = await self._take_over_stale(channel)
        if taken:
            batches.append(taken)
        if channel in INTRUSIVE:
            texts, busy = await self._claim_texts(channel, self.s.worker_claim_batch - len(batches),
                                                  {b[0]["address_key"] for b in batches})
            batches.extend(texts)
        else:
            batches.extend(await self._claim_bulk(channel, self.s.worker_claim_batch - len(batches)))
        if not batches:
            breaker.probing = False
            if not busy:
                await self._note_next_due(channel)
            return busy
        await self.deliver_many(channel, batches)
        return True

    async def _note_next_due(self, channel: str) -> None:
        self._next_due[channel] = await self.queue.next_due(channel)

    async def _take_over_stale(self, channel: str) -> list[Doc] | None:
        """A batch whose worker vanished mid-send: take it over, members and key unchanged. Looks only when the
        earliest claim of another worker can have expired (one indexed read), not on every round."""
        now = self.clock()
        check_at = self._stale_check_at.get(channel)
        if check_at is not None and now < check_at:
            return None
        ttl = timedelta(seconds=self.s.claim_ttl_seconds)
        oldest = await self.queue.oldest_claim(channel)
        if oldest is None or oldest + ttl > now:
            self._stale_check_at[channel] = oldest + ttl if oldest else now + ttl / 2
            return None
        self._stale_check_at[channel] = now  # more may have expired: look again next round
        mine = {"owner": self.owner, "claimed_at": now}
        stale = await self.queue.take_over_oldest(channel, now - ttl, mine)
        if stale is None:
            return None
        if stale.get("batch_id") is None:  # a batch of one (or died between claiming and forming its batch)
            await self.queue.fix_batch_of_one(stale["_id"])
            stale["batch_id"] = stale["_id"]
        await self.queue.claim_batch(stale["batch_id"], mine, state="sending")
        log.info("stale delivery taken over", channel=channel, batch=stale["batch_id"])
        return await self._members(stale["batch_id"])

    async def _claim_bulk(self, channel: str, n: int) -> list[list[Doc]]:
        """Webhooks and e-mails (no digests, no quiet hours): up to ``n`` due messages in three round trips, each
        its own batch (a retry keeps the batch it had)."""
        if n <= 0:
            return []
        now = self.clock()
        ids = await self.queue.due_ids(channel, now, n)
        if not ids:
            return []
        # queued = nobody's (owner None): the ones another replica claimed meanwhile do not match
        mine = await self.queue.claim_ids(ids, {"owner": self.owner, "claimed_at": now})
        batches: dict[str, list[Doc]] = {}
        for d in mine:
            batches.setdefault(d.get("batch_id") or d["_id"], []).append(d)
        for bid in [b for b in batches if b not in ids]:  # a retried digest: all its members, not only the due ones
            batches[bid] = await self._members(bid)
        return list(batches.values())

    async def _claim_texts(self, channel: str, n: int, people: set[str]) -> tuple[list[list[Doc]], bool]:
        """Up to ``n`` people's next texts (SMS, WeChat) in a handful of calls whatever ``n``: one read of what is
        due, one of those people's texts on their way, one of when each last got a text; core.digest decides per
        person (hold, alone, or a digest of everything due for them); one update holds the held, one claims the
        rest (a digest: every due new text of the person), one reads back what this claim got, one fixes each
        digest's members and key — all before anything is sent, so a takeover resends exactly the same. One batch
        per person per round (their texts in order); a retry keeps its batch. Returns the batches and whether
        anything was due (held ones too: look again at once)."""
        if n <= 0:
            return [], False
        now = self.clock()
        persons: dict[str, list[Doc]] = {}
        for d in await self.queue.due(channel, now, max(4 * n, 100)):
            if d["address_key"] not in people:
                persons.setdefault(d["address_key"], []).append(d)
        if not persons:
            return [], False
        mine: Doc = {"owner": self.owner, "claimed_at": now}
        batches: list[list[Doc]] = []
        fresh: list[str] = []
        for key in list(persons)[:n]:
            anchor = persons[key][0]
            if not anchor.get("batch_id"):
                fresh.append(key)
            elif await self.queue.claim_ids([anchor["_id"]], mine):  # a retry: its batch as it was (rare)
                await self.queue.claim_batch(anchor["batch_id"], mine, state="queued")
                if members := await self._members(anchor["batch_id"]):
                    batches.append(members)
        if not fresh:
            return batches, True
        flights = await self.queue.in_flight_many(channel, fresh)
        window = timedelta(seconds=self.s.digest_window_seconds)
        last = await self.queue.last_sent_many(channel, fresh) if window > timedelta(0) else {}
        ttl, poll = timedelta(seconds=self.s.claim_ttl_seconds), timedelta(seconds=self.s.worker_poll_seconds)
        holds: dict[datetime, list[str]] = {}
        gather: list[str] = []
        alone: list[str] = []
        for key in fresh:
            docs = [d for d in persons[key] if not d.get("batch_id")]
            anchor = docs[0]
            until = wait_for_earlier(anchor["created_at"], anchor.get("seq"), flights.get(key, []), now, ttl, poll)
            if until is None:
                decision = sms_digest_decision(window, last.get(key), now)
                if (until := decision.hold_until) is None:
                    if decision.gather:
                        gather.append(key)
                    else:
                        alone.append(anchor["_id"])
                    continue
            holds.setdefault(until, []).extend(d["_id"] for d in docs)  # the person's later texts wait too
        await self.queue.hold(holds)
        claimed = await self.queue.claim_people(channel, now, {**mine, "claim_id": uuid.uuid4().hex}, gather, alone)
        by_person: dict[str, list[Doc]] = {}
        for d in claimed:
            by_person.setdefault(d["address_key"], []).append(d)
        digests: dict[str, list[str]] = {}
        for docs in by_person.values():
            if len(docs) > 1:  # a digest: its key is its first text's id (a batch of one keeps none, ADR 0060)
                digests[docs[0]["_id"]] = [d["_id"] for d in docs]
                for d in docs:
                    d["batch_id"] = docs[0]["_id"]
            batches.append(docs)
        await self.queue.set_batches(self.owner, digests)
        return batches, True

    async def claim(self, channel: str, *, skip_addresses: set[str] | None = None,
                    stale: bool = True) -> list[Doc] | None:
        """One batch: None when nothing is due, [] when the due one was released for later (held: the person's
        earlier text is on its way, or the digest window is not over — core.digest decides)."""
        if stale and (taken := await self._take_over_stale(channel)):
            return taken
        now = self.clock()
        mine = {"owner": self.owner, "claimed_at": now}
        # the next due message (a retry keeps its batch; a new one may gather a digest).
        anchor = await self.queue.claim_next(channel, now, mine)
        if anchor is None:
            return None
        if skip_addresses and anchor["address_key"] in skip_addresses:
            # This round already sends to this person: put it back as it was; the next round takes it.
            await self.queue.release(anchor["_id"], self.owner, anchor["not_before"])
            return None
        if anchor.get("batch_id"):
            await self.queue.claim_batch(anchor["batch_id"], mine, state="queued")
            return await self._members(anchor["batch_id"])
        if channel not in INTRUSIVE:
            return [anchor]
        return await self._text(channel, anchor, now, mine)

    async def _text(self, channel: str, anchor: Doc, now: datetime, mine: Doc) -> list[Doc]:
        """A new text (SMS, WeChat): held, alone, or the head of a digest — as core.digest decides."""
        key = anchor["address_key"]
        in_flight = await self.queue.in_flight(channel, key)
        if wait_until := wait_for_earlier(anchor["created_at"], anchor.get("seq"), in_flight, now,
                                          timedelta(seconds=self.s.claim_ttl_seconds),
                                          timedelta(seconds=self.s.worker_poll_seconds)):
            await self.queue.release(anchor["_id"], self.owner, wait_until)
            return []
        window = timedelta(seconds=self.s.digest_window_seconds)
        last_sent = await self.queue.last_sent(channel, key) if window > timedelta(0) else None
        decision = sms_digest_decision(window, last_sent, now)
        if decision.hold_until is not None:
            await self.queue.release(anchor["_id"], self.owner, decision.hold_until)
            return []
        batch_id = anchor["_id"]
        if decision.gather and await self.queue.gather(channel, key, now, batch_id, mine):
            await self.queue.set_batch(anchor["_id"], self.owner, batch_id)
            return await self._members(batch_id)
        # A batch of one: its key is its own id; batch_id stays unset until a retry fixes it (retry_or_fail),
        # and a takeover treats a claimed message without one as a batch of one.
        return [anchor]

    async def _members(self, batch_id: str) -> list[Doc]:
        return await self.queue.members(batch_id, self.owner)

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

        async def work(tx: Tx) -> int:
            still = await self.queue.mark_delivered(self.owner, ids, now, tx.session)
            if not still:
                return 0
            for d in docs:
                if d["_id"] in still:
                    tx.emit(topics.NOTIFICATION_SENT, self.svc.sent_event(d, uuid.UUID(d["source_event_id"])))
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


class _Source:
    """The failed message's source event, as far as staging a staff notice needs it."""

    def __init__(self, d: Doc) -> None:
        self.event_id = f"{d['source_event_id']}"
        self.event_type = d["source_event_type"]
        self.case_id = d["case_id"]
        self.correlation_id = d.get("correlation_id") or d["case_id"]
