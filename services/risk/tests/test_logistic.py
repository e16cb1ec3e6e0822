"""The logistic candidate for the second opinion (ADR 0210): reproducible from its seed, read back from its JSON as it
was written, and it learns what separates the levels. Not shipped: the naive Bayes model (nb-…) stays the service's
second opinion."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from yima_contracts.codes import RiskLevel
from yima_risk.core.logistic import LogisticOpinion, features, train

RED, YELLOW, BLUE = RiskLevel.RED, RiskLevel.YELLOW, RiskLevel.BLUE


@dataclass(frozen=True)
class X:
    text: str
    level: RiskLevel


WHO = ["男方", "邻居", "他哥", "村里人"] * 3
TOY = ([X(f"{w}拿着刀说要砍死他，第{i}次", RED) for i, w in enumerate(WHO)]
       + [X(f"{w}受伤住院了，医院不赔，找了{i}次", YELLOW) for i, w in enumerate(WHO)]
       + [X(f"{w}家的狗晚上叫，想问问怎么办，第{i}回", BLUE) for i, w in enumerate(WHO)])


def test_features_are_character_grams_and_numbers() -> None:
    fs = features("拿刀，3万")
    assert {"拿", "刀", "拿刀", "万", "#num"} <= set(fs) and "刀万" not in fs


def test_the_same_data_and_seed_give_the_same_model() -> None:
    assert train(TOY, "t", seed=3).to_json() == train(TOY, "t", seed=3).to_json()


def test_it_learns_the_levels_and_reads_back_from_json() -> None:
    model = train(TOY, "lr-toy")
    back = LogisticOpinion.from_dict(json.loads(model.to_json()))
    assert back == model
    for text, level in [("他拿着刀要砍死人", RED), ("老人受伤住院，医院不赔", YELLOW), ("隔壁的狗晚上叫", BLUE)]:
        o = back.opinion(text)
        assert o.level is level and o.model == "lr-toy" and 1 / 3 < o.confidence <= 1.0
    assert back.needs_review("他拿着刀要砍死人", BLUE) == (back.opinion("他拿着刀要砍死人").confidence >= 0.6)


def test_a_file_of_another_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="logistic"):
        LogisticOpinion.from_dict({"version": "nb-1", "priors": {}})
