"""Explainable risk assessment (pure): red / yellow / blue with the rules that fired and their evidence.

``assess(facts, ruleset)`` is a pure function of a case's facts and the rule set (its version is part of
the answer): no clock, no database, no randomness. The service gathers the facts (the submission, details
added later, repeat reports, earlier cases, the leader, feedback, the outcome) and stores the answer.

Level = the case's own risk (a red rule fired or the score reached ``scoring.red_score`` → red; any rule
→ yellow; none → blue; a fallback rule, the safety net, counts only when nothing else fired; words saying there is
no live dispute keep a case with only weak signs blue (``calm``, ADR 0191); a confident statistical second opinion
above that level raises it one step, ADR 0180, or from blue straight to red when all but sure, ADR 0194), then the
lifecycle: resolved → blue; red under a responsible leader (分包领导) whose handling has started → yellow, unless a
red rule fires that was not known when handling started.

Where each rule is: the word rules are data (data/risk_rules.yaml, ``rules:``); the rules on the facts are the
functions named as their rule ids below — ``group_dispute`` (群体性纠纷), ``large_sum``, ``repeat_report``,
``vulnerable_party``, ``long_standing`` — with their thresholds in the rule set (``group:``, ``amounts:``, …).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from yima_contracts import RuleHit
from yima_contracts.codes import CATEGORY_NAMES_ZH, RISK_LEVEL_NAMES_ZH, Category, RiskLevel

from . import text as tx
from .ruleset import Negation, RuleSet, TextRule
from .second_opinion import RAISE_BLUE_TO_RED_CONFIDENCE, RAISE_CONFIDENCE, RAISE_TO_RED_CONFIDENCE, Opinion

Stage = Literal["open", "handling", "resolved"]


@dataclass(frozen=True)
class CaseFacts:
    """Everything known about a case that its risk depends on."""

    category: Category
    description: str
    submitted_at: datetime
    additional: tuple[str, ...] = ()  # details added later (case.updated details_added)
    party_count: int | None = None
    amount_yuan: float | None = None
    vulnerable: tuple[str, ...] = ()  # elderly, disabled, minor, pregnant
    emergency: bool = False
    repeat_of: str | None = None
    repeat_count: int = 1  # reports of this dispute so far (intake's count)
    earlier_case_ids: tuple[str, ...] = ()  # same applicant, same category, earlier (found by the service)
    mediation_failed: bool = False
    leader_staff_id: str | None = None
    leader_name: str | None = None
    accepted: bool = False  # the handling unit accepted the case
    resolved: bool = False
    handling_red_rules: tuple[str, ...] | None = None  # red rules known when handling under the leader began


@dataclass(frozen=True)
class Assessment:
    level: RiskLevel
    own_level: RiskLevel  # before the lifecycle (what the facts alone say)
    score: int
    hits: tuple[RuleHit, ...]
    ruleset_version: str
    reason_zh: str
    stage: Stage
    red_rule_ids: tuple[str, ...] = field(default=())
    rules_level: RiskLevel | None = None  # the rules' own level when a confident second opinion raised it

    @property
    def level_by_rules(self) -> RiskLevel:
        """The first level the rules alone gave (before a second opinion raised it one step)."""
        return self.rules_level or self.own_level


_NO_NEGATION = Negation(before=(), window=1)


def _hit(rule_id: str, name: str, level: RiskLevel, weight: int, evidence: list[str]) -> RuleHit:
    return RuleHit(rule_id=rule_id, name_zh=name, level=level, weight=weight, evidence=evidence[:20])


def _quote(m: tx.Match, source: str) -> str:
    return f"{source}含“{m.text}”"


def _sources(facts: CaseFacts) -> list[tuple[str, str]]:
    out = [("描述", tx.normalize(facts.description))]
    out += [("补充情况", tx.normalize(t)) for t in facts.additional if t]
    return out


def _text_rule(rule: TextRule, facts: CaseFacts, rs: RuleSet) -> RuleHit | None:
    if rule.categories and facts.category not in rule.categories:
        return None
    evidence: list[str] = []
    for source, text in _sources(facts):
        found = tx.find_cues(text, rule.cues, rule.patterns, rs.negation, rule.exclude)
        if found and (rule.also_cues or rule.also_patterns):
            # the second half is often a refusal ("不是他们的责任", "不赔"): it is read without negation
            also = tx.find_cues(text, rule.also_cues, rule.also_patterns, _NO_NEGATION, rule.exclude)
            if not also:
                continue  # the second half of the rule is missing in this text
            found += [m for m in also if all(m.text != f.text for f in found)]
        evidence += [_quote(m, source) for m in found]
    if not evidence:
        return None
    return _hit(rule.id, rule.name_zh, rule.level, rule.weight, evidence)


def _cat(category: Category) -> str:
    return CATEGORY_NAMES_ZH[category]


def _yuan(v: float) -> str:
    return f"{v / 10_000:g}万元" if v >= 10_000 else f"{v:,.0f}元"


def group_dispute(facts: CaseFacts, rs: RuleSet) -> RuleHit | None:
    """群体性纠纷 (rule ``group_dispute``): how many people a dispute involves — the ``party_count`` field, a count
    in the text ("三十多户村民"), or words of a crowd when no count is given — against the category's tiers
    (``group:`` in the rule set): yellow from ``tier.yellow`` people, red from ``tier.red``."""
    g = rs.group
    tier = g.tier(facts.category)
    best, evidence = 0, []
    if facts.party_count is not None and facts.party_count >= tier.yellow:
        best = facts.party_count
        evidence.append(f"字段 party_count={facts.party_count}")
    for source, text in _sources(facts):
        counted = False
        for n, words in tx.people_counts(text, g.people_words):
            counted = True
            if n >= tier.yellow:
                best = max(best, n)
                evidence.append(f"{source}含“{words}”（约{n}人）")
        for m in () if counted else tx.find_cues(text, g.many_words, (), rs.negation):
            best = max(best, int(tier.yellow))
            evidence.append(_quote(m, source))
    if not best:
        return None
    red = best >= tier.red
    evidence.append(f"{_cat(facts.category)}类阈值：{tier.yellow:g}人起为黄色、{tier.red:g}人起为红色")
    return _hit(g.rule_id, g.name_zh, RiskLevel.RED if red else RiskLevel.YELLOW,
                g.red_weight if red else g.yellow_weight, evidence)


def large_sum(facts: CaseFacts, rs: RuleSet) -> RuleHit | None:
    a = rs.amounts
    tier = a.tier(facts.category)
    best, evidence = 0.0, []
    if facts.amount_yuan is not None and facts.amount_yuan >= tier.yellow:
        best = facts.amount_yuan
        evidence.append(f"字段 amount_yuan={facts.amount_yuan:g}")
    for source, text in _sources(facts):
        for value, words in tx.amounts_yuan(text):
            if value >= tier.yellow:
                best = max(best, value)
                evidence.append(f"{source}含“{words}”（约{_yuan(value)}）")
    if not best:
        return None
    red = best >= tier.red
    evidence.append(f"{_cat(facts.category)}类阈值：{_yuan(tier.yellow)}起为黄色、{_yuan(tier.red)}起为红色")
    return _hit(a.rule_id, a.name_zh, RiskLevel.RED if red else RiskLevel.YELLOW,
                a.red_weight if red else a.yellow_weight, evidence)


def repeat_report(facts: CaseFacts, rs: RuleSet) -> RuleHit | None:
    r = rs.repeat
    reports, evidence = 1, []
    if facts.repeat_count >= 2:
        reports = facts.repeat_count
        evidence.append(f"同一纠纷第{facts.repeat_count}次反映（受理登记）")
    if facts.repeat_of:
        reports = max(reports, 2)
        evidence.append(f"关联此前案件 {facts.repeat_of}")
    if facts.earlier_case_ids:
        reports = max(reports, 1 + len(facts.earlier_case_ids))
        evidence.append("同一申请人此前同类案件：" + "、".join(facts.earlier_case_ids[:10]))
    for source, text in _sources(facts):
        for m in tx.find_cues(text, r.cues, r.patterns, rs.negation):
            reports = max(reports, 2)
            evidence.append(_quote(m, source))
    if reports < r.yellow_at:
        return None
    red = reports >= r.red_at
    return _hit(r.rule_id, r.name_zh, RiskLevel.RED if red else RiskLevel.YELLOW,
                r.red_weight if red else r.yellow_weight, evidence)


def vulnerable_party(facts: CaseFacts, rs: RuleSet) -> RuleHit | None:
    v = rs.vulnerable
    evidence: list[str] = []
    for kind in facts.vulnerable:
        rule = v.kinds.get(kind)  # type: ignore[call-overload]
        evidence.append(f"字段 vulnerable 含 {kind}（{rule.name_zh if rule else kind}）")
    for source, text in _sources(facts):
        no_elderly = any(tx.compiled(p).search(text) for p in v.exclude)
        for kind, rule in v.kinds.items():
            if kind == "elderly" and no_elderly:
                continue
            for m in tx.find_cues(text, rule.cues, (), rs.negation, rule.exclude):
                evidence.append(f"{_quote(m, source)}（{rule.name_zh}）")
        for age, words in tx.ages(text):
            if age >= v.elderly_min_age and not no_elderly:
                evidence.append(f"{source}含“{words}”（老年人）")
            elif age <= v.minor_max_age:
                evidence.append(f"{source}含“{words}”（未成年人）")
    if not evidence:
        return None
    return _hit(v.rule_id, v.name_zh, v.level, v.weight, evidence)


def long_standing(facts: CaseFacts, rs: RuleSet) -> RuleHit | None:
    ls = rs.long_standing
    evidence: list[str] = []
    for source, text in _sources(facts):
        for m in tx.find_cues(text, ls.cues, (), rs.negation, ls.exclude):
            evidence.append(_quote(m, source))
        excluded = [m.span() for p in ls.exclude for m in tx.compiled(p).finditer(text)]
        for years, words in tx.durations_years(text):
            at = text.find(words)
            if years >= ls.min_years and not any(s <= at < e for s, e in excluded):
                evidence.append(f"{source}含“{words}”")
        for year, words in tx.since_years(text):
            if facts.submitted_at.year - year >= ls.min_years:
                evidence.append(f"{source}含“{words}”（已{facts.submitted_at.year - year}年）")
    if not evidence:
        return None
    return _hit(ls.rule_id, ls.name_zh, ls.level, ls.weight, evidence)


# The rules read from the case's facts (not a list of words), each a function named as its rule id in
# data/risk_rules.yaml: group_dispute (群体性纠纷: how many people), large_sum, repeat_report, vulnerable_party,
# long_standing. The word rules (violence, threats, …) are data: ``rs.rules``, judged by ``_text_rule``.
FACT_RULES = (group_dispute, large_sum, repeat_report, vulnerable_party, long_standing)


def own_hits(facts: CaseFacts, rs: RuleSet) -> list[RuleHit]:
    hits: list[RuleHit] = []
    for rule in rs.rules:
        h = _text_rule(rule, facts, rs)
        if h:
            hits.append(h)
    for fn in FACT_RULES:
        h = fn(facts, rs)
        if h:
            hits.append(h)
    s = rs.structured
    if facts.emergency:
        hits.append(_hit(s.emergency.rule_id, s.emergency.name_zh, s.emergency.level, s.emergency.weight,
                         ["字段 emergency=true（应急联办）"]))
    if facts.mediation_failed:
        hits.append(_hit(s.mediation_failed.rule_id, s.mediation_failed.name_zh, s.mediation_failed.level,
                         s.mediation_failed.weight, ["调解或处置结果：未成功"]))
    fallback = {r.id for r in rs.rules if r.fallback}
    if any(h.rule_id not in fallback for h in hits):
        hits = [h for h in hits if h.rule_id not in fallback]  # the safety net counts only when nothing else fired
    return _calm(hits, facts, rs) + _combinations(hits, rs)


def _calm(hits: list[RuleHit], facts: CaseFacts, rs: RuleSet) -> list[RuleHit]:
    """No live dispute said in words ("都同意", "早就和好了", "也就是说说") and only weak signs fired: one blue-level
    hit says so and names what it set aside (ADR 0191). Never when a vulnerable party was marked in the fields."""
    c = rs.calm
    if c is None or not hits or facts.vulnerable or any(h.rule_id not in c.softens for h in hits):
        return hits
    evidence = [_quote(m, source) for source, text in _sources(facts)
                for m in tx.find_cues(text, c.cues, c.patterns, rs.negation, c.exclude)]
    if not evidence:
        return hits
    evidence.append("不计：" + "、".join(h.name_zh for h in hits))
    return [_hit(c.rule_id, c.name_zh, RiskLevel.BLUE, 0, evidence)]


def _combinations(hits: list[RuleHit], rs: RuleSet) -> list[RuleHit]:
    fired = {h.rule_id for h in hits}
    names = rs.rule_names()
    out: list[RuleHit] = []
    for c in rs.combinations:
        if not set(c.all_of) <= fired:
            continue
        extra = [r for r in c.any_of if r in fired]
        if c.any_of and not extra:
            continue
        parts = "、".join(names.get(r, r) for r in (*c.all_of, *extra))
        out.append(_hit(c.id, c.name_zh, c.level, c.weight, [f"同时触发：{parts}"]))
    return out


def _short(h: RuleHit) -> str:
    words = [e.split("含", 1)[1].split("（")[0] for e in h.evidence if "含“" in e][:3]
    if not words:
        words = [e for e in h.evidence if not e.endswith("为红色")][:1]
    return f"{h.name_zh}（{'、'.join(words)}）" if words else h.name_zh


SECOND_OPINION_RULE = "second_opinion"
_UP = {RiskLevel.BLUE: RiskLevel.YELLOW, RiskLevel.YELLOW: RiskLevel.RED, RiskLevel.RED: RiskLevel.RED}
_RANK = {RiskLevel.BLUE: 0, RiskLevel.YELLOW: 1, RiskLevel.RED: 2}


def _raise(own: RiskLevel, opinion: Opinion | None, hits: list[RuleHit]) -> RiskLevel:
    """A confident second opinion above the rules' level raises it one step, never lower (ADR 0180, 0191); where no
    rule fired and it is all but sure of red (``RAISE_BLUE_TO_RED_CONFIDENCE``), straight to red (ADR 0194). The hit
    says so, with the model's version and confidence, so the level still explains itself."""
    if opinion is None or _RANK[opinion.level] <= _RANK[own]:
        return own
    up = _UP[own]
    if own is RiskLevel.BLUE and opinion.level is RiskLevel.RED and opinion.confidence >= RAISE_BLUE_TO_RED_CONFIDENCE:
        up = RiskLevel.RED
    elif opinion.confidence < (RAISE_TO_RED_CONFIDENCE if up is RiskLevel.RED else RAISE_CONFIDENCE):
        return own
    color = RISK_LEVEL_NAMES_ZH
    name = "统计复核上调两级" if _RANK[up] - _RANK[own] == 2 else "统计复核上调一级"
    hits.append(_hit(SECOND_OPINION_RULE, name, up, 0, [
        f"统计模型{opinion.model or ''}判为{color[opinion.level]}色（置信度{opinion.confidence:.2f}），"
        f"规则判为{color[own]}色：上调为{color[up]}色，待人工复核"]))
    return up


