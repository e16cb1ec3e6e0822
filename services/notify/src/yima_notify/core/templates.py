"""Message templates (pure): Chinese, plain, saying what happened, who acts and what comes next.

An SMS segment is 70 Chinese characters; the texts aim at one or two segments.
"""

from __future__ import annotations

from dataclasses import dataclass

from yima_contracts import CaseStatusChanged
from yima_contracts.codes import CaseState

TEMPLATE_VERSION = "v1"
SIGNATURE = "【一码解纠纷】"


@dataclass(frozen=True)
class Rendered:
    template_id: str
    text: str


def render_applicant(event: CaseStatusChanged, case_number: str, tracking_code: str | None) -> Rendered:
    parts = [f"{SIGNATURE}您的纠纷（编号{case_number}）{event.title_zh}。"]
    if event.state is CaseState.SUBMITTED and tracking_code:
        parts.append(f"查询码{tracking_code}，凭手机号后四位可随时查询进度。")
    if event.acting_unit_name and event.state is not CaseState.SUBMITTED:
        parts.append(f"办理单位：{event.acting_unit_name}。")
    if event.next_step_zh:
        parts.append(f"下一步：{event.next_step_zh}。")
    return Rendered(f"applicant.{event.state.value}.{TEMPLATE_VERSION}", "".join(parts))
