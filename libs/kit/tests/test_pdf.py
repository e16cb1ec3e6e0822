"""The one PDF helper of every document (yima_kit.pdf): Chinese text in, the same Chinese text out, the font
embedded, the same bytes for the same document; a missing font is a clear error, never a silent blank."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader
from yima_kit.pdf import FONT, FontUnavailable, cjk_pdf, ensure_cjk_font, find_cjk_font, output


def _doc(when: datetime | None) -> bytes:
    pdf = cjk_pdf(ensure_cjk_font(), title="调解协议书", producer="yima test", created_at=when)
    pdf.set_font(FONT, size=14)
    pdf.cell(0, 10, "人民调解协议书", new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(0, 8, "申请人：买买提·艾力；被申请人：郑州某建筑劳务公司。" * 3)
    return output(pdf)


def test_a_chinese_document_reads_back_with_its_font_embedded_and_the_same_bytes() -> None:
    when = datetime(2026, 11, 23, 1, tzinfo=UTC)
    data = _doc(when)
    assert data.startswith(b"%PDF") and b"/FontFile2" in data
    text = PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert "人民调解协议书" in text and "郑州某建筑劳务公司" in text
    assert _doc(when) == data  # reproducible: the agreement's SHA-256 names it for good


def test_an_explicit_font_that_is_not_there_is_an_error_in_chinese_not_a_fetch(tmp_path: Path) -> None:
    missing = tmp_path / "none.ttc"
    assert find_cjk_font(str(missing)) is None
    with pytest.raises(FontUnavailable, match="未找到中文字体，无法生成交办单PDF"):
        ensure_cjk_font(str(missing), tmp_path / "cache", document_zh="交办单PDF")
    assert not (tmp_path / "cache").exists()
