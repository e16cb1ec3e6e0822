"""Claiming a round's work for the delivery worker (worker.py; ADR 0050, 0060, 0170).

A claim is one conditional update (queued → sending, this worker as owner): two replicas never send the same
message. What a round claims:

- **a stale claim** — a batch whose worker vanished (SIGKILL) is taken over after ``claim_ttl_seconds``,
  members and key unchanged, and sent again under the SAME idempotency key. One indexed read says when the
  earliest foreign claim can expire: no scan on every round. The takeover runs in its own short transaction:
  a claim whose dead worker left an open transaction on it (killed while marking it delivered) answers at once
  with a write conflict instead of making the round wait until the database aborts that transaction — a plain
  write would wait, and the stand-in aborts an abandoned transaction only when another transaction comes by.
  Such a claim is set aside for a while (``ClaimLocked``); the rest of the round goes on. The person's later
  texts wait behind it meanwhile (``wait_for_earlier``), so their order holds.
- **webhooks and e-mails** in bulk: one read, one ``update_many``, one read back.
- **texts** (SMS, WeChat): one batch per person per round (a digest, in order), in a fixed handful of calls for
  the whole round whatever the number of people (ADR 0170); ``core.digest`` decides per person.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from yima_kit.logging import get_logger

from .config import NotifySettings
from .core.digest import sms_digest_decision, wait_for_earlier
from .ports import ClaimLocked, DeliveryQueue, Doc
from .service import INTRUSIVE

log = get_logger(__name__)


class Claims:
    def __init__(self, queue: DeliveryQueue, settings: NotifySettings, owner: str) -> None:
        self.queue = queue
        self.s = settings
        self.owner = owner
        # when to look for other workers' expired claims next, per channel: no scan every round
        self.stale_check_at: dict[str, datetime] = {}
        # per channel: stale claims an open transaction holds (their id → when to try again)
        self.locked: dict[str, dict[str, datetime]] = {}
        # per channel: due texts read ahead, oldest first, and when they were read (``_due``)
        self._ahead: dict[str, tuple[datetime, list[Doc]]] = {}

    @property
    def ttl(self) -> timedelta:
        return timedelta(seconds=self.s.claim_ttl_seconds)

    async def take_over_stale(self, channel: str, now: datetime) -> list[Doc] | None:
        """A batch whose worker vanished mid-send: take it over, members and key unchanged. Looks only when the
        earliest claim of another worker can have expired (one indexed read), not on every round."""
        check_at = self.stale_check_at.get(channel)
        if check_at is not None and now < check_at:
            return None
        locked = self.locked.setdefault(channel, {})
        for nid in [nid for nid, at in locked.items() if at <= now]:
            del locked[nid]  # try it again
        oldest = await self.queue.oldest_claim(channel, skip=set(locked))
        if oldest is None or oldest[1] + self.ttl > now:
            check_at = oldest[1] + self.ttl if oldest else now + self.ttl / 2
            self.stale_check_at[channel] = min([check_at, *locked.values()])
            return None
        self.stale_check_at[channel] = now  # more may have expired: look again next round
        mine = {"owner": self.owner, "claimed_at": now}
        try:
            stale = await self.queue.take_over(oldest[0], now - self.ttl, mine)
        except ClaimLocked:
            # Its worker died inside a transaction on it (say marking it delivered): the database aborts that
            # transaction after its lifetime; until then the claim cannot be taken — nor may the round wait.
            locked[oldest[0]] = now + min(max(self.ttl, timedelta(seconds=1)), timedelta(seconds=5))
            log.warning("stale delivery held by an open transaction: set aside", channel=channel, batch=oldest[0])
            return None
        if stale is None:
            return None
        log.info("stale delivery taken over", channel=channel, batch=stale["batch_id"])
        return await self.members(stale["batch_id"])

    async def bulk(self, channel: str, n: int, now: datetime) -> list[list[Doc]]:
        """Webhooks and e-mails (no digests, no quiet hours): up to ``n`` due messages in three round trips, each
        its own batch (a retry keeps the batch it had)."""
        if n <= 0:
            return []
        ids = await self.queue.due_ids(channel, now, n)
        if not ids:
            return []
        # queued = nobody's (owner None): the ones another replica claimed meanwhile do not match
        mine = await self.queue.claim_ids(ids, {"owner": self.owner, "claimed_at": now})
        batches: dict[str, list[Doc]] = {}
        for d in mine:
            batches.setdefault(d.get("batch_id") or d["_id"], []).append(d)
        for bid in [b for b in batches if b not in ids]:  # a retried digest: all its members, not only the due ones
            batches[bid] = await self.members(bid)
        return list(batches.values())

    async def texts(self, channel: str, n: int, people: set[str], now: datetime) -> tuple[list[list[Doc]], bool]:
        """Up to ``n`` people's next texts (SMS, WeChat) in a handful of calls whatever ``n``: one read of what is
        due, one of those people's texts on their way, one of when each last got a text; core.digest decides per
        person (hold, alone, or a digest of everything due for them); one update holds the held, one claims the
        rest (a digest: every due new text of the person, its key — the first due text's id — set by the same
        update), one reads back what this claim got — all before anything is sent, so a takeover resends exactly
        the same. One batch per person per round (their texts in order); a retry keeps its batch. Returns the
        batches and whether anything was due (held ones too: look again at once)."""
        if n <= 0:
            return [], False
        persons: dict[str, list[Doc]] = {}
        for d in await self._due(channel, now, max(4 * n, 100)):
            if d["address_key"] not in people:
                persons.setdefault(d["address_key"], []).append(d)
        if not persons:
            return [], False
        self._handed_out(channel, set(list(persons)[:n]))
        mine: Doc = {"owner": self.owner, "claimed_at": now}
        batches: list[list[Doc]] = []
        fresh: list[str] = []
        for key in list(persons)[:n]:
            anchor = persons[key][0]
            if not anchor.get("batch_id"):
                fresh.append(key)
            elif await self.queue.claim_ids([anchor["_id"]], mine):  # a retry: its batch as it was (rare)
                await self.queue.claim_batch(anchor["batch_id"], mine, state="queued")
                if members := await self.members(anchor["batch_id"]):
                    batches.append(members)
        if fresh:
            batches.extend(await self._fresh_texts(channel, {k: persons[k] for k in fresh}, now, mine))
        return batches, True

    async def _due(self, channel: str, now: datetime, want: int) -> list[Doc]:
        """The first ``want`` due texts, oldest first, from a read ahead of ``worker_due_read_ahead`` (ADR 0218): this
        server's read costs every due entry whatever its limit, so a backlog of thousands read afresh each round
        (``want`` at a time) made the drain quadratic. Read again once the texts read ahead are handed out or older
        than ``worker_due_read_ahead_seconds``: what comes due meanwhile is later in the order anyway, and a text the
        read ahead holds that another claim or hold took meanwhile simply does not match the conditional claims."""
        at, ahead = self._ahead.get(channel, (now, []))
        if not ahead or now - at > timedelta(seconds=self.s.worker_due_read_ahead_seconds) or now < at:
            ahead = await self.queue.due(channel, now, max(want, self.s.worker_due_read_ahead))
            self._ahead[channel] = (now, ahead)
        return ahead[:want]

    def _handed_out(self, channel: str, keys: set[str]) -> None:
        """The people a round took: their texts leave the read ahead (claimed, held or gathered in a digest now)."""
        if channel in self._ahead:
            at, ahead = self._ahead[channel]
            self._ahead[channel] = (at, [d for d in ahead if d["address_key"] not in keys])

    async def _fresh_texts(self, channel: str, persons: dict[str, list[Doc]], now: datetime,
                           mine: Doc) -> list[list[Doc]]:
        """New texts (no batch yet), per person: held, alone, or a digest — then claimed in one update."""
        keys = list(persons)
        flights = await self.queue.in_flight_many(channel, keys)
        window = timedelta(seconds=self.s.digest_window_seconds)
        last = await self.queue.last_sent_many(channel, keys) if window > timedelta(0) else {}
        poll = timedelta(seconds=self.s.worker_poll_seconds)
        holds: dict[datetime, list[str]] = {}
        gather: list[str] = []
        alone: list[str] = []
        for key, due in persons.items():
            docs = [d for d in due if not d.get("batch_id")]
            anchor = docs[0]
            until = wait_for_earlier(anchor["created_at"], anchor.get("seq"), flights.get(key, []), now, self.ttl,
                                     poll)
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
        # A digest's key is fixed by the claim itself (ADR 0204): its anchor's id — valid only if this claim got
        # the anchor (another replica may have claimed it meanwhile); then the key is fixed again below.
        anchors = {key: next(d["_id"] for d in persons[key] if not d.get("batch_id")) for key in gather}
        claimed = await self.queue.claim_people(channel, now, {**mine, "claim_id": uuid.uuid4().hex}, anchors,
                                                alone)
        by_person: dict[str, list[Doc]] = {}
        for d in claimed:
            by_person.setdefault(d["address_key"], []).append(d)
        rekey: dict[str, list[str]] = {}
        for docs in by_person.values():
            ids = {d["_id"] for d in docs}
            if any(d.get("batch_id") is not None and d["batch_id"] not in ids for d in docs):
                rekey[docs[0]["_id"]] = [d["_id"] for d in docs]  # a borrowed key (rare): its first text's id
                for d in docs:
                    d["batch_id"] = docs[0]["_id"]
        await self.queue.set_batches(self.owner, rekey)
        return list(by_person.values())

    async def one(self, channel: str, now: datetime, *, skip_addresses: set[str] | None = None) -> list[Doc] | None:
        """One batch, message by message (tests and tools): None when nothing is due, [] when the due one was
        released for later (held: the person's earlier text is on its way, or the digest window is not over)."""
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
            return await self.members(anchor["batch_id"])
        if channel not in INTRUSIVE:
            return [anchor]
        return await self._text(channel, anchor, now, mine)

    async def _text(self, channel: str, anchor: Doc, now: datetime, mine: Doc) -> list[Doc]:
        """A new text (SMS, WeChat): held, alone, or the head of a digest — as core.digest decides."""
        key = anchor["address_key"]
        in_flight = await self.queue.in_flight(channel, key)
        if wait_until := wait_for_earlier(anchor["created_at"], anchor.get("seq"), in_flight, now, self.ttl,
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
            return await self.members(batch_id)
        # A batch of one: its key is its own id; batch_id stays unset until a retry fixes it (retry_or_fail),
        # and a takeover treats a claimed message without one as a batch of one.
        return [anchor]

    async def members(self, batch_id: str) -> list[Doc]:
        return await self.queue.members(batch_id, self.owner)
