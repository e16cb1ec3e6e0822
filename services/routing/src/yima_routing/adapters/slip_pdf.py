"""The printable assignment slip (交办单), PDF with a Chinese font.

The font is Adobe's standard CID font STSong-Light (reportlab's ``UnicodeCIDFont``): every PDF reader carries
it or a substitute for it, so nothing has to be shipped or embedded. The slip carries no personal data of the
parties (it is printed and passed around): the handling unit reads those in the system, where the read is
audit-logged.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas
from yima_kit.calendar import SHANGHAI

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))


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


def _wrap(text: str, width: int) -> list[str]:
    return [text[i:i + width] for i in range(0, len(text), width)] or [""]


def render(slip: Slip) -> bytes:
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    c.setTitle(f"交办单 {slip.case_number}")
    w, h = A4
    c.setFont(FONT, 20)
    c.drawCentredString(w / 2, h - 30 * mm, "矛盾纠纷交办单")
    c.setFont(FONT, 10)
    c.drawRightString(w - 20 * mm, h - 38 * mm, f"交办单号：{slip.assignment_id[:8].upper()}（第{slip.round}轮）")
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
    y = h - 50 * mm
    c.setFont(FONT, 12)
    for label, value in rows:
        lines = _wrap(value, 30)
        c.drawString(22 * mm, y, f"{label}：")
        for line in lines:
            c.drawString(62 * mm, y, line)
            y -= 8 * mm
        y -= 2 * mm
    c.setFont(FONT, 11)
    c.drawString(22 * mm, y - 10 * mm, "谁分配、谁督办；谁受理、谁反馈。")
    c.drawString(120 * mm, y - 25 * mm, "承办单位签收：")
    c.drawString(120 * mm, y - 35 * mm, "签收日期：")
    c.showPage()
    c.save()
    return buf.getvalue()
