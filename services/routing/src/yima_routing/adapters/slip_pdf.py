"""The printable assignment slip (交办单), a PDF with an embedded Chinese font, on the kit's one PDF library
(yima_kit.pdf, docs/adr/0101). The slip carries no personal data of the parties (it is printed and passed
around): the handling unit reads those in the system, where the read is audit-logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from yima_kit.calendar import SHANGHAI
from yima_kit.pdf import FONT, cjk_pdf, ensure_cjk_font, output


@dataclass(frozen=True)
class Slip:
    case_number: str
    assignment_id: str
    round: int
    unit_name: str
    supervisor_name: str
    category_zh: str
    risk_zh: str
    assigned_at: datetime
    due_at: datetime
    due_provisional: bool
    reason_zh: str
    leader_name: str | None


def _t(t: datetime) -> str:
    return t.astimezone(SHANGHAI).strftime("%Y年%m月%d日 %H:%M")


def render(slip: Slip) -> bytes:
    """The slip as PDF bytes; the font is found (on a fresh machine, fetched) by the kit. Raises
    ``yima_kit.pdf.FontUnavailable`` when there is none."""
    font = ensure_cjk_font(document_zh="交办单PDF")
    pdf = cjk_pdf(font, title=f"交办单 {slip.case_number}", producer="yima routing", margin=20)
    pdf.set_font(FONT, size=20)
    pdf.cell(0, 14, "矛盾纠纷交办单", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=10)
    pdf.cell(0, 8, f"交办单号：{slip.assignment_id[:8].upper()}（第{slip.round}轮）", align="R",
             new_x="LMARGIN", new_y="NEXT")
    rows = [
        ("案件编号", slip.case_number),
        ("承办单位", slip.unit_name),
        ("交办（督办）单位", slip.supervisor_name),
        ("纠纷类别", slip.category_zh),
        ("风险等级", slip.risk_zh),
        ("交办时间", _t(slip.assigned_at)),
        ("办理期限", _t(slip.due_at) + ("（节假日安排未公布，期限为暂定）" if slip.due_provisional else "")),
        ("分包领导", slip.leader_name or "—"),
        ("交办理由", slip.reason_zh),
        ("办理要求", "请于收到后及时受理并联系当事人；办理中反馈进展；办结后反馈结果。"
                     "不属于本单位职责的，请说明理由退回督办单位。逾期未办结的，督办单位将予督办并逐级提级。"),
        ("当事人信息", "见系统案件详情（查阅留痕），本单不载个人信息。"),
    ]
    pdf.ln(4)
    pdf.set_font(FONT, size=12)
    for label, value in rows:
        pdf.cell(40, 8, f"{label}：")
        pdf.multi_cell(0, 8, value, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    pdf.set_font(FONT, size=11)
    pdf.ln(6)
    pdf.cell(0, 8, "谁分配、谁督办；谁受理、谁反馈。", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.cell(100)
    pdf.cell(0, 10, "承办单位签收：", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(100)
    pdf.cell(0, 10, "签收日期：", new_x="LMARGIN", new_y="NEXT")
    return output(pdf)
