"""Rendering a case for the console: details, sessions, invitations, agreement, timeline, and the forms the
case's state (``core/_MOVES``) and the staff member's role allow."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from yima_kit.auth import StaffClaims

from ...ui import as_dt, category_zh, esc, local, one, options, risk_zh
from .kit import (
    EXPERT_KIND_ZH,
    INVITE_STATE_ZH,
    KIND_ZH,
    MANAGE,
    METHOD_ZH,
    MODE_ZH,
    PARTY_ROLE_ZH,
    REVEAL_REASON_MIN,
    SESSION_STATE_ZH,
    TRANSFER_ZH,
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


def actions_html(claims: StaffClaims, case: dict[str, Any], sessions: list[dict[str, Any]],
                 invitations: list[dict[str, Any]], ag: dict[str, Any] | None, people: list[dict[str, Any]],
                 rooms: list[dict[str, Any]], kept: tuple[str, dict[str, list[str]]] = ("", {}),
                 call_minutes: int = 30) -> str:
    """The forms that fit the case's state and the staff member's role; a refused form (``kept``: the action
    and what was typed) is shown open with the typed text kept."""
    failed, values = kept

    def k(action: str, key: str, default: str = "") -> str:
        return esc(one(values, key) if action == failed else default)

    def opened(action: str, default: bool = False) -> bool:
        return default or action == failed
    aid = case["assignment_id"]
    url = f"/console/cases/{aid}/"
    manage = claims.role in MANAGE
    parties = [(p["party_id"], party_name(case, p["party_id"])) for p in case["parties"]]
    out = []
    if may("accept", case) and manage:
        out.append('<div class="card" id="box-accept"><h2>受理</h2>' + form(
            url + "accept", claims, '<label for="kind">调解类型</label><select id="kind" name="kind">'
            f"{options(KIND_ZH.items())}</select>", "受理", "accept") + "</div>")
        out.append(box("退回", form(url + "return", claims, '<label for="reason">退回理由 <span class="hint">'
                                   "（必填，会告知督办单位）</span></label>"
                                   '<textarea id="reason" name="reason" maxlength="1000">'
                                   f"{k('return', 'reason')}</textarea>",
                                   "退回", "return", True), "return"))
    if may("add_party", case):
        out.append(box("登记当事人", form(url + "party", claims, f"""<div class="row">
<div><label for="party-role">身份</label><select id="party-role" name="role">
{options([("respondent", "被申请人"), ("third_party", "第三人")])}</select></div>
<div><label for="party-name">姓名或单位名称</label><input type="text" id="party-name" name="name" maxlength="100"
 value="{k('party', 'name')}"></div>
<div><label for="party-phone">电话 <span class="hint">（可不填）</span></label>
<input type="tel" id="party-phone" name="phone" maxlength="20" value="{k('party', 'phone')}"></div></div>
<label class="check"><input type="checkbox" name="is_organisation" value="1">是单位（公司、机关等）</label>""",
            "登记", "add-party"), "party", opened("party")))
    if may("assign_mediators", case) and manage:
        mediators = "".join(f'<label class="check"><input type="checkbox" name="person_ids"'
                            f' value="{esc(p["person_id"])}"'
                            f'{" checked" if any(m["person_id"] == p["person_id"] for m in case["mediators"]) else ""}>'
                            f"{esc(p['name'])}</label>" for p in people if p["kind"] == "mediator")
        inner = (form(url + "mediators", claims, mediators, "指定", "assign") if mediators
                 else '<p>本单位还没有登记调解员，请先到<a href="/console/people">调解员与专家</a>登记。</p>')
        out.append(box("指定调解员", inner, "mediators", not case["mediators"]))
    if may("invite", case):
        experts = options((p["person_id"], f"{p['kind_zh']} {p['name']} {p['title_zh'] or ''}")
                          for p in people if p["kind"] != "mediator")
        out.append(box("邀请专家", form(url + "invite", claims,
                                     f'<select name="person_id" id="expert">{experts}</select>'
                                     '<p class="hint">与当事人有亲属、雇佣等关系的专家会被自动拒绝并说明原因。</p>',
                                     "邀请", "invite"), "invite"))
    answerable = [i for i in invitations if i["state"] == "invited"]
    if answerable:
        pick = options((i["invitation_id"], f"{EXPERT_KIND_ZH.get(i['kind'], i['kind'])}{i['name']}")
                       for i in answerable)
        out.append(box("登记专家答复", form(url + "answer", claims, f"""<select name="invitation_id">{pick}</select>
<label class="check"><input type="radio" name="accept" value="1" checked>同意参加</label>
<label class="check"><input type="radio" name="accept" value="0">谢绝</label>
<label for="answer-reason">说明 <span class="hint">（可不填）</span></label>
<input type="text" id="answer-reason" name="reason" maxlength="500">""", "登记答复", "answer"), "answer"))
    if may("schedule", case):
        out.append(box("当事人可参加时间", form(url + "availability", claims, f"""
