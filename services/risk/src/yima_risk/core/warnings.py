"""Early warnings (预警), pure: given a new case and the recent ones, which thresholds does it cross?

- place_cluster: cases of one category in one place (community or grid) within a window;
- respondent_cluster: one organisation named as respondent in several places (an employer owing wages);
- surge: cases of one category in the last window against the usual rate of the baseline before it.

Times are the cases' submission times (not the clock), so a stream replayed gives the same warnings. A
warning with the same key is not raised again within its window (``last_raised``). Kafka orders the events of one
case, not of different cases: a cluster is any window that holds the new case, so the last of its cases to be read
finds it whatever the order they were read in (not only the one submitted last).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from yima_contracts.codes import CATEGORY_NAMES_ZH, Category

from .ruleset import Warnings

Kind = Literal["place_cluster", "respondent_cluster", "surge"]


def normalize_org(name: str) -> str:
    """One spelling per organisation: NFKC, no spaces or brackets' width differences."""
    s = unicodedata.normalize("NFKC", name)
    return re.sub(r"\s+", "", s)


@dataclass(frozen=True)
class CaseRef:
    case_id: str
    category: Category
    at: datetime
    unit_code: str | None = None
    respondent_org: str | None = None  # normalized organisation name; persons are never recorded


@dataclass(frozen=True)
class Finding:
    key: str
    kind: Kind
    case_ids: tuple[str, ...]
    window_days: int
    threshold: int
    message_zh: str
    category: Category | None = None
    unit_code: str | None = None
    respondent: str | None = None


def _ids(cases: Sequence[CaseRef]) -> tuple[str, ...]:
    return tuple(c.case_id for c in sorted(cases, key=lambda c: (c.at, c.case_id)))[-1000:]


def detect(
    new: CaseRef,
    recent: Sequence[CaseRef],
    ws: Warnings,
    last_raised: Mapping[str, datetime] | None = None,
    known_since: datetime | None = None,
    place_names: Mapping[str, str] | None = None,
) -> list[Finding]:
    """``recent``: the cases before ``new`` (at least the lookback of every window); ``last_raised``: when each
    warning key was last raised; ``known_since``: when the record of cases starts (the usual rate is measured
    over the part of the baseline that is on record; with less than one window on record there is no surge);
    ``place_names``: places by their directory name (a message names the place as people know it, else the code)."""
    last = last_raised or {}
    others = [c for c in recent if c.case_id != new.case_id]
    found = [place_cluster(new, others, ws, place_names or {}), respondent_cluster(new, others, ws),
             surge(new, others, ws, known_since)]
    return [f for f in found if f is not None and _cooled(new, last, f.key, f.window_days)]


def _cooled(new: CaseRef, last_raised: Mapping[str, datetime], key: str, window_days: int) -> bool:
    """The warning ``key`` may be raised for ``new``: never raised, or not within its window before ``new``."""
    at = last_raised.get(key)
    return at is None or at <= new.at - timedelta(days=window_days)


@dataclass(frozen=True)
class WindowReads:
    """Which recent cases the check must read for ``new``: per warning, its look-back in days, or None when that
    warning cannot be raised now whatever the cases (raised within its window already; a surge with less than one
    window of record) — a read skipped costs nothing, and a burst of one category stops reading once its warnings
    are raised."""

    place_days: int | None
    respondent_days: int | None
    surge_days: int | None


def reads_for(new: CaseRef, ws: Warnings, last_raised: Mapping[str, datetime],
              known_since: datetime | None) -> WindowReads:
    """What ``detect`` needs read for ``new``: the cases of the warnings it could still raise (see ``detect``).
    The other warnings' findings would be dropped as not cooled (or, for a surge, not computed)."""
    def open_(key: str, window_days: int) -> bool:
        return _cooled(new, last_raised, key, window_days)

    pc, rc, sg = ws.place_cluster, ws.respondent_cluster, ws.surge
    place = pc.window_days if new.unit_code and open_(place_key(new), pc.window_days) else None
    org = rc.window_days if new.respondent_org and open_(respondent_key(new), rc.window_days) else None
    start = known_since or new.at
    record = (new.at - timedelta(days=sg.window_days) - start).total_seconds() / 86400  # the baseline on record
    surge_ = (sg.window_days + sg.baseline_days if record >= sg.window_days and open_(surge_key(new), sg.window_days)
              else None)
    return WindowReads(place, org, surge_)


