"""督办 (the supervising unit) and 分流 (the dispatcher): routing's queue of what the unit assigned, with
countdowns on the working-day calendar, the supervision step reached, paused clocks, filters, sorting and
paging; 催办, escalation, pause/resume; cases awaiting re-dispatch with the rules' suggestion; the 交办单.

The supervision list refreshes itself: the page asks ``…/rows`` every few seconds with the ETag of what it
shows (a 304 costs nothing), and a row whose deadline passes turns red in the browser without a reload."""

# ruff: noqa: E501  (HTML with Chinese text: a line's display width is twice its characters)

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from yima_contracts.codes import CATEGORY_NAMES_ZH, RISK_LEVEL_NAMES_ZH

from ..api import ApiError
from ..ui import (
    PREFIX,
    STALE_FORM,
    Staff,
    as_dt,
    category_zh,
    csrf_field,
    csrf_ok,
    esc,
    local,
    messages,
    ok_message,
    one,
    options,
    read_form,
    risk_html,
    seg,
)
from ..web import PageWeb, Web

SUPERVISING = ("dispatcher", "leader", "admin")
PAGE = 30
STEP_ZH = {"warning": "到期预警", "notice": "督办", "second_notice": "再次督办", "escalated": "已提级",
           "leader": "领导督办"}
STATE_ZH = {"assigned": "待受理", "accepted": "办理中"}
SORTS = {"due": "办理期限", "risk": "风险", "assigned": "交办时间", "unit": "承办单位"}
RISK_ORDER = {"red": 0, "yellow": 1, "blue": 2}
ACT_ZH = {"urge": ("催办", "已发出催办"), "escalate": ("提级办理", "已提级办理"), "pause": ("暂停计时", "已暂停计时"),
          "resume": ("恢复计时", "已恢复计时")}
router = APIRouter(prefix=PREFIX, include_in_schema=False)
OK_ZH = {k: v[1] for k, v in ACT_ZH.items()} | {"dispatch": "已分派", "walkin": "已登记", "password": "密码已修改"}


def countdown(i: dict[str, Any]) -> str:
    if i.get("paused"):
        return "已暂停计时"
    left = i.get("working_days_left")
    if i.get("overdue"):
        return f"逾期{-left}个工作日" if isinstance(left, int) and left < 0 else "已逾期"
    if isinstance(left, int):
        return "今日到期" if left == 0 else f"剩{left}个工作日"
    return ""


def row_html(i: dict[str, Any], claims: Staff, names: dict[str, str], back: str) -> str:
    due = as_dt(i.get("due_at"))
    due_ms = int(due.timestamp() * 1000) if due else 0
    tags = []
    if i.get("new"):
        tags.append('<span class="tag new">新件</span>')
    if i.get("overdue"):
        tags.append('<span class="tag over">逾期</span>')
    if i.get("paused"):
        tags.append(f'<span class="tag paused">暂停：{esc(i.get("pause_reason") or "")}</span>')
    if i.get("urged"):
        tags.append(f'<span class="tag">已催办{esc(i["urged"])}次</span>')
    steps = "、".join(STEP_ZH.get(s, s) for s in i.get("supervision_done") or []) or "—"
    aid = esc(i["assignment_id"])
    pause_or_resume = ("resume", "恢复计时") if i.get("paused") else ("pause", "暂停计时")
    actions = (f'<details><summary>操作</summary><form method="post" action="{PREFIX}/supervise/act"'
               f' accept-charset="utf-8">{csrf_field(claims)}<input type="hidden" name="assignment_id" value="{aid}">'
               f'<input type="hidden" name="back" value="{esc(back)}">'
               f'<input type="text" name="reason" maxlength="300" placeholder="理由（必填，会告知承办单位）"'
               f' aria-label="理由" id="reason-{aid}">'
               f'<button class="small" name="do" value="urge" id="urge-{aid}">催办</button> '
               f'<button class="small secondary" name="do" value="{pause_or_resume[0]}" id="{pause_or_resume[0]}-{aid}">'
               f'{pause_or_resume[1]}</button> '
               f'<button class="small danger" name="do" value="escalate" id="escalate-{aid}">提级</button></form>'
               f'<a class="button small secondary" href="{PREFIX}/slip/{aid}.pdf" target="_blank">交办单</a></details>')
    cls = "overdue" if i.get("overdue") else ""
    return (f'<tr id="row-{aid}" class="{cls}" data-due="{due_ms}" data-paused="{1 if i.get("paused") else 0}">'
            f'<td data-l="案件"><a href="{PREFIX}/case/{esc(i["case_id"])}">{esc(i.get("case_number") or "")}</a>'
            f'<div>{"".join(tags)}</div></td>'
            f'<td data-l="承办单位">{esc(names.get(i["unit_code"], i["unit_code"]))}</td>'
            f'<td data-l="类别">{esc(category_zh(i.get("category")))}</td>'
            f'<td data-l="风险">{risk_html(i.get("risk_level"))}</td>'
            f'<td data-l="状态">{esc(STATE_ZH.get(i.get("state", ""), i.get("state")))}</td>'
            f'<td class="due" data-l="期限">{esc(local(i.get("due_at")))}'
            f'{"（暂定）" if i.get("due_provisional") else ""}<div class="left">{esc(countdown(i))}</div></td>'
            f'<td data-l="督办进程">{esc(steps)}</td><td>{actions}</td></tr>')


