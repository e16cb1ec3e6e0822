"""Training and evaluation of the classifier on the project's corpus (used by scripts/train_classifier.py
and by the test that holds the accuracy to its bar)."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from yima_contracts.codes import Category

from .classify import Classifier
from .taxonomy import SUB_ITEMS

Example = tuple[str, str, str]  # category, sub_item, text


def load_corpus(folder: Path) -> list[Example]:
    """``<category>.tsv`` files, one ``sub_item<TAB>text`` a line; checks every code against the taxonomy."""
    examples: list[Example] = []
    seen: set[str] = set()
    for path in sorted(folder.glob("*.tsv")):
        category = Category(path.stem.split(".")[0])
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            sub_item, _, text = line.partition("\t")
            if sub_item not in SUB_ITEMS[category]:
                raise ValueError(f"{path.name}:{n}: unknown sub-item {sub_item!r} of {category.value}")
            text = text.strip()
            if not text or text in seen:
                raise ValueError(f"{path.name}:{n}: empty or duplicate text")
            seen.add(text)
            examples.append((category.value, sub_item, text))
    return examples


def fold_of(text: str, folds: int) -> int:
    """A stable fold per text (independent of file order)."""
    return int(hashlib.sha256(text.encode()).hexdigest(), 16) % folds


@dataclass
class Report:
    n: int = 0
    top1_correct: int = 0  # the model's best guess, ignoring the threshold
    answered: int = 0  # confident answers (not sent to review)
    answered_correct: int = 0
    final_correct: int = 0  # the answer given (review → other counts as wrong unless the truth is other)
    sub_item_named: int = 0
    sub_item_correct: int = 0
    confusions: Counter[tuple[str, str]] = field(default_factory=Counter)
    per_category: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))

    @property
    def top1_accuracy(self) -> float:
        return self.top1_correct / self.n

    @property
    def accuracy(self) -> float:
        return self.final_correct / self.n

    @property
    def precision_when_confident(self) -> float:
        return self.answered_correct / self.answered if self.answered else 1.0

    @property
    def coverage(self) -> float:
        return self.answered / self.n

    @property
    def sub_item_accuracy(self) -> float:
        return self.sub_item_correct / self.sub_item_named if self.sub_item_named else 0.0

    def add(self, model: Classifier, ex: Example, min_confidence: float | None = None) -> None:
        category, sub_item, text = ex
        c = model.classify(text, min_confidence=min_confidence)
        self.n += 1
        self.per_category[category][1] += 1
        if c.best_guess.value == category:
            self.top1_correct += 1
        if c.category.value == category:
            self.final_correct += 1
            self.per_category[category][0] += 1
        if not c.needs_review:
            self.answered += 1
            if c.category.value == category:
                self.answered_correct += 1
            else:
                self.confusions[(category, c.category.value)] += 1
            if c.sub_item is not None:
                self.sub_item_named += 1
                self.sub_item_correct += c.sub_item == sub_item

    def lines(self) -> list[str]:
        out = [
            f"examples: {self.n}",
            f"top-1 accuracy (best guess): {self.top1_accuracy:.1%}",
            f"accuracy of the answer given (low confidence → other): {self.accuracy:.1%}",
            f"confident answers: {self.coverage:.1%} of texts, {self.precision_when_confident:.1%} of them right",
            f"sub-item right when named: {self.sub_item_accuracy:.1%} ({self.sub_item_named} named)",
            "per category (answer given): "
            + ", ".join(f"{c} {ok}/{n}" for c, (ok, n) in sorted(self.per_category.items())),
        ]
        if self.confusions:
            mistakes = self.confusions.most_common()
            out.append("confident mistakes: " + ", ".join(f"{a}→{b}×{n}" for (a, b), n in mistakes))
        return out


def holdout(examples: list[Example], folds: int = 5, test_fold: int = 0) -> tuple[list[Example], list[Example]]:
    train = [e for e in examples if fold_of(e[2], folds) != test_fold]
    test = [e for e in examples if fold_of(e[2], folds) == test_fold]
    return train, test


def evaluate_holdout(examples: list[Example], lexicon: list[Example], folds: int = 5, test_fold: int = 0,
                     min_confidence: float | None = None) -> Report:
    train, test = holdout(examples, folds, test_fold)
    model = Classifier.train(train + lexicon)
    report = Report()
    for ex in test:
        report.add(model, ex, min_confidence)
    return report


def cross_validate(examples: list[Example], lexicon: list[Example], folds: int = 5,
                   min_confidence: float | None = None) -> Report:
    report = Report()
    for k in range(folds):
        train, test = holdout(examples, folds, k)
        model = Classifier.train(train + lexicon)
        for ex in test:
            report.add(model, ex, min_confidence)
    return report


TARGET_PRECISION = 0.95  # of the answers given without review: at most one in twenty wrong


def out_of_fold_guesses(examples: list[Example], lexicon: list[Example], folds: int = 5
                        ) -> list[tuple[float, bool, str]]:
    """(confidence, right, guessed category) of every text, each guessed by a model that never saw it."""
    out = []
    for k in range(folds):
        train, test = holdout(examples, folds, k)
        model = Classifier.train(train + lexicon)
        for category, _, text in test:
            c = model.classify(text, min_confidence=0.0)
            out.append((c.confidence, c.best_guess.value == category, c.best_guess.value))
    return out


def calibrate_min_confidence(guesses: list[tuple[float, bool, str]], target: float = TARGET_PRECISION) -> float:
    """The lowest confidence (in hundredths) at which the answers given — not ``other``, at or above it — are
    right at least ``target`` of the time on the out-of-fold guesses: below it the dispatcher reviews
    (``needs_review``). A confident wrong category sends a case to the wrong unit; a review costs a minute."""
    for hundredths in range(30, 100):
        t = hundredths / 100
        given = [right for conf, right, guess in guesses if conf >= t and guess != Category.OTHER.value]
        if given and sum(given) / len(given) >= target:
            return t
    return 0.99


def load_lexicon(path: Path) -> list[Example]:
    """Cue words per sub-item (``category<TAB>sub_item<TAB>words``): training-only, never held out."""
    out: list[Example] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cat, sub_item, text = line.split("\t")
        if sub_item not in SUB_ITEMS[Category(cat)]:
            raise ValueError(f"{path.name}:{n}: unknown sub-item {sub_item!r}")
        out.append((cat, sub_item, text))
    return out
