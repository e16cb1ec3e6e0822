"""Explainable risk assessment (pure): red / yellow / blue with the rules that fired and their evidence.

Walking-skeleton rule set: text cues for Zhoukou's six situations, violence and threats, group disputes
and large sums. The risk issue moves the rules into a versioned YAML file; the shape of the answer
(level, score, rules with evidence, rule-set version, readable reason) stays.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from yima_contracts import RuleHit
from yima_contracts.codes import RISK_LEVEL_NAMES_ZH, Category, RiskLevel

RULESET_VERSION = "2026.11-skeleton.1"


@dataclass(frozen=True)
class CueRule:
    rule_id: str
    name_zh: str
    level: RiskLevel
    weight: int
    cues: tuple[str, ...]
    categories: tuple[Category, ...] = ()  # empty = any category


RULES: tuple[CueRule, ...] = (
    CueRule("violence_threat", "暴力或威胁", RiskLevel.RED, 60,
            ("要杀", "砍", "动刀", "威胁", "报复", "打伤", "同归于尽")),
    CueRule("self_harm", "扬言自伤自杀", RiskLevel.RED, 60, ("跳楼", "自杀", "不想活", "喝药")),
    CueRule("domestic_violence", "家庭暴力、多次报警", RiskLevel.RED, 50, ("家暴", "打老婆", "多次报警", "报警好几次")),
    CueRule("six_bride_price", "六种情形：彩礼纠纷", RiskLevel.RED, 40, ("彩礼",),
            (Category.MARRIAGE_FAMILY,)),
    CueRule("six_affair", "六种情形：婚外情", RiskLevel.RED, 40, ("出轨", "婚外情", "小三")),
    CueRule("six_post_divorce", "六种情形：离婚诉讼后仍有矛盾", RiskLevel.RED, 40, ("离婚后", "判离后")),
    CueRule("six_clan", "六种情形：家族宗族矛盾深", RiskLevel.RED, 40, ("宗族", "家族矛盾", "两家人打")),
    CueRule("six_released", "六种情形：刑满释放人员仍有矛盾", RiskLevel.RED, 40, ("刑满释放", "刚放出来")),
    CueRule("six_criminal_history", "六种情形：邻里纠纷已致刑事处罚", RiskLevel.RED, 40, ("判刑", "被拘留")),
    CueRule("group_dispute", "群体性纠纷", RiskLevel.YELLOW, 25,
            ("农民工", "多人", "集体", "几十个", "业主们", "一群")),
    CueRule("vulnerable", "弱势当事人", RiskLevel.YELLOW, 15, ("老人", "残疾", "孕妇", "未成年", "孩子")),
    CueRule("long_standing", "长期未解决", RiskLevel.YELLOW, 15, ("多年", "一直没解决", "反复")),
)
_AMOUNT = re.compile(r"(\d+(?:\.\d+)?)\s*(万|元)")
LARGE_SUM_YUAN = 100_000


@dataclass(frozen=True)
class Assessment:
    level: RiskLevel
    score: int
    hits: tuple[RuleHit, ...]
    ruleset_version: str
    reason_zh: str


def _amount_yuan(text: str) -> float:
    total = 0.0
    for num, unit in _AMOUNT.findall(text):
        total = max(total, float(num) * (10_000 if unit == "万" else 1))
    return total


def assess(description: str, category: Category) -> Assessment:
    hits: list[RuleHit] = []
    for rule in RULES:
        if rule.categories and category not in rule.categories:
            continue
        found = [c for c in rule.cues if c in description]
        if found:
            hits.append(RuleHit(rule_id=rule.rule_id, name_zh=rule.name_zh, level=rule.level, weight=rule.weight,
                                evidence=[f"描述含“{c}”" for c in found]))
    amount = _amount_yuan(description)
    if amount >= LARGE_SUM_YUAN:
        hits.append(RuleHit(rule_id="large_sum", name_zh="涉案金额较大", level=RiskLevel.YELLOW, weight=20,
                            evidence=[f"金额约{amount:,.0f}元"]))
    score = sum(h.weight for h in hits)
    if any(h.level is RiskLevel.RED for h in hits) or score >= 60:
        level = RiskLevel.RED
    elif hits:
        level = RiskLevel.YELLOW
    else:
        level = RiskLevel.BLUE
    names = "、".join(h.name_zh for h in hits) or "未发现风险因素"
    reason = f"{RISK_LEVEL_NAMES_ZH[level]}色风险（{score}分）：{names}"
    return Assessment(level, score, tuple(hits), RULESET_VERSION, reason)
