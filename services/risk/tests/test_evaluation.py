"""The labelled corpus and the first level's figures on it (docs/adr/0090-risk-rules-that-generalise.md, 0180,
0191–0194, 0207, 0213).

The training pool is every ``dev*.yaml``: the dev part and the former held-out parts p…–y… and a…–c…, which joined it
once their figures or misses had steered the rules (ADR 0191–0193, 0207, 0213). The held-out parts now are z…
(``heldout15.yaml``, 72 texts, written after the two-step raise of ADR 0194) and e… (``heldout19.yaml``, 90 texts,
written by an engineer who never read the rules, the training corpus or the other parts, after 2026.12-generalise.10
and before it was measured), never tuned on. The first level is the rules' level raised by a confident second
opinion, as in the service. The issue's bar (first level right ≥ 90 %, yellow recall ≥ 85 %, red recall ≥ 95 %, no
red called blue) is met on both (e… with no margin on the first figure: 81 of 90). What each part reaches today is
held as a floor, so a change that makes it worse fails here.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from yima_contracts.codes import Category, RiskLevel
from yima_risk.core.evaluation import Report, evaluate, load_corpus, load_held_parts
from yima_risk.core.rules import CaseFacts, assess
from yima_risk.core.second_opinion import DEFAULT_MODEL_FILE, RAISE_BLUE_TO_RED_CONFIDENCE, SecondOpinion, train

CORPUS = Path(__file__).resolve().parent.parent / "data" / "corpus"
RED, YELLOW, BLUE = RiskLevel.RED, RiskLevel.YELLOW, RiskLevel.BLUE


@pytest.fixture(scope="module")
def corpus():
    return load_corpus(CORPUS)


@pytest.fixture(scope="module")
def parts(rules) -> dict[str, Report]:
    """Each held-out part measured once per run, the first level as the service gives it (rules + second opinion)."""
    opinion = SecondOpinion.load()
    return {name: evaluate(name, xs, rules, lambda x, a: opinion.needs_review(x.text, a.level_by_rules),
                           opinion.opinion)
            for name, xs in load_held_parts(CORPUS).items()}


def test_the_corpus_is_large_varied_and_has_a_fixed_held_out_part(corpus) -> None:
    dev, held = corpus
    # the held-out parts are fresh ones, written before the change they judge; every part measured and then learnt
    # from joined the training pool (ADR 0090, 0191), so the held-out share is small and each part is new
    assert len(dev) + len(held) >= 300 and len(held) >= 80
    assert all(len(xs) >= 60 for xs in load_held_parts(CORPUS).values())
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
    assert d.accuracy >= 0.97
    # Rules alone still call seven reds of the burned parts blue (y07, y21, y54: a veiled "next time", a lock swung at
    # a windscreen, scissors carried to a clinic; a41, a56, b93, c18: wordings no rule family names without copying
    # the text), and the second opinion lifts all seven (ADR 0207, 0213). No other red of the pool is called blue.
    assert {x.id for x, a in d.misses if x.level is RED and a.own_level is BLUE} <= {
        "y07", "y21", "y54", "a41", "a56", "b93", "c18"}
    opinion = SecondOpinion.load()
    assert evaluate("dev", corpus[0], rules, opine=opinion.opinion).red_called_blue == 0
    assert all(s.precision >= 0.8 for rid, s in d.rules.items()
               if s.fired >= 5 and rid != "six_bride_price"), d.rule_lines(rules.rule_names())
    # Zhoukou's bride-price situation is red by policy; the writers label a bride price merely stuck
    # (两家僵着, 谈不拢) yellow, while others label "一分不退" red: 19 of its 25 firings are right (ADR 0213).
    # Narrowing it to words of open conflict made 7 of those reds depend on the second opinion alone: kept.
    assert d.rules["six_bride_price"].precision >= 0.75, d.rule_lines(rules.rule_names())


# Floors per held-out part, rule set 2026.12-generalise.10 with the second opinion nb-1874 (one step to yellow from
# 0.45, to red from 0.7, blue straight to red from 0.9 where no rule fired; ADR 0192–0194, 0207, 0213): (first level
# right, yellow recall, red recall, most reds called blue, most blues called red)
FLOORS = {
    "heldout15": (0.986, 0.96, 1.0, 0, 0),  # z…, 72: 71/72 = 98.6 %, 96.2 %, 100 %, 0, 0 (rules alone: 91.7 %)
    "heldout19": (0.90, 0.90, 0.966, 0, 0),  # e…, 90: 81/90 = 90.0 %, 90.0 %, 96.7 %, 0, 0 (rules alone: 86.7 %)
}


@pytest.mark.parametrize("part", sorted(FLOORS))
def test_each_held_out_part_does_not_get_worse(parts, part) -> None:
    h, (acc, yellow, red, red_blue, blue_red) = parts[part], FLOORS[part]
    assert h.accuracy >= acc - 1e-9, "\n".join(h.lines())
    assert h.recall(YELLOW) >= yellow and h.recall(RED) >= red - 1e-9, "\n".join(h.lines())
    assert h.red_called_blue <= red_blue and h.confusion[BLUE][RED] <= blue_red, "\n".join(h.lines())
    # a flag for a person points at most texts the rules alone got wrong (z… 6 of 6, e… 11 of 12)
    assert h.review_wrong >= 0.65 * (h.n - h.rules_correct) and h.review_wrong >= 0.5 * h.review, "\n".join(h.lines())


def test_every_held_out_part_is_measured(parts) -> None:
    assert sorted(parts) == sorted(FLOORS)


def _bar(h: Report) -> None:
    assert h.accuracy >= 0.90, "\n".join(h.lines())
    assert h.recall(YELLOW) >= 0.85, "\n".join(h.lines())
    assert h.recall(RED) >= 0.95, "\n".join(h.lines())
    assert h.red_called_blue == 0, "\n".join(h.lines())


@pytest.mark.parametrize("part", ["heldout15", "heldout19"])  # z…, e…: met (ADR 0213)
def test_the_issues_bar_on_each_held_out_part(parts, part) -> None:
    _bar(parts[part])


def test_a_confident_second_opinion_raises_the_level_and_never_lowers_it(rules) -> None:
    from yima_risk.core.evaluation import SUBMITTED_AT

    model = train([Ex("甲乙丙丁戊", RED)] * 5 + [Ex("楼道灯不亮 想请物业修", BLUE)] * 5
                  + [Ex("子丑寅卯辰", YELLOW)] * 5, version="toy-15")

    def first(text: str, use: bool = True):
        return assess(CaseFacts(Category.OTHER, text, SUBMITTED_AT), rules, model.opinion(text) if use else None)

    alone = first("甲乙丙丁戊", use=False)
    raised = first("甲乙丙丁戊")
    # no rule fired and the model is all but sure of red: straight to red (ADR 0194); a yellow opinion: one step
    assert model.opinion("甲乙丙丁戊").confidence >= RAISE_BLUE_TO_RED_CONFIDENCE
    assert alone.own_level is BLUE and raised.own_level is RED and raised.level_by_rules is BLUE
    hit = next(h for h in raised.hits if h.rule_id == "second_opinion")
    assert "toy-15" in hit.evidence[0] and "上调为红色" in hit.evidence[0] and "统计复核" in raised.reason_zh
    to_yellow = first("子丑寅卯辰")
    assert to_yellow.own_level is YELLOW and "上调为黄色" in to_yellow.reason_zh
    red = first("子丑寅卯辰，他扬言要拿刀砍死对方")
    assert red.own_level is RED and red.rules_level is None  # a lower opinion never lowers
    assert first("楼道灯不亮 想请物业修").own_level is BLUE and first("楼道灯不亮 想请物业修").rules_level is None


class Ex:
    def __init__(self, text: str, level: RiskLevel) -> None:
        self.text, self.level = text, level


def test_the_shipped_second_opinion_is_trained_on_the_training_pool(corpus) -> None:
    shipped = SecondOpinion.load(DEFAULT_MODEL_FILE)
    retrained = train(corpus[0])
    assert shipped.to_json() == retrained.to_json(), "run: services/risk/scripts/evaluate_rules.py --train"


def test_the_second_opinion_flags_a_confident_disagreement() -> None:
    model = train([Ex("扬言要砍人 拿刀 堵门", RED)] * 5 + [Ex("楼道灯不亮 想请物业修", BLUE)] * 5
                  + [Ex("找了好几次 一直没结果", YELLOW)] * 5)
    assert model.opinion("他扬言拿刀来砍人").level is RED
    assert model.needs_review("他扬言拿刀来砍人", BLUE)
    assert not model.needs_review("他扬言拿刀来砍人", RED)
    with pytest.raises(ValueError):
        train([])
