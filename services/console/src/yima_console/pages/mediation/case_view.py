"""Rendering a case for the console: details, sessions, invitations, agreement, timeline (the forms the case's
state and the staff member's role allow are in ``forms.py``)."""

from __future__ import annotations

from typing import Any

from yima_kit.auth import StaffClaims

from ...ui import category_zh, esc, local, one, options, risk_zh
from .kit import (
    EXPERT_KIND_ZH,
    INVITE_STATE_ZH,
    KIND_ZH,
    METHOD_ZH,
    MODE_ZH,
    PARTY_ROLE_ZH,
    REVEAL_REASON_MIN,
    SESSION_STATE_ZH,
    form,
    next_turn,
)
from .kit import MOVES as _MOVES

# whom a party may call in online (http.CallIn's kinds), lawyers first: the most asked for
CALL_KINDS_ZH = {k: EXPERT_KIND_ZH[k] for k in ("lawyer", "judge", "mediator", "counsellor", "police", "prosecutor")}


def party_name(case: dict[str, Any], pid: str) -> str:
    p = next((p for p in case["parties"] if p["party_id"] == pid), None)
    return f"{PARTY_ROLE_ZH.get(p['role'], p['role'])} {p['name']}" if p else pid


def details_html(case: dict[str, Any], revealed: dict[str, Any] | None = None) -> str:
    """``revealed``: one party shown in full (a reveal with a reason) where the case's parties are masked."""
    def row(p: dict[str, Any]) -> str:
        if revealed and revealed["party_id"] == p["party_id"]:
            p = revealed
        return (f'<tr id="party-{esc(p["party_id"])}"><td>{esc(p["party_id"])}</td>'
                f"<td>{esc(PARTY_ROLE_ZH.get(p['role'], p['role']))}</td>"
                f"<td>{esc(p['name'])}{'（单位）' if p['is_organisation'] else ''}</td><td>{esc(p['phone'])}</td></tr>")
    parties = "".join(row(p) for p in case["parties"])
    masked = ('<p class="hint" id="masked">当事人姓名、电话已部分隐藏（完整信息仅承办单位的受理、调解人员可见）。'
              "如确需联系当事人，请在下方“查看完整信息”说明理由。</p>" if case.get("contact_masked") else "")
    mediators = "、".join(esc(m["name"]) for m in case["mediators"]) or "尚未指定"
    court = (f'<p id="court-reference">人民法院诉前委派案号：{esc(case["court_reference"])}'
             "（调解结果将回告委派法院）</p>" if case.get("court_reference") else "")
    return f"""<div class="card" id="details"><h2>基本情况</h2>{court}
<p>类别：{esc(category_zh(case['category']))} · 风险：{esc(risk_zh(case['risk_level']))} ·
调解类型：{esc(KIND_ZH.get(case['kind'], case['kind']))}</p>
<p>承办单位：{esc(case['unit_name'])} · 督办单位：{esc(case['supervisor_unit_name'])} ·
办理期限：{esc(local(case['due_at']))}</p>
<p>纠纷情况：{esc(case['description'])}</p>
<h2>当事人</h2><table id="parties"><tr><th>编号</th><th>身份</th><th>姓名</th><th>电话</th></tr>{parties}</table>
{masked}<p>调解员：<span id="mediators">{mediators}</span></p></div>"""


def reveal_html(claims: StaffClaims, case: dict[str, Any], kept: tuple[str, dict[str, list[str]]] = ("", {})
                ) -> str:
    """查看完整信息: for those who see the parties masked (leaders, units above) and may act on the case."""
    if not case.get("contact_masked"):
        return ""
    failed, values = kept
    people = [(p["party_id"], f"{PARTY_ROLE_ZH.get(p['role'], p['role'])} {p['name']}") for p in case["parties"]
              if not p["is_organisation"] or p["phone"]]
    if not people:
        return ""
    reason = esc(one(values, "reason")) if failed == "reveal" else ""
    inner = form(f"/console/cases/{case['assignment_id']}/reveal", claims, f"""<div class="row">
<div><label for="reveal-party">当事人</label><select id="reveal-party" name="party_id">{options(people)}</select></div>
<div><label for="reveal-reason">理由 <span class="hint">（必填，至少{REVEAL_REASON_MIN}个字，记入审计日志；
请写明用途，不要填写当事人的号码）</span>
</label>
<input type="text" id="reveal-reason" name="reason" maxlength="200" value="{reason}"
 placeholder="如：督办需要直接联系申请人核实情况"></div></div>""", "查看完整信息", "reveal")
    return box("查看完整信息", inner, "reveal", failed == "reveal")


def download_html(case: dict[str, Any], file: str, label: str, bid: str) -> str:
    """A document that carries the parties in full (agreement PDF, transfer package): a plain link for those who
    see them in full; for a masked viewer a GET form asking why, which service._document_read records before the
    file is given (docs/adr/0046)."""
    url = f"/console/cases/{esc(case['assignment_id'])}/{file}"
    if not case.get("contact_masked"):
        return f'<a class="button" id="{bid}" href="{url}">{esc(label)}</a>'
    return (f'<form method="get" action="{url}" accept-charset="utf-8" class="download">'
            f'<label for="{bid}-reason">下载原件的事由 <span class="hint">（必填，至少{REVEAL_REASON_MIN}个字，'
            "记入审计日志；原件含当事人完整信息，请写明用途，不要填写当事人的号码）</span></label>"
            f'<input type="text" id="{bid}-reason" name="reason" maxlength="200"'
            ' placeholder="如：督办核查协议履行情况">'
            f'<button type="submit" id="{bid}">{esc(label)}</button></form>')


