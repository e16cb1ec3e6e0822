"""The labelled corpus and the rules' figures on it (docs/adr/0090-risk-rules-that-generalise.md).

The held-out part was written before the rules were tuned and is never tuned on. The issue's bar (first level
right ≥ 90 %, yellow recall ≥ 85 %, red recall ≥ 95 %, no red called blue) is NOT met on it yet (red recall and one
red called blue; ADR 0150): that test is a strict xfail, so it turns red the day the rules meet it (then drop the
mark). What the rules reach today is held as a floor, so a change that makes them worse on unseen texts fails here.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from yima_contracts.codes import Category, RiskLevel
from yima_risk.core.evaluation import evaluate, load_corpus
from yima_risk.core.second_opinion import DEFAULT_MODEL_FILE, SecondOpinion, train

CORPUS = Path(__file__).resolve().parent.parent / "data" / "corpus"
RED, YELLOW, BLUE = RiskLevel.RED, RiskLevel.YELLOW, RiskLevel.BLUE


@pytest.fixture(scope="module")
def corpus():
    return load_corpus(CORPUS)


@pytest.fixture(scope="module")
def held(corpus, rules):
    return evaluate("held-out", corpus[1], rules)


def test_the_corpus_is_large_varied_and_has_a_fixed_held_out_part(corpus) -> None:
    dev, held = corpus
    # the held-out part is the fifth one written; the first four were measured once each, then tuned on (ADR 0090)
    assert len(dev) + len(held) >= 300 and len(held) >= 120 and len(held) >= 0.15 * (len(dev) + len(held))
    everything = dev + held
    assert {x.level for x in held} == {RED, YELLOW, BLUE}
    assert len({x.category for x in everything}) == len(Category)
    # Jiyuan's mix among its six kinds: marriage-family > traffic > property > land-forest > medical > environment
    n = Counter(x.category for x in everything)
    six = [Category.MARRIAGE_FAMILY, Category.ROAD_TRAFFIC, Category.PROPERTY_MANAGEMENT, Category.LAND_FOREST,
           Category.MEDICAL, Category.ENVIRONMENT]
    assert [n[c] for c in six] == sorted((n[c] for c in six), reverse=True)
    assert all(x.situations for x in everything if x.level is not BLUE)


def test_a_bad_corpus_entry_is_refused_with_its_id(tmp_path) -> None:
    from yima_risk.core.evaluation import load_part

    bad = tmp_path / "dev.yaml"
    bad.write_text("- {id: x1, level: orange, category: neighbour, sub: noise, situations: [], text: 吵}\n",
                   encoding="utf-8")
    with pytest.raises(ValueError, match=r"entry 0 \(x1\)"):
        load_part(bad)


def test_the_rules_on_the_dev_part(corpus, rules) -> None:
    d = evaluate("dev", corpus[0], rules)
    assert d.accuracy >= 0.97 and d.red_called_blue == 0
    assert all(s.precision >= 0.8 for s in d.rules.values() if s.fired >= 5), d.rule_lines(rules.rule_names())


def test_the_rules_on_the_held_out_part_do_not_get_worse(held) -> None:
    # fifth held-out part (p…, 155 texts), rule set 2026.12-generalise.2 (ADR 0150): 141/155 = 91.0 %, yellow
    # recall 88.1 %, red recall 90.5 %, 1 red called blue, no blue called red
    assert held.accuracy >= 0.90, "\n".join(held.lines())
    assert held.recall(YELLOW) >= 0.88 and held.recall(RED) >= 0.90, "\n".join(held.lines())
    assert held.red_called_blue <= 1 and held.confusion[BLUE][RED] == 0, "\n".join(held.lines())


def test_the_second_opinion_sends_most_misses_to_a_person(corpus, rules) -> None:
    # fifth held-out part (p…, 2026.12-generalise.2): 19 texts flagged needs_review, 14 of them with a wrong first
    # level (of 14 wrong): with rules that miss less there is less to flag, and most flags are still misses
    opinion = SecondOpinion.load()
    h = evaluate("held-out", corpus[1], rules, lambda x, a: opinion.needs_review(x.text, a.own_level))
    wrong = h.n - h.correct
    assert h.review_wrong >= 0.7 * h.review and h.review_wrong >= 0.9 * wrong, "\n".join(h.lines())


@pytest.mark.xfail(strict=True, reason="issue 17's bar is not met on the held-out part yet (ADR 0090)")
def test_the_issues_bar_on_the_held_out_part(held) -> None:
    assert held.accuracy >= 0.90
    assert held.recall(YELLOW) >= 0.85
    assert held.recall(RED) >= 0.95
    assert held.red_called_blue == 0


def test_the_shipped_second_opinion_is_trained_on_the_dev_part(corpus) -> None:
    shipped = SecondOpinion.load(DEFAULT_MODEL_FILE)
    retrained = train(corpus[0])
    assert shipped.to_json() == retrained.to_json(), "run: services/risk/scripts/evaluate_rules.py --train"


def test_the_second_opinion_flags_a_confident_disagreement() -> None:
    class Ex:
        def __init__(self, text: str, level: RiskLevel) -> None:
            self.text, self.level = text, level

    model = train([Ex("扬言要砍人 拿刀 堵门", RED)] * 5 + [Ex("楼道灯不亮 想请物业修", BLUE)] * 5
                  + [Ex("找了好几次 一直没结果", YELLOW)] * 5)
    assert model.opinion("他扬言拿刀来砍人").level is RED
    assert model.needs_review("他扬言拿刀来砍人", BLUE)
    assert not model.needs_review("他扬言拿刀来砍人", RED)
    with pytest.raises(ValueError):
        train([])