def place_key(new: CaseRef) -> str:
    return f"place_cluster|{new.category.value}|{new.unit_code}"


def respondent_key(new: CaseRef) -> str:
    return f"respondent_cluster|{new.respondent_org}"


def surge_key(new: CaseRef) -> str:
    return f"surge|{new.category.value}"


def warning_keys(new: CaseRef) -> list[str]:
    """The keys of every warning ``new`` could raise (what ``warning_state`` reads)."""
    return [place_key(new), surge_key(new), respondent_key(new)]


def window_with(new: CaseRef, cases: Sequence[CaseRef], days: int) -> list[CaseRef]:
    """The most cases (``new`` among them) that one window of ``days`` holds together with ``new``."""
    w = timedelta(days=days)
    near = sorted([*(c for c in cases if new.at - w < c.at < new.at + w), new], key=lambda c: (c.at, c.case_id))
    best: list[CaseRef] = []
    for start in (c for c in near if c.at <= new.at):
        inside = [c for c in near if start.at <= c.at < start.at + w]
        if len(inside) > len(best):
            best = inside
    return best


def place_cluster(new: CaseRef, others: Sequence[CaseRef], ws: Warnings,
                  place_names: Mapping[str, str]) -> Finding | None:
    """Cases of one category in one place (community or grid) within the window."""
    pc = ws.place_cluster
    if not new.unit_code:
        return None
    same = window_with(new, [c for c in others if c.category == new.category and c.unit_code == new.unit_code],
                       pc.window_days)
    n, threshold = len(same), pc.threshold(new.category)
    if n < threshold:
        return None
    place = place_names.get(new.unit_code) or new.unit_code
    return Finding(
        place_key(new), "place_cluster", _ids(same), pc.window_days,
        threshold,
        f"{pc.window_days}天内同一地点（{place}）发生{n}起{CATEGORY_NAMES_ZH[new.category]}，达到预警阈值{threshold}起，"
        "请属地关注是否有共同原因",
        category=new.category, unit_code=new.unit_code,
    )


def respondent_cluster(new: CaseRef, others: Sequence[CaseRef], ws: Warnings) -> Finding | None:
    """One organisation named as respondent in several places (an employer owing wages)."""
    rc = ws.respondent_cluster
    if not new.respondent_org:
        return None
    cases = window_with(new, [c for c in others if c.respondent_org == new.respondent_org], rc.window_days)
    places = {c.unit_code or "未知地点" for c in cases}
    if len(cases) < rc.min_cases or len(places) < rc.min_places:
        return None
    return Finding(
        respondent_key(new), "respondent_cluster", _ids(cases), rc.window_days, rc.min_cases,
        f"{rc.window_days}天内{len(places)}个地点共{len(cases)}起纠纷指向同一被申请单位“{new.respondent_org}”，"
        "请相关部门联合研判",
        category=new.category, respondent=new.respondent_org[:100],
    )


def surge(new: CaseRef, others: Sequence[CaseRef], ws: Warnings, known_since: datetime | None) -> Finding | None:
    """Cases of one category in the last window against the usual rate of the baseline before it."""
    sg = ws.surge
    window_start = new.at - timedelta(days=sg.window_days)
    base_start = window_start - timedelta(days=sg.baseline_days)
    current = [c for c in others if c.category == new.category and window_start < c.at <= new.at]
    baseline = [c for c in others if c.category == new.category and base_start < c.at <= window_start]
    start = max(base_start, known_since or new.at)
    covered_days = (window_start - start).total_seconds() / 86400
    usual = len(baseline) * sg.window_days / covered_days if covered_days > 0 else 0.0  # cases per window
    n = len(current) + 1
    needed = max(sg.min_cases, int(sg.factor * usual) + 1)
    if covered_days < sg.window_days or n < needed:
        return None
    return Finding(
        surge_key(new), "surge", _ids([*current, new]), sg.window_days, needed,
        f"近{sg.window_days}天{CATEGORY_NAMES_ZH[new.category]}{n}起，平时约{usual:.1f}起，明显上升，请分析原因",
        category=new.category,
    )
