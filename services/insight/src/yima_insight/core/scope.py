"""Who sees which figures (pure): a unit sees its own and everything below it; the top of the hierarchy
(the district) sees all cases, unassigned ones included. Every staff role reads; nothing here writes, so
analysts (考核) read like everyone else and change nothing."""

from __future__ import annotations

from collections.abc import Sequence

from .rollup import ALL


class OutOfScope(Exception):
    """The requested unit is not the viewer's own nor below it."""


def viewer_scope(unit: str, unit_path: Sequence[str]) -> str:
    path = tuple(unit_path) or (unit,)
    return ALL if len(path) <= 1 else unit


def resolve(viewer_unit: str, viewer_path: Sequence[str], requested: str | None,
            requested_path: Sequence[str] | None) -> str:
    """The scope a query runs in: the requested unit if the viewer may see it, else OutOfScope."""
    own = viewer_scope(viewer_unit, viewer_path)
    if not requested or requested == own:
        return own
    if own == ALL:
        return requested
    if requested == viewer_unit or viewer_unit in tuple(requested_path or ()):
        return requested
    raise OutOfScope(requested)
