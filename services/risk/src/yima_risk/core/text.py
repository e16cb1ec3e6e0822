"""Reading Chinese dispute descriptions: cues with negation, numbers written in digits or in Chinese.

Plain substring and regular-expression matching (no word segmentation): the cues are phrases, and
segmenters split them unpredictably ("扬言要杀" → 扬言/要/杀). Negation is judged per clause: a
negation word shortly before a cue ("没有威胁", "并未动手", "从没被拘留过") or right after it ("威胁倒没有")
cancels it, unless a turn word stands between them ("没想到他却扬言…", "协商未果后扬言…").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .ruleset import Negation

_CLAUSE_END = re.compile(r"[，,。.；;！!？?\n\r、：:（）()“”\"]")


def normalize(text: str) -> str:
    """Full-width digits and letters to half-width (NFKC), so "４５万" reads like "45万"."""
    return unicodedata.normalize("NFKC", text)


@dataclass(frozen=True)
class Match:
    text: str
    start: int
    end: int


def clause_bounds(text: str, pos: int) -> tuple[int, int]:
    start = pos
    while start > 0 and not _CLAUSE_END.match(text[start - 1]):
        start -= 1
    end = pos
    while end < len(text) and not _CLAUSE_END.match(text[end]):
        end += 1
    return start, end


def _mask(s: str, phrases: Iterable[str]) -> str:
    for p in phrases:
        if p in s:
            s = s.replace(p, "□" * len(p))
    return s


def is_negated(text: str, start: int, end: int, neg: Negation) -> bool:
    c_start, c_end = clause_bounds(text, start)
    before = _mask(text[max(c_start, start - neg.window - 4):start], neg.not_negation)
    before = before[-neg.window:]
    for word in neg.before:
        i = before.rfind(word)
        if i < 0:
            continue
        between = before[i + len(word):]
        if not any(b in between for b in neg.breakers):
            return True
    after = text[end:c_end]
    after = re.sub(r"^(的事|的话|的情况|的行为|这种事|之类的?(话|事)?)", "", after)
    for word in sorted(neg.after, key=len, reverse=True):
        if after.startswith(word) and (after[len(word):] in ("", "有", "过", "发生", "发生过")
                                        or after[len(word):].startswith(("过", "发生", "的事", "这回事"))):
            return True
    return False


def find_cues(
    text: str, cues: Iterable[str], patterns: Iterable[str], neg: Negation, exclude: Iterable[str] = ()
) -> list[Match]:
    """Every cue or pattern match that is neither negated nor inside an excluded phrase (first per cue)."""
    excluded: list[tuple[int, int]] = []
    for pat in exclude:
        excluded.extend((m.start(), m.end()) for m in re.finditer(pat, text))

    def ok(s: int, e: int) -> bool:
        if any(xs <= s and e <= xe for xs, xe in excluded):
            return False
        return not is_negated(text, s, e, neg)

    found: dict[str, Match] = {}
    spans: list[tuple[int, int]] = []
    for cue in cues:
        for m in re.finditer(re.escape(cue), text):
            if ok(m.start(), m.end()):
                found.setdefault(cue, Match(cue, m.start(), m.end()))
                spans.append((m.start(), m.end()))
                break
    for pat in patterns:
        for m in re.finditer(pat, text):
            if not m.group(0):
                continue
            if any(s <= m.start() < e or s < m.end() <= e for s, e in spans):
                continue  # already evidenced by a cue
            if ok(m.start(), m.end()):
                found.setdefault(m.group(0), Match(m.group(0), m.start(), m.end()))
                break
    return sorted(found.values(), key=lambda x: x.start)


# --- numbers ---------------------------------------------------------------------------------------

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "俩": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
           "八": 8, "九": 9, "几": 1, "壹": 1, "贰": 2, "叁": 3, "肆": 4, "伍": 5, "陆": 6, "柒": 7, "捌": 8, "玖": 9}
_SMALL = {"十": 10, "百": 100, "千": 1000, "拾": 10, "佰": 100, "仟": 1000}
_BIG = {"万": 10_000, "亿": 100_000_000}
_CN = "零〇一二两俩三四五六七八九十百千万亿几壹贰叁肆伍陆柒捌玖拾佰仟"
NUM = rf"(?:[0-9]+(?:[.,][0-9]+)*|[{_CN}]+|几十|十几|上百|上千|数十|数百|几百)"


def cn_number(s: str) -> float | None:
    """Parse "45", "1.5", "1,200", "三十", "两万五千", "十几" (→ 10), "几十" (→ 10): a lower bound."""
    s = s.strip()
    if not s:
        return None
    if re.fullmatch(r"[0-9]+(?:,[0-9]{3})+(?:\.[0-9]+)?", s):
        return float(s.replace(",", ""))
    if re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", s):
        return float(s)
    special = {"上百": 100, "上千": 1000, "数十": 20, "数百": 200, "几百": 100}
    if s in special:
        return float(special[s])
    total, section, digit = 0, 0, None
    for ch in s:
        if ch in _DIGITS:
            digit = _DIGITS[ch]
        elif ch in _SMALL:
            section += (digit if digit is not None else 1) * _SMALL[ch]
            digit = None
        elif ch in _BIG:
            section += digit or 0
            total += (section or 1) * _BIG[ch]
            section, digit = 0, None
        else:
            return None
    return float(total + section + (digit or 0))


_AMOUNT = re.compile(rf"({NUM})(多|余|来)?(亿|万|千)?(多|余)?(元|块钱|块|圆|人民币)?")


def amounts_yuan(text: str) -> Iterator[tuple[float, str]]:
    """Sums of money in the text, with the words they were read from."""
    for m in _AMOUNT.finditer(text):
        num, _, big, _, unit = m.groups()
        if not big and not unit:
            continue
        if not unit and big == "千":
            continue  # "三千" alone: no currency, too ambiguous
        if big and not unit:
            nxt = text[m.end():m.end() + 2]
            if re.match(r"(人|名|个|户|家|平|亩|斤|公里|米|字|次|年|岁|天|步)", nxt):
                continue
        value = cn_number(num)
        if value is None:
            continue
        value *= {"亿": 100_000_000, "万": 10_000, "千": 1000}.get(big or "", 1)
        yield value, m.group(0)


def people_counts(text: str, people_words: Iterable[str]) -> Iterator[tuple[int, str]]:
    words = "|".join(sorted((re.escape(w) for w in people_words), key=len, reverse=True))
    pat = re.compile(rf"({NUM})(多|余|来|几)?(名|个|位|户|家|口)?({words})")
    for m in pat.finditer(text):
        num = m.group(1)
        value = cn_number(num)
        if value is None or value < 3 or value > 1_000_000:  # "一家人", "两家": a family, not a crowd
            continue
        yield int(value), m.group(0)


def ages(text: str) -> Iterator[tuple[int, str]]:
    for m in re.finditer(rf"({NUM})(多|几)?周?岁", text):
        value = cn_number(m.group(1))
        if value is not None and value <= 120:
            yield int(value), m.group(0)


def durations_years(text: str) -> Iterator[tuple[float, str]]:
    """"三年多了", "两年来", "5年之久": how long something has gone on."""
    for m in re.finditer(rf"({NUM})(多|余)?年(了|多|来|之久|有余|以上|都|没|还)", text):
        value = cn_number(m.group(1))
        if value is not None and value <= 100:
            yield value, m.group(0)


def since_years(text: str) -> Iterator[tuple[int, str]]:
    """"从2019年起", "2018年开始": the year a dispute started."""
    for m in re.finditer(r"(?:从|自|早在)?((?:19|20)[0-9]{2})年(?:.{0,4})(开始|起|至今|到现在|就|以来)", text):
        yield int(m.group(1)), m.group(0)
