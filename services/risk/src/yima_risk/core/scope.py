"""Who sees a case's risk and a warning (pure) — scoped like routing's staff API.

A staff member sees the risk of a case that sits in their unit, and — for the roles that supervise (admin, leader,
dispatcher) and analysts — in a unit below theirs. Where a case sits comes from ``case.assigned`` (the units'
paths). A warning is seen by the units on its place's path; one without a place (a respondent across places, a
district-wide surge) by the top unit only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from yima_contracts.codes import StaffRole

# Roles that also see what lies below their unit.
DOWNWARD = (StaffRole.ADMIN, StaffRole.LEADER, StaffRole.DISPATCHER, StaffRole.ANALYST)


class Viewer(Protocol):
    """The caller (a staff token's claims)."""

    @property
    def unit(self) -> str: ...
    @property
    def role(self) -> StaffRole: ...
    @property
    def unit_path(self) -> tuple[str, ...]: ...


def may_see(viewer: Viewer, unit_code: str | None, path: Sequence[str] | None) -> bool:
    if not unit_code:
        return False
    if len(viewer.unit_path) == 1 and viewer.unit_path[0] == viewer.unit and viewer.role in DOWNWARD:
        return True  # the top unit (the district): everything lies below it
    if unit_code == viewer.unit:
        return True
    return viewer.role in DOWNWARD and viewer.unit in tuple(path or ())


def case_units(case: Mapping[str, Any]) -> set[str]:
    """Every unit a case sits in: its place, the handling unit, its leader's, the closing unit, the assigned ones."""
    return {case.get("unit_code"), case.get("handling_unit"), (case.get("leader") or {}).get("unit_code"),
            (case.get("closed") or {}).get("unit_code"), *(case.get("assigned_units") or [])} - {None}


def may_see_case(viewer: Viewer, case: Mapping[str, Any] | None) -> bool:
    if not case:
        return False
    paths: dict[str, list[str]] = case.get("unit_paths") or {}
    return any(may_see(viewer, u, paths.get(u)) for u in case_units(case))


def may_see_warning(viewer: Viewer, place: str | None, path: Sequence[str] | None) -> bool:
    if place:
        return may_see(viewer, place, path)
    return len(viewer.unit_path) <= 1 and viewer.role in DOWNWARD
