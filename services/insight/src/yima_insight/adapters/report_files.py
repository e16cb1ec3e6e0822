"""Reports as Excel (openpyxl) and PDF (the kit's one PDF library with its embedded CJK font, yima_kit.pdf)."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from yima_kit.pdf import FONT, CjkFont, cjk_pdf, output

COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "名称"), ("received", "受理"), ("accepted", "已受理承办"), ("closed", "办结"), ("resolved", "化解"),
    ("failed", "未化解"), ("transferred", "转出"), ("success_rate", "调成率"), ("settled_community", "社区化解"),
    ("settled_street", "街道化解"), ("settled_district", "区级化解"), ("overdue", "超期"),
    ("supervision_notices", "督办"), ("rated", "评价数"), ("avg", "平均满意度"), ("red", "红"), ("yellow", "黄"),
    ("blue", "蓝"),
)


def subtitle(report: dict[str, Any]) -> str:
    return f"统计范围：{report['unit_name']}　期间：{report['from']} 至 {report['to']}　数据截至：{report['as_of']}"


def flat(row: dict[str, Any]) -> list[Any]:
    sr = row["success_rate"]
    vals = {
        **{k: row.get(k) for k, _ in COLUMNS},
        "success_rate": f"{sr['value'] * 100:.1f}% ({sr['num']}/{sr['den']})" if sr["value"] is not None else "—",
        "settled_community": row["settled_at_level"]["community"],
        "settled_street": row["settled_at_level"]["street"],
        "settled_district": row["settled_at_level"]["district"],
        "rated": row["satisfaction"]["rated"],
        "avg": row["satisfaction"]["avg"] if row["satisfaction"]["avg"] is not None else "—",
    }
    return [vals[k] for k, _ in COLUMNS]


def xlsx(report: dict[str, Any]) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)  # type: ignore[arg-type]
    bold = Font(bold=True)
    head_fill = PatternFill("solid", fgColor="DDEBF7")
    for title, t in report["tables"]:
        ws = wb.create_sheet(title[:31])
        ws.append([f"{report['title']}　{title}"])
        ws.append([subtitle(report)])
        ws.append([c for _, c in COLUMNS])
        for cell in ws[3]:
            cell.font, cell.fill = bold, head_fill
            cell.alignment = Alignment(horizontal="center")
        for r in t["rows"]:
            ws.append(flat(r))
        ws.append(flat(t["totals"]))
        for cell in ws[ws.max_row]:
            cell.font = bold
        ws.column_dimensions["A"].width = 30
        ws.freeze_panes = "B4"
    ws = wb.create_sheet("打分排名")
    ws.append(["排名", "单位", "得分", "化解率", "按期办结率", "满意度", "社区化解占比", "社区化解目标",
               "三级化解目标"])
    for cell in ws[1]:
        cell.font, cell.fill = bold, head_fill
    for x in report["ranking"]:
        p = x["parts"]
        ws.append([x["rank"], x["name"], x["score"], p["settle_rate"], p["on_time_rate"], p["satisfaction"],
                   p["community_share"], "达标" if x["targets"]["community"]["met"] else "未达标",
                   "达标" if x["targets"]["three_levels"]["met"] else "未达标"])
    ws.column_dimensions["B"].width = 30
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def pdf(report: dict[str, Any], font: CjkFont) -> bytes:
    doc = cjk_pdf(font, title=report["title"], producer="yima insight", orientation="L", margin=12)
    doc.set_font(FONT, size=16)
    doc.cell(0, 10, report["title"], align="C", new_x="LMARGIN", new_y="NEXT")
    doc.set_font(FONT, size=9)
    doc.cell(0, 6, subtitle(report), align="C", new_x="LMARGIN", new_y="NEXT")
    cols = [("name", "名称", 50), ("received", "受理", 16), ("closed", "办结", 16), ("resolved", "化解", 16),
            ("failed", "未化解", 16), ("transferred", "转出", 16), ("success_rate", "调成率", 38),
            ("settled_community", "社区化解", 20), ("overdue", "超期", 16), ("supervision_notices", "督办", 16),
            ("avg", "满意度", 18), ("red", "红", 12), ("yellow", "黄", 12), ("blue", "蓝", 12)]
    idx = {k: i for i, (k, _) in enumerate(COLUMNS)}
    for title, t in report["tables"]:
        doc.ln(3)
        doc.set_font(FONT, size=12)
        doc.cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
        doc.set_font(FONT, size=8)
        for _, head, w in cols:
            doc.cell(w, 6, head, border=1, align="C")
        doc.ln()
        for r in [*t["rows"], t["totals"]]:
            vals = flat(r)
            for k, _, w in cols:
                text = str(vals[idx[k]])
                doc.cell(w, 6, text[:24], border=1, align="L" if k == "name" else "R")
            doc.ln()
    doc.ln(3)
    doc.set_font(FONT, size=12)
    doc.cell(0, 8, "打分排名", new_x="LMARGIN", new_y="NEXT")
    doc.set_font(FONT, size=8)
    for x in report["ranking"][:30]:
        t = x["targets"]
        c3 = "达标" if t["community"]["met"] else "未达标"
        t3 = "达标" if t["three_levels"]["met"] else "未达标"
        doc.cell(0, 6, f"{x['rank']}. {x['name']}　得分 {x['score']}　社区化解目标{c3}　三级化解目标{t3}",
                 new_x="LMARGIN", new_y="NEXT")
    return output(doc)