<label for="avail-party">当事人</label><select id="avail-party" name="party_id">{options(parties)}</select>
<label for="windows">可参加的时间段 <span class="hint">（北京时间，每行一个，如 2026-11-24 09:00-12:00；
安排调解时会核对）</span></label><textarea id="windows" name="windows" maxlength="3000">
{k("availability", "windows")}</textarea>""",
                                           "保存", "availability"), "availability", opened("availability")))
        out.append(box("安排调解", form(url + "schedule", claims, f"""<div class="row">
<div><label for="mode">方式</label><select id="mode" name="mode">{options(MODE_ZH.items())}</select></div>
<div><label for="format">形式</label><select id="format" name="format">
{options([("joint", "面对面"), ("caucus", "背靠背（单独会见）")])}</select></div>
<div><label for="caucus">单独会见的当事人 <span class="hint">（背靠背时）</span></label>
<select id="caucus" name="caucus_party_id"><option value="">—</option>{options(parties)}</select></div></div>
<div class="row"><div><label for="date">日期</label><input type="date" id="date" name="date"
 value="{k('schedule', 'date')}"></div>
<div><label for="start">开始（北京时间）</label><input type="time" id="start" name="start"
 value="{k('schedule', 'start')}"></div>
<div><label for="end-date">结束日期 <span class="hint">（错时调解的截止日；其他不填）</span></label>
<input type="date" id="end-date" name="end_date" value="{k('schedule', 'end_date')}"></div>
<div><label for="end">结束（北京时间）</label><input type="time" id="end" name="end"
 value="{k('schedule', 'end')}"></div></div>
<label for="room">调解室 <span class="hint">（线下调解）</span></label>
<select id="room" name="room_id"><option value="">—</option>
{options((x["room_id"], x["name_zh"]) for x in rooms)}</select>
<div class="row"><div><label for="join-url">视频链接 <span class="hint">（线上调解；不填则自动生成，
自填须以 https:// 开头）</span></label><input type="text" id="join-url" name="join_url" maxlength="500"
 value="{k('schedule', 'join_url')}"></div>
<div><label for="order">答复顺序 <span class="hint">（错时调解；当事人编号，如 p2,p1；不填按登记顺序）</span></label>
<input type="text" id="order" name="party_order" maxlength="100" value="{k('schedule', 'party_order')}"></div></div>
<p class="hint">线上、线下调解须在工作日 8:30–12:00 或 14:00–18:00。错时调解：当事人在答复期内（4小时至15天，
填开始和截止的日期、时间）按顺序轮流答复，不必同时在场。</p>""",
                                     "安排", "schedule"), "schedule", opened("schedule", not sessions)))
        out.append(box("在线呼叫", form(url + "call", claims, f"""<div class="row">
<div><label for="call-kind">呼叫</label>
<select id="call-kind" name="kind">{options(CALL_KINDS_ZH.items())}</select></div>
<div><label for="call-party">发起的当事人</label>
<select id="call-party" name="party_id">{options(parties)}</select></div>
<div><label for="call-unit">被呼叫人所在单位代码 <span class="hint">（可不填，默认本单位；如法院诉调对接中心）</span>
</label><input type="text" id="call-unit" name="unit" maxlength="64" value="{k('call', 'unit')}"></div></div>
<p class="hint">立即接通一位空闲、且与当事人无回避关系的人员，生成视频链接并通知申请人；
被呼叫人保留给本次呼叫{esc(call_minutes)}分钟，结束后请点“结束呼叫”。</p>""", "立即呼叫", "call"),
                       "call", opened("call")))
    now = datetime.now(UTC)
    for n, x in enumerate(sessions):
        ends = as_dt(x.get("ends_at"))
        if x.get("on_demand") and x["state"] == "scheduled" and ends is not None and ends > now:
            out.append(box(f"结束在线呼叫（{local(x['starts_at'])}）", form(url + "end_call", claims,
                           f'<input type="hidden" name="session_id" value="{esc(x["session_id"])}">'
                           "<p>通话结束后释放被呼叫人，以便接受其他呼叫。</p>", "结束呼叫", f"end-call-{n}"),
                           f"end-call-{n}", True))
        if x["mode"] == "async" and x["state"] == "scheduled" and x.get("party_order"):
            due = next_turn(x["party_order"], ["?"] * x.get("turns", 0))
            out.append(box(f"登记错时答复（答复期 {local(x['starts_at'])} 至 {local(x['ends_at'])}）",
                           form(url + "turn", claims, f"""
