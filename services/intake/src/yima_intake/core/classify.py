"""Smart classification (智能分类): a multinomial naive Bayes model over jieba words and character bigrams,
trained on the project's own labelled corpus (``services/intake/data/corpus``) by
``services/intake/scripts/train_classifier.py`` and shipped as ``yima_intake/data/classifier.json``.

One model over the sub-items (the second level); a category's probability is the sum of its sub-items'.
The answer names the category, the sub-item, a confidence and the words that decided it. Low confidence
answers ``other`` and flags the case for the dispatcher (``needs_review``): never a confident wrong guess.

Pure: no I/O except reading the shipped model file once.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import jieba
from yima_contracts.codes import Category

from .taxonomy import SUB_ITEMS

jieba.setLogLevel(logging.WARNING)

MODEL_VERSION = 2
# Below this category confidence the answer is ``other`` + needs_review. The shipped model carries its own
# threshold, set on the evaluation corpus by scripts/train_classifier.py (the lowest at which five-fold
# out-of-fold answers are right 95% of the time: training.calibrate_min_confidence); this is the fallback.
MIN_CONFIDENCE = 0.7
# A sub-item is named only when it is this likely inside the chosen category.
MIN_SUB_ITEM_CONFIDENCE = 0.35
# Log-likelihoods of naive Bayes are overconfident (features are not independent): a temperature
# flattens them into a usable confidence.
TEMPERATURE = 3.0
ALPHA = 0.3  # additive smoothing

# Domain words jieba's general dictionary splits or lacks.
DOMAIN_WORDS = (
    "物业费", "业委会", "业主委员会", "维修基金", "宅基地", "承包地", "责任田", "林权证", "彩礼", "三金", "欠薪",
    "包工头", "农民工", "工伤", "社保", "公积金", "劳动合同", "经济补偿金", "抚养费", "赡养费", "家暴", "交强险",
    "追尾", "剐蹭", "肇事逃逸", "误诊", "医美", "玻尿酸", "预付卡", "会员卡", "年卡", "借条", "欠条", "高利贷",
    "二房东", "押金", "工程款", "尾款", "拆迁", "强拆", "安置房", "回迁房", "过渡费", "征地款", "油烟", "粉尘",
    "偷排", "建筑垃圾", "广场舞", "漏水", "渗水", "消防通道", "停车费", "充电桩", "门禁", "外卖骑手", "网约车",
    "直播间", "翻新机", "退费", "退款", "定损", "伤残鉴定", "流转费", "机动地", "补偿款", "拆迁办",
)
STOPWORDS = frozenset(
    "的 了 我 我们 你 你们 他 她 他们 她们 它 是 在 也 就 都 说 还 和 跟 与 及 把 被 给 要 不 没 没有 有 一个"
    " 这 那 这个 那个 个 着 过 又 很 太 让 对 从 向 到 上 下 里 去 来 做 能 会 可以 已经 现在"
    " 一直 什么 怎么 为什么 因为 所以 但是"
    " 可是 而且 然后 就是 还是 或者 如果 只 才 再 呢 吗 吧 啊 呀 嘛 家 人 事 事情 问题 一下 一点 这样 那样 这么 那么"
    " 多 少 好 大 小 请 帮 帮忙 希望 反映 情况 自己 对方 一 二 三 几 次 些 等 时 时候 后 前 中 之 于 为 以 而".split()
)
_HAN = re.compile(r"[\u3400-\u9fff]+")
_KEEP = re.compile(r"^[\u3400-\u9fffA-Za-z0-9]+$")

_tokenizer_lock = threading.Lock()


@cache
def _tokenizer() -> jieba.Tokenizer:
    with _tokenizer_lock:
        tk = jieba.Tokenizer()
        tk.initialize()
        for w in DOMAIN_WORDS:
            tk.add_word(w, freq=20000)
        return tk


def words(text: str) -> list[str]:
    """jieba words of a text, without punctuation and function words."""
    return [w for w in _tokenizer().lcut(text) if _KEEP.match(w) and w not in STOPWORDS]


def features(text: str) -> list[str]:
    """Words, plus character bigrams of the Han runs (robust to wording jieba splits differently)."""
    feats = words(text)
    for run in _HAN.findall(text):
        feats.extend("~" + run[i : i + 2] for i in range(len(run) - 1))
    return feats


@dataclass(frozen=True)
class Classification:
    category: Category
    sub_item: str | None
    confidence: float  # of the category
    sub_item_confidence: float
    matched: tuple[str, ...]  # the words that decided it, strongest first
    needs_review: bool
    best_guess: Category  # what the model would say without the confidence threshold


class NaiveBayes:
    """Multinomial naive Bayes over feature presence (a word counts once per text), uniform priors."""

    def __init__(self, labels: list[str], log_lik: dict[str, dict[str, float]], log_unseen: dict[str, float]) -> None:
        self.labels = labels
        self.log_lik = log_lik
        self.log_unseen = log_unseen
        self.vocab = {f for v in log_lik.values() for f in v}

    @classmethod
    def train(cls, examples: Iterable[tuple[str, Sequence[str]]], alpha: float = ALPHA) -> NaiveBayes:
        """``examples``: (label, features)."""
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for label, feats in examples:
            counts[label].update(set(feats))
        vocab = {f for c in counts.values() for f in c}
        log_lik: dict[str, dict[str, float]] = {}
        log_unseen: dict[str, float] = {}
        for lbl, c in counts.items():
            total = sum(c.values()) + alpha * (len(vocab) + 1)
            log_lik[lbl] = {f: math.log((n + alpha) / total) for f, n in c.items()}
            log_unseen[lbl] = math.log(alpha / total)
        return cls(sorted(counts), log_lik, log_unseen)

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": self.labels,
            "log_unseen": {k: round(v, 6) for k, v in self.log_unseen.items()},
            "log_lik": {k: {f: round(p, 5) for f, p in sorted(v.items())} for k, v in self.log_lik.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NaiveBayes:
        return cls(d["labels"], d["log_lik"], d["log_unseen"])

    def posterior(self, feats: Sequence[str]) -> dict[str, float]:
        """Tempered posterior over the labels (uniform prior); empty when no feature is known."""
        known = set(f for f in feats if f in self.vocab)
        if not known:
            return {}
        raw = {lbl: sum(self.log_lik[lbl].get(f, self.log_unseen[lbl]) for f in known) for lbl in self.labels}
        top = max(raw.values())
        weights = {lbl: math.exp((s - top) / TEMPERATURE) for lbl, s in raw.items()}
        z = sum(weights.values())
        return {lbl: w / z for lbl, w in weights.items()}

    def gain(self, feature: str, label: str) -> float:
        """How much a feature speaks for ``label`` against the average of the others."""
        others = [lbl for lbl in self.labels if lbl != label]
        mine = self.log_lik[label].get(feature, self.log_unseen[label])
        rest = sum(self.log_lik[o].get(feature, self.log_unseen[o]) for o in others) / max(1, len(others))
        return mine - rest


class Classifier:
    """Two levels: a category model, then a sub-item model inside the chosen category."""

    def __init__(self, categories: NaiveBayes, sub_items: dict[str, NaiveBayes],
                 min_confidence: float = MIN_CONFIDENCE) -> None:
        self.min_confidence = min_confidence
        self.categories = categories
        self.sub_items = sub_items

    @classmethod
    def train(cls, examples: Iterable[tuple[str, str, str]], alpha: float = ALPHA) -> Classifier:
        """``examples``: (category, sub_item, text)."""
        rows = [(c, s, features(t)) for c, s, t in examples]
        categories = NaiveBayes.train(((c, f) for c, _, f in rows), alpha)
        sub_items = {
            cat: NaiveBayes.train(((s, f) for c, s, f in rows if c == cat), alpha) for cat in categories.labels
        }
        return cls(categories, sub_items)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": MODEL_VERSION,
            "domain_words": list(DOMAIN_WORDS),
            "categories": self.categories.to_dict(),
            "sub_items": {k: v.to_dict() for k, v in self.sub_items.items()},
            "min_confidence": self.min_confidence,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Classifier:
        if d.get("version") != MODEL_VERSION:
            raise ValueError(f"classifier model version {d.get('version')} != {MODEL_VERSION}: retrain")
        return cls(NaiveBayes.from_dict(d["categories"]),
                   {k: NaiveBayes.from_dict(v) for k, v in d["sub_items"].items()},
                   float(d.get("min_confidence", MIN_CONFIDENCE)))

    def classify(self, text: str, *, min_confidence: float | None = None) -> Classification:
        """``min_confidence`` None: the model's own threshold (set on the evaluation corpus)."""
        min_confidence = self.min_confidence if min_confidence is None else min_confidence
        feats = features(text)
        post = self.categories.posterior(feats)
        if not post:
            return Classification(Category.OTHER, None, 0.0, 0.0, (), True, Category.OTHER)
        cat_code, confidence = max(post.items(), key=lambda kv: kv[1])
        category = Category(cat_code)
        matched = self._deciding_words(text, cat_code)
        if confidence < min_confidence or category is Category.OTHER:
            return Classification(Category.OTHER, None, round(confidence, 3), 0.0, matched, True, category)
        sub_post = self.sub_items[cat_code].posterior(feats)
        sub_item, sub_conf = max(sub_post.items(), key=lambda kv: kv[1]) if sub_post else (None, 0.0)
        if sub_conf < MIN_SUB_ITEM_CONFIDENCE:
            sub_item = None
        return Classification(category, sub_item, round(confidence, 3), round(sub_conf, 3), matched, False, category)

    def _deciding_words(self, text: str, label: str, limit: int = 6) -> tuple[str, ...]:
        gains = {}
        for w in dict.fromkeys(words(text)):
            if len(w) >= 2 and w in self.categories.vocab:
                g = self.categories.gain(w, label)
                if g > 0.7:
                    gains[w] = g
        return tuple(sorted(gains, key=lambda w: -gains[w])[:limit])


@cache
def shipped_model() -> Classifier:
    raw = resources.files("yima_intake").joinpath("data/classifier.json").read_text(encoding="utf-8")
    return Classifier.from_dict(json.loads(raw))


def classify(text: str) -> Classification:
    return shipped_model().classify(text)


def known_sub_items() -> dict[str, dict[str, str]]:
    return {c.value: dict(s) for c, s in SUB_ITEMS.items()}