def view_of(q: dict[str, str], claims: Staff) -> dict[str, str]:
    """The list's view (filters, sort, page) from a query string, bounded."""
    return {"unit": (q.get("unit") or claims.unit)[:64], "handler": q.get("handler", "")[:64],
            "category": q.get("category", "")[:40], "level": q.get("level", "")[:10],
            "only": q.get("only", "")[:10], "sort": q.get("sort", "due")[:10], "desc": q.get("desc", "")[:1],
            "page": q.get("page", "1")[:5]}


def selected(i: dict[str, Any], v: dict[str, str]) -> bool:
    return ((not v["handler"] or i["unit_code"] == v["handler"])
            and (not v["category"] or i.get("category") == v["category"])
            and (not v["level"] or i.get("risk_level") == v["level"])
            and (v["only"] != "overdue" or bool(i.get("overdue")))
            and (v["only"] != "paused" or bool(i.get("paused")))
            and (v["only"] != "new" or bool(i.get("new"))))


def sort_items(items: list[dict[str, Any]], key: str, desc: bool, names: dict[str, str]) -> list[dict[str, Any]]:
    keys = {
        "due": lambda i: (str(i.get("due_at") or ""),),
        "risk": lambda i: (RISK_ORDER.get(i.get("risk_level"), 3), str(i.get("due_at") or "")),
        "assigned": lambda i: (str(i.get("assigned_at") or ""),),
        "unit": lambda i: (names.get(i["unit_code"], i["unit_code"]), str(i.get("due_at") or "")),
    }
    return sorted(items, key=keys.get(key, keys["due"]), reverse=desc)


async def rows(web: Web, claims: Staff, v: dict[str, str]) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """The rows' HTML for a view, the counts, and every open item (before filters)."""
    data = await web.call(claims, "routing", "GET", f"/api/v1/units/{v['unit']}/queue", params={"scope": "supervised"})
    items: list[dict[str, Any]] = data.get("items", [])
    names = await web.names()
    sel = sort_items([i for i in items if selected(i, v)], v["sort"], v["desc"] == "1", names)
    pages = max(1, math.ceil(len(sel) / PAGE))
    page_no = min(max(1, int(v["page"]) if v["page"].isdigit() else 1), pages)
    back = "?" + urlencode({k: x for k, x in v.items() if x})
    html = "".join(row_html(i, claims, names, back) for i in sel[(page_no - 1) * PAGE:page_no * PAGE])
    counts = {"open": len(items), "shown": len(sel), "overdue": sum(1 for i in items if i.get("overdue")),
              "paused": sum(1 for i in items if i.get("paused")), "page": page_no, "pages": pages,
              "awaiting": len(data.get("awaiting_redispatch", [])), "names": names}
    return html or '<tr><td colspan="8">没有符合条件的案件。</td></tr>', counts, items


def etag_of(html: str) -> str:
    return '"' + hashlib.sha256(html.encode()).hexdigest()[:24] + '"'


