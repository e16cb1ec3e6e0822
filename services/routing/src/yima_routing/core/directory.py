"""The org directory (pure): units, their parents and fields of competence."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field
from yima_contracts.codes import Category, UnitKind
from yima_contracts.topics import UNIT_CODE_PATTERN


class Unit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=UNIT_CODE_PATTERN)
    name: str = Field(min_length=1, max_length=100)
    kind: UnitKind
    parent: str | None = None
    fields: tuple[Category, ...] = ()


class Directory:
    def __init__(self, units: list[Unit], version: str) -> None:
        self.version = version
        self.units = {u.code: u for u in units}
        if len(self.units) != len(units):
            raise ValueError("duplicate unit codes in the directory")
        for u in units:
            if u.parent is not None and u.parent not in self.units:
                raise ValueError(f"unit {u.code}: unknown parent {u.parent}")

    @classmethod
    def load(cls, path: Path) -> Directory:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return cls([Unit.model_validate(u) for u in data["units"]], str(data["version"]))

    def get(self, code: str) -> Unit | None:
        return self.units.get(code)

    def ancestors(self, code: str) -> list[Unit]:
        """The unit itself, then its parent, and so on up to the top."""
        chain: list[Unit] = []
        unit = self.units.get(code)
        while unit is not None:
            chain.append(unit)
            unit = self.units.get(unit.parent) if unit.parent else None
        return chain

    def enclosing(self, code: str, kind: UnitKind) -> Unit | None:
        return next((u for u in self.ancestors(code) if u.kind is kind), None)

    def committee_for(self, category: Category) -> Unit | None:
        return next((u for u in self.units.values() if u.kind is UnitKind.COMMITTEE and category in u.fields), None)
