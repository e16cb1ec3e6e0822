"""Livelihood insurance claims (保险理赔) in the console: the claims of a case with the forms their state and the
staff member's role allow (as ``insurance.MOVES`` and the API's role sets), the actions, and the unit's list.
Sums are typed and shown in yuan (元) and kept in fen, as the API keeps them."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from yima_kit.auth import StaffClaims

from ...ui import esc, local, one, options
from .forms import Forms
from .kit import CLAIM_MOVES as MOVES
from .kit import COVERED_ZH, Ctx, Refused, beijing, yuan

CLAIM_STATE_ZH = {"registered": "已登记，待审核", "decided": "已作出决定", "disputed": "有异议，待复核",
                  "final": "复核已决定（最终）", "evaluated": "已评价"}
STARS_ZH = {"5": "5 非常满意", "4": "4 满意", "3": "3 一般", "2": "2 不满意", "1": "1 非常不满意"}
MAX_FEN = 10_000_000_00


def fen_of(text: str, what: str) -> int:
    """A sum typed in yuan ("3500", "3,500.50", "3500元") as fen; anything else is a Chinese refusal."""
    raw = text.replace(",", "").replace("，", "").removesuffix("元").strip()
    try:
        amount = Decimal(raw)
        ok = amount.is_finite() and 0 < amount * 100 <= MAX_FEN and amount == amount.quantize(Decimal("0.01"))
    except InvalidOperation:
        ok = False
    if not ok:
        raise Refused(422, "amount", "bad_amount",
                      f"{what}：请填写正确的金额（元，大于0、最多两位小数、不超过一千万元），如 3500 或 3500.50")
    return int(amount * 100)


def decision_zh(d: dict[str, Any] | None) -> str:
    if not d:
        return ""
    what = f"核准赔付 {yuan(d['paid_fen'])} 元" if d["approved"] else "不予赔付"
    return f"{'复核：' if d.get('final') else ''}{what}（{d['reason']}）"


def claims_html(claims: StaffClaims, case: dict[str, Any], items: list[dict[str, Any]],
                kept: tuple[str, dict[str, list[str]]] = ("", {})) -> str:
    """The case's claims and, for each, the next step's form; then the registration form."""
    f = Forms(claims, case, kept)
    rows = "".join(claim_row(x) for x in items)
    table = (f'<table id="insurance"><tr><th>险种</th><th>申请金额（元）</th><th>出险时间</th><th>状态</th>'
             f"<th>决定</th></tr>{rows}</table>" if rows else "<p>本案没有理赔申请。</p>")
    forms = "".join(form for i, x in enumerate(items) for form in claim_forms(f, i, x))
    return f'<div class="card" id="claims"><h2>保险理赔</h2>{table}{forms}{register_form(f)}</div>'


def claim_row(x: dict[str, Any]) -> str:
    ev = x.get("evaluation") or {}
    return (f"<tr><td>{esc(x['cover_zh'])}</td><td>{esc(yuan(x['claimed_fen']))}</td>"
            f"<td>{esc(local(x.get('incident_at')))}</td><td><span class=\"state\">"
            f"{esc(CLAIM_STATE_ZH.get(x['state'], x['state']))}</span></td><td>{esc(decision_zh(x.get('decision')))}"
            + (f"<div class=\"hint\">异议：{esc(x['dispute']['reason'])}</div>" if x.get("dispute") else "")
            + (f"<div class=\"hint\">评价：{esc(STARS_ZH.get(str(ev.get('satisfaction')), ''))}"
               f"{('，' + esc(ev['comment'])) if ev.get('comment') else ''}</div>" if ev else "")
            + "</td></tr>")


def claim_forms(f: Forms, i: int, x: dict[str, Any]) -> list[str]:
    """The next step of claim ``i`` its state and the role allow: a decision, a dispute, an evaluation."""
    failed, out = f.kept[0], []
    hidden = f'<input type="hidden" name="claim_id" value="{esc(x["claim_id"])}">'
    title = f"{x['cover_zh']} {yuan(x['claimed_fen'])}元"
    for move, label, bid in (("decide", "审核决定", "decide"), ("redecide", "复核决定", "redecide")):
        if x["state"] in MOVES[move] and f.manage:
            out.append(_box(f"{label}（{title}）", f.form(move, hidden + f"""
<label class="check"><input type="radio" name="approve" value="1" checked>核准赔付</label>
<label class="check"><input type="radio" name="approve" value="0">不予赔付</label>
<div class="row"><div><label for="{bid}-paid-{i}">赔付金额（元）
<span class="hint">（核准时填写，不超过申请金额）</span></label>
<input type="text" id="{bid}-paid-{i}" name="paid_yuan" inputmode="decimal" maxlength="20"
 value="{f.k(move, 'paid_yuan')}"></div>
<div><label for="{bid}-reason-{i}">理由</label><input type="text" id="{bid}-reason-{i}" name="reason" maxlength="500"
 value="{f.k(move, 'reason')}"></div></div>""", label, f"{bid}-{i}"), f"{bid}-{i}", move == failed))
    if x["state"] in MOVES["dispute"]:
        out.append(_box(f"登记异议（{title}）", f.form("dispute", hidden + f"""
<label for="dispute-reason-{i}">申请人的异议 <span class="hint">（复核一次，复核结果为最终结果）</span></label>
<textarea id="dispute-reason-{i}" name="reason" maxlength="1000">{f.k("dispute", "reason")}</textarea>""",
                                                     "登记异议", f"dispute-{i}"), f"dispute-{i}", failed == "dispute"))
    if x["state"] in MOVES["evaluate"]:
        out.append(_box(f"登记申请人评价（{title}）", f.form("evaluate", hidden + f"""
