"""The one table (一张表): rows from summed counters, every rate with its numerator and denominator (pure).

Definitions: docs/insight-definitions.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

from yima_contracts.codes import CATEGORY_NAMES_ZH, RISK_LEVEL_NAMES_ZH, Category, Channel, RiskLevel

from .facts import MEASURES, MODES, NO_LEVEL, NO_UNIT
from .rollup import ten_days

BY = ("unit", "category", "channel", "level", "month", "mode")
CHANNEL_NAMES_ZH: dict[str, str] = {
    Channel.SELF_SERVICE: "扫码/网上自助", Channel.RECEPTION: "窗口接待", Channel.PROXY: "代办",
    Channel.GRID: "网格员上报", Channel.HOTLINE_12345: "12345热线", Channel.POLICE_110: "110警情",
    Channel.COURT_REFERRAL: "诉前委派", Channel.PETITION: "信访", Channel.OPEN311: "Open311接口",
}
MAX_DAYS = 3660


class BadQuery(ValueError):
    """A query the table cannot answer; the message is for the user (Chinese)."""


def parse_range(start: str, end: str) -> tuple[date, date]:
    try:
        a, b = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError as exc:
        raise BadQuery("日期格式应为 YYYY-MM-DD") from exc
    if b < a:
        raise BadQuery("结束日期不能早于开始日期")
    if (b - a).days > MAX_DAYS:
        raise BadQuery("查询区间不能超过10年")
    return a, b


def split_range(a: date, b: date) -> dict[str, list[str]]:
    """The periods covering [a, b] exactly, per granularity (``y``, ``m``, ``t``, ``d``): whole years as years,
    whole months as months, whole ten days (旬) as ten days, the rest as days — the fewest counter documents."""
    out: dict[str, list[str]] = {"y": [], "m": [], "t": [], "d": []}
    d = a
    while d <= b:
        if d.month == 1 and d.day == 1 and date(d.year, 12, 31) <= b:
            out["y"].append(str(d.year))
            d = date(d.year + 1, 1, 1)
            continue
        first = d.replace(day=1)
        nxt = (first + timedelta(days=32)).replace(day=1)
        if d == first and nxt - timedelta(days=1) <= b:
            out["m"].append(first.isoformat()[:7])
            d = nxt
            continue
        if d.day in (1, 11, 21):
            after = nxt if d.day == 21 else d + timedelta(days=10)  # the third ten days run to the month's end
            if after - timedelta(days=1) <= b:
                out["t"].append(ten_days(d.isoformat()))
                d = after
                continue
        out["d"].append(d.isoformat())
        d += timedelta(days=1)
    return out


def rate(num: int, den: int) -> dict[str, Any]:
    return {"num": num, "den": den, "value": round(num / den, 4) if den else None}


def row(key: str, name: str, m: Mapping[str, int]) -> dict[str, Any]:
    g = {k: int(m.get(k, 0)) for k in MEASURES}
    settled = g["settled_community"] + g["settled_street"] + g["settled_district"]
    return {
        "key": key,
        "name": name,
        "received": g["received"],
        "accepted": g["accepted"],
        "closed": g["closed"],
        "resolved": g["resolved"],
        "failed": g["failed"],
        "transferred": g["transferred"],
        "success_rate": rate(g["med_success"], g["med_concluded"]),
        "settled_at_level": {"community": g["settled_community"], "street": g["settled_street"],
                             "district": g["settled_district"]},
        "overdue": g["overdue"],
        "supervision_notices": g["notices"],
        "satisfaction": {
            "rated": g["rated"],
            "avg": round(g["rating_sum"] / g["rated"], 2) if g["rated"] else None,
            "satisfied_share": round(g["satisfied"] / g["rated"], 4) if g["rated"] else None,
            "satisfied": g["satisfied"],
        },
        "red": g["red"],
        "yellow": g["yellow"],
        "blue": g["blue"],
        # beyond the shape (names may grow): the rates the rankings and targets use
        "settle_rate": rate(g["resolved"], g["closed"]),
        "on_time_rate": rate(g["on_time"], g["closed"]),
        "community_share": rate(g["settled_community"], g["closed"]),
        "three_levels_share": rate(settled, g["closed"]),
    }


def sum_measures(docs: Iterable[Mapping[str, Any]], key_of: Any) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for d in docs:
        cur = out.setdefault(key_of(d), {})
        for m, n in (d.get("m") or {}).items():
            cur[m] = cur.get(m, 0) + int(n)
    return out


def key_name(by: str, key: str, scope: str, names: Mapping[str, str]) -> str:
    if by == "unit":
        if key == NO_UNIT:
            return "未分派"
        name = names.get(key, key)
        return f"{name}（本级）" if key == scope else name
    if by == "category":
        if key == "-":
            return "不限类别"
        return CATEGORY_NAMES_ZH.get(Category(key), key) if key in Category._value2member_map_ else key
    if by == "channel":
        return CHANNEL_NAMES_ZH.get(key, key)
    if by == "level":
        if key == NO_LEVEL:
            return "未评估"
        return RISK_LEVEL_NAMES_ZH[RiskLevel(key)] if key in RiskLevel._value2member_map_ else key
    if by == "mode":
        return MODES.get(key, key)
    if by == "month":
        return f"{key[:4]}年{int(key[5:7])}月"
    return key


def build(by: str, scope: str, summed: Mapping[str, Mapping[str, int]], names: Mapping[str, str]) -> dict[str, Any]:
    rows = [row(k, key_name(by, k, scope, names), m) for k, m in summed.items() if m.get("received")]
    rows.sort(key=lambda r: r["key"] if by == "month" else (-r["received"], r["key"]))
    total: dict[str, int] = {}
    for m in summed.values():
        for k, n in m.items():
            total[k] = total.get(k, 0) + n
    totals = row("total", "合计", total)
    return {"rows": rows, "totals": totals}