def assess(facts: CaseFacts, rs: RuleSet, opinion: Opinion | None = None) -> Assessment:
    """The level of a case. ``opinion`` is the statistical second opinion on its text (optional): when confident
    and higher than the rules, it raises the rules' level one step."""
    hits = own_hits(facts, rs)
    score = sum(h.weight for h in hits)
    red_ids = tuple(h.rule_id for h in hits if h.level is RiskLevel.RED)
    if red_ids or score >= rs.scoring.red_score:
        own = RiskLevel.RED
        if not red_ids:
            red_ids = ("score",)
    elif any(h.level is not RiskLevel.BLUE for h in hits):
        own = RiskLevel.YELLOW
    else:
        own = RiskLevel.BLUE
    by_rules = own
    calm = rs.calm is not None and any(h.rule_id == rs.calm.rule_id for h in hits)
    own = _raise(own, None if calm else opinion, hits)  # said in words to be calm: no statistical raise
    if own is not by_rules and own is RiskLevel.RED:
        red_ids = (SECOND_OPINION_RULE,)
    color = RISK_LEVEL_NAMES_ZH
    body = "；".join(_short(h) for h in hits) or "未发现风险因素"
    reason = f"{color[own]}色风险（{score}分）：{body}"

    leader_handling = facts.leader_staff_id is not None and (
        facts.accepted or not rs.lifecycle.leader_needs_acceptance
    )
    stage: Stage = "open"
    level = own
    leader = facts.leader_name or facts.leader_staff_id
    if facts.resolved:
        stage, level = "resolved", RiskLevel.BLUE
        if own is not RiskLevel.BLUE:
            reason = f"纠纷已化解，降为蓝色。原评估：{reason}"
    elif leader_handling:
        stage = "handling"
        if own is RiskLevel.RED:
            known = set(facts.handling_red_rules) if facts.handling_red_rules is not None else set(red_ids)
            new = [rid for rid in red_ids if rid not in known]
            if new:
                names = rs.rule_names()
                reason = (f"处置中出现新的红色风险（{'、'.join(names.get(r, r) for r in new)}），仍为红色。"
                          f"{reason}")
            else:
                level = RiskLevel.YELLOW
                reason = f"已由分包领导{leader}牵头处置，由红色降为黄色。原评估：{reason}"
    elif own is RiskLevel.RED:
        reason += "。须明确分包领导牵头化解，结案后回头看"
    if len(reason) > 500:
        reason = reason[:499] + "…"
    return Assessment(level, own, score, tuple(hits), rs.version, reason, stage, red_ids,
                      by_rules if by_rules is not own else None)
