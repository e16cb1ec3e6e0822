"""Smart classification (智能分类), walking-skeleton version: keyword cues with the words that decided.

Low confidence answers ``other`` and flags the case for the dispatcher: never a confident wrong guess.
(The trained model of the intake issue replaces this; the interface stays.)
"""

from __future__ import annotations

from dataclasses import dataclass

from yima_contracts.codes import Category

CUES: dict[Category, tuple[str, ...]] = {
    Category.LABOUR_WAGES: ("工资", "欠薪", "拖欠", "工钱", "工伤", "辞退", "社保", "劳动合同", "包工头", "农民工"),
    Category.MARRIAGE_FAMILY: ("离婚", "家暴", "彩礼", "赡养", "抚养", "婆媳", "夫妻", "老公", "老婆", "继承"),
    Category.NEIGHBOUR: ("邻居", "楼上", "楼下", "漏水", "噪音", "占道", "采光", "隔壁"),
    Category.PROPERTY_MANAGEMENT: ("物业", "物业费", "业委会", "电梯", "小区", "停车位"),
    Category.ROAD_TRAFFIC: ("车祸", "交通事故", "撞", "追尾", "电动车", "交警"),
    Category.MEDICAL: ("医院", "医疗", "手术", "医生", "误诊"),
    Category.LAND_FOREST: ("宅基地", "土地", "山林", "承包地", "地界"),
    Category.ENVIRONMENT: ("污染", "排污", "异味", "粉尘", "废水"),
    Category.CONSUMER: ("退款", "商家", "消费", "假货", "退货", "预付卡"),
    Category.CONTRACT_DEBT: ("借款", "欠款", "借钱", "合同", "还钱", "欠条"),
    Category.DEMOLITION: ("拆迁", "征收", "补偿款", "安置"),
}
MIN_CONFIDENCE = 0.5


@dataclass(frozen=True)
class Classification:
    category: Category
    confidence: float
    matched: tuple[str, ...]
    needs_review: bool


def classify(text: str) -> Classification:
    scores = {cat: tuple(w for w in words if w in text) for cat, words in CUES.items()}
    ranked = sorted(scores.items(), key=lambda kv: len(kv[1]), reverse=True)
    best, hits = ranked[0]
    runner_up = len(ranked[1][1])
    if not hits:
        return Classification(Category.OTHER, 0.0, (), True)
    confidence = len(hits) / (len(hits) + runner_up + 0.5)
    if confidence < MIN_CONFIDENCE:
        return Classification(Category.OTHER, confidence, hits, True)
    return Classification(best, round(confidence, 3), hits, False)
