"""Numbers written the way people write them: digits, Chinese numerals, 万, approximations."""

from __future__ import annotations

import pytest
from yima_risk.core import text as tx


@pytest.mark.parametrize(("s", "v"), [
    ("45", 45), ("1.5", 1.5), ("1,200,000", 1_200_000), ("三十", 30), ("两万五千", 25_000), ("十二", 12),
    ("一百零五", 105), ("十几", 11), ("几十", 10), ("上百", 100), ("二十", 20), ("三千五百", 3500),
])
def test_cn_number(s: str, v: float) -> None:
    assert tx.cn_number(s) == v


@pytest.mark.parametrize(("text", "yuan"), [
    ("共计45万元", 450_000), ("两万多块", 20_000), ("1,200,000元", 1_200_000), ("１２万", 120_000),
    ("彩礼18万8", 188_000), ("两万五", 25_000), ("3.5万", 35_000), ("30000元", 30_000),
    ("十几万", 110_000), ("几十万", 100_000), ("彩礼十六万八", 168_000), ("三万八", 38_000), ("一万多块", 10_000),
    ("欠款1.5万元", 15_000), ("一百多万", 1_000_000), ("800元修车费", 800),
])
def test_amounts(text: str, yuan: float) -> None:
    assert max(v for v, _ in tx.amounts_yuan(tx.normalize(text))) == yuan


def test_numbers_that_are_not_money_are_ignored() -> None:
    assert list(tx.amounts_yuan("3万人参加，面积2万平方米，2019年")) == []


def test_people_ages_and_years() -> None:
    words = ["农民工", "业主", "人", "户"]
    assert [n for n, _ in tx.people_counts("三十多名农民工和20多户业主", words)] == [30, 20]
    assert list(tx.people_counts("我们一家人", words)) == []
    assert [a for a, _ in tx.ages("七十多岁的母亲和5岁的孩子")] == [70, 5]
    assert [y for y, _ in tx.durations_years("已经三年多了")] == [3]
    assert [y for y, _ in tx.since_years("从2019年3月开始拖欠")] == [2019]


def test_clauses_bound_negation(rules) -> None:
    neg = rules.negation
    t = "他没有道歉，还威胁我"
    assert not tx.is_negated(t, t.index("威胁"), t.index("威胁") + 2, neg)
    t = "他没有威胁我"
    assert tx.is_negated(t, t.index("威胁"), t.index("威胁") + 2, neg)
