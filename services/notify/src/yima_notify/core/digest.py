"""The SMS digest (pure): whether a person's next text goes now, waits, or goes with the others as one digest
(``sms_digest_decision``, ``wait_for_earlier``), and how a digest is written (``plan_digest``). The delivery
worker (worker.py) only reads the facts these functions need and does what they decide.

When (SMS and WeChat, the channels that wake people; ADR 0050, 0060):
- a person reads their texts in order: a text waits while an earlier one to the same address is on its way
  (``wait_for_earlier``);
- at most one text per person per digest window: a text due sooner waits for the window's end; one that may go
  takes every text due for the person with it, as one digest (``sms_digest_decision``).

How: several messages to one person that are due together go out as few texts, none dropped. A digest is
what the throttle gathered for one address (ADR 0050). It must never lose a step: the applicant who reads
"已分派" after "已受理" needs the first to know which unit handles the case. So the messages are
packed, in order, into texts of at most ``limit`` characters (a long SMS up to the gateway's concatenation
limit); what does not fit goes in the next text, never nowhere. One message alone is sent as it is.

Each step's facts once: the applicant's texts all begin with the same case reference ("您的纠纷（编号…）");
a digest of them names the case once at its head ("您的纠纷（编号…）有3条新进展：①已分派…②…") instead of
before every step.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

MARKS = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"
_CASE_PREFIX = re.compile(r"^(您的纠纷（编号[^）]{1,40}）)[，,：:]?")


@dataclass(frozen=True)
class DigestPart:
    """One text to send: its words and which of the input messages (by index) it carries."""

    text: str
    members: tuple[int, ...]


def _mark(i: int) -> str:
    return MARKS[i] if i < len(MARKS) else f"({i + 1})"


_SENTENCE = re.compile(r"[^。]+。?")


def _once(texts: list[str]) -> list[str]:
    """Each sentence once: a later step that repeats an earlier one's sentence word for word (the same deadline
    after "已分派" and "已受理", the same "如不能参加…") keeps only what is new; a step with nothing new goes."""
    seen: set[str] = set()
    out = []
    for text in texts:
        sentences = _SENTENCE.findall(text)
        kept = "".join(x for x in sentences if x not in seen)
        seen.update(sentences)
        if kept:
            out.append(kept)
    return out


def _render(signature: str, prefix: str | None, rests: list[str], bodies: list[str], idx: list[int]) -> str:
    if len(idx) == 1:
        return signature + bodies[idx[0]]
    if prefix is not None:
        steps = _once([rests[i] for i in idx])
        head = f"{signature}{prefix}有{len(steps)}条新进展："
    else:
        steps = _once([bodies[i] for i in idx])
        head = f"{signature}您有{len(steps)}条新消息："
    if len(steps) == 1:
        return signature + (prefix or "") + steps[0]
    return head + "".join(f"{_mark(k)}{step}" for k, step in enumerate(steps))


def plan_digest(signature: str, texts: list[str], limit: int) -> list[DigestPart]:
    """Pack ``texts`` (each beginning with ``signature``), in order, into as few texts of at most ``limit``
    characters as possible without reordering; every input appears in exactly one part. A single message longer
    than ``limit`` goes alone and unchanged (the templates keep theirs within the applicant limit)."""
    if not texts:
        return []
    bodies = [t.removeprefix(signature) for t in texts]
    found = [_CASE_PREFIX.match(b) for b in bodies]
    prefix = found[0].group(1) if found[0] else None
    if prefix is None or any(m is None or m.group(1) != prefix for m in found):
        prefix = None
    rests = [b[m.end():] if m else b for b, m in zip(bodies, found, strict=True)]
    parts: list[DigestPart] = []
    current: list[int] = []
    for i in range(len(texts)):
        trial = [*current, i]
        if current and len(_render(signature, prefix, rests, bodies, trial)) > limit:
            parts.append(DigestPart(_render(signature, prefix, rests, bodies, current), tuple(current)))
            trial = [i]
        current = trial
    parts.append(DigestPart(_render(signature, prefix, rests, bodies, current), tuple(current)))
    return parts


# --- when a text goes ------------------------------------------------------------------------------------

ORDER_RECHECK = timedelta(seconds=5)  # a text held behind an earlier one looks again at least this often


@dataclass(frozen=True)
class SmsDecision:
    """What to do with a person's next due text: hold it until ``hold_until``, or send it — with every other
    text due for the person as one digest when ``gather``."""

    hold_until: datetime | None = None
    gather: bool = False


def sms_digest_decision(window: timedelta, last_sent_at: datetime | None, now: datetime) -> SmsDecision:
    """One text per person per ``window``: a person who got a text less than ``window`` ago waits for the window's
    end (what piles up meanwhile goes then, as one digest); otherwise the text goes now with everything due for
    the person. No window (0): each text alone, at once."""
    if window <= timedelta(0):
        return SmsDecision()
    if last_sent_at is not None and last_sent_at + window > now:
        return SmsDecision(hold_until=last_sent_at + window)
    return SmsDecision(gather=True)


@dataclass(frozen=True)
class InFlight:
    """A text to the same address that is still on its way (queued or being sent)."""

    state: str  # "sending" | "queued"
    created_at: datetime
    seq: Any = None  # staging order within the same millisecond (comparable)
    claimed_at: datetime | None = None
    not_before: datetime | None = None
    batched: bool = False  # a retry (its batch is fixed) rather than a text never tried

    def before(self, created_at: datetime, seq: Any) -> bool:
        return self.created_at < created_at or (self.created_at == created_at and seq is not None
                                                and self.seq is not None and self.seq < seq)


def wait_for_earlier(created_at: datetime, seq: Any, in_flight: Iterable[InFlight], now: datetime,
                     claim_ttl: timedelta, poll: timedelta) -> datetime | None:
    """A person reads their texts in order ("registered, your code is …" before "assigned to …"): a new text
    waits while an earlier one to the same address is still being sent (say its worker was killed and the
    claim has not expired yet) or waits for a retry due soon. Behind a long backoff (an outage) it does not
    wait: a queue of texts each waiting out the previous one's whole retry cycle would come hours late.
    Returns when to look again, or None to go ahead."""
    soon = now + claim_ttl
    for d in in_flight:
        if not d.before(created_at, seq):
            continue
        if d.state == "sending" and d.claimed_at is not None:  # taken over at the claim's expiry, or done sooner
            due = d.claimed_at + claim_ttl
        elif d.state != "sending" and d.batched and d.not_before is not None and d.not_before <= soon:
            due = d.not_before
        else:
            continue
        return max(now + poll, min(due, now + ORDER_RECHECK))
    return None
