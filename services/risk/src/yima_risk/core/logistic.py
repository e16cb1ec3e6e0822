"""A second opinion by multinomial logistic regression over character 1–3-grams (ADR 0210): trained by a few epochs of
seeded SGD with L2 on the training pool, its probabilities calibrated by one temperature chosen on held-back folds of
the pool (least log-loss), shipped as JSON like the naive Bayes of ``second_opinion`` and read the same way
(``opinion``, ``needs_review``). Pure Python, no I/O except reading the shipped file; reproducible from ``seed``.
"""

from __future__ import annotations

import json
import math
import random
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from yima_contracts.codes import RiskLevel

from .second_opinion import MIN_CONFIDENCE, Opinion

KIND = "logreg"
_CLASSES = ("red", "yellow", "blue")
_RUN = re.compile(r"[\u3400-\u9fff]+|[0-9]+(?:\.[0-9]+)?")
EPOCHS = 15
RATE = 2.0
L2 = 1e-5
MIN_COUNT = 2  # features seen in fewer training texts are dropped
TEMPERATURES = (0.25, 0.35, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)


def features(text: str) -> list[str]:
    """The distinct character 1–3-grams of each run of Han characters; a number is one token."""
    out: set[str] = set()
    for run in _RUN.findall(unicodedata.normalize("NFKC", text)):
        if run[0].isdigit():
            out.add("#num")
            continue
        for n in (1, 2, 3):
            out.update(run[i:i + n] for i in range(len(run) - n + 1))
    return sorted(out)


@dataclass(frozen=True)
class LogisticOpinion:
    version: str
    bias: dict[str, float]
    weights: dict[str, list[float]]  # feature → one weight per class, in _CLASSES order
    temperature: float = 1.0

    def probabilities(self, text: str) -> dict[str, float]:
        fs = [f for f in features(text) if f in self.weights]
        scale = 1.0 / math.sqrt(len(fs)) if fs else 0.0
        z = [self.bias[c] for c in _CLASSES]
        for f in fs:
            w = self.weights[f]
            for k in range(3):
                z[k] += w[k] * scale
        return _softmax([v / self.temperature for v in z])

    def opinion(self, text: str) -> Opinion:
        p = self.probabilities(text)
        best = max(_CLASSES, key=lambda c: p[c])
        return Opinion(RiskLevel(best), p[best], self.version)

    def needs_review(self, text: str, rules_level: RiskLevel) -> bool:
        o = self.opinion(text)
        return o.confidence >= MIN_CONFIDENCE and o.level is not rules_level

    def to_json(self) -> str:
        return json.dumps({"kind": KIND, "version": self.version, "bias": self.bias, "weights": self.weights,
                           "temperature": self.temperature}, ensure_ascii=False, separators=(",", ":"),
                          sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LogisticOpinion:
        if d.get("kind") != KIND or set(d.get("bias", {})) != set(_CLASSES):
            raise ValueError("risk second opinion: not a logistic model naming red, yellow and blue")
        return cls(str(d["version"]), d["bias"], d["weights"], float(d["temperature"]))


def _softmax(z: Sequence[float]) -> dict[str, float]:
    top = max(z)
    e = [math.exp(v - top) for v in z]
    s = sum(e)
    return {c: e[k] / s for k, c in enumerate(_CLASSES)}


def _fit(data: list[tuple[list[str], int]], seed: int) -> tuple[list[float], dict[str, list[float]]]:
    bias = [0.0, 0.0, 0.0]
    w: dict[str, list[float]] = {}
    order = list(range(len(data)))
    rng = random.Random(seed)
    step = 0
    for _ in range(EPOCHS):
        rng.shuffle(order)
        for i in order:
            fs, y = data[i]
            scale = 1.0 / math.sqrt(len(fs)) if fs else 0.0
            rows = [w.setdefault(f, [0.0, 0.0, 0.0]) for f in fs]
            z = list(bias)
            for row in rows:
                for k in range(3):
                    z[k] += row[k] * scale
            p = _softmax(z)
            lr = RATE / (1.0 + step / len(data))
            step += 1
            g = [p[c] - (1.0 if k == y else 0.0) for k, c in enumerate(_CLASSES)]
            for k in range(3):
                bias[k] -= lr * g[k]
            for row in rows:  # L2 applied to the features of this text (lazy, sparse)
                for k in range(3):
                    row[k] -= lr * (g[k] * scale + L2 * row[k])
    return bias, w


def _encode(texts: Iterable[tuple[str, RiskLevel]], vocab: set[str] | None) -> list[tuple[list[str], int]]:
    out = []
    for text, level in texts:
        fs = features(text)
        out.append(([f for f in fs if vocab is None or f in vocab], _CLASSES.index(level.value)))
    return out


def _vocab(data: list[tuple[str, RiskLevel]]) -> set[str]:
    df = Counter[str]()
    for text, _ in data:
        df.update(features(text))
    return {f for f, n in df.items() if n >= MIN_COUNT}


def _temperature(data: list[tuple[str, RiskLevel]], seed: int, k: int = 3) -> float:
    """The temperature with the least log-loss on held-back folds of the training data."""
    order = list(range(len(data)))
    random.Random(seed + 1).shuffle(order)
    outs: list[tuple[list[float], int]] = []
    for f in range(k):
        fold = set(order[f::k])
        rest = [x for i, x in enumerate(data) if i not in fold]
        vocab = _vocab(rest)
        bias, w = _fit(_encode(rest, vocab), seed)
        for fs, y in _encode([data[i] for i in sorted(fold)], vocab):
            scale = 1.0 / math.sqrt(len(fs)) if fs else 0.0
            z = list(bias)
            for feat in fs:
                for j in range(3):
                    z[j] += w[feat][j] * scale
            outs.append((z, y))

    def loss(t: float) -> float:
        return -sum(math.log(max(_softmax([v / t for v in z])[_CLASSES[y]], 1e-12)) for z, y in outs)

    return min(TEMPERATURES, key=loss)


def train(examples: Iterable[Any], version: str | None = None, seed: int = 17,
          calibrate: bool = True) -> LogisticOpinion:
    """Train on labelled texts (``text``, ``level``); the same data and seed give the same model."""
    data = [(x.text, x.level) for x in examples]
    if not data:
        raise ValueError("no examples to train on")
    vocab = _vocab(data)
    bias, w = _fit(_encode(data, vocab), seed)
    t = _temperature(data, seed) if calibrate else 1.0
    weights = {f: [round(v, 3) for v in row] for f, row in sorted(w.items()) if any(abs(v) >= 0.0005 for v in row)}
    return LogisticOpinion(version or f"lr-{len(data)}", {c: round(bias[k], 4) for k, c in enumerate(_CLASSES)},
                           weights, t)
