"""The rules file: loaded and validated at start; a bad file is refused with the line at fault."""

from __future__ import annotations

import pytest
from yima_risk.core.ruleset import DEFAULT_RULES_FILE, RulesError, load_rules, parse_rules

GOOD = DEFAULT_RULES_FILE.read_text(encoding="utf-8")


def _line_of(text: str, needle: str, occurrence: int = 1) -> int:
    pos = -1
    for _ in range(occurrence):
        pos = text.index(needle, pos + 1)
    return text[:pos].count("\n") + 1


def test_the_shipped_rules_load_with_a_version_and_every_situation(rules) -> None:
    assert rules.version == "2026.12-generalise.10"
    assert len(rules.sha256) == 64
    ids = set(rules.rule_names())
    six = {"six_clan_conflict", "six_dv_police_calls", "six_post_divorce", "six_affair", "six_bride_price",
           "six_criminal_history", "six_released_person"}
    assert six <= ids
    assert {"violence_threat", "self_harm", "domestic_violence", "group_dispute", "large_sum", "repeat_report",
            "vulnerable_party", "long_standing", "emergency"} <= ids


def test_an_unknown_level_names_its_line() -> None:
    name = "    name_zh: 六种情形：家暴多次报警\n"
    bad = GOOD.replace(f"{name}    level: red", f"{name}    level: purple", 1)
    with pytest.raises(RulesError) as e:
        parse_rules(bad, "risk_rules.yaml")
    line = _line_of(bad, "level: purple")
    assert f"risk_rules.yaml:{line}: rules → 1 → level（规则 six_dv_police_calls）" in str(e.value)


def test_an_unknown_key_is_refused_with_its_line() -> None:
    bad = GOOD.replace("  red_score: 120", "  red_score: 120\n  red_scor: 70", 1)
    with pytest.raises(RulesError) as e:
        parse_rules(bad, "r.yaml")
    assert f"r.yaml:{_line_of(bad, 'red_scor: 70')}: scoring → red_scor" in str(e.value)


def test_a_broken_regular_expression_is_refused_with_its_line() -> None:
    bad = GOOD.replace("'情人(?!节)'", "'情人(('", 1)
    with pytest.raises(RulesError) as e:
        parse_rules(bad, "r.yaml")
    msg = str(e.value)
    assert "正则表达式无效" in msg and "rules → 3 → patterns → 0（规则 six_affair）" in msg, msg
    assert f"r.yaml:{_line_of(bad, '情人((')}:" in msg


def test_a_yaml_syntax_error_names_its_line() -> None:
    bad = GOOD.replace('version: "2026.12-generalise.10"', "version: [2026", 1)
    with pytest.raises(RulesError) as e:
        parse_rules(bad, "r.yaml")
    assert "YAML 语法错误" in str(e.value)
    # the parser notices the unclosed list on the next line
    assert str(e.value).startswith(f"r.yaml:{_line_of(bad, 'description_zh')}:")


def test_duplicate_keys_and_duplicate_rule_ids_are_refused() -> None:
    dup_key = GOOD.replace("  red_score: 120", "  red_score: 120\n  red_score: 70", 1)
    with pytest.raises(RulesError, match=rf"r.yaml:{_line_of(dup_key, 'red_score: 70')}: 键 'red_score' 重复"):
        parse_rules(dup_key, "r.yaml")
    dup_id = GOOD.replace("- id: six_affair", "- id: six_post_divorce", 1)
    with pytest.raises(RulesError, match="规则编号重复：six_post_divorce"):
        parse_rules(dup_id, "r.yaml")


def test_thresholds_must_be_ordered_and_name_known_categories() -> None:
    bad = GOOD.replace("labour_wages: {yellow: 30000, red: 500000}", "labour_wages: {yellow: 500000, red: 5000}")
    with pytest.raises(RulesError) as e:
        parse_rules(bad, "r.yaml")
    assert f":{_line_of(bad, 'labour_wages: {yellow: 500000')}: amounts → thresholds → labour_wages" in str(e.value)
    bad = GOOD.replace("    consumer: {yellow: 10, red: 50}", "    shopping: {yellow: 10, red: 50}")
    with pytest.raises(RulesError, match="未知类别 'shopping'"):
        parse_rules(bad, "r.yaml")


def test_a_missing_file_is_refused(tmp_path) -> None:
    with pytest.raises(RulesError, match="无法读取规则文件"):
        load_rules(tmp_path / "nope.yaml")


def test_a_fallback_rule_must_be_yellow() -> None:
    net = "    level: yellow\n    weight: 5\n    fallback: true"
    bad = GOOD.replace(net, net.replace("yellow", "red"), 1)
    assert bad != GOOD
    with pytest.raises(RulesError, match="兜底规则只能是 yellow"):
        parse_rules(bad, "risk_rules.yaml")