def _session_row(x: dict[str, Any], case: dict[str, Any]) -> str:
    how = MODE_ZH.get(x["mode"], x["mode"]) + ("（背靠背）" if x["format"] == "caucus" else "")
    if x.get("on_demand"):
        how = f"在线呼叫（{party_name(case, x.get('called_by', ''))}发起）"
    notes = []
    if x.get("experts"):
        notes.append("参加：" + "、".join(f"{EXPERT_KIND_ZH.get(e['kind'], e['kind'])}{e['name']}"
                                         for e in x["experts"]))
    if x["mode"] == "async":
        order = x.get("party_order") or []
        notes.append(f"答复顺序：{'→'.join(order)}；已答复{x.get('turns', 0)}次")
        if x["state"] == "scheduled" and order:
            notes.append(f"现应由{party_name(case, next_turn(order, ['?'] * x.get('turns', 0)))}答复")
    if x.get("record"):
        notes.append(f"下一步：{x['record']['next_step']}")
    link = f'<a href="{esc(x["join_url"])}" rel="noopener">视频链接</a>' if x.get("join_url") else ""
    return (f"<tr><td>{esc(how)}</td><td>{esc(local(x['starts_at']))} 至 {esc(local(x['ends_at']))}</td>"
            f"<td>{esc(x['place_zh'] or '')}{link}</td><td>{esc(SESSION_STATE_ZH.get(x['state'], x['state']))}"
            + "".join(f'<div class="hint">{esc(n)}</div>' for n in notes) + "</td></tr>")


def sessions_html(sessions: list[dict[str, Any]], case: dict[str, Any]) -> str:
    if not sessions:
        return ""
    rows = "".join(_session_row(x, case) for x in sessions)
    return (f'<div class="card"><h2>调解场次</h2><table id="sessions"><tr><th>方式</th><th>时间（北京时间）</th>'
            f"<th>地点</th><th>情况</th></tr>{rows}</table></div>")


RESENDABLE = ("invited", "accepted")  # waiting for an answer, or coming: the page holds the video link


def invitations_html(invitations: list[dict[str, Any]], claims: StaffClaims, case: dict[str, Any],
                     resend_limit: int = 3) -> str:
    """The case's invitations; an expert who lost the SMS (waiting to answer, or accepted) gets it again with a
    new code from the button on their line (service.resend_invitation)."""
    if not invitations:
        return ""
    open_ = case["state"] in _MOVES["answer_invitation"]
    url = f"/console/cases/{case['assignment_id']}/resend"

    def row(i: dict[str, Any]) -> str:
        line = (f"{esc(EXPERT_KIND_ZH.get(i['kind'], i['kind']))}{esc(i['name'])}："
                f"{esc(INVITE_STATE_ZH.get(i['state'], i['state']))}"
                + (f"（{esc('；'.join(i['reasons']))}）" if i.get("reasons") else ""))
        if i.get("resent_at"):
            line += f'<span class="hint">（{esc(local(i["resent_at"]))} 已重新发送邀请短信）</span>'
        if open_ and i["state"] in RESENDABLE and not i.get("has_phone"):
            line += '<span class="hint">（未登记手机号，不发短信，请电话联系）</span>'
        elif open_ and i["state"] in RESENDABLE:
            line += form(url, claims, f'<input type="hidden" name="invitation_id" value="{esc(i["invitation_id"])}">',
                         "重新发送邀请短信", f"resend-{i['invitation_id']}")
        return f"<li>{line}</li>"

    hint = ('<p class="hint">专家遗失或删除了邀请短信时，可重新发送：短信中的邀请码会换新，原短信中的链接随即失效；'
            f"每位专家24小时内最多重发{resend_limit}次。</p>" if open_ and any(
                i["state"] in RESENDABLE and i.get("has_phone") for i in invitations) else "")
    return f'<div class="card"><h2>专家邀请</h2><ul id="invitations">{"".join(map(row, invitations))}</ul>{hint}</div>'


def agreement_html(ag: dict[str, Any] | None, case: dict[str, Any]) -> str:
    if ag is None:
        return ""
    terms = "".join(f"<li>{esc(t)}</li>" for t in ag["terms"])
    done = "".join(f"<li>{esc(party_name(case, x['party_id']))}：{esc(METHOD_ZH.get(x['method'], x['method']))}"
                   f"（{esc(local(x['at']))}）</li>" for x in ag["confirmations"]) or "<li>尚无当事人确认</li>"
    head = (f"<p>状态：<strong>已签署</strong> 编号 {esc(ag['agreement_no'])}</p><p>SHA-256：{esc(ag['sha256'])}</p>"
            + download_html(case, "agreement.pdf", "下载协议书PDF", "pdf")
            if ag["state"] == "signed" else "<p>状态：<strong>草稿</strong>（各方当事人确认后签署）</p>")
    return (f'<div class="card" id="agreement"><h2>调解协议</h2>{head}<p>基本事实：{esc(ag["facts_zh"])}</p>'
            f"<ol>{terms}</ol><h2>当事人确认</h2><ul id=\"confirmations\">{done}</ul></div>")


def timeline_html(case: dict[str, Any]) -> str:
    steps = "".join(f'<li><div class="time">{esc(local(t.get("at")))}</div>{esc(t.get("text_zh", ""))}</li>'
                    for t in reversed(case.get("timeline", [])))
    return f'<div class="card"><h2>办理过程</h2><ol class="timeline" id="timeline">{steps}</ol></div>'


def may(move: str, case: dict[str, Any]) -> bool:
    return case["state"] in _MOVES[move]


def box(title: str, inner: str, bid: str, open_: bool = False) -> str:
    return (f'<details class="card" id="box-{bid}"{" open" if open_ else ""}><summary>{esc(title)}</summary>'
            f"{inner}</details>")
