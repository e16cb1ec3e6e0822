import pytest
from yima_contracts.codes import Category
from yima_intake.core.classify import classify


@pytest.mark.parametrize(
    "text,want",
    [
        ("包工头拖欠我们三个月工资，一共两万多", Category.LABOUR_WAGES),
        ("楼上邻居家漏水把我家天花板泡了", Category.NEIGHBOUR),
        ("小区物业不修电梯还涨物业费", Category.PROPERTY_MANAGEMENT),
        ("男方要求退还彩礼，女方不同意，双方闹到要离婚", Category.MARRIAGE_FAMILY),
    ],
)
def test_clear_texts_get_their_category_and_the_deciding_words(text: str, want: Category) -> None:
    c = classify(text)
    assert c.category is want
    assert c.matched and all(w in text for w in c.matched)
    assert not c.needs_review


def test_no_cue_means_other_and_review_never_a_guess() -> None:
    c = classify("我想咨询一下相关情况")
    assert c.category is Category.OTHER and c.needs_review and c.confidence == 0
