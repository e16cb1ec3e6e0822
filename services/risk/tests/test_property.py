"""Property: an assessment is a pure function of the case's facts and the rule set (and its version)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yima_contracts.codes import Category, RiskLevel
from yima_risk.core.rules import CaseFacts, assess
from yima_risk.core.ruleset import DEFAULT_RULES_FILE, load_rules, parse_rules

RULES = load_rules()
AGAIN = parse_rules(DEFAULT_RULES_FILE.read_text(encoding="utf-8"))  # a second, separate load of the same version
FRAGMENTS = [
    "彩礼", "没有", "威胁", "扬言要砍死", "报了好几次警", "前夫", "出轨", "被判了两年", "刑满释放", "家族矛盾",
    "三十多名农民工", "20户业主", "45万元", "两万多块", "七十多岁", "孕妇", "多次向社区反映", "从2015年开始",
    "不想活了", "跳楼价", "打架", "没有动手", "但", "，", "。", "楼上漏水", "邻居", "物业", "工资", "赔偿",
    "倒没有", "拉横幅", "精神病", "长期", "多年的老邻居", "未果后", "1,200,000元", "１２万", "几十户", "的",
]
texts = st.lists(st.sampled_from(FRAGMENTS) | st.text(alphabet="的了是在我他她们家人钱事说要不没", max_size=4),
                 min_size=1, max_size=14).map("".join)
facts = st.builds(
    CaseFacts,
    category=st.sampled_from(list(Category)),
    description=texts,
    submitted_at=st.datetimes(min_value=datetime(2015, 1, 1), max_value=datetime(2030, 1, 1),
                              timezones=st.just(UTC)),
    additional=st.lists(texts, max_size=2).map(tuple),
    party_count=st.none() | st.integers(1, 500),
    amount_yuan=st.none() | st.floats(0, 1e8, allow_nan=False),
    vulnerable=st.lists(st.sampled_from(["elderly", "disabled", "minor", "pregnant"]), max_size=2, unique=True)
    .map(tuple),
    emergency=st.booleans(),
    repeat_of=st.none() | st.just("case-0"),
    repeat_count=st.integers(1, 5),
    earlier_case_ids=st.lists(st.sampled_from(["a", "b", "c"]), max_size=2, unique=True).map(tuple),
    mediation_failed=st.booleans(),
    leader_staff_id=st.none() | st.just("s-1"),
    accepted=st.booleans(),
    resolved=st.booleans(),
)
FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(facts)
def test_same_facts_and_rule_set_give_the_same_assessment(f: CaseFacts) -> None:
    copy = replace(f, description=str(f.description), additional=tuple(f.additional))
    first = assess(f, RULES)
    assert first == assess(f, RULES) == assess(copy, AGAIN)
    assert first.ruleset_version == RULES.version


@FAST
@given(st.lists(facts, min_size=2, max_size=5))
def test_no_hidden_state_between_assessments(batch: list[CaseFacts]) -> None:
    forward = [assess(f, RULES) for f in batch]
    backward = [assess(f, RULES) for f in reversed(batch)]
    assert forward == list(reversed(backward))


@FAST
@given(facts)
def test_level_score_and_rules_agree(f: CaseFacts) -> None:
    a = assess(f, RULES)
    assert a.score == sum(h.weight for h in a.hits)
    own_red = any(h.level is RiskLevel.RED for h in a.hits) or a.score >= RULES.scoring.red_score
    assert (a.own_level is RiskLevel.RED) == own_red
    assert (a.own_level is RiskLevel.BLUE) == (not a.hits)
    if f.resolved:
        assert a.level is RiskLevel.BLUE
    elif a.own_level is not RiskLevel.RED:
        assert a.level is a.own_level
    assert len(a.reason_zh) <= 500 and all(len(h.evidence) <= 20 for h in a.hits)


@FAST
@given(facts)
def test_the_version_is_part_of_the_answer(f: CaseFacts) -> None:
    other = RULES.model_copy(update={"version": "2026.12-test"})
    a, b = assess(f, RULES), assess(f, other)
    assert b.ruleset_version == "2026.12-test"
    assert replace(a, ruleset_version="2026.12-test") == b
