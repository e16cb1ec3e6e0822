"""Early warnings (预警) as insight keeps them (pure): risk's ``warning.raised`` without the case ids, with the
place's chain of units so that each unit on it sees the warning, and its day in China Standard Time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from pydantic import BaseModel
from yima_contracts.risk_events import WarningRaised

from . import table
from .facts import code_path, local_day
from .rollup import ALL

KIND_NAMES = {"place_cluster": "同一地点纠纷聚集", "respondent_cluster": "同一被申请方纠纷聚集",
              "surge": "纠纷数量突增"}
NO_CATEGORY = "-"


class Warning(BaseModel):
    warning_id: str
    kind: str
    category: str | None = None
    place: str | None = None  # the unit of the place (its code)
    place_name: str | None = None
    chain: list[str]  # the place first, then every unit above it
    cases: int  # how many cases crossed the threshold together
    window_days: int
    threshold: int
    message_zh: str
    raised_at: datetime
    day: str


def from_event(e: WarningRaised, paths: Mapping[str, tuple[str, ...]]) -> Warning:
    """What insight keeps of a warning: the counts and the place, not which cases (those are risk's)."""
    chain = list(e.chain_unit_codes)
    if not chain and e.unit_code:
        chain = list(reversed(paths.get(e.unit_code) or code_path(e.unit_code)))
    return Warning(warning_id=e.warning_id, kind=e.kind, category=e.category.value if e.category else None,
                   place=e.unit_code, place_name=e.place_name, chain=chain, cases=len(e.case_ids),
                   window_days=e.window_days, threshold=e.threshold, message_zh=e.message_zh,
                   raised_at=e.occurred_at, day=local_day(e.occurred_at))


def row_unit(w: Warning, scope: str) -> str:
    """The heat table's row of a warning in ``scope``: the unit one level below the scope on the warning's chain
    (the place itself when it is the scope or right below it)."""
    path = list(reversed(w.chain))  # from the top down
    if not path:
        return "-"
    if scope == ALL:
        return path[0]
    if scope in path and path.index(scope) + 1 < len(path):
        return path[path.index(scope) + 1]
    return scope


def per_cell(warnings: Iterable[Warning], scope: str) -> dict[tuple[str, str], int]:
    """How many warnings fall on each (row unit, category) cell of the heat table."""
    out: dict[tuple[str, str], int] = {}
    for w in warnings:
        cell = (row_unit(w, scope), w.category or NO_CATEGORY)
        out[cell] = out.get(cell, 0) + 1
    return out


def view(w: Warning, names: Mapping[str, str]) -> dict[str, object]:
    """A warning for the dashboard's list (no personal data: the respondent is never shown here)."""
    return {"warning_id": w.warning_id, "kind": w.kind, "kind_name": KIND_NAMES.get(w.kind, w.kind),
            "category": w.category, "category_name": table.key_name("category", w.category or NO_CATEGORY, "", {}),
            "place": w.place,
            "place_name": w.place_name or names.get(w.place or "", w.place), "cases": w.cases,
            "window_days": w.window_days, "threshold": w.threshold, "message_zh": w.message_zh,
            "raised_at": w.raised_at.isoformat(), "day": w.day}
