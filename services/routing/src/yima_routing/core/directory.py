"""The org directory (pure): units, their parents, jurisdictions and fields of competence, and staff.

Unit kinds are the public vocabulary (``UnitKind``); finer distinctions that the routing service alone needs
travel in ``subkind``: ``studio`` (个人调解工作室, a committee), ``special`` (专属网格 of an enterprise, a school,
an industrial park), ``docking`` (六调对接: the court-attached centre and the docking points with the
procuratorate, police, petitions, notary and arbitration; ``docking`` names which).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field
from yima_contracts.codes import Category, StaffRole, UnitKind
from yima_contracts.topics import UNIT_CODE_PATTERN

SubKind = Literal["studio", "special", "docking"]
Docking = Literal["court", "procuratorate", "police", "petition", "notary", "arbitration"]


class Unit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=UNIT_CODE_PATTERN)
    name: str = Field(min_length=1, max_length=100)
    kind: UnitKind
    parent: str | None = None
    subkind: SubKind | None = None
    docking: Docking | None = None
    place: str | None = Field(default=None, max_length=40, description="what a special grid serves")
    fields: tuple[Category, ...] = Field(default=(), description="fields of competence")
    jurisdiction: tuple[str, ...] = Field(default=(), description="address keywords (roads, estates, villages)")
    active: bool = True
    in_platform: bool = Field(
        default=False,
        description="handles its cases in yima's own console (mediation takes its work orders), not its own system")


class Staff(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{1,63}$")
    name: str = Field(min_length=1, max_length=50)
    unit: str = Field(pattern=UNIT_CODE_PATTERN)
    role: StaffRole
    active: bool = True


class Directory:
    def __init__(self, units: Iterable[Unit], version: str, staff: Iterable[Staff] = ()) -> None:
        units = list(units)
        self.version = version
        self.units = {u.code: u for u in units}
        if len(self.units) != len(units):
            raise ValueError("duplicate unit codes in the directory")
        for u in units:
            if u.parent is not None and u.parent not in self.units:
                raise ValueError(f"unit {u.code}: unknown parent {u.parent}")
        self.staff = {s.id: s for s in staff}
        for s in self.staff.values():
            if s.unit not in self.units:
                raise ValueError(f"staff {s.id}: unknown unit {s.unit}")
        self._children: dict[str, list[str]] = {}
        for u in units:
            if u.parent:
                self._children.setdefault(u.parent, []).append(u.code)

    @classmethod
    def load(cls, path: Path) -> Directory:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        return cls(
            [Unit.model_validate(u) for u in data["units"]],
            str(data["version"]),
            [Staff.model_validate(s) for s in data.get("staff", ())],
        )

    def get(self, code: str) -> Unit | None:
        return self.units.get(code)

    def ancestors(self, code: str) -> list[Unit]:
        """The unit itself, then its parent, and so on up to the top."""
        chain: list[Unit] = []
        unit = self.units.get(code)
        while unit is not None and len(chain) < 20:
            chain.append(unit)
            unit = self.units.get(unit.parent) if unit.parent else None
        return chain

    def unit_path(self, code: str) -> tuple[str, ...]:
        """Codes from the top down to the unit itself (the ``unit_path`` claim of staff tokens)."""
        return tuple(u.code for u in reversed(self.ancestors(code)))

    def descendants(self, code: str) -> set[str]:
        out: set[str] = set()
        todo = [code]
        while todo:
            for child in self._children.get(todo.pop(), ()):
                if child not in out:
                    out.add(child)
                    todo.append(child)
        return out

    def enclosing(self, code: str, kind: UnitKind) -> Unit | None:
        return next((u for u in self.ancestors(code) if u.kind is kind), None)

    def committee_for(self, category: Category, exclude: Iterable[str] = ()) -> Unit | None:
        """The district's specialised committee for a field (personal studios are chosen by hand)."""
        skip = set(exclude)
        return next(
            (u for u in self.units.values() if u.kind is UnitKind.COMMITTEE and u.subkind is None and u.active
             and category in u.fields and u.code not in skip),
            None,
        )

    def locate(self, address: str | None) -> Unit | None:
        """The community whose jurisdiction keywords occur in a free-text address (longest keyword wins)."""
        if not address:
            return None
        best: tuple[int, Unit] | None = None
        for u in self.units.values():
            if u.kind is not UnitKind.COMMUNITY or not u.active:
                continue
            for kw in u.jurisdiction:
                if kw and kw in address and (best is None or len(kw) > best[0]):
                    best = (len(kw), u)
        return best[1] if best else None

    def escalation_target(self, code: str, top: str) -> Unit | None:
        """The next level up (grid → community → street → district); departments and committees → the district."""
        unit = self.units.get(code)
        if unit is None or unit.code == top:
            return None
        if unit.kind in (UnitKind.COMMUNITY, UnitKind.GRID, UnitKind.STREET) or unit.subkind == "studio":
            parent = self.units.get(unit.parent) if unit.parent else None
            while parent is not None and parent.kind is UnitKind.GRID:
                parent = self.units.get(parent.parent) if parent.parent else None
            return parent or self.units.get(top)
        return self.units.get(top)

    def staff_of(self, unit_code: str, role: StaffRole | None = None) -> list[Staff]:
        return sorted(
            (s for s in self.staff.values() if s.unit == unit_code and s.active and (role is None or s.role is role)),
            key=lambda s: s.id,
        )

    def leader_for(self, unit_code: str, key: str) -> Staff | None:
        """A named leader (分包领导) of the unit or the nearest unit above that has one, spread by ``key``."""
        for u in self.ancestors(unit_code):
            leaders = self.staff_of(u.code, StaffRole.LEADER)
            if leaders:
                return leaders[sum(key.encode()) % len(leaders)]
        return None