<input type="hidden" name="session_id" value="{esc(x['session_id'])}">
<label for="turn-party">答复的当事人 <span class="hint">（按顺序轮流；现应由{esc(party_name(case, due))}答复）</span>
</label><select id="turn-party" name="party_id">{options(parties, due)}</select>
<label for="statement">答复内容 <span class="hint">（加密保存）</span></label>
<textarea id="statement" name="statement" maxlength="5000">{k("turn", "statement")}</textarea>""",
                                "登记答复", "turn"), "turn", opened("turn", True)))
        if x["state"] == "scheduled" and may("record", case):
            checks = "".join(f'<label class="check"><input type="checkbox" name="{{n}}" value="{esc(p)}">'
                             f"{esc(t)}</label>" for p, t in parties)
            out.append(box(f"记录调解情况（{local(x['starts_at'])}）", form(url + "record", claims, f"""
<input type="hidden" name="session_id" value="{esc(x['session_id'])}">
<label>到场的当事人</label>{checks.replace('{n}', 'attended')}
<label>缺席的当事人</label>{checks.replace('{n}', 'absent')}
<label for="summary">调解情况</label><textarea id="summary" name="summary" maxlength="5000">
{k("record", "summary")}</textarea>
<label for="next-step">下一步</label><input type="text" id="next-step" name="next_step" maxlength="300"
 value="{k('record', 'next_step')}">""", "保存记录", "record"), "record", opened("record")))
    if may("draft_agreement", case) and not (ag and ag["state"] == "signed"):
        facts = k("agreement", "facts_zh", ag["facts_zh"] if ag else "")
        terms = k("agreement", "terms", "\n".join(ag["terms"]) if ag else "")
        out.append(box("起草调解协议", form(url + "agreement", claims, f"""
<label for="facts">基本事实</label><textarea id="facts" name="facts_zh" maxlength="3000">{facts}</textarea>
<label for="terms">协议条款 <span class="hint">（每行一条）</span></label>
<textarea id="terms" name="terms" maxlength="20000">{terms}</textarea>""", "保存草稿", "draft"), "agreement",
                        opened("agreement")))
    if ag and ag["state"] == "draft":
        done = {x["party_id"] for x in ag["confirmations"]}
        todo = [(p, t) for p, t in parties if p not in done]
        inner = ""
        if todo:
            inner += form(url + "confirm", claims, f"""<div class="row">
<div><label for="confirm-party">当事人</label><select id="confirm-party" name="party_id">{options(todo)}</select></div>
<div><label for="confirm-method">确认方式</label><select id="confirm-method" name="method">
{options(METHOD_ZH.items())}</select></div></div>""", "记录确认", "confirm")
        inner += form(url + "sign", claims, "<p>各方当事人均确认后签署，生成协议书PDF并归档。</p>", "签署协议", "sign")
        out.append(box("当事人确认与签署", inner, "sign", True))
    if may("judicial", case) and not case.get("judicial"):
        out.append(box("申请司法确认", form(url + "judicial", claims, '<label for="court">法院</label>'
                                       '<input type="text" id="court" name="court_zh" maxlength="100"'
                                       f' value="{k("judicial", "court_zh")}">',
                                       "申请", "judicial"), "judicial", opened("judicial")))
    j = case.get("judicial") or {}
    if j.get("state") == "sent":
        out.append(box(f"登记法院答复（{j.get('court_zh', '')}）", form(url + "court", claims, f"""
<label class="check"><input type="radio" name="confirmed" value="1" checked>裁定确认协议有效</label>
<label class="check"><input type="radio" name="confirmed" value="0">裁定不予确认</label>
<div class="row"><div><label for="ruling">裁定书编号</label><input type="text" id="ruling" name="ruling_no"
 maxlength="64" value="{k('court', 'ruling_no')}"></div>
<div><label for="court-reason">说明 <span class="hint">（可不填）</span></label>
<input type="text" id="court-reason" name="reason" maxlength="500"></div></div>""", "登记答复", "court"),
            "court", True))
    if may("close", case):
        out.append(f'<div class="card"><h2>结案</h2>{form(url + "close", claims, "", "结案", "close")}</div>')
    if may("fail", case):
        out.append(box("调解不成", form(url + "fail", claims, f"""
<label for="fail-reason">原因</label><textarea id="fail-reason" name="reason" maxlength="500">
{k("fail", "reason")}</textarea>
<label for="fail-next">后续</label><select id="fail-next" name="next">
{options([("transfer", "转入仲裁、诉讼或行政途径"), ("escalate", "提交上一级调解组织")])}</select>""",
                                             "确认调解不成", "fail", danger=True), "fail",
                        opened("fail")))
    if may("transfer", case) and manage:
        out.append(box("移交（诉调对接）", form(url + "transfer", claims, f"""<div class="row">
<div><label for="to">转往</label><select id="to" name="to">{options(TRANSFER_ZH.items())}</select></div>
<div><label for="body">接收机关</label><input type="text" id="body" name="receiving_body_zh" maxlength="100"
 placeholder="如：金水区人民法院" value="{k('transfer', 'receiving_body_zh')}"></div></div>""",
                        "移交并生成卷宗", "transfer"), "transfer", True))
    if case.get("package_id"):
        out.append(f'<div class="card">{download_html(case, "package.zip", "下载移交卷宗", "package")}</div>')
    return "".join(out)
