"""The request bodies of routing's HTTP API (validated at the boundary; 422 with Chinese messages)."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from yima_contracts.codes import Category, StaffRole, UnitKind

from ...core.directory import Docking, SubKind


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)
    totp: str | None = Field(default=None, pattern=r"^\d{6}$")


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=200,
                                  validation_alias=AliasChoices("current_password", "old_password"))
    new_password: str = Field(min_length=1, max_length=200)


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=2, max_length=300)


class Dispatch(Reason):
    unit_code: str = Field(min_length=1, max_length=64)
    working_days: int | None = Field(default=None, ge=1, le=60)


class Summon(Reason):
    unit_codes: list[str] = Field(min_length=1, max_length=20)


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=1, max_length=500)


class UnitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    kind: UnitKind
    parent: str | None = None
    subkind: SubKind | None = None
    docking: Docking | None = None
    place: str | None = None
    fields: list[Category] = []
    jurisdiction: list[str] = []
    active: bool = True
    expected_version: int | None = Field(default=None, description="optimistic concurrency: the version you read")
    reason: str = Field(min_length=2, max_length=300)


class StaffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=50)
    unit: str = Field(min_length=1, max_length=64)
    role: StaffRole
    active: bool = True
    expected_version: int | None = None
    reason: str = Field(min_length=2, max_length=300)


class CalendarDay(Reason):
    workday: bool = Field(description="true = a working day (调休), false = a holiday")


class RulesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: dict[str, Any] = Field(description="the whole rule set, as in routing_rules.yaml, with a new version")
    reason: str = Field(min_length=2, max_length=300)


class DryRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: dict[str, Any] = Field(description="the rule set to try, as for PUT /admin/rules")
    days: int = Field(default=30, ge=1, le=366, description="the cases submitted in this many past days")


class NewPassword(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str = Field(min_length=1, max_length=200)
