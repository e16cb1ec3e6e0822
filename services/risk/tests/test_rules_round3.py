"""Issue 17's third round (2026.12-generalise.4 and .5, ADR 0191): the broader families learnt from the training pool's
misses, words saying there is no live dispute, the second opinion's higher bar for red, and its cross-validation.
The sentences here are written for the tests, not taken from a held-out part."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from yima_contracts.codes import Category as C
from yima_contracts.codes import RiskLevel
from yima_risk.core import text as tx
from yima_risk.core.evaluation import Labelled, cross_validate
from yima_risk.core.rules import CaseFacts, assess
from yima_risk.core.second_opinion import (
    RAISE_BLUE_TO_RED_CONFIDENCE,
    RAISE_CONFIDENCE,
    RAISE_TO_RED_CONFIDENCE,
    Opinion,
)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
RED, YELLOW, BLUE = RiskLevel.RED, RiskLevel.YELLOW, RiskLevel.BLUE


def a_(rules, text: str, category: C = C.NEIGHBOUR, opinion: Opinion | None = None):
    return assess(CaseFacts(category=category, description=text, submitted_at=NOW), rules, opinion)


@pytest.mark.parametrize(("expected", "rule", "category", "text"), [
    (RED, "violence_threat", C.ROAD_TRAFFIC, "吵了两句，他从后备箱里摸出来一根铁棍"),
    (RED, "violence_threat", C.NEIGHBOUR, "他说已经磨好了刀，就等着"),
    (RED, "violence_threat", C.CONTRACT_DEBT, "早上一开门，门口多了个花圈"),
    (RED, "violence_threat", C.NEIGHBOUR, "他说不会让我好过"),
    (RED, "injury_assault", C.NEIGHBOUR, "他抄起板凳就往我男人身上砸"),
    (RED, "injury_assault", C.PROPERTY_MANAGEMENT, "保安把我爸按在地上打"),
    (RED, "self_harm", C.LABOUR_WAGES, "工友站到楼顶边上喊，说钱不给就跳"),
    (RED, "group_gathering", C.MEDICAL, "家属在病房走廊里烧纸，不让护士过"),
    (RED, "group_gathering", C.LABOUR_WAGES, "十几个工人把会计堵在财务室里不让走"),
    (RED, "domestic_violence", C.MARRIAGE_FAMILY, "她又叫她男人打了一顿"),
    # 2026.12-generalise.6 and .7 (ADR 0192)
    (RED, "injury_marks_at_home", C.MARRIAGE_FAMILY, "她回娘家的时候眼眶青了一圈，说是她男人喝了酒"),
    (RED, "violence_threat", C.NEIGHBOUR, "他把我家院门踹了个大洞"),
    (RED, "violence_threat", C.CONTRACT_DEBT, "要债的说再不还钱就让我走不出这条街"),
    (RED, "violence_threat", C.NEIGHBOUR, "他往我家柴房扔了个点着的布团子"),
    (RED, "injury_assault", C.NEIGHBOUR, "他上来一巴掌就把我老婆扇到地上"),
    (RED, "injury_assault", C.ROAD_TRAFFIC, "对方下车掐住我脖子往车门上撞"),
    (RED, "self_harm", C.MARRIAGE_FAMILY, "她留了张纸条说孩子以后就交给你们了，人到现在找不着"),
    (YELLOW, "property_destroyed", C.PROPERTY_MANAGEMENT, "欠了两个月物业费，物业就把我家的电梯卡给销了"),
    # 2026.12-generalise.8 (ADR 0193)
    (RED, "violence_threat", C.NEIGHBOUR, "他家老二放出话来，说过了十五就来把我家的羊圈拆了"),
    (RED, "violence_threat", C.ROAD_TRAFFIC, "他说你闺女放学的路我们都熟"),
    (RED, "injury_assault", C.ROAD_TRAFFIC, "两个人把我从车里薅出来就打"),
    (RED, "self_harm", C.MARRIAGE_FAMILY, "她跟她妈说活着没意思，还把存折密码告诉了她妈"),
    (RED, "group_standoff", C.LAND_FOREST, "对方二十多个人扛着锄头站在地头上"),
    (YELLOW, "death_grave_injury", C.ROAD_TRAFFIC, "在医院住了半个月，最后还是没了"),
    (YELLOW, "property_destroyed", C.DEMOLITION, "补偿协议还没签，厂房就被施工队拆除了"),
    (YELLOW, "failed_before", C.MARRIAGE_FAMILY, "判下来的抚养费一分没给，申请执行也执行不到"),
    # 2026.12-generalise.9 (ADR 0207)
    (RED, "self_harm", C.LABOUR_WAGES, "他跟工友说，从这儿跳了也就一了百了"),
    (RED, "self_harm", C.MARRIAGE_FAMILY, "她在河边坐了一下午谁喊也不理"),
    (RED, "six_dv_police_calls", C.MARRIAGE_FAMILY, "今年他已经是第五次动手了"),
    (RED, "six_dv_police_calls", C.NEIGHBOUR, "民警来了说了两句就走了，他转身又骂上了"),
    (YELLOW, "scuffle", C.DEMOLITION, "我爹上去问了一句，被对方的人推进了水沟里"),
    # 2026.12-generalise.10 (ADR 0213)
    (RED, "self_harm", C.MARRIAGE_FAMILY, "他把银行卡密码写在纸上留给了他哥"),
    (RED, "self_harm", C.LABOUR_WAGES, "他打电话说以后俺妈就拜托我了，说完就关机了"),
    (RED, "self_harm", C.ROAD_TRAFFIC, "她说活着还有啥盼头，人现在站在大桥的栏杆外"),
    (RED, "self_harm", C.LABOUR_WAGES, "老张这会就在工地塔吊上，说工钱不给就不下来"),
    (RED, "violence_threat", C.MEDICAL, "那个大夫住哪、几点下班，他都打听好了"),
    (RED, "violence_threat", C.CONTRACT_DEBT, "再不还钱就把他门面砸了，大不了一起死"),
    (RED, "violence_threat", C.NEIGHBOUR, "他指着我说你给我等着，你总有落单的时候"),
])
def test_the_broader_families_fire_on_new_wordings(rules, expected, rule, category, text) -> None:
    a = a_(rules, text, category)
    assert rule in {h.rule_id for h in a.hits}, a.reason_zh
    assert a.own_level is expected, a.reason_zh


@pytest.mark.parametrize("text", [
    "俺们不会闹事，就是想问个明白",       # 不会 negates what follows
    "病人转到市里的医院去了，家属在陪护",  # taken to the city's hospital: not a petition
    "借钱的事打官司怕伤了亲戚和气",        # 打官司 is not a blow
    "打牌输了开玩笑说要报仇，其实早和好了",  # a threat word said in jest
    "汽修厂喷漆的味道太大，想请他们装个净化器",  # 喷漆 of a workshop is not vandalism
    "俺娘的棺材本都拿去看病了，医药费还差一万",  # life savings, not a coffin carried anywhere
    "我就在楼顶上晾被子，邻居说挡了他家太阳能",  # a roof used for what roofs are for
    "小两口吵架，两边老人都来劝，已经和好了",  # the couple's parents are not a vulnerable party
])
def test_look_alikes_and_negations_stay_below_red(rules, text) -> None:
    assert a_(rules, text).own_level is not RED


def test_amounts_and_ages_in_more_forms() -> None:
    assert [v for v, _ in tx.amounts_yuan("借了他4.2w")] == [42_000]
    assert [v for v, _ in tx.amounts_yuan("欠了5W块")] == [50_000]
    assert [age for age, _ in tx.ages("我妈今年七十九，一个人住")] == [79]
    assert list(tx.ages("今年六十五万的货款")) == []


def test_words_of_no_live_dispute_keep_weak_signs_blue_and_say_why(rules) -> None:
    a = a_(rules, "家里老人的房子想过户给我弟，姊妹几个都同意，想问问手续", C.MARRIAGE_FAMILY)
    assert a.own_level is BLUE and [h.rule_id for h in a.hits] == ["no_live_dispute"], a.reason_zh
    assert "都同意" in a.reason_zh and "不计：涉及弱势群体" in a.hits[0].evidence  # what it set aside is named
    assert a.ruleset_version == rules.version
    # without the calm words the same weak sign is yellow; a refusal that contains them is not calm
    assert a_(rules, "家里老人的房子想过户给我弟", C.MARRIAGE_FAMILY).own_level is YELLOW
    assert a_(rules, "骨折了，医院不愿意出钱", C.MEDICAL).own_level is YELLOW


def test_calm_words_never_soften_a_red_rule_a_sum_or_a_threat(rules) -> None:
    assert a_(rules, "两家都同意调解，可他昨天还拿刀比划").own_level is RED
    assert a_(rules, "双方都同意，欠的工钱一共五十万", C.LABOUR_WAGES).own_level is not BLUE


def test_calm_words_stop_a_statistical_raise(rules) -> None:
    sure = Opinion(YELLOW, 0.99, "toy")
    assert a_(rules, "想咨询一下，家里老人的事两家都没意见，就是想写个协议", opinion=sure).own_level is BLUE


def test_a_second_opinion_raises_to_red_only_when_very_confident(rules) -> None:
    text = "吵架以后两家见面都不说话"  # yellow by the rules
    assert a_(rules, text).own_level is YELLOW
    assert RAISE_CONFIDENCE < RAISE_TO_RED_CONFIDENCE
    below = Opinion(RED, (RAISE_CONFIDENCE + RAISE_TO_RED_CONFIDENCE) / 2, "toy")
    assert a_(rules, text, opinion=below).own_level is YELLOW
    assert a_(rules, text, opinion=Opinion(RED, RAISE_TO_RED_CONFIDENCE, "toy")).own_level is RED
    # to yellow the lower bar is enough
    assert a_(rules, "楼道灯不亮", opinion=Opinion(YELLOW, RAISE_CONFIDENCE, "toy")).own_level is YELLOW


def test_cross_validation_judges_each_text_once_with_a_model_that_never_saw_it(rules) -> None:
    xs = [Labelled(f"x{i}", lv, C.NEIGHBOUR, "quarrel", (), f"{word}{i}") for i, (lv, word) in enumerate(
        [(RED, "甲乙丙丁"), (YELLOW, "子丑寅卯"), (BLUE, "春夏秋冬")] * 10)]
    rep = cross_validate("toy", xs, rules, k=5)
    assert rep.n == len(xs)
    again = cross_validate("toy", xs, rules, k=5)
    assert again.correct == rep.correct and again.raised == rep.raised  # fixed folds
    only = cross_validate("toy", xs, rules, k=5, only=lambda x: x.level is RED)
    assert only.n == 10


def test_with_no_rule_fired_an_all_but_sure_red_opinion_goes_straight_to_red(rules) -> None:
    text = "楼道灯不亮"  # no rule fires
    assert a_(rules, text).own_level is BLUE
    sure = a_(rules, text, opinion=Opinion(RED, RAISE_BLUE_TO_RED_CONFIDENCE, "toy"))
    assert sure.own_level is RED and sure.level_by_rules is BLUE and sure.red_rule_ids == ("second_opinion",)
    hit = next(h for h in sure.hits if h.rule_id == "second_opinion")
    assert hit.name_zh == "统计复核上调两级" and "上调为红色" in hit.evidence[0] and "toy" in hit.evidence[0]
    # less sure: one step, as before
    less = Opinion(RED, (RAISE_TO_RED_CONFIDENCE + RAISE_BLUE_TO_RED_CONFIDENCE) / 2, "toy")
    assert a_(rules, text, opinion=less).own_level is YELLOW
    # a rule that fired keeps the one-step limit: yellow goes to red, never further, and calm words stop it all
    assert a_(rules, "想咨询一下，家里老人的事两家都没意见", opinion=Opinion(RED, 0.99, "toy")).own_level is BLUE
