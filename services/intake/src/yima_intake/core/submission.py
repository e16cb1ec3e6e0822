"""The submission command (what ``POST /api/v1/cases`` accepts) and the applicant-visible texts."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator
from yima_contracts import Location, Party
from yima_contracts.codes import Category, Channel


class SubmitCase(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    channel: Channel = Field(description="渠道: self_service, reception, proxy, grid, hotline_12345, …")
    applicant: Party
    description: str = Field(min_length=5, max_length=5000, description="纠纷描述（至少5个字）")
    category: Category | None = Field(default=None, description="纠纷类别; omitted → smart classification")
    location: Location = Field(default_factory=Location)

    @field_validator("description")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("纠纷描述不能为空")
        return v


RECEIVED_TITLE = "纠纷已登记"
RECEIVED_NEXT = "平台正在评估风险并分派给负责处理的单位，分派后会通知您"
