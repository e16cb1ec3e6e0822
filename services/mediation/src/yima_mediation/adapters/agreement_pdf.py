"""The mediation agreement (调解协议书) printed as a PDF, on the kit's one PDF library and CJK font
(yima_kit.pdf, docs/adr/0101).

Rendering is deterministic: the same agreement gives the same bytes (creation date = signing time),
so the SHA-256 kept at signing identifies the document for good.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

from yima_kit.pdf import FONT, CjkFont, FontUnavailable, cjk_pdf, ensure_cjk_font, output

from ..core.agreement import TITLES, AgreementDoc
from ..ports import DocumentsUnavailable

SHANGHAI = ZoneInfo("Asia/Shanghai")
ROLE_ZH = {"applicant": "申请人", "respondent": "被申请人", "third_party": "第三人"}
METHOD_ZH = {"signature": "当面签字", "sms_code": "短信验证码确认", "video": "视频确认", "in_person": "现场确认"}
DOCUMENT_ZH = "调解协议书PDF"


class AgreementPdf:
    """The :class:`~yima_mediation.ports.AgreementPrinter`: finds (on a fresh machine, fetches) the font once."""

    def __init__(self, explicit_font: str, cache_dir: str) -> None:
        self.explicit_font = explicit_font
        self.cache_dir = cache_dir
        self._font: CjkFont | None = None

    async def ready(self) -> None:
        if self._font is None:
            try:
                self._font = await asyncio.to_thread(ensure_cjk_font, self.explicit_font, self.cache_dir,
                                                     DOCUMENT_ZH)
            except FontUnavailable as exc:
                raise DocumentsUnavailable(str(exc)) from exc

    async def render(self, doc: AgreementDoc) -> bytes:
        await self.ready()
        assert self._font is not None
        return await asyncio.to_thread(render_agreement, doc, self._font)


def _local(dt: datetime) -> str:
    return dt.astimezone(SHANGHAI).strftime("%Y年%m月%d日 %H:%M")


def render_agreement(doc: AgreementDoc, font: CjkFont) -> bytes:
    pdf = cjk_pdf(font, title=TITLES.get(doc.kind, "调解协议书"), producer="yima mediation", created_at=doc.signed_at)
    pdf.set_font(FONT, size=20)
    pdf.cell(0, 14, TITLES.get(doc.kind, "调解协议书"), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=10)
    pdf.cell(0, 7, f"协议编号：{doc.agreement_no}    案件编号：{doc.case_number}", align="C",
             new_x="LMARGIN", new_y="NEXT")
    if doc.court_reference:
        pdf.cell(0, 7, f"人民法院诉前委派案号：{doc.court_reference}", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    def heading(text: str) -> None:
        pdf.set_font(FONT, size=13)
        pdf.cell(0, 9, text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FONT, size=11)

    def para(text: str) -> None:
        pdf.multi_cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")

    heading("一、当事人")
    for p in doc.parties:
        contact = f"（联系电话：{p.contact_masked}）" if p.contact_masked else ""
        para(f"{ROLE_ZH.get(p.role, p.role)}：{p.name}{contact}")
    heading("二、纠纷主要事实及争议事项")
    para(doc.facts_zh)
    heading("三、经调解，各方自愿达成如下协议")
    for i, t in enumerate(doc.terms, 1):
        para(f"{i}. {t}")
    heading("四、履行与效力")
    para("本协议经各方当事人签字或确认、调解员签名并加盖调解组织印章后生效，具有法律约束力，当事人应当按照约定履行。"
         "当事人可自本协议生效之日起三十日内共同向有管辖权的人民法院申请司法确认。")
    heading("五、当事人确认")
    for c in doc.confirmations:
        para(f"{c.party_name}：已于{_local(c.at)}以{METHOD_ZH.get(c.method, c.method)}方式确认本协议")
    pdf.ln(3)
    para(f"调解员：{'、'.join(doc.mediators) or '—'}")
    if doc.experts:
        para(f"参与调解的专家：{'、'.join(doc.experts)}")
    para(f"调解组织：{doc.unit_name}")
    if doc.signed_at:
        para(f"签订时间：{_local(doc.signed_at)}")
    para("本协议一式多份，各方当事人及调解组织各执一份；电子文本的SHA-256摘要可在平台核验。")
    return output(pdf)


