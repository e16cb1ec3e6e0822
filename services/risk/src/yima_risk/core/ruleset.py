"""The risk rule set: a versioned YAML file, validated when the service starts.

A bad file is refused with a message that names the line at fault: the YAML is composed into nodes that
remember where they start (``yaml.compose`` keeps marks), every value's path is mapped to its line, and
a validation error's location (``rules → 3 → level``) is looked up in that map.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from yima_contracts.codes import Category, RiskLevel

DEFAULT_RULES_FILE = Path(__file__).resolve().parent.parent / "data" / "risk_rules.yaml"


class RulesError(ValueError):
    """The rules file is unusable; the message names the file and line."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _compile(patterns: tuple[str, ...]) -> tuple[str, ...]:
    for i, p in enumerate(patterns):
        try:
            re.compile(p)
        except re.error as exc:
            raise ValueError(f"第{i + 1}个正则表达式无效 (invalid regular expression {p!r}): {exc}") from exc
    return patterns


def _raises(level: RiskLevel) -> RiskLevel:
    if level is RiskLevel.BLUE:
        raise ValueError("规则等级只能是 red 或 yellow (a rule raises the level: red or yellow)")
    return level


class TextRule(_Model):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    name_zh: str = Field(min_length=1, max_length=100)
    level: RiskLevel
    weight: int = Field(ge=0, le=200)
    categories: tuple[Category, ...] = ()
    cues: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    # Fires only if one of these ALSO appears in the same text (a harm AND a claim; a weapon AND a threat).
    also_cues: tuple[str, ...] = ()
    also_patterns: tuple[str, ...] = ()
    # A safety net: counts only when no other rule fired (it keeps a text with a sign of harm from being blue and
    # adds nothing to a case other rules already explain).
    fallback: bool = False

    _check_patterns = field_validator("patterns", "exclude", "also_patterns")(_compile)

    @model_validator(mode="after")
    def _has_cues(self) -> TextRule:
        if not self.cues and not self.patterns:
            raise ValueError("规则须有 cues 或 patterns (a text rule needs cues or patterns)")
        if self.level is RiskLevel.BLUE:
            raise ValueError("规则等级只能是 red 或 yellow (a rule raises the level: red or yellow)")
        if self.fallback and self.level is not RiskLevel.YELLOW:
            raise ValueError("兜底规则只能是 yellow (a fallback rule only keeps a text from blue)")
        return self


class CalmRule(_Model):
    """Words that say there is no live dispute (both sides agree, it was only said, they have made up; ADR 0191): where
    they appear and every rule that fired is one of ``softens`` (weak signs: a vulnerable party named, strong words,
    the safety net…), the case stays blue and says why. It never touches a red rule, a sum, a group or a threat."""
    rule_id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    name_zh: str = Field(min_length=1, max_length=100)
    cues: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    softens: tuple[str, ...] = Field(min_length=1)

    _check_patterns = field_validator("patterns", "exclude")(_compile)


