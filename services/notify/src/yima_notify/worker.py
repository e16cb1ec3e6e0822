"""The delivery worker: sends what the consumers staged, once in effect (ADR 0050).

One loop per outside channel (a slow or broken channel never holds up the others), in every replica:

1. **Claim** atomically (``find_one_and_update`` queued → sending, with this worker as owner): two replicas
   never send the same message. A claim whose worker vanished (SIGKILL) is taken over after
   ``claim_ttl_seconds``, and sent again under the SAME idempotency key.
2. **Digest / throttle** (SMS, WeChat): at most one text per recipient per ``digest_window_seconds``; what
   piles up meanwhile (or over the quiet hours) goes as ONE text. A batch's members and its key (the id of
   its first notification) are fixed when it forms, so a retry or takeover resends exactly the same thing.
3. **Send** through the channel adapter with the idempotency key, then **mark** delivered and stage
   ``notification.sent`` in one transaction. Remaining window: a crash between the gateway's accept and the
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
import contextlib
import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from yima_contracts import Actor, NotificationFailed, topics
from yima_contracts.codes import ActorKind
from yima_kit.logging import get_logger
from yima_kit.mongo import in_transaction
from yima_kit.outbox import Outgoing

from .adapters.channels import DeliveryError, Message, PermanentError
from .core import templates as t
from .core.digest import DigestPart, plan_digest
from .core.policy import LONG_SMS_MAX_CHARS, CircuitBreaker, backoff
from .service import INTRUSIVE, NotifyService, Recipient, notification_id

log = get_logger(__name__)
# One count per attempt to hand a message (or a digest) to its channel: delivered, error (retried or failed
# later), refused (permanently). The alert on the delivery failure rate reads it (deploy/monitoring).
DELIVERIES = Counter("yima_notify_deliveries_total", "Attempts to deliver a message, by channel and outcome",
                     ["channel", "outcome"])
THROTTLES = "throttles"
ORDER_RECHECK = timedelta(seconds=5)  # a text held behind an earlier one looks again at least this often


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Tx:
    """Just enough of the consumer's Tx for :meth:`NotifyService.stage` outside a consumer."""

    def __init__(self, session: AsyncClientSession) -> None:
        self.session = session
        self.emitted: list[Outgoing] = []

    def emit(self, topic: str, event: Any) -> None:
        self.emitted.append(Outgoing(topic, event))


