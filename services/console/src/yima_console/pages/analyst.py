"""考核 (analyst): read-only, insight's one table and a link to its dashboard."""



from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ..api import ApiError
from ..ui import PREFIX, Staff, esc, messages
from ..web import PageWeb

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/analyst", response_class=HTMLResponse)
async def analyst(request: Request, web: PageWeb) -> Response:
    claims = web.staff(request, ("analyst", "admin", "leader"))
    if not isinstance(claims, Staff):
        return claims
    public = (web.settings.insight_public_url or web.settings.insight_url).rstrip("/")
    link = (f'<p><a class="button" href="{esc(public)}/" target="_blank" rel="noopener" id="dashboard">'
            "打开考核分析看板</a></p>")
    try:
        data = await web.call(claims, "insight", "GET", "/api/v1/table")
    except ApiError as exc:
        body = (f"<h1>考核一张表</h1>{messages([exc.message + '（考核分析服务上线后，此处显示一张表）'])}{link}")
        return await web.show("考核一张表", body, claims, here="/analyst", status=200)
    body = f"<h1>考核一张表</h1>{link}<p class='hint'>只读：数据来自考核分析服务。</p>{table_html(data)}"
    return await web.show("考核一张表", body, claims, here="/analyst")



# insight's one table (GET /api/v1/table): each row a unit (or category, month…) with these figures
INSIGHT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "单位"), ("received", "受理"), ("accepted", "已受理"), ("closed", "办结"), ("resolved", "化解"),
    ("failed", "调解不成"), ("transferred", "转出"), ("success_rate.value", "调解成功率"), ("overdue", "逾期"),
    ("supervision_notices", "督办次数"), ("satisfaction.avg", "满意度"), ("red", "红色"), ("yellow", "黄色"),
    ("blue", "蓝色"))


def _cell(row: dict[str, Any], key: str) -> Any:
    v: Any = row
    for part in key.split("."):
        v = v.get(part) if isinstance(v, dict) else None
    if isinstance(v, float) and key.endswith("rate.value"):
        return f"{v * 100:.1f}%"
    return "—" if v is None or isinstance(v, dict) else v


def insight_table_html(data: dict[str, Any]) -> str:
    head = "".join(f"<th>{esc(t)}</th>" for _, t in INSIGHT_COLUMNS)
    rows = [r for r in data.get("rows", []) if isinstance(r, dict)]
    totals = data.get("totals") if isinstance(data.get("totals"), dict) else None
    body = "".join("<tr>" + "".join(f"<td>{esc(_cell(r, k))}</td>" for k, _ in INSIGHT_COLUMNS) + "</tr>"
                   for r in rows)
    if totals:
        body += ("<tr><th>合计</th>" + "".join(f"<th>{esc(_cell(totals, k))}</th>" for k, _ in INSIGHT_COLUMNS[1:])
                 + "</tr>")
    title = f"{data.get('unit_name') or ''} {data.get('from') or ''} 至 {data.get('to') or ''}"
    return (f'<div class="card scroll"><h2>{esc(title)}</h2><table id="insight-table"><tr>{head}</tr>{body}</table>'
            + ("" if rows else "<p>所选期间没有受理的案件。</p>") + "</div>")


def table_html(data: Any) -> str:
    """insight's table: its own shape (rows of figures, totals), or any {"columns", "rows"} / list of rows."""
    if isinstance(data, dict) and isinstance(data.get("rows"), list) and not data.get("columns") and all(
            isinstance(r, dict) and "received" in r for r in data["rows"]):
        return insight_table_html(data)
    rows = data.get("rows") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        return messages(["考核分析服务的答复无法识别"])
    columns = data.get("columns") if isinstance(data, dict) else None
    if not columns and rows and isinstance(rows[0], dict):
        columns = list(rows[0].keys())
    cols = [c.get("title_zh") or c.get("title") or c.get("key") if isinstance(c, dict) else str(c)
            for c in columns or []]
    keys = [c.get("key") if isinstance(c, dict) else c for c in columns or []]

    def cells(row: Any) -> list[Any]:
        if isinstance(row, dict):
            return [row.get(k) for k in keys]
        return list(row) if isinstance(row, list) else [row]

    head = "".join(f"<th>{esc(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in cells(r)) + "</tr>" for r in rows)
    title = data.get("title_zh") or data.get("title") if isinstance(data, dict) else None
    return (f'<div class="card scroll">{f"<h2>{esc(title)}</h2>" if title else ""}<table id="insight-table">'
            f"<tr>{head}</tr>{body}</table></div>")
