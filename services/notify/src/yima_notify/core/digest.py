"""Digests (pure): several messages to one person that are due together go out as few texts, none dropped.

A digest is what the throttle gathered for one address (ADR 0050). It must never lose a step: the applicant
who reads "已分派" after "已受理" needs the first to know which unit handles the case. So the messages are
packed, in order, into texts of at most ``limit`` characters (a long SMS up to the gateway's concatenation
limit); what does not fit goes in the next text, never nowhere. One message alone is sent as it is.

Each step's facts once: the applicant's texts all begin with the same case reference ("您的纠纷（编号…）");
a digest of them names the case once at its head ("您的纠纷（编号…）有3条新进展：①已分派…②…") instead of
before every step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