def filters_html(v: dict[str, str], own: list[tuple[str, str]], handlers: list[tuple[str, str]]) -> str:
    return f"""<form class="card filters" method="get" action="{PREFIX}/supervise" id="filters">
<div><label for="f-unit">督办单位</label><select id="f-unit" name="unit">{options(own, v["unit"])}</select></div>
<div><label for="f-handler">承办单位</label><select id="f-handler" name="handler">
{options([("", "全部"), *handlers], v["handler"])}</select></div>
<div><label for="f-category">类别</label><select id="f-category" name="category">
{options([("", "全部"), *((c.value, n) for c, n in CATEGORY_NAMES_ZH.items())], v["category"])}</select></div>
<div><label for="f-level">风险</label><select id="f-level" name="level">
{options([("", "全部"), *((k.value, n + "色") for k, n in RISK_LEVEL_NAMES_ZH.items())], v["level"])}</select></div>
<div><label for="f-only">只看</label><select id="f-only" name="only">
{options([("", "全部"), ("overdue", "逾期"), ("paused", "暂停计时"), ("new", "新件（待受理）")], v["only"])}</select></div>
<div><label for="f-sort">排序</label><select id="f-sort" name="sort">{options(SORTS.items(), v["sort"])}</select></div>
<div><label class="check"><input type="checkbox" name="desc" value="1"{" checked" if v["desc"] == "1" else ""}>倒序
</label></div><div><button type="submit" id="filter">筛选</button></div></form>"""


def table_html(v: dict[str, str], html: str, counts: dict[str, Any]) -> str:
    q = {k: x for k, x in v.items() if x and k != "page"}
    pager = " ".join(
        f'<a href="?{urlencode({**q, "page": str(n)})}"{" class=on" if n == counts["page"] else ""}>{n}</a>'
        for n in range(1, counts["pages"] + 1)) if counts["pages"] > 1 else ""
    summary = (f'<p id="summary">本单位督办中 <strong>{counts["open"]}</strong> 件，其中逾期 '
               f'<strong class="red" id="overdue-count">{counts["overdue"]}</strong> 件、暂停计时 '
               f'{counts["paused"]} 件；待重新分派 <a href="{PREFIX}/dispatch">{counts["awaiting"]}</a> 件。'
               f'符合条件 {counts["shown"]} 件。<span class="hint" id="live"></span></p>')
    if counts["open"] >= 500:
        summary += messages(["督办中的案件超过500件，列表只含最早到期的500件，请按承办单位或类别筛选"])
    return (f'<div class="card scroll">{summary}<table id="supervised" class="cards"><thead><tr><th>案件编号</th>'
            "<th>承办单位</th><th>类别</th><th>风险</th><th>状态</th><th>办理期限（北京时间）</th><th>督办进程</th>"
            f'<th></th></tr></thead><tbody id="rows" data-etag="{esc(etag_of(html))}">{html}</tbody></table>'
            f'<p class="pager">{pager}</p></div>')


async def supervise_page(web: Web, claims: Staff, v: dict[str, str], errors: list[str], ok: str = "",
                         status: int = 200) -> HTMLResponse:
    try:
        html, counts, items = await rows(web, claims, v)
    except ApiError as exc:
        body = f"<h1>督办</h1>{messages([*errors, exc.message])}"
        return await web.show("督办", body, claims, here="/supervise", status=exc.status)
    names = counts["names"]
    units = await web.units()
    below = sorted(((c, u.get("name", c)) for c, u in units.items() if u.get("parent") == claims.unit),
                   key=lambda x: x[1])
    own = [(claims.unit, names.get(claims.unit, claims.unit)), *below]
    handlers = sorted({(i["unit_code"], names.get(i["unit_code"], i["unit_code"])) for i in items}, key=lambda x: x[1])
    head = f"<h1>督办</h1>{messages(errors)}{ok_message(ok, OK_ZH)}"
    return await web.show("督办", head + filters_html(v, own, handlers) + table_html(v, html, counts), claims,
                          here="/supervise", status=status,
                          script=LIVE_SCRIPT.replace("EVERY", str(web.settings.poll_seconds * 1000)))


@router.get("/supervise", response_class=HTMLResponse)
async def supervise(request: Request, web: PageWeb, ok: str = "") -> Response:
    claims = web.staff(request, SUPERVISING)
    if not isinstance(claims, Staff):
        return claims
    return await supervise_page(web, claims, view_of(dict(request.query_params), claims), [], ok[:20])


