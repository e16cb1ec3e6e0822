from yima_contracts.codes import Category, RiskLevel
from yima_risk.core.rules import RULESET_VERSION, assess


def test_plain_dispute_is_blue_with_a_reason() -> None:
    a = assess("楼上漏水，协商不成", Category.NEIGHBOUR)
    assert a.level is RiskLevel.BLUE and a.hits == () and "未发现" in a.reason_zh


def test_six_situations_and_threats_are_red_and_explained() -> None:
    a = assess("女方家要求退还彩礼，男方扬言要报复", Category.MARRIAGE_FAMILY)
    assert a.level is RiskLevel.RED
    ids = {h.rule_id for h in a.hits}
    assert {"six_bride_price", "violence_threat"} <= ids
    assert any("彩礼" in e for h in a.hits for e in h.evidence)
    assert a.ruleset_version == RULESET_VERSION


def test_bride_price_counts_only_for_family_disputes() -> None:
    assert assess("彩礼钱借给了他", Category.CONTRACT_DEBT).level is RiskLevel.BLUE


def test_group_and_large_sum_raise_to_yellow() -> None:
    a = assess("三十多名农民工被拖欠工资共计45万元", Category.LABOUR_WAGES)
    assert a.level is RiskLevel.YELLOW
    assert {"group_dispute", "large_sum"} <= {h.rule_id for h in a.hits}


def test_assessment_is_a_pure_function_of_the_facts() -> None:
    text = "邻居多次威胁要砍人，家族矛盾很深"
    assert assess(text, Category.NEIGHBOUR) == assess(text, Category.NEIGHBOUR)
