"""Routing rules as data (pure): first match wins; the rule that fired is kept on the assignment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator
from yima_contracts.codes import Category, Channel, RiskLevel, UnitKind

from .directory import Directory, Unit


class When(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: tuple[Channel, ...] = ()
    category: tuple[Category, ...] = ()
    risk: tuple[RiskLevel, ...] = ()
    has_location: bool | None = None
    min_parties: int | None = Field(default=None, ge=1, description="people on the applicant's side, at least")
    min_amount_yuan: float | None = Field(default=None, ge=0, description="sum in dispute, at least")


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    when: When
    target: str
    reason: str
    summon: tuple[str, ...] = Field(
        default=(), description="全科会诊: further units summoned to handle it jointly (same target syntax)")
    supervisor: str | None = Field(
        default=None, description="who supervises instead of the unit one level up (诉前委派: the court's centre "
        "delegates and follows the case; same target syntax)")

    @field_validator("target")
    @classmethod
    def _target(cls, v: str) -> str:
        return _check_target(v)

    @field_validator("supervisor")
    @classmethod
    def _supervisor(cls, v: str | None) -> str | None:
        return _check_target(v) if v is not None else None

    @field_validator("summon")
    @classmethod
    def _summon(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_check_target(t) for t in v)


def _check_target(v: str) -> str:
    named = {"committee_for_category", "street_of_location", "community_of_location", "unit_of_location"}
    if v not in named and not v.startswith("unit:"):
        raise ValueError(f"unknown target {v!r}")
    return v


class SupervisionPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    warning_before_working_days: int = Field(default=1, ge=0)
    second_notice_after_working_days: int = Field(default=1, ge=1)
    escalate_after_working_days: int = Field(default=2, ge=1)
    leader_after_working_days: int = Field(default=3, ge=1)


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    default_unit: str
    deadlines_working_days: dict[RiskLevel, int]
    supervision: SupervisionPolicy = SupervisionPolicy()
    rules: tuple[Rule, ...]

    @classmethod
    def load(cls, path: Path) -> RuleSet:
        return cls.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class CaseFacts:
    channel: Channel
    category: Category
    risk: RiskLevel
    location_unit_code: str | None
    party_count: int | None = None
    amount_yuan: float | None = None
    exclude: frozenset[str] = frozenset()  # units that returned the case (round 2+)


@dataclass(frozen=True)
class Decision:
    unit: Unit
    supervisor: Unit
    rule_id: str
    reason_zh: str
    working_days: int
    summon: tuple[Unit, ...] = ()


def _matches(w: When, f: CaseFacts, directory: Directory) -> bool:
    located = f.location_unit_code is not None and directory.get(f.location_unit_code) is not None
    return (
        (not w.channel or f.channel in w.channel)
        and (not w.category or f.category in w.category)
        and (not w.risk or f.risk in w.risk)
        and (w.has_location is None or w.has_location == located)
        and (w.min_parties is None or (f.party_count or 1) >= w.min_parties)
        and (w.min_amount_yuan is None or (f.amount_yuan or 0) >= w.min_amount_yuan)
    )


def _target(rule: Rule, f: CaseFacts, directory: Directory, target: str | None = None) -> Unit | None:
    loc = f.location_unit_code or ""
    match target or rule.target:
        case "committee_for_category":
            return directory.committee_for(f.category, f.exclude)
        case "street_of_location":
            return directory.enclosing(loc, UnitKind.STREET)
        case "community_of_location":
            return directory.enclosing(loc, UnitKind.COMMUNITY)
        case "unit_of_location":
            return directory.get(loc)
        case other:
            return directory.get(other.removeprefix("unit:"))


def supervisor_of(unit: Unit, directory: Directory, default: Unit) -> Unit:
    """谁分配、谁督办: the unit one level up assigns and supervises (a grid's parent is a community, and
    grids do not assign); the district centre for the top."""
    parent = directory.get(unit.parent) if unit.parent else None
    while parent is not None and parent.kind is UnitKind.GRID:
        parent = directory.get(parent.parent) if parent.parent else None
    return parent or default


def decide(facts: CaseFacts, rules: RuleSet, directory: Directory) -> Decision:
    default = directory.get(rules.default_unit)
    if default is None:
        raise ValueError(f"default unit {rules.default_unit} is not in the directory")
    for rule in rules.rules:
        if _matches(rule.when, facts, directory):
            unit = _target(rule, facts, directory)
            if unit is not None and unit.active and unit.code not in facts.exclude:
                summoned: list[Unit] = []
                for t in rule.summon:
                    other = _target(rule, facts, directory, t)
                    if other is not None and other.active and other.code != unit.code and other not in summoned:
                        summoned.append(other)
                sup = _target(rule, facts, directory, rule.supervisor) if rule.supervisor else None
                if sup is None or not sup.active or sup.code == unit.code:
                    sup = supervisor_of(unit, directory, default)
                return Decision(unit, sup, rule.id, rule.reason,
                                rules.deadlines_working_days[facts.risk], tuple(summoned))
    return Decision(default, default, "fallback_default", "无匹配规则，由区矛调中心分流",
                    rules.deadlines_working_days[facts.risk])