class DeliveryWorker:
    def __init__(self, service: NotifyService, client: Any, outbox: Any, channels: dict[str, Any],
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.svc = service
        self.s = service.settings
        self.client = client
        self.outbox = outbox
        self.col = service.notifications
        self.throttles = service.db[THROTTLES]
        self.channels = channels
        self.clock = clock
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.breakers = {ch: CircuitBreaker(self.s.breaker_threshold, self.s.breaker_cooldown_seconds)
                         for ch in channels}
        self.wakeup = asyncio.Event()

    # --- loop ------------------------------------------------------------------------------------------

    async def run_channel(self, channel: str) -> None:
        while True:
            try:
                busy = await self.step(channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database blinked: keep going, the ledger keeps everything
                log.warning("delivery round failed", channel=channel, error=type(exc).__name__, detail=str(exc)[:200])
                busy = False
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wakeup.wait(), timeout=self.s.worker_poll_seconds)
                self.wakeup.clear()

    def start(self) -> list[asyncio.Task[None]]:
        return [asyncio.create_task(self.run_channel(ch), name=f"notify-{ch}") for ch in self.channels]

    async def drain(self, channel: str | None = None, max_steps: int = 1000) -> None:
        """Run until nothing is due (tests and tools)."""
        for ch in [channel] if channel else list(self.channels):
            for _ in range(max_steps):
                if not await self.step(ch):
                    break

    # --- one batch -------------------------------------------------------------------------------------

    async def step(self, channel: str) -> bool:
        """Claim and deliver one batch of ``channel``; False when there was nothing to do."""
        breaker = self.breakers[channel]
        if not breaker.allow():
            return False
        batch = await self.claim(channel)
        if batch is None:
            breaker.probing = False
            return False
        if not batch:
            breaker.probing = False
            return True  # throttled: released for later, look for other work
        await self.deliver(channel, batch)
        return True

    async def claim(self, channel: str) -> list[dict[str, Any]] | None:
        now = self.clock()
        mine = {"owner": self.owner, "claimed_at": now}
        # 1. a batch whose worker vanished mid-send: take it over, members and key unchanged.
        expired = now - timedelta(seconds=self.s.claim_ttl_seconds)
        stale = await self.col.find_one_and_update(
            {"channel": channel, "state": "sending", "claimed_at": {"$lt": expired}},
            {"$set": mine}, return_document=ReturnDocument.AFTER,
        )
        if stale is not None:
            if stale.get("batch_id") is None:  # died between claiming and forming its batch: a batch of one
                await self.col.update_one({"_id": stale["_id"]}, {"$set": {"batch_id": stale["_id"]}})
                stale["batch_id"] = stale["_id"]
            await self.col.update_many({"batch_id": stale["batch_id"], "state": "sending"}, {"$set": mine})
            log.info("stale delivery taken over", channel=channel, batch=stale["batch_id"])
            return await self._members(stale["batch_id"])
        # 2. the next due message (a retry keeps its batch; a new one may gather a digest).
        anchor = await self.col.find_one_and_update(
            {"channel": channel, "state": "queued", "not_before": {"$lte": now}},
            {"$set": {"state": "sending", **mine}}, sort=[("not_before", 1), ("created_at", 1), ("seq", 1)],
            return_document=ReturnDocument.AFTER,
        )
        if anchor is None:
            return None
        if anchor.get("batch_id"):
            await self.col.update_many({"batch_id": anchor["batch_id"], "state": "queued"},
                                       {"$set": {"state": "sending", **mine}})
            return await self._members(anchor["batch_id"])
        if channel in INTRUSIVE and (wait_until := await self._earlier_in_flight(channel, anchor, now)):
            await self._release(anchor, wait_until)
            return []
        if channel in INTRUSIVE and self.s.digest_window_seconds > 0:
            th = await self.throttles.find_one({"_id": f"{channel}|{anchor['address_key']}"})
            if th is not None:
                free_at = th["last_sent_at"] + timedelta(seconds=self.s.digest_window_seconds)
                if free_at > now:
                    await self._release(anchor, free_at)
                    return []
        batch_id = anchor["_id"]
        await self.col.update_one({"_id": anchor["_id"], "owner": self.owner}, {"$set": {"batch_id": batch_id}})
        if channel in INTRUSIVE and self.s.digest_window_seconds > 0:
            await self.col.update_many(
                {"channel": channel, "state": "queued", "address_key": anchor["address_key"], "batch_id": None,
                 "not_before": {"$lte": now}},
                {"$set": {"state": "sending", "batch_id": batch_id, **mine}},
            )
        return await self._members(batch_id)

    async def _earlier_in_flight(self, channel: str, anchor: dict[str, Any], now: datetime) -> datetime | None:
        """A person reads their texts in order ("registered, your code is …" before "assigned to …"): a new text
        waits while an earlier one to the same address is still being sent (say its worker was killed and the
        claim has not expired yet) or waits for a retry due soon. Behind a long backoff (an outage) it does not
        wait: a queue of texts each waiting out the previous one's whole retry cycle would come hours late.
        Returns when to look again, or None to go ahead."""
        created = anchor["created_at"]
        soon = now + timedelta(seconds=self.s.claim_ttl_seconds)
        earlier = await self.col.find_one({
            "channel": channel, "address_key": anchor["address_key"],
            "$and": [
                {"$or": [{"created_at": {"$lt": created}}, {"created_at": created, "seq": {"$lt": anchor.get("seq")}}]},
                {"$or": [{"state": "sending"},
                         {"state": "queued", "batch_id": {"$ne": None}, "not_before": {"$lte": soon}}]},
            ],
        }, {"state": 1, "claimed_at": 1, "not_before": 1})
        if earlier is None:
            return None
        if earlier["state"] == "sending":  # taken over at the claim's expiry, or done sooner by a live replica
            due = earlier["claimed_at"] + timedelta(seconds=self.s.claim_ttl_seconds)
        else:
            due = earlier["not_before"]
        return max(now + timedelta(seconds=self.s.worker_poll_seconds), min(due, now + ORDER_RECHECK))

    async def _release(self, doc: dict[str, Any], not_before: datetime) -> None:
        await self.col.update_one({"_id": doc["_id"], "owner": self.owner},
                                  {"$set": {"state": "queued", "not_before": not_before, "owner": None,
                                            "claimed_at": None}})

    async def _members(self, batch_id: str) -> list[dict[str, Any]]:
        cursor = self.col.find({"batch_id": batch_id, "state": "sending", "owner": self.owner}).sort(
            [("created_at", 1), ("seq", 1)])
        return [d async for d in cursor]

    def _messages(self, channel: str, batch: list[dict[str, Any]]) -> list[Message]:
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
        out = []
        for n, part in enumerate(parts):
            docs = [batch[i] for i in part.members]
            one = len(docs) == 1
            out.append(Message(
                key=first["batch_id"] if n == 0 else f"{first['batch_id']}.{n}", address=address,
                title=docs[0]["title"] if one else "新消息汇总", text=part.text,
                template_id=docs[0]["template_id"] if one else "digest.v2",
                meta={"case_id": docs[0]["case_id"], "case_number": docs[0].get("case_number", ""),
                      "source_event_id": docs[0]["source_event_id"],
                      "source_event_type": docs[0]["source_event_type"],
                      "notification_ids": [d["_id"] for d in docs]},
            ))
        return out

    async def deliver(self, channel: str, batch: list[dict[str, Any]]) -> None:
        breaker = self.breakers[channel]
        if not batch:
            return
        try:
            for msg in self._messages(channel, batch):
                await self.channels[channel].send(msg)
        except PermanentError as exc:
            DELIVERIES.labels(channel, "refused").inc()
            breaker.success()  # the channel answered; this message cannot go
            await self.fail(channel, batch, str(exc), permanent=True)
            return
        except DeliveryError as exc:
            DELIVERIES.labels(channel, "error").inc()
            breaker.failure()
            await self.retry_or_fail(channel, batch, str(exc))
            return
        except Exception as exc:  # a bug or bad data: do not lose the message; count it as an attempt
            DELIVERIES.labels(channel, "error").inc()
            breaker.failure()
            await self.retry_or_fail(channel, batch, f"{type(exc).__name__}")
            return
        breaker.success()
        DELIVERIES.labels(channel, "delivered").inc()
        await self.mark_delivered(channel, batch)

    async def mark_delivered(self, channel: str, batch: list[dict[str, Any]]) -> None:
        now = self.clock()

        async def work(session: AsyncClientSession) -> int:
            events = []
            for d in batch:
                r = await self.col.update_one(
                    {"_id": d["_id"], "owner": self.owner, "state": "sending"},
                    {"$set": {"state": "delivered", "delivered_at": now, "owner": None}}, session=session,
                )
                if r.modified_count:
                    events.append(Outgoing(topics.NOTIFICATION_SENT,
                                           self.svc.sent_event(d, uuid.UUID(d["source_event_id"]))))
            if events and channel in INTRUSIVE:
                await self.throttles.update_one({"_id": f"{channel}|{batch[0]['address_key']}"},
                                                {"$set": {"last_sent_at": now}}, upsert=True, session=session)
            await self.outbox.add(session, events)
            return len(events)

        n = await in_transaction(self.client, work)
        if n < len(batch):  # another worker took the batch over (we were too slow): it resends under the same key
            log.warning("delivery marked by another worker", channel=channel, batch=batch[0]["batch_id"])

    async def retry_or_fail(self, channel: str, batch: list[dict[str, Any]], error: str) -> None:
        attempts = max(d.get("attempts", 0) for d in batch) + 1
        if attempts >= self.s.max_attempts:
            await self.fail(channel, batch, error, attempts=attempts)
            return
        due = self.clock() + backoff(attempts, self.s.retry_base_seconds, self.s.retry_max_seconds)
        await self.col.update_many(
            {"batch_id": batch[0]["batch_id"], "owner": self.owner, "state": "sending"},
            {"$set": {"state": "queued", "not_before": due, "owner": None, "claimed_at": None, "attempts": attempts,
                      "last_error": error[:300]}},
        )
        log.info("delivery will be retried", channel=channel, batch=batch[0]["batch_id"], attempts=attempts,
                 error=error[:200])

    async def fail(self, channel: str, batch: list[dict[str, Any]], error: str, attempts: int | None = None,
                   permanent: bool = False) -> None:
        now = self.clock()
        attempts = attempts or max(d.get("attempts", 0) for d in batch) + 1

        async def work(session: AsyncClientSession) -> None:
            tx = _Tx(session)
            for d in batch:
                r = await self.col.update_one(
                    {"_id": d["_id"], "owner": self.owner, "state": "sending"},
                    {"$set": {"state": "failed", "failed_at": now, "owner": None, "attempts": attempts,
                              "last_error": error[:300]}}, session=session,
                )
                if not r.modified_count:
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
            await self.outbox.add(session, tx.emitted)

        await in_transaction(self.client, work)
        log.error("delivery failed for good", channel=channel, batch=batch[0]["batch_id"], error=error[:200])

    async def _fall_back_to_sms(self, tx: _Tx, d: dict[str, Any], permanent: bool) -> str | None:
        """The applicant must not stay uninformed (they may be elderly, their WeChat unsubscribed or down): the same
        text once by SMS, when notify knows the phone. Its ledger key is (event, recipient, "sms") — the key a text
        of that step has anyway — and this runs only in the transaction that moves the WeChat message to
        ``failed``, so a takeover, a second worker or a redelivered event never adds a second text."""
        if "sms" not in self.svc.enabled:
            return None
        record = await self.svc.recipients.find_one({"_id": d["case_id"]}, session=tx.session)
        if record is None or not record.get("phone"):
            return None
        if permanent:  # WeChat refused this person for good: the case's later steps go by text at once
            await self.svc.recipients.update_one({"_id": d["case_id"]}, {"$set": {"wechat_off": True}},
                                                 session=tx.session)
        dec = self.svc.cipher.decrypt
        msg = t.Rendered(d["template_id"], d["title"], dec(d["text"], context="notifications.text"),
                         urgent=bool(d.get("urgent")))
        await self.svc.stage(tx, _Source(d), Recipient(d["recipient"], d["recipient_kind"]), "sms",  # type: ignore[arg-type]
                             msg, address=record["phone"], address_key=record.get("phone_key"),
                             scope=d.get("scope_units") or [self.s.ops_unit_code],
                             case_number=d.get("case_number", ""), extra={"fallback_of": d["_id"]})
        nid = notification_id(d["source_event_id"], d["recipient"], "sms")
        await self.col.update_one({"_id": d["_id"]}, {"$set": {"fallback": {"channel": "sms", "notification_id": nid}}},
                                  session=tx.session)
        return nid

    async def _tell_staff(self, tx: _Tx, d: dict[str, Any], error: str, fallback: str | None = None) -> None:
        """A message that finally failed lands in the inbox of the unit concerned (never silently lost); when it
        went by another channel instead, the notice says so (nobody needs to call the applicant)."""
        unit = (d.get("scope_units") or [self.s.ops_unit_code])[0]
        channel_zh = t.CHANNEL_NAMES_ZH.get(d["channel"], d["channel"])
        msg = (t.render_delivery_fallback(channel_zh, t.CHANNEL_NAMES_ZH["sms"], d["template_id"],
                                          d.get("case_number", ""), error) if fallback else
               t.render_delivery_failed(channel_zh, d["template_id"], d.get("case_number", ""), error))
        rcpt = Recipient(f"unit:{unit}#failed:{d['_id']}", "staff", unit)
        src = _Source(d)
        await self.svc.stage(tx, src, rcpt, "inbox", msg, scope=[unit],  # type: ignore[arg-type]
                             case_number=d.get("case_number", ""))


class _Source:
    """The failed message's source event, as far as staging a staff notice needs it."""

    def __init__(self, d: dict[str, Any]) -> None:
        self.event_id = f"{d['source_event_id']}"
        self.event_type = d["source_event_type"]
        self.case_id = d["case_id"]
        self.correlation_id = d.get("correlation_id") or d["case_id"]