class Combination(_Model):
    """Rules that together mean more than their sum: e.g. a group AND signs of imminent action → red."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    name_zh: str = Field(min_length=1, max_length=100)
    level: RiskLevel
    weight: int = Field(ge=0, le=200)
    all_of: tuple[str, ...] = Field(min_length=1)
    any_of: tuple[str, ...] = ()  # if given, at least one of these fired as well

    _not_blue = field_validator("level")(_raises)


class Negation(_Model):
    before: tuple[str, ...]
    after: tuple[str, ...] = ()
    window: int = Field(ge=1, le=20)
    breakers: tuple[str, ...] = ()
    not_negation: tuple[str, ...] = ()


class Scoring(_Model):
    red_score: int = Field(ge=1)


class Tier(_Model):
    yellow: float = Field(gt=0)
    red: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Tier:
        if self.red < self.yellow:
            raise ValueError("red 阈值不能低于 yellow 阈值 (red threshold below yellow)")
        return self


class _Tiered(_Model):
    rule_id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    name_zh: str = Field(min_length=1, max_length=100)
    thresholds: dict[str, Tier]
    yellow_weight: int = Field(ge=0, le=200)
    red_weight: int = Field(ge=0, le=200)

    @field_validator("thresholds")
    @classmethod
    def _known_categories(cls, v: dict[str, Tier]) -> dict[str, Tier]:
        if "default" not in v:
            raise ValueError("thresholds 须含 default (thresholds need a default)")
        for key in v:
            if key != "default" and key not in {c.value for c in Category}:
                raise ValueError(f"未知类别 {key!r} (unknown category)")
        return v

    def tier(self, category: Category) -> Tier:
        return self.thresholds.get(category.value, self.thresholds["default"])


class GroupRule(_Tiered):
    people_words: tuple[str, ...] = Field(min_length=1)
    many_words: tuple[str, ...] = ()


class AmountRule(_Tiered):
    pass


class RepeatRule(_Model):
    rule_id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    name_zh: str = Field(min_length=1, max_length=100)
    yellow_at: int = Field(ge=2)
    red_at: int = Field(ge=2)
    yellow_weight: int = Field(ge=0, le=200)
    red_weight: int = Field(ge=0, le=200)
    earlier_cases_window_days: int = Field(ge=1)
    cues: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()

    _check_patterns = field_validator("patterns")(_compile)


class VulnerableKindRule(_Model):
    name_zh: str
    cues: tuple[str, ...]
    exclude: tuple[str, ...] = ()  # a cue inside one of these means something else ("婴儿车")

    _check_patterns = field_validator("exclude")(_compile)


class VulnerableRule(_Model):
    rule_id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    name_zh: str = Field(min_length=1, max_length=100)
    level: RiskLevel

    _not_blue = field_validator("level")(_raises)
    weight: int = Field(ge=0, le=200)
    elderly_min_age: int = Field(ge=40, le=120)
    minor_max_age: int = Field(ge=1, le=20)
    kinds: dict[Literal["elderly", "disabled", "minor", "pregnant", "ill"], VulnerableKindRule]
    # A text where one of these matches is read without its elderly cues ("老人身体硬朗", "老人去世后…").
    exclude: tuple[str, ...] = ()

    _check_patterns = field_validator("exclude")(_compile)


class LongStandingRule(_Model):
    rule_id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    name_zh: str = Field(min_length=1, max_length=100)
    level: RiskLevel

    _not_blue = field_validator("level")(_raises)
    weight: int = Field(ge=0, le=200)
    min_years: int = Field(ge=1)
    cues: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    _check_patterns = field_validator("exclude")(_compile)


class StructuredRule(_Model):
    rule_id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    name_zh: str = Field(min_length=1, max_length=100)
    level: RiskLevel

    _not_blue = field_validator("level")(_raises)
    weight: int = Field(ge=0, le=200)


class Structured(_Model):
    emergency: StructuredRule
    mediation_failed: StructuredRule


class Lifecycle(_Model):
    leader_needs_acceptance: bool = False


class PlaceCluster(_Model):
    window_days: int = Field(ge=1, le=365)
    thresholds: dict[str, int]

    @field_validator("thresholds")
    @classmethod
    def _known(cls, v: dict[str, int]) -> dict[str, int]:
        if "default" not in v:
            raise ValueError("thresholds 须含 default (thresholds need a default)")
        for key, n in v.items():
            if key != "default" and key not in {c.value for c in Category}:
                raise ValueError(f"未知类别 {key!r} (unknown category)")
            if n < 2:
                raise ValueError(f"{key}: 阈值至少为2 (a cluster needs at least 2 cases)")
        return v

    def threshold(self, category: Category) -> int:
        return self.thresholds.get(category.value, self.thresholds["default"])


class RespondentCluster(_Model):
    window_days: int = Field(ge=1, le=365)
    min_cases: int = Field(ge=2)
    min_places: int = Field(ge=1)


class Surge(_Model):
    window_days: int = Field(ge=1, le=90)
    baseline_days: int = Field(ge=1, le=730)
    factor: float = Field(gt=1)
    min_cases: int = Field(ge=2)


class Warnings(_Model):
    place_cluster: PlaceCluster
    respondent_cluster: RespondentCluster
    surge: Surge


class RuleSet(_Model):
    version: str = Field(min_length=1, max_length=40)
    description_zh: str = ""
    scoring: Scoring
    negation: Negation
    six_categories: tuple[Category, ...] = ()
    rules: tuple[TextRule, ...] = Field(min_length=1)
    group: GroupRule
    amounts: AmountRule
    repeat: RepeatRule
    vulnerable: VulnerableRule
    long_standing: LongStandingRule
    structured: Structured
    combinations: tuple[Combination, ...] = ()
    calm: CalmRule | None = None
    lifecycle: Lifecycle = Lifecycle()
    warnings: Warnings
    sha256: str = ""

    @model_validator(mode="after")
    def _unique_ids(self) -> RuleSet:
        seen: set[str] = set()
        ids = [r.id for r in self.rules] + [
            self.group.rule_id, self.amounts.rule_id, self.repeat.rule_id, self.vulnerable.rule_id,
            self.long_standing.rule_id, self.structured.emergency.rule_id, self.structured.mediation_failed.rule_id,
        ]
        for rid in ids:
            if rid in seen:
                raise ValueError(f"规则编号重复：{rid} (duplicate rule id)")
            seen.add(rid)
        for c in self.combinations:
            unknown = [r for r in (*c.all_of, *c.any_of) if r not in seen]
            if unknown:
                raise ValueError(f"组合规则 {c.id} 引用了未知规则：{'、'.join(unknown)} "
                                 "(unknown rule in a combination)")
            if c.id in seen:
                raise ValueError(f"规则编号重复：{c.id} (duplicate rule id)")
            seen.add(c.id)
        if self.calm is not None:
            unknown = [r for r in self.calm.softens if r not in seen]
            if unknown or self.calm.rule_id in seen:
                raise ValueError(f"calm: 未知或重复的规则编号 {'、'.join(unknown) or self.calm.rule_id} "
                                 "(unknown rule in softens, or a duplicate id)")
        return self

    def rule_names(self) -> dict[str, str]:
        names = {r.id: r.name_zh for r in self.rules}
        for t in (self.group, self.amounts, self.repeat, self.vulnerable, self.long_standing,
                  self.structured.emergency, self.structured.mediation_failed):
            names[t.rule_id] = t.name_zh
        for c in self.combinations:
            names[c.id] = c.name_zh
        if self.calm is not None:
            names[self.calm.rule_id] = self.calm.name_zh
        return names


# --- loading with line numbers ---------------------------------------------------------------------

Path_ = tuple[str | int, ...]


def _lines(node: yaml.Node, path: Path_, out: dict[Path_, int], src: str) -> None:
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            k = key.value if isinstance(key, yaml.ScalarNode) else str(key.value)
            if k in seen:
                raise RulesError(
                    f"{src}:{key.start_mark.line + 1}: 键 {k!r} 重复（第{seen[k]}行已有） (duplicate key)"
                )
            seen[k] = key.start_mark.line + 1
            out[(*path, k)] = key.start_mark.line + 1
            _lines(value, (*path, k), out, src)
            out[(*path, k)] = key.start_mark.line + 1  # the key's own line names the field best
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines(item, (*path, i), out, src)


def _line_of(loc: Path_, lines: dict[Path_, int]) -> int:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return 1


def parse_rules(text: str, source: str = "<rules>") -> RuleSet:
    """Validate rules given as YAML text; raises :class:`RulesError` naming the line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise RulesError(f"{source}:{line}: YAML 语法错误 (syntax error): {exc.problem or exc}") from exc
    if node is None or not isinstance(data, dict):
        raise RulesError(f"{source}:1: 规则文件须为映射 (the rules file must be a mapping)")
    lines: dict[Path_, int] = {}
    _lines(node, (), lines, source)
    data["sha256"] = hashlib.sha256(text.encode()).hexdigest()
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:
        msgs = []
        for err in exc.errors(include_url=False, include_input=False):
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "tagged-"))))
            # Literal/enum branches add their own tags to the location; keep the document's path.
            item = re.search(r"第(\d+)个正则", err["msg"])
            if item:  # point at the pattern itself, not at its list
                loc = (*loc, int(item.group(1)) - 1)
            line = _line_of(loc, lines)
            where = " → ".join(str(p) for p in loc) or "(top)"
            if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int) and isinstance(data.get("rules"), list):
                rule = data["rules"][loc[1]] if loc[1] < len(data["rules"]) else None
                if isinstance(rule, dict) and rule.get("id"):
                    where += f"（规则 {rule['id']}）"
            msgs.append(f"{source}:{line}: {where}: {err['msg']}")
        raise RulesError("规则文件无效 (invalid rules file):\n" + "\n".join(msgs)) from None


def load_rules(path: Path | str = DEFAULT_RULES_FILE) -> RuleSet:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"{p}: 无法读取规则文件 (cannot read the rules file): {exc}") from exc
    return parse_rules(text, str(p))