<div class="row"><div><label for="stars-{i}">满意度</label><select id="stars-{i}" name="satisfaction">
{options(STARS_ZH.items())}</select></div>
<div><label for="comment-{i}">意见 <span class="hint">（可不填）</span></label><input type="text" id="comment-{i}"
 name="comment" maxlength="500" value="{f.k('evaluate', 'comment')}"></div></div>""", "登记评价", f"evaluate-{i}"),
                        f"evaluate-{i}", failed == "evaluate"))
    return out


def register_form(f: Forms) -> str:
    failed, values = f.kept
    return _box("登记理赔申请", f.form("claim", f"""<div class="row">
<div><label for="cover">险种</label><select id="cover" name="cover">
{options(COVERED_ZH.items(), one(values, "cover") if failed == "claim" else "")}</select></div>
<div><label for="claimed">申请金额（元）</label><input type="text" id="claimed" name="claimed_yuan" inputmode="decimal"
 maxlength="20" value="{f.k('claim', 'claimed_yuan')}"></div></div>
<div class="row"><div><label for="incident-date">出险日期</label><input type="date" id="incident-date"
 name="incident_date" value="{f.k('claim', 'incident_date')}"></div>
<div><label for="incident-time">出险时间（北京时间）</label><input type="time" id="incident-time" name="incident_time"
 value="{f.k('claim', 'incident_time')}"></div></div>
<label for="claim-summary">经过 <span class="hint">（加密保存）</span></label>
<textarea id="claim-summary" name="summary" maxlength="2000">{f.k("claim", "summary")}</textarea>""",
                                         "登记", "claim"), "claim", failed == "claim")


def _box(title: str, inner: str, bid: str, open_: bool = False) -> str:
    return (f'<details id="box-{esc(bid)}"{" open" if open_ else ""}><summary>{esc(title)}</summary>{inner}'
            "</details>")


def list_html(items: list[dict[str, Any]], stats: dict[str, Any] | None) -> str:
    head = ""
    if stats is not None:
        head = (f'<div class="card" id="stats"><h2>{esc(stats["year"])}年本单位及下级单位</h2><p>已决定 '
                f'{esc(stats["claims_decided"])} 件，核准赔付 {esc(stats["claims_paid"])} 件，共 '
                f'{esc(stats["paid_yuan"])} 元；提出异议 {esc(stats["disputed"])} 件。</p></div>')
    rows = "".join(
        f'<tr><td><a href="/console/cases/{esc(x["assignment_id"])}#claims">{esc(x["case_number"])}</a></td>'
        f"<td>{esc(x['cover_zh'])}</td><td>{esc(yuan(x['claimed_fen']))}</td>"
        f"<td>{esc(yuan(x['paid_fen']) if x.get('paid_fen') is not None else '')}</td>"
        f"<td>{esc(local(x.get('registered_at')))}</td>"
        f"<td><span class=\"state\">{esc(CLAIM_STATE_ZH.get(x['state'], x['state']))}</span></td></tr>"
        for x in items)
    table = (f'<table id="claims-list"><tr><th>案件编号</th><th>险种</th><th>申请金额（元）</th><th>赔付金额（元）</th>'
             f"<th>登记时间</th><th>状态</th></tr>{rows}</table>" if rows else "<p>本单位还没有理赔申请。</p>")
    return (f'<h1>保险理赔</h1>{head}<div class="card">{table}<p class="hint">在案件页面登记理赔申请、审核和复核。'
            "</p></div>")


# --- the actions (roles as in the API: registering, disputes and evaluations HANDLE; decisions MANAGE) ---------


async def _own_claim(c: Ctx) -> str:
    """The claim named by the form, which must be one of this case's (a form cannot reach another case's)."""
    cid = c.get("claim_id")[:64]
    if not cid or (await c.api("GET", f"/api/v1/insurance-claims/{quote(cid, safe='')}"))["assignment_id"] != c.aid:
        raise Refused(404, "claim_id", "not_found", "未找到该理赔申请")
    return quote(cid, safe="")


async def register(c: Ctx) -> None:
    if not c.get("summary"):
        raise Refused(422, "summary", "missing", "经过：请简要填写出险经过")
    await c.api("POST", f"/api/v1/cases/{quote(c.aid, safe='')}/insurance-claims", {
        "cover": c.get("cover"), "claimed_fen": fen_of(c.get("claimed_yuan"), "申请金额"),
        "incident_at": beijing(c.get("incident_date"), c.get("incident_time"), "incident_at"),
        "summary": c.get("summary")})


def _decision(c: Ctx) -> dict[str, Any]:
    approve = c.get("approve") == "1"
    paid = fen_of(c.get("paid_yuan"), "赔付金额") if approve and c.get("paid_yuan") else None
    return {"approve": approve, "paid_fen": paid, "reason": c.get("reason")}


async def decide(c: Ctx) -> None:
    body = _decision(c)
    await c.api("POST", f"/api/v1/insurance-claims/{await _own_claim(c)}/decision", body)


async def redecide(c: Ctx) -> None:
    body = _decision(c)
    await c.api("POST", f"/api/v1/insurance-claims/{await _own_claim(c)}/review-decision", body)


async def dispute(c: Ctx) -> None:
    await c.api("POST", f"/api/v1/insurance-claims/{await _own_claim(c)}/dispute", {"reason": c.get("reason")})


async def evaluate(c: Ctx) -> None:
    sat = c.get("satisfaction")
    await c.api("POST", f"/api/v1/insurance-claims/{await _own_claim(c)}/evaluation", {
        "satisfaction": int(sat) if sat.isdigit() else 0, "comment": c.get("comment") or None})