@router.get("/supervise/rows", response_class=HTMLResponse)
async def supervise_rows(request: Request, web: PageWeb) -> Response:
    claims = web.staff(request, SUPERVISING)
    if not isinstance(claims, Staff):
        return Response(status_code=401)
    try:
        html, _, _ = await rows(web, claims, view_of(dict(request.query_params), claims))
    except ApiError as exc:
        return Response(status_code=exc.status)
    etag = etag_of(html)
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return HTMLResponse(html, headers=headers)


@router.post("/supervise/act", response_class=HTMLResponse)
async def supervise_act(request: Request, web: PageWeb) -> Response:
    claims = web.staff(request, SUPERVISING)
    if not isinstance(claims, Staff):
        return claims
    f = await read_form(request)
    back = one(f, "back")
    back = back if back.startswith("?") and "\n" not in back else ""
    v = view_of({k: x[0] for k, x in parse_qs(back[1:]).items()}, claims)
    if not csrf_ok(request, f):
        return await supervise_page(web, claims, v, [STALE_FORM], status=403)
    do, aid, reason = one(f, "do"), one(f, "assignment_id")[:64], one(f, "reason")[:300]
    if do not in ACT_ZH or not aid:
        return await supervise_page(web, claims, v, ["没有这项操作"], status=422)
    if len(reason) < 2:
        return await supervise_page(web, claims, v, [f"{ACT_ZH[do][0]}：请填写理由（至少2个字）"], status=422)
    try:
        await web.call(claims, "routing", "POST", f"/api/v1/assignments/{seg(aid)}/{do}", json={"reason": reason})
    except ApiError as exc:
        return await supervise_page(web, claims, v, [f"{ACT_ZH[do][0]}未成功：{exc.message}"],
                                    status=exc.status if exc.status < 500 else 502)
    sep = "&" if back else "?"
    return RedirectResponse(f"{PREFIX}/supervise{back}{sep}ok={do}", status_code=303)


@router.get("/slip/{aid}.pdf")
async def slip(request: Request, web: PageWeb, aid: str) -> Response:
    claims = web.staff(request)
    if not isinstance(claims, Staff):
        return claims
    try:
        res = await web.api.raw("routing", "GET", f"/api/v1/assignments/{seg(aid[:64])}/slip.pdf", claims.token)
    except ApiError as exc:
        return await web.show("交办单", messages([exc.message]), claims, status=exc.status)
    if res.status_code != 200 or res.headers.get("content-type") != "application/pdf":
        return await web.show("交办单", messages(["交办记录不存在，或无权打印"]), claims, status=404)
    return Response(res.content, media_type="application/pdf", headers={
        "Content-Disposition": res.headers.get("content-disposition", "inline"), "Cache-Control": "no-store"})


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


# The one script: refresh the rows (ETag: unchanged costs a 304), and turn a row red when its deadline passes.
# A row being worked on (an open 操作 box or a focused field) is not replaced under the user's hands.
LIVE_SCRIPT = """<script>
(function(){
var body=document.getElementById('rows');if(!body)return;var etag=body.getAttribute('data-etag');
var url=location.pathname+'/rows'+location.search;var live=document.getElementById('live');
function mark(){var now=Date.now();var rows=body.querySelectorAll('tr[data-due]');
for(var i=0;i<rows.length;i++){var r=rows[i];var due=+r.getAttribute('data-due');
if(r.getAttribute('data-paused')==='1'||!due||due>now||r.classList.contains('overdue'))continue;
r.classList.add('overdue');var c=r.querySelector('.left');if(c)c.textContent='已逾期';}}
function busy(){return body.querySelector('details[open]')||body.contains(document.activeElement);}
function poll(){if(busy()){mark();return;}
fetch(url,{headers:{'If-None-Match':etag},credentials:'same-origin'}).then(function(res){
if(res.status===200){return res.text().then(function(t){etag=res.headers.get('ETag')||etag;body.innerHTML=t;
if(live)live.textContent='（已自动更新 '+new Date().toLocaleTimeString('zh-CN')+'）';mark();});}
if(res.status===401){location.reload();}mark();}).catch(function(){mark();});}
mark();setInterval(poll,EVERY);setInterval(mark,5000);
})();
</script>"""
