"""Evaluation of the risk rules on the labelled corpus (``services/risk/data/corpus``): pure, no I/O but reading it.

The corpus has two kinds of parts: ``dev*.yaml``, the training pool (the rules may be tuned on it, the second opinion
is trained on it) and ``heldout*.yaml`` (each written before the change it judges and never tuned on; a held-out part
whose misses are read joins the pool; docs/adr/0090-risk-rules-that-generalise.md, 0191, 0192). Each text is
assessed from its description and category alone, as on the day it is submitted (no repeat count, no structured
fields): the first level.

The report has the confusion matrix, accuracy, per-level precision and recall, the red cases called blue, and
each rule's firing precision (a yellow rule fires rightly on a yellow or red text, a red rule on a red one).
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import yaml
from yima_contracts.codes import Category, RiskLevel

from .rules import Assessment, CaseFacts, assess
from .ruleset import RuleSet
from .second_opinion import Opinion, train

LEVELS = (RiskLevel.RED, RiskLevel.YELLOW, RiskLevel.BLUE)
_RANK = {RiskLevel.BLUE: 0, RiskLevel.YELLOW: 1, RiskLevel.RED: 2}
SUBMITTED_AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # the day every corpus text is read as submitted

# What the corpus labels: the situations present in a text (README.md in the corpus folder explains each).
SITUATIONS = frozenset({
    "death_injury", "health_claim", "large_sum", "repeated", "emotion", "imminent", "intergroup", "destroyed",
    "vulnerable", "failed_before", "violence", "scuffle", "self_harm", "dv", "group", "long_standing",
    "near_miss", "six_clan", "six_dv_police", "six_post_divorce", "six_affair", "six_bride_price",
    "six_criminal", "six_released",
})


def rank(level: RiskLevel) -> int:
    return _RANK[level]


@dataclass(frozen=True)
class Labelled:
    id: str
    level: RiskLevel
    category: Category
    sub: str
    situations: tuple[str, ...]
    text: str

    def facts(self) -> CaseFacts:
        return CaseFacts(category=self.category, description=self.text, submitted_at=SUBMITTED_AT)


def load_part(path: Path) -> list[Labelled]:
    """One part of the corpus; every field is checked (a bad entry names its id or index)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path.name}: the corpus must be a list of entries")
    out: list[Labelled] = []
    for i, e in enumerate(data):
        where = f"{path.name}: entry {i} ({e.get('id') if isinstance(e, dict) else '?'})"
        if not isinstance(e, dict) or set(e) - {"id", "level", "category", "sub", "situations", "text"}:
            raise ValueError(f"{where}: unknown or missing fields")
        try:
            situations = tuple(e.get("situations") or ())
            unknown = set(situations) - SITUATIONS
            if unknown:
                raise ValueError(f"unknown situations {sorted(unknown)}")
            text = str(e["text"]).strip()
            if not text or not str(e["sub"]):
                raise ValueError("empty text or sub-item")
            out.append(Labelled(str(e["id"]), RiskLevel(e["level"]), Category(e["category"]), str(e["sub"]),
                                situations, text))
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from exc
    return out


def load_held_parts(folder: Path) -> dict[str, list[Labelled]]:
    """Each held-out part by its file (``heldout15.yaml`` = z…, …), in the order they were written."""
    return {p.stem: load_part(p) for p in sorted(folder.glob("heldout*.yaml"), key=lambda p: (len(p.stem), p.stem))}


def load_corpus(folder: Path) -> tuple[list[Labelled], list[Labelled]]:
    """(dev, held-out): ``dev*.yaml`` and every ``heldout*.yaml``; ids and texts are unique over both parts. Between
    burning a part and writing the next one there may be no held-out part (the tests require one)."""
    dev = [x for p in sorted(folder.glob("dev*.yaml")) for x in load_part(p)]
    held = [x for part in load_held_parts(folder).values() for x in part]
    ids = Counter(x.id for x in dev + held)
    texts = Counter(x.text for x in dev + held)
    dup = [k for k, n in ids.items() if n > 1] + [k[:20] for k, n in texts.items() if n > 1]
    if dup:
        raise ValueError(f"duplicate ids or texts in the corpus: {dup[:10]}")
    return dev, held


@dataclass
class RuleStat:
    fired: int = 0
    right: int = 0  # a yellow-level firing on a yellow/red text, a red-level firing on a red text

    @property
    def precision(self) -> float:
        return self.right / self.fired if self.fired else 0.0


