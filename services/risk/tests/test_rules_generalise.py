"""The rules for "could escalate" told in ordinary words (issue 17, ADR 0090): each family fires on several ways of
saying the same thing, and not on its negation or on a look-alike; the levels combine as a mediator would."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from yima_contracts.codes import Category as C
from yima_contracts.codes import RiskLevel
from yima_risk.core import text as tx
from yima_risk.core.rules import CaseFacts, assess

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
RED, YELLOW, BLUE = RiskLevel.RED, RiskLevel.YELLOW, RiskLevel.BLUE


def fired(rules, text: str, category: C = C.NEIGHBOUR) -> set[str]:
    a = assess(CaseFacts(category=category, description=text, submitted_at=NOW), rules)
    return {h.rule_id for h in a.hits}


def level(rules, text: str, category: C = C.NEIGHBOUR) -> RiskLevel:
    return assess(CaseFacts(category=category, description=text, submitted_at=NOW), rules).own_level


# (rule id, category, several ways of saying it)
FAMILIES = [
    ("death_grave_injury", C.ROAD_TRAFFIC, ["我舅骑车让大车挂倒了，送到县医院人就走了",
                                            "老父亲出车祸没了，司机说是老人闯红灯", "人在重症监护室躺了一星期了",
                                            "撞成了高位截瘫，下半辈子只能躺着",
                                            "右腿轧断了，医生说要截肢"]),
    ("death_grave_injury", C.LABOUR_WAGES, ["干活时手被搅拌机卷进去，两根手指头没了",
                                            "工友从架子上摔下来，没抢救过来"]),
    ("health_harm_claim", C.MEDICAL, ["拔完牙伤口感染又住了半个月的院，诊所说不是他们的问题",
                                      "输液以后孩子就开始抽，卫生所说药没问题"]),
    ("health_harm_claim", C.NEIGHBOUR, ["路灯杆倒下来把我胳膊砸伤了，物业说不是他们的责任",
                                        "他家狗把我闺女咬了，打针花了一千多，他说狗拴着呢不关他事"]),
    ("strong_feelings", C.NEIGHBOUR, ["这口气我实在咽不下去", "一想起这事心里就不是滋味，天天睡不好",
                                      "全村人意见很大，都憋着一股气"]),
    ("imminent_action", C.LABOUR_WAGES, ["再不给钱，下礼拜我们就去市政府门口坐着", "工友们计划明天到劳动局讨说法",
                                         "说不退钱就去他公司闹"]),
    ("intergroup_conflict", C.LAND_FOREST, ["俺们组跟五组为了机井的事闹了好几年", "东庄和西庄为了河滩地一直不对付",
                                            "上游的村截了水，下游几个村浇不上地", "刘姓和马姓为了祖坟的地界有矛盾"]),
    ("near_blows", C.LAND_FOREST, ["两边都叫了人，在地头对峙着", "双方都扛着铁锨站在渠边"]),
    ("property_destroyed", C.LAND_FOREST, ["趁我不在家把我的院墙给推了", "没商量好就把我家地头的界石挪了",
                                           "我家的承包地被村里收回给别人种了", "他擅自在我家责任田里栽了电线杆"]),
    ("property_destroyed", C.PROPERTY_MANAGEMENT, ["物业把我家的电给断了", "物业擅自停止供水三天了",
                                                   "物业找人把我家窗户拆了"]),
    ("failed_before", C.ROAD_TRAFFIC, ["交警队调过一回，对方答应赔三万，到现在一分钱没给", "医调委调了两次也没调下来",
                                       "村里开过协调会，签了字他又不认了"]),
    ("repeat_report", C.LABOUR_WAGES, ["经多次催要未果", "找了包工头七八趟，每回都说下个月",
                                       "敲了他家门三回都不开"]),
    ("vulnerable_party", C.NEIGHBOUR, ["俺爹七十好几了，腿脚不利索", "老伴查出来癌症，正在化疗",
                                       "我一个老婆子守着老宅"]),
    ("self_harm", C.NEIGHBOUR, ["她枕头底下藏了一大包安眠药", "说不给解决就喝敌敌畏", "人站在楼顶边上不下来"]),
    ("violence_threat", C.NEIGHBOUR, ["拎着一桶汽油站在我家门口", "他说以后出门小心点", "说再告他就让我后果自负",
                                      "扬言要把孩子从学校抢回来"]),
    ("group_gathering", C.MEDICAL, ["家属在病房里坐着不走", "二十多口人都坐在医院大厅里", "把遗体停在医院门口"]),
    ("scuffle", C.NEIGHBOUR, ["两家人推推搡搡，被邻居劝开了", "双方发生肢体冲突"]),
    ("long_standing", C.DEMOLITION, ["补偿的事已持续两年", "这事拖了三年了"]),
]


@pytest.mark.parametrize(("rule_id", "category", "text"),
                         [(r, c, t) for r, c, ts in FAMILIES for t in ts],
                         ids=[f"{r}:{t[:8]}" for r, _, ts in FAMILIES for t in ts])
def test_each_family_fires_on_its_ordinary_words(rules, rule_id, category, text) -> None:
    a = assess(CaseFacts(category=category, description=text, submitted_at=NOW), rules)
    hit = next((h for h in a.hits if h.rule_id == rule_id), None)
    assert hit is not None, a.reason_zh
    assert hit.evidence and a.ruleset_version == rules.version
    assert rules.rule_names()[rule_id] in a.reason_zh


# (rule id, category, text where the words are negated or mean something else)
NOT_FIRING = [
    ("scuffle", C.NEIGHBOUR, "吵了几句，双方都没有动手"),
    ("scuffle", C.NEIGHBOUR, "大风把院墙推倒了一截"),
    ("violence_threat", C.NEIGHBOUR, "他没拿刀，就是嗓门大"),
    ("violence_threat", C.NEIGHBOUR, "希望物业以后注意一下卫生"),
    ("self_harm", C.LAND_FOREST, "邻居家打农药飘到我家菜地里了"),
    ("self_harm", C.NEIGHBOUR, "晾衣服的绳子拴在我家树上"),
    ("death_grave_injury", C.ROAD_TRAFFIC, "撞了人司机就开车走了"),
    ("death_grave_injury", C.ENVIRONMENT, "排污把鱼塘的鱼都弄死了"),
    ("death_grave_injury", C.PROPERTY_MANAGEMENT, "小区停电，电梯里的灯也没了"),
    ("health_harm_claim", C.ROAD_TRAFFIC, "没有受伤，就是车灯碎了，对方同意赔"),
    ("group_gathering", C.NEIGHBOUR, "下水道堵了，找物业来通"),
    ("group_gathering", C.NEIGHBOUR, "门卫不让外卖电动车进小区"),
    ("imminent_action", C.MARRIAGE_FAMILY, "我们准备去民政局办离婚手续"),
    ("property_destroyed", C.NEIGHBOUR, "楼上掉下来的花盆把车砸了个坑，他已经认了"),
    ("property_destroyed", C.NEIGHBOUR, "把自己家的旧棚子拆了，想问问渣土放哪"),
    ("intergroup_conflict", C.CONTRACT_DEBT, "卖了一头牛给邻村的人，剩下两千说下个月给"),
    ("repeat_report", C.NEIGHBOUR, "楼道堆了杂物，沟通无果"),
    ("failed_before", C.MARRIAGE_FAMILY, "协议离婚，孩子的抚养费多少还没商量好"),
    ("vulnerable_party", C.MEDICAL, "做了癌症筛查，结果还没出来，想问问收费"),
]


@pytest.mark.parametrize(("rule_id", "category", "text"), NOT_FIRING, ids=[f"{r}:{t[:8]}" for r, _, t in NOT_FIRING])
def test_negations_and_look_alikes_do_not_fire(rules, rule_id, category, text) -> None:
    assert rule_id not in fired(rules, text, category)


LEVELS = [
    # a death with relatives gathering or about to act; a group about to act or petition; villages in confrontation
    (RED, C.MEDICAL, "人没抢救过来，家属二十多个人在医院大厅设了灵堂"),
    (RED, C.ROAD_TRAFFIC, "人没了，家里人说不给个说法就去他公司门口闹"),
    (RED, C.LABOUR_WAGES, "四十多个工人商量好了，后天一起去市里上访"),
    (RED, C.DEMOLITION, "二十余户被征收户拟于近日集体到市信访局反映"),
    (RED, C.LAND_FOREST, "两个组为了浇地已经打起来了"),
    (RED, C.LAND_FOREST, "东庄和西庄为了河滩地又吵起来，双方都叫了人，拿着铁锨对峙"),
    (RED, C.NEIGHBOUR, "十几个人在门口打成一团"),
    (RED, C.PROPERTY_MANAGEMENT, "业主说再不修就从楼顶跳下去"),
    (RED, C.MARRIAGE_FAMILY, "她男人一喝酒就把她往墙上撞，前天又犯了"),
    # yellow, told in ordinary words
    (YELLOW, C.MEDICAL, "我爸做完手术第二天人就走了，医院说是并发症"),
    (YELLOW, C.LABOUR_WAGES, "老板欠俺叁万陆仟元，年底又说明年给"),
    (YELLOW, C.LABOUR_WAGES, "工钱3万元，找了他好几趟了"),
    (YELLOW, C.LAND_FOREST, "俺们三组跟四组的地界一直没划清楚"),
    (YELLOW, C.NEIGHBOUR, "邻居趁我不在把我家的树给锯了"),
    (YELLOW, C.DEMOLITION, "被征收人对补偿标准有异议，已持续两年"),
    # blue: first contact, small sums, both willing, negated signs
    (BLUE, C.NEIGHBOUR, "邻居没有威胁我，也没动手，就是说话不客气"),
    (BLUE, C.LABOUR_WAGES, "工资少发了五百块，财务说下个月补"),
    (BLUE, C.MARRIAGE_FAMILY, "老人去世后兄妹几个商量分遗产，都挺和气"),
]


@pytest.mark.parametrize(("expected", "category", "text"), LEVELS, ids=[t[:10] for _, _, t in LEVELS])
def test_levels_combine_as_a_mediator_would(rules, expected, category, text) -> None:
    a = assess(CaseFacts(category=category, description=text, submitted_at=NOW), rules)
    assert a.own_level is expected, a.reason_zh
    if expected is RED:
        assert a.red_rule_ids and "须明确分包领导" in a.reason_zh


def test_a_red_rule_never_comes_out_below_red(rules) -> None:
    # whatever else a text says, one red signal makes it red (a red rule is never outweighed)
    for text in ("邻居人挺好，就是昨天说要拿刀砍我", "没什么大事，就是他说不活了", "欠款不多，但对方扬言要放火"):
        a = assess(CaseFacts(category=C.NEIGHBOUR, description=text, submitted_at=NOW), rules)
        assert a.own_level is RED and any(h.level is RED for h in a.hits), a.reason_zh


def test_amounts_in_every_numeral_form_against_the_category(rules) -> None:
    for words in ("三万", "3万", "30000元", "叁万元", "3.0万元", "两万五千块"):
        assert [v for v, _ in tx.amounts_yuan(f"欠了{words}")], words
    wages = [level(rules, f"老板欠我工资{w}", C.LABOUR_WAGES) for w in ("三万", "3万", "30000元", "叁万元")]
    assert wages == [YELLOW] * 4
    # the same sum is not large for a divorce's property, and a family's 1.2 million is not red on its own
    assert level(rules, "离婚时存款3万元怎么分", C.MARRIAGE_FAMILY) is BLUE
    assert level(rules, "爷爷的房子拆迁补了一百二十万，想问怎么分", C.MARRIAGE_FAMILY) is YELLOW


def test_ages_and_durations_told_without_their_usual_words() -> None:
    assert [a for a, _ in tx.ages("俺爹七十好几了")] == [70]
    assert [a for a, _ in tx.ages("老太太八十多了")] == [80]  # one age, though two patterns read it
    assert [y for y, _ in tx.durations_years("已持续两年")] == [2]
    assert [y for y, _ in tx.durations_years("这事拖了三年")] == [3]


def test_many_yellow_signals_of_one_harm_stay_yellow(rules) -> None:
    # a grave injury, a refusal, a sum and a disabled party: serious, yet no violence, crowd or threat (red score 120)
    text = "兄弟在矿上被砸伤了腰，现在瘫在床上，矿上说不算工伤，只给了三万"
    a = assess(CaseFacts(category=C.LABOUR_WAGES, description=text, submitted_at=NOW), rules)
    assert a.own_level is YELLOW and a.score < rules.scoring.red_score, a.reason_zh


# The safety net (harm_signal, 2026.12-generalise.3, ADR 0180): a sign of harm, threat, escalation or vulnerability
# told in words no other rule knows keeps a text from blue; its negation and its look-alikes stay blue; and it adds
# nothing where another rule already explains the level.
@pytest.mark.parametrize(("expected", "text"), [
    (YELLOW, "他把俺家门口的花盆踢翻了"),
    (YELLOW, "邻居家那条路上有人拿着锨在那比划"),
    (YELLOW, "他说后果你自己想"),
    (BLUE, "他没踢，就是说话声音大"),
    (BLUE, "小区里那条死胡同天天有人停车，进出不方便，想请物业划个线"),
    (BLUE, "这几天热死了，楼上空调外机滴水滴到我家窗台上，想请他挪一下"),
    (BLUE, "孩子放学回家路过他家门口，想问问那条路归谁管"),
])
def test_the_safety_net_keeps_a_sign_of_harm_from_blue(rules, expected, text) -> None:
    assert level(rules, text) is expected
    if expected is YELLOW:
        assert fired(rules, text) == {"harm_signal"}


def test_the_safety_net_adds_nothing_where_another_rule_fired(rules) -> None:
    assert "harm_signal" not in fired(rules, "他扬言要拿刀砍我，我不敢出门")
