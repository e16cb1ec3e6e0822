"""Insight's use cases: apply an event to its case's fact and the counters (one transaction, with the
kit's ledger), and answer the table, rankings, heat table, trends and the cases behind a number."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from yima_contracts import Event
from yima_contracts.risk_events import WarningRaised
from yima_kit.consumer import Tx

from .core import ranking, table
from .core.facts import CaseFact, code_path, fold, units_in
from .core.rollup import ALL, increments
from .core.scope import OutOfScope, resolve
from .core.warnings import from_event
from .core.warnings import per_cell as warning_cells
from .core.warnings import view as warning_view
from .ports import InsightStore

# Flags the cases list filters on (the number a user clicked).
CASE_MEASURES: dict[str, dict[str, Any]] = {
    "received": {},
    "accepted": {"accepted": True},
    "closed": {"closed": True},
    "resolved": {"outcome": "resolved"},
    "failed": {"outcome": "failed"},
    "transferred": {"outcome": "transferred"},
    "overdue": {"overdue": True},
    "supervision_notices": {"notices": {"$gt": 0}},
    "rated": {"rating": {"$ne": None}},
    "med_concluded": {"med_concluded": True},
    "med_success": {"med_concluded": True, "med_success": True},
    "settled_community": {"outcome": "resolved", "settled_level": "community"},
    "settled_street": {"outcome": "resolved", "settled_level": "street"},
    "settled_district": {"outcome": "resolved", "settled_level": "district"},
    "red": {"level": "red"}, "yellow": {"level": "yellow"}, "blue": {"level": "blue"},
}
_DIM_FIELD = {"category": "category", "channel": "channel", "level": "level", "mode": "mode"}


def unit_codes(event: Event) -> set[str]:
    location = getattr(event, "location", None)
    codes = (getattr(event, "unit_code", None), getattr(event, "supervisor_unit_code", None),
             getattr(location, "unit_code", None))
    return {c for c in codes if c}


class InsightService:
    def __init__(self, store: InsightStore, *, weights: dict[str, float], target_community: float,
                 target_three: float) -> None:
        self.store = store
        self.weights = weights
        self.target_community = target_community
        self.target_three = target_three

    # --- the consumers ------------------------------------------------------------------------------

    async def on_events(self, events: Sequence[Event], tx: Tx) -> None:
        await self.apply_batch(list(events), tx.session)

    async def apply(self, event: Event, session: AsyncClientSession | None = None) -> CaseFact | None:
        return (await self.apply_batch([event], session)).get(event.case_id)

    async def apply_batch(self, events: list[Event], session: AsyncClientSession | None = None
                          ) -> dict[str, CaseFact]:
        """A poll's events in a few bulk calls: the facts they concern (one read), the units they name and the
        paths (one read; a write only of a unit that changed), then every changed fact (one write) and every
        counter document's change, summed per scope × period (one write). Returns the changed facts."""
        seen = [u for e in events for u in units_in(e)]
        warnings = [e for e in events if isinstance(e, WarningRaised)]
        counted = [e for e in events if not isinstance(e, WarningRaised)]
        before = await self.store.get_facts({e.case_id for e in counted}, session)
        codes = {c for e in events for c in unit_codes(e)} | {f.unit for f in before.values()}
        # one read of the units, a write only of those whose name or path changed (ADR 0214)
        paths = await self.store.units_seen(seen, codes, session)
        if warnings:
            await self.store.put_warnings([from_event(w, paths) for w in warnings], session)
        after, change = fold(before, counted, paths)
        await self.store.put_facts([f for cid, f in after.items() if before.get(cid) != f], session)
        await self.store.increment(increments(change), session)
        return after

    # --- reading ------------------------------------------------------------------------------------

    async def scope_for(self, claims: Any, unit: str | None) -> str:
        requested_path: tuple[str, ...] = ()
        if unit:
            requested_path = (await self.store.unit_paths([unit])).get(unit) or code_path(unit)
        try:
            return resolve(claims.unit, claims.unit_path, unit, requested_path)
        except OutOfScope as exc:
            raise PermissionError("无权查看该单位的统计") from exc

    async def summed(self, scope: str, dim: str, a: date, b: date, *, by_month: bool = False
                     ) -> tuple[dict[str, dict[str, int]], datetime | None]:
        periods = table.split_range(a, b)
        if by_month:  # a year's document cannot tell its months apart
            periods["m"] = sorted(periods["m"] + [f"{y}-{m:02d}" for y in periods.pop("y") for m in range(1, 13)])
        docs, as_of = await self.store.counters(scope, dim, periods)
        if by_month:  # a day's, ten days' or month's period starts with its month
            return table.sum_measures(docs, lambda d: d["p"][:7]), as_of
        return table.sum_measures(docs, lambda d: d["k"]), as_of

    async def table(self, scope: str, by: str, a: date, b: date) -> dict[str, Any]:
        if by not in table.BY:
            raise table.BadQuery(f"by 只能是 {'|'.join(table.BY)}")
        dim = "level" if by == "month" else by
        summed, as_of = await self.summed(scope, dim, a, b, by_month=by == "month")
        wanted = [*summed, scope] if by == "unit" else ([scope] if scope != ALL else [])
        names = await self.store.unit_names(wanted)
        out = table.build(by, scope, summed, names)
        scope_name = "全部" if scope == ALL else names.get(scope, scope)
        return {"from": a.isoformat(), "to": b.isoformat(), "by": by, "unit": None if scope == ALL else scope,
                "unit_name": scope_name, **out, "as_of": as_of.isoformat() if isinstance(as_of, datetime) else None}

    async def ranking(self, scope: str, a: date, b: date) -> dict[str, Any]:
        t = await self.table(scope, "unit", a, b)
        rows = [r for r in t["rows"] if r["key"] not in ("-",)]
        return {"from": t["from"], "to": t["to"], "unit": t["unit"], "weights": self.weights,
                "parts": ranking.PARTS,
                "targets": {"community": self.target_community, "three_levels": self.target_three},
                "rows": ranking.rank(rows, self.weights, self.target_community, self.target_three),
                "as_of": t["as_of"]}

    async def heat(self, scope: str, a: date, b: date) -> dict[str, Any]:
        """Cases (with their red and yellow) and early warnings by unit one level below the scope × category."""
        summed, _ = await self.summed(scope, "unit_category", a, b)
        raised = warning_cells(await self.store.warnings_in(scope, a.isoformat(), b.isoformat()), scope)
        cells: dict[tuple[str, str], dict[str, Any]] = {}
        for k, m in summed.items():
            if m.get("received"):
                unit, category = k.split("|", 1)
                cells[(unit, category)] = {"unit": unit, "category": category, "received": m.get("received", 0),
                                           "red": m.get("red", 0), "yellow": m.get("yellow", 0), "warnings": 0}
        for (unit, category), n in raised.items():
            cells.setdefault((unit, category), {"unit": unit, "category": category, "received": 0, "red": 0,
                                                "yellow": 0, "warnings": 0})["warnings"] = n
        units = sorted({u for u, _ in cells})
        names = await self.store.unit_names(units)
        return {"from": a.isoformat(), "to": b.isoformat(), "unit": None if scope == ALL else scope,
                "units": [{"key": u, "name": table.key_name("unit", u, scope, names)} for u in units],
                "categories": [{"key": c, "name": table.key_name("category", c, scope, {})}
                               for c in sorted({c for _, c in cells})],
                "cells": list(cells.values())}

    async def warnings(self, scope: str, a: date, b: date) -> dict[str, Any]:
        """The early warnings raised in the period at places in the scope, newest first (at most 500)."""
        found = await self.store.warnings_in(scope, a.isoformat(), b.isoformat())
        names = await self.store.unit_names({w.place for w in found if w.place})
        return {"from": a.isoformat(), "to": b.isoformat(), "unit": None if scope == ALL else scope,
                "total": len(found), "warnings": [warning_view(w, names) for w in found]}

    async def units(self, scope: str) -> list[dict[str, Any]]:
        docs = await self.store.units_below(scope)
        return [{"code": d["_id"], "name": d.get("name") or d["_id"], "path": d.get("path") or []} for d in docs]

    async def risk_trend(self, scope: str, a: date, b: date, gran: str) -> dict[str, Any]:
        periods = table.split_range(a, b)
        periods["m"] = sorted(periods["m"] + [f"{y}-{m:02d}" for y in periods.pop("y") for m in range(1, 13)])
        if gran == "d":
            periods = {"d": [d.isoformat() for d in _days(a, b)]}
        docs, _ = await self.store.counters(scope, "level", periods)
        series: dict[str, dict[str, int]] = {}
        for d in docs:
            p = d["p"] if gran == "d" else d["p"][:7]
            cur = series.setdefault(p, {})
            for lvl in ("red", "yellow", "blue", "received"):
                cur[lvl] = cur.get(lvl, 0) + int((d.get("m") or {}).get(lvl, 0))
        return {"from": a.isoformat(), "to": b.isoformat(), "gran": gran,
                "points": [{"period": p, **series[p]} for p in sorted(series)]}

    async def cases(self, scope: str, a: date, b: date, *, by: str | None, key: str | None, measure: str,
                    skip: int, limit: int) -> dict[str, Any]:
        if measure not in CASE_MEASURES:
            raise table.BadQuery(f"measure 只能是 {'|'.join(CASE_MEASURES)}")
        q: dict[str, Any] = {"day": {"$gte": a.isoformat(), "$lte": b.isoformat()}, **CASE_MEASURES[measure]}
        if scope != ALL:
            q["unit_path"] = scope
        if by and key is not None:
            if by == "unit":
                if key == "-":
                    q["unit"] = "-"
                elif key == scope:
                    q["unit"] = key
                else:  # the unit below, read by its index; the scope's own still checked
                    if scope != ALL:
                        q["$and"] = [{"unit_path": scope}]
                    q["unit_path"] = key
            elif by == "month":
                q["day"] = {"$gte": max(a.isoformat(), f"{key}-01"), "$lte": min(b.isoformat(), f"{key}-31")}
            elif by in _DIM_FIELD:
                q[_DIM_FIELD[by]] = key
            else:
                raise table.BadQuery("未知的分组")
        total, docs = await self.store.cases(q, skip=skip, limit=limit)
        names = await self.store.unit_names({d.get("unit", "-") for d in docs})
        return {"total": total, "cases": [case_row(d, names) for d in docs]}


def case_row(d: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """One case behind a number: insight holds no personal data, so nothing to mask beyond the case id."""
    return {
        "case_id": d["_id"], "case_number": d.get("case_number"), "day": d.get("day"),
        "category": d.get("category"),
        "category_name": table.key_name("category", d.get("category") or "", "", {}),
        "channel": d.get("channel"), "channel_name": table.CHANNEL_NAMES_ZH.get(d.get("channel") or "", ""),
        "level": d.get("level"), "unit": d.get("unit"), "unit_name": names.get(d.get("unit") or "", d.get("unit")),
        "mode": d.get("mode"), "state": d.get("state"), "outcome": d.get("outcome"),
        "overdue": d.get("overdue", False), "rating": d.get("rating"),
    }


def _days(a: date, b: date) -> list[date]:
    from datetime import timedelta

    out, d = [], a
    while d <= b:
        out.append(d)
        d += timedelta(days=1)
    return out