@dataclass
class Report:
    name: str
    n: int = 0
    correct: int = 0
    confusion: dict[RiskLevel, Counter[RiskLevel]] = field(default_factory=lambda: defaultdict(Counter))
    rules: dict[str, RuleStat] = field(default_factory=lambda: defaultdict(RuleStat))
    misses: list[tuple[Labelled, Assessment]] = field(default_factory=list)
    situations: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    review: int = 0  # flagged for a person by the second opinion
    review_wrong: int = 0  # of which the rules' own level (before a raise) was wrong
    rules_correct: int = 0  # the rules' own level right (before a second opinion raised it)
    raised: int = 0  # levels raised one step by a confident second opinion
    raised_right: int = 0  # of which the raised level is right

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0

    def recall(self, level: RiskLevel) -> float:
        row = self.confusion[level]
        total = sum(row.values())
        return row[level] / total if total else 1.0

    def precision(self, level: RiskLevel) -> float:
        called = sum(self.confusion[t][level] for t in LEVELS)
        return self.confusion[level][level] / called if called else 1.0

    @property
    def red_called_blue(self) -> int:
        return self.confusion[RiskLevel.RED][RiskLevel.BLUE]

    def add(self, x: Labelled, a: Assessment, review: bool = False) -> None:
        self.n += 1
        self.confusion[x.level][a.own_level] += 1
        if a.own_level is x.level:
            self.correct += 1
        else:
            self.misses.append((x, a))
        self.rules_correct += a.level_by_rules is x.level
        if a.rules_level is not None:
            self.raised += 1
            self.raised_right += a.own_level is x.level
        if review:
            self.review += 1
            self.review_wrong += a.level_by_rules is not x.level
        for h in a.hits:
            s = self.rules[h.rule_id]
            s.fired += 1
            s.right += x.level is h.level if h.level is RiskLevel.BLUE else rank(x.level) >= rank(h.level)
        for sit in x.situations:
            seen = self.situations[sit]
            seen[1] += 1
            seen[0] += a.own_level is x.level

    def lines(self) -> list[str]:
        out = [f"### {self.name}: {self.n} texts", "",
               f"First level right: **{self.correct}/{self.n} = {self.accuracy:.1%}**; "
               f"red called blue: **{self.red_called_blue}**", ""]
        out += ["| truth \\ rules | red | yellow | blue | recall |", "|---|---|---|---|---|"]
        for t in LEVELS:
            row = self.confusion[t]
            out.append(f"| {t.value} | {row[RiskLevel.RED]} | {row[RiskLevel.YELLOW]} | {row[RiskLevel.BLUE]} "
                       f"| {self.recall(t):.1%} |")
        out.append("| precision | " + " | ".join(f"{self.precision(t):.1%}" for t in LEVELS) + " | |")
        if self.raised or self.rules_correct != self.correct:
            out += ["", f"Rules alone: {self.rules_correct}/{self.n} = {self.rules_correct / self.n:.1%} right; "
                        f"raised by the second opinion: {self.raised}, {self.raised_right} of them rightly."]
        if self.review:
            out += ["", f"Second opinion: {self.review} texts flagged `needs_review`, "
                        f"{self.review_wrong} of them with a wrong level by the rules alone "
                        f"(of {self.n - self.rules_correct} wrong)."]
        return out

    def rule_lines(self, names: dict[str, str]) -> list[str]:
        out = ["| rule | name | fired | right | firing precision |", "|---|---|---|---|---|"]
        for rid, s in sorted(self.rules.items(), key=lambda kv: (-kv[1].fired, kv[0])):
            out.append(f"| `{rid}` | {names.get(rid, rid)} | {s.fired} | {s.right} | {s.precision:.0%} |")
        return out

    def situation_lines(self) -> list[str]:
        out = ["| situation | texts | level right |", "|---|---|---|"]
        for sit, (ok, n) in sorted(self.situations.items(), key=lambda kv: (-kv[1][1], kv[0])):
            out.append(f"| {sit} | {n} | {ok / n:.0%} |")
        return out


SecondOpinion = Callable[[Labelled, Assessment], bool]
Opine = Callable[[str], Opinion]


class _Model(Protocol):
    def opinion(self, text: str) -> Opinion: ...

    def needs_review(self, text: str, rules_level: RiskLevel) -> bool: ...


Trainer = Callable[[list[Labelled], str], _Model]


def evaluate(name: str, examples: Iterable[Labelled], rs: RuleSet, review: SecondOpinion | None = None,
             opine: Opine | None = None) -> Report:
    """``opine`` (the shipped model's ``opinion``): a confident second opinion raises the level one step, as in
    the service (ADR 0180); without it, the rules alone."""
    rep = Report(name)
    for x in examples:
        a = assess(x.facts(), rs, opine(x.text) if opine else None)
        rep.add(x, a, review(x, a) if review else False)
    return rep


def cross_validate(name: str, examples: Iterable[Labelled], rs: RuleSet, k: int = 5, seed: int = 17,
                   only: Callable[[Labelled], bool] | None = None, trainer: Trainer = train) -> Report:
    """The first level as the service gives it (rules + second opinion), each text judged by a second opinion
    trained on the other k-1 folds of ``examples`` (ADR 0191): how the second opinion helps on texts it has not
    seen, measured on the training pool and never on a held-out part. ``only``: report on these texts alone (the
    folds still train on every text). ``trainer``: the kind of model (naive Bayes, shipped; or ``logistic.train``,
    ADR 0210)."""
    xs = list(examples)
    order = list(range(len(xs)))
    random.Random(seed).shuffle(order)  # fixed folds: the same figures on every run
    rep = Report(name)
    for f in range(k):
        fold = set(order[f::k])
        model = trainer([x for i, x in enumerate(xs) if i not in fold], f"cv{f + 1}")
        for i in sorted(fold):
            x = xs[i]
            if only is not None and not only(x):
                continue
            a = assess(x.facts(), rs, model.opinion(x.text))
            rep.add(x, a, model.needs_review(x.text, a.level_by_rules))
    return rep
