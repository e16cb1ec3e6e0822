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
from functools import lru_cache

from .ruleset import Negation

_CLAUSE_END = re.compile(r"[，,。.；;！!？?\n\r、：:（）()“”\"]")


@lru_cache(maxsize=256)
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


@lru_cache(maxsize=4096)
def compiled(pattern: str) -> re.Pattern[str]:
    """Compiled once: the rule set has more patterns than the ``re`` module's own cache keeps."""
    return re.compile(pattern)


def find_cues(
    text: str, cues: Iterable[str], patterns: Iterable[str], neg: Negation, exclude: Iterable[str] = ()
) -> list[Match]:
    """Every cue or pattern match that is neither negated nor inside an excluded phrase (first per cue)."""
    excluded: list[tuple[int, int]] = []
    for pat in exclude:
        excluded.extend((m.start(), m.end()) for m in compiled(pat).finditer(text))

    def ok(s: int, e: int) -> bool:
        if any(xs <= s and e <= xe for xs, xe in excluded):
            return False
        return not is_negated(text, s, e, neg)

    found: dict[str, Match] = {}
    spans: list[tuple[int, int]] = []
    for cue in cues:
        i = text.find(cue)
        while i >= 0:
            if ok(i, i + len(cue)):
                found.setdefault(cue, Match(cue, i, i + len(cue)))
                spans.append((i, i + len(cue)))
                break
            i = text.find(cue, i + 1)
    for pat in patterns:
        for m in compiled(pat).finditer(text):
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
_SPECIAL = {"上百": 100, "上千": 1000, "上万": 10_000, "数十": 20, "数百": 200, "几百": 100, "数万": 20_000}


def cn_number(s: str) -> float | None:
    """Parse a number as people write it: "45", "1.5", "1,200", "三十", "两万五千", "两万五" (25 000),
    "十六万八" (168 000), "三千五" (3 500), "一百二十", "十几" (11), "几十" (10), "五六十" (60).

    Approximations give a lower bound ("十几" → 11, "几十" → 10); a digit after a unit without 零 counts in
    the next unit down ("两万五" = 两万五千, "一万二" = 一万二千). ``None`` when it is not a number.
    """
    s = s.strip()
    if not s:
        return None
    if re.fullmatch(r"[0-9]+(?:,[0-9]{3})+(?:\.[0-9]+)?", s):
        return float(s.replace(",", ""))
    if re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", s):
        return float(s)
    if s in _SPECIAL:
        return float(_SPECIAL[s])
    total, section, digit = 0, 0, None
    last_unit, zero = 0, False  # the unit just passed, to scale a trailing digit ("两万五")
    for ch in s:
        if ch in _DIGITS:
            if _DIGITS[ch] == 0:
                zero = True
            digit = _DIGITS[ch]
        elif ch in _SMALL:
            section += (digit if digit is not None else 1) * _SMALL[ch]
            digit, last_unit, zero = None, _SMALL[ch], False
        elif ch in _BIG:
            section += digit or 0
            total += (section or 1) * _BIG[ch]
            section, digit, last_unit, zero = 0, None, _BIG[ch], False
        else:
            return None
    if digit and last_unit >= 100 and not zero:
        digit *= last_unit // 10
    return float(total + section + (digit or 0))


# A sum of money: a number, an optional 万/亿/千, a trailing digit ("3万5"), approximations, a currency.
_AMOUNT = re.compile(
    rf"(?P<num>{NUM})(?P<more>多|余|来)?(?P<big>亿|万|千|[wW](?![a-zA-Z]))?(?P<tail>[一二三四五六七八九1-9](?![0-9万千百十]))?"
    rf"(?P<more2>多|余)?(?P<unit>元|块钱|块|圆|人民币)?"
)
_BIG_OF = {"亿": 100_000_000, "万": 10_000, "w": 10_000, "W": 10_000, "千": 1000}  # "5w", "4.2W": 万
# A number with 万 but no currency is money unless a measure word follows ("3万人", "2万平方米").
_NOT_MONEY_AFTER = re.compile(
    r"(多|余)?(人|名|个|户|家|平|亩|斤|吨|公里|米|字|次|年|岁|天|步|号|口|份|条|件|起|辆|头|只|棵|株|册|倍)")


