"""What anyone may ask without a case: the categories, a classification of a description, a unit's QR code."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from yima_contracts.codes import CATEGORY_NAMES_ZH

from ...core.classify import classify
from ...core.taxonomy import SUB_ITEMS, sub_item_name
from .common import Intake, UnitCodePath, qr_response

router = APIRouter()


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=5000, description="纠纷描述")


class ClassifyResult(BaseModel):
    category: str
    category_name: str
    sub_item: str | None
    sub_item_name: str | None
    confidence: float
    sub_item_confidence: float
    needs_review: bool = Field(description="把握不大：按“其他”处理并请分流员人工确认")
    words: list[str] = Field(description="起决定作用的词")


@router.post("/classify", response_model=ClassifyResult, summary="智能分类 Classify a description",
             responses={422: {}})
async def classify_text(body: ClassifyRequest) -> ClassifyResult:
    c = classify(body.text)
    return ClassifyResult(
        category=c.category.value,
        category_name=CATEGORY_NAMES_ZH[c.category],
        sub_item=c.sub_item,
        sub_item_name=sub_item_name(c.category, c.sub_item),
        confidence=c.confidence,
        sub_item_confidence=c.sub_item_confidence,
        needs_review=c.needs_review,
        words=list(c.matched),
    )


@router.get("/categories", summary="纠纷类别与细类 Categories and sub-items")
async def categories() -> list[dict[str, Any]]:
    return [
        {"code": cat.value, "name": CATEGORY_NAMES_ZH[cat],
         "sub_items": [{"code": k, "name": v} for k, v in subs.items()]}
        for cat, subs in SUB_ITEMS.items()
    ]


@router.get("/units/{unit_code}/qr", summary="单位二维码：扫码打开已填好单位的登记页 QR code of a unit",
            responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}}})
async def unit_qr(
    unit_code: UnitCodePath, service: Intake, format: Annotated[Literal["svg", "png"], Query()] = "svg"
) -> Response:
    return qr_response(f"{service.settings.public_base_url}/submit?unit={unit_code}", format)
