"""Categories and their sub-items (the second level, as Zhoukou's list of kinds and items has).

The codes are public (APIs, events, statistics use them); the Chinese names are what people read.
The classifier's corpus (``services/intake/data/corpus/<category>.tsv``) is labelled with these codes.
"""

from __future__ import annotations

from yima_contracts.codes import Category

SUB_ITEMS: dict[Category, dict[str, str]] = {
    Category.MARRIAGE_FAMILY: {
        "divorce": "离婚纠纷",
        "bride_price": "彩礼纠纷",
        "support_elderly": "赡养纠纷",
        "child_support": "抚养探望纠纷",
        "inheritance": "继承分家析产",
        "domestic_violence": "家庭暴力",
        "family_conflict": "家庭成员矛盾",
    },
    Category.NEIGHBOUR: {
        "water_leak": "漏水渗水",
        "noise": "生活噪音",
        "public_space": "占用公共空间/通行",
        "light_building": "采光通风/搭建",
        "pets_trees": "宠物家禽/树木",
        "quarrel": "口角冲突",
    },
    Category.PROPERTY_MANAGEMENT: {
        "fees": "物业收费",
        "facilities": "设施设备维修",
        "parking": "停车管理",
        "service": "物业服务质量",
        "owners_committee": "业委会/公共收益",
    },
    Category.LABOUR_WAGES: {
        "unpaid_wages": "拖欠工资",
        "work_injury": "工伤赔偿",
        "dismissal": "解除劳动关系/辞退",
        "social_insurance": "社会保险",
        "labour_contract": "劳动合同",
    },
    Category.ROAD_TRAFFIC: {
        "injury": "人身损害赔偿",
        "property_damage": "车辆财产损失",
        "insurance": "保险理赔",
        "road_other": "其他道路交通",
    },
    Category.MEDICAL: {
        "malpractice": "医疗损害/医疗事故",
        "fees": "医疗收费",
        "cosmetic": "医疗美容/口腔",
        "service": "医疗服务/护理",
    },
    Category.LAND_FOREST: {
        "homestead": "宅基地",
        "contracted_land": "承包地/土地流转",
        "forest": "山林林权",
        "water_irrigation": "水利灌溉",
        "grave": "坟地",
    },
    Category.ENVIRONMENT: {
        "noise_pollution": "噪声污染",
        "air_pollution": "大气/油烟/异味",
        "water_pollution": "水污染",
        "waste": "固体废物/垃圾",
        "light_radiation": "光污染/辐射",
    },
    Category.CONSUMER: {
        "prepaid": "预付卡/退费",
        "product_quality": "商品质量",
        "service_contract": "服务合同",
        "online_shopping": "网络购物/直播",
    },
    Category.CONTRACT_DEBT: {
        "private_loan": "民间借贷",
        "sales": "买卖合同/货款",
        "lease": "房屋租赁",
        "construction": "承揽/工程款",
        "partnership": "合伙纠纷",
    },
    Category.DEMOLITION: {
        "compensation": "补偿标准",
        "resettlement": "安置/过渡",
        "forced_demolition": "强制拆除",
        "expropriation_procedure": "征收程序/征地款",
    },
    Category.OTHER: {
        "general": "其他纠纷",
    },
}


def sub_item_name(category: Category, code: str | None) -> str | None:
    if code is None:
        return None
    return SUB_ITEMS.get(category, {}).get(code)


def is_valid_sub_item(category: Category, code: str) -> bool:
    return code in SUB_ITEMS.get(category, {})