def amounts_yuan(text: str) -> Iterator[tuple[float, str]]:
    """Sums of money in the text, with the words they were read from: "45万元", "3.5万", "两万五", "十几万",
    "30000元", "一万多块", "人民币伍万元", "彩礼十六万八". A bare number without 万/亿 or a currency is not money."""
    for m in _AMOUNT.finditer(text):
        num, big, tail, unit = m.group("num"), m.group("big"), m.group("tail"), m.group("unit")
        has_big = bool(big) or any(c in num for c in "万亿")
        if not unit and not has_big:
            continue  # "三千", "300": no currency, too ambiguous
        if not unit and _NOT_MONEY_AFTER.match(text, m.end()):
            continue
        value = cn_number(num)
        if value is None:
            continue
        value *= _BIG_OF.get(big or "", 1)
        if tail and big:
            t = cn_number(tail) or 0
            value += t * _BIG_OF[big] / 10
        elif tail and not big:
            continue  # "一万二" is read by cn_number; a stray digit after a plain number is not money
        yield value, m.group(0)


def people_counts(text: str, people_words: Iterable[str]) -> Iterator[tuple[int, str]]:
    """"三十多名农民工", "20多户业主", "几十口子人", "五六十号人", "三十好几个人": how many people."""
    words = "|".join(sorted((re.escape(w) for w in people_words), key=len, reverse=True))
    pat = compiled(rf"({NUM})(多|余|来|几|好几)?(名|个|位|户|家|口子|口|号)?({words})")
    for m in pat.finditer(text):
        num = m.group(1)
        value = cn_number(num)
        if value is None or value < 3 or value > 1_000_000:  # "一家人", "两家": a family, not a crowd
            continue
        yield int(value), m.group(0)
    # "业主这边也来了几十个", "聚了一百来号": a crowd counted without naming who
    bare = compiled(rf"(?:来了|去了|叫了|聚了|围了|站了|叫来了?|有)({NUM})(多|余|来|几|好几)?(个|号|名)"
                    r"(?=[，,。；;\s]|$)")
    for m in bare.finditer(text):
        value = cn_number(m.group(1))
        if value is not None and 3 <= value <= 1_000_000:
            yield int(value), m.group(0)


_ELDER = (r"(?:老人家|老人|老太太|老太|老大爷|老爷子|老奶奶|奶奶|爷爷|姥姥|姥爷|外婆|外公|婆婆|公公|老母亲|老父亲|"
          r"母亲|父亲|我娘|俺娘|我爹|俺爹|我妈|我爸|俺妈|俺爸|老伴|老头|我|俺)")


def ages(text: str) -> Iterator[tuple[int, str]]:
    """"七十多岁", "5岁", "我都79了", "老人八十六了", "八十多的老人": a person's age."""
    for m in compiled(rf"({NUM})(多|几)?周?岁").finditer(text):
        value = cn_number(m.group(1))
        if value is not None and value <= 120:
            yield int(value), m.group(0)
    older = (rf"{_ELDER}(?:今年|都|已经|也)?({NUM})(多|好几)?(?:了|岁|[，,。的])",
             r"([六七八九]十)(?:多了|好几了?)",
             rf"({NUM})(多)?的(?:老人|老太太|老头|老爷子|老大爷|老爹|老娘|老母亲|老父亲)",
             # "我妈今年七十九", "年过八十": an old age told without 岁 or 了 (2026.12-generalise.4)
             r"(?:今年|都|已经|快|年过|年近)([六七八九]十[一二三四五六七八九]?|[6-9][0-9])(?![0-9一二三四五六七八九十万千百块元平亩斤年号个])")
    seen: list[tuple[int, int]] = []
    for pat in older:
        for m in compiled(pat).finditer(text):
            value = cn_number(m.group(1))
            if any(s < m.end() and m.start() < e for s, e in seen):
                continue  # one age read twice ("俺爹七十好几了")
            if value is not None and 60 <= value <= 120:  # without 岁 only an old age is read as an age
                seen.append(m.span())
                yield int(value), m.group(0)


def durations_years(text: str) -> Iterator[tuple[float, str]]:
    """"三年多了", "两年来", "5年之久": how long something has gone on."""
    for m in compiled(rf"({NUM})(多|余)?年(了|多|来|之久|有余|以上|都|没|还)").finditer(text):
        value = cn_number(m.group(1))
        if value is not None and value <= 100:
            yield value, m.group(0)
    # "已持续两年", "拖了三年", "长达5年": a duration told by its verb
    verb = "(?:持续|长达|已有|历时|拖了|闹了|争了|吵了|告了|跑了|要了|等了)(?:了)?"
    for m in compiled(rf"{verb}({NUM})(?:多|余)?年").finditer(text):
        value = cn_number(m.group(1))
        if value is not None and value <= 100:
            yield value, m.group(0)


def since_years(text: str) -> Iterator[tuple[int, str]]:
    """"从2019年起", "2018年开始": the year a dispute started."""
    for m in re.finditer(r"(?:从|自|早在)?((?:19|20)[0-9]{2})年(?:.{0,4})(开始|起|至今|到现在|就|以来)", text):
        yield int(m.group(1)), m.group(0)
