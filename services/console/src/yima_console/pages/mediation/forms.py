"""The forms a mediation case shows: those its state (``kit.MOVES``) and the staff member's role allow, in the
order of the work — acceptance and the people, experts, scheduling, the sessions, the agreement, closing. A
refused form (``kept``: the action and what was typed) is shown open with the typed text kept. The API checks
every move again and has the last word."""

# ruff: noqa: E501  (HTML with Chinese text: a line's display width is twice its characters)

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from yima_kit.auth import StaffClaims

from ...ui import as_dt, esc, local, one, options
from .case_view import CALL_KINDS_ZH, box, download_html, may, party_name
from .kit import EXPERT_KIND_ZH, KIND_ZH, MANAGE, METHOD_ZH, MODE_ZH, TRANSFER_ZH, form, next_turn


@dataclass
class Forms:
    """One case's forms being drawn: who, which case, what a refused form had typed."""

    claims: StaffClaims
    case: dict[str, Any]
    kept: tuple[str, dict[str, list[str]]]

    @property
    def url(self) -> str:
        return f"/console/cases/{self.case['assignment_id']}/"

    @property
    def manage(self) -> bool:
        return self.claims.role in MANAGE

    @property
    def parties(self) -> list[tuple[str, str]]:
        return [(p["party_id"], party_name(self.case, p["party_id"])) for p in self.case["parties"]]

    def k(self, action: str, key: str, default: str = "") -> str:
        """What was typed into ``key`` of the refused form ``action``, else ``default`` (escaped)."""
        failed, values = self.kept
        return esc(one(values, key) if action == failed else default)

    def opened(self, action: str, default: bool = False) -> bool:
        return default or action == self.kept[0]

    def form(self, action: str, inner: str, button: str, bid: str, danger: bool = False) -> str:
        return form(self.url + action, self.claims, inner, button, bid, danger)


def actions_html(claims: StaffClaims, case: dict[str, Any], sessions: list[dict[str, Any]],
                 invitations: list[dict[str, Any]], ag: dict[str, Any] | None, people: list[dict[str, Any]],
                 rooms: list[dict[str, Any]], kept: tuple[str, dict[str, list[str]]] = ("", {}),
                 call_minutes: int = 30) -> str:
    f = Forms(claims, case, kept)
    return "".join([
        *acceptance_forms(f, people), *expert_forms(f, people, invitations),
        *scheduling_forms(f, sessions, rooms, call_minutes), *session_forms(f, sessions),
        *agreement_forms(f, ag), *closing_forms(f)])


def acceptance_forms(f: Forms, people: list[dict[str, Any]]) -> list[str]:
    """受理 or 退回 a new case, 登记当事人, 指定调解员."""
    case, out = f.case, []
    if may("accept", case) and f.manage:
        out.append('<div class="card" id="box-accept"><h2>受理</h2>' + f.form(
            "accept", '<label for="kind">调解类型</label><select id="kind" name="kind">'
            f"{options(KIND_ZH.items())}</select>", "受理", "accept") + "</div>")
        out.append(box("退回", f.form("return", '<label for="reason">退回理由 <span class="hint">'
                                     "（必填，会告知督办单位）</span></label>"
                                     '<textarea id="reason" name="reason" maxlength="1000">'
                                     f"{f.k('return', 'reason')}</textarea>",
                                     "退回", "return", True), "return"))
    if may("add_party", case):
        out.append(box("登记当事人", f.form("party", f"""<div class="row">
<div><label for="party-role">身份</label><select id="party-role" name="role">
{options([("respondent", "被申请人"), ("third_party", "第三人")])}</select></div>
<div><label for="party-name">姓名或单位名称</label><input type="text" id="party-name" name="name" maxlength="100"
 value="{f.k('party', 'name')}"></div>
<div><label for="party-phone">电话 <span class="hint">（可不填）</span></label>
<input type="tel" id="party-phone" name="phone" maxlength="20" value="{f.k('party', 'phone')}"></div></div>
<label class="check"><input type="checkbox" name="is_organisation" value="1">是单位（公司、机关等）</label>""",
            "登记", "add-party"), "party", f.opened("party")))
    if may("assign_mediators", case) and f.manage:
        mediators = "".join(f'<label class="check"><input type="checkbox" name="person_ids"'
                            f' value="{esc(p["person_id"])}"'
                            f'{" checked" if any(m["person_id"] == p["person_id"] for m in case["mediators"]) else ""}>'
                            f"{esc(p['name'])}</label>" for p in people if p["kind"] == "mediator")
        inner = (f.form("mediators", mediators, "指定", "assign") if mediators
                 else '<p>本单位还没有登记调解员，请先到<a href="/console/people">调解员与专家</a>登记。</p>')
        out.append(box("指定调解员", inner, "mediators", not case["mediators"]))
    return out


def expert_forms(f: Forms, people: list[dict[str, Any]], invitations: list[dict[str, Any]]) -> list[str]:
    """邀请专家, and 登记专家答复 for an invitation still waiting."""
    out = []
    if may("invite", f.case):
        experts = options((p["person_id"], f"{p['kind_zh']} {p['name']} {p['title_zh'] or ''}")
                          for p in people if p["kind"] != "mediator")
        out.append(box("邀请专家", f.form("invite", f'<select name="person_id" id="expert">{experts}</select>'
                                       '<p class="hint">与当事人有亲属、雇佣等关系的专家会被自动拒绝并说明原因。</p>',
                                       "邀请", "invite"), "invite"))
    answerable = [i for i in invitations if i["state"] == "invited"]
    if answerable:
        pick = options((i["invitation_id"], f"{EXPERT_KIND_ZH.get(i['kind'], i['kind'])}{i['name']}")
                       for i in answerable)
        out.append(box("登记专家答复", f.form("answer", f"""<select name="invitation_id">{pick}</select>
<label class="check"><input type="radio" name="accept" value="1" checked>同意参加</label>
<label class="check"><input type="radio" name="accept" value="0">谢绝</label>
<label for="answer-reason">说明 <span class="hint">（可不填）</span></label>
<input type="text" id="answer-reason" name="reason" maxlength="500">""", "登记答复", "answer"), "answer"))
    return out


def schedule_form(f: Forms, rooms: list[dict[str, Any]]) -> str:
    return f.form("schedule", f"""<div class="row">
<div><label for="mode">方式</label><select id="mode" name="mode">{options(MODE_ZH.items())}</select></div>
<div><label for="format">形式</label><select id="format" name="format">
{options([("joint", "面对面"), ("caucus", "背靠背（单独会见）")])}</select></div>
<div><label for="caucus">单独会见的当事人 <span class="hint">（背靠背时）</span></label>
<select id="caucus" name="caucus_party_id"><option value="">—</option>{options(f.parties)}</select></div></div>
<div class="row"><div><label for="date">日期</label><input type="date" id="date" name="date"
 value="{f.k('schedule', 'date')}"></div>
<div><label for="start">开始（北京时间）</label><input type="time" id="start" name="start"
 value="{f.k('schedule', 'start')}"></div>
<div><label for="end-date">结束日期 <span class="hint">（错时调解的截止日；其他不填）</span></label>
<input type="date" id="end-date" name="end_date" value="{f.k('schedule', 'end_date')}"></div>
<div><label for="end">结束（北京时间）</label><input type="time" id="end" name="end"
 value="{f.k('schedule', 'end')}"></div></div>
<label for="room">调解室 <span class="hint">（线下调解）</span></label>
<select id="room" name="room_id"><option value="">—</option>
{options((x["room_id"], x["name_zh"]) for x in rooms)}</select>
<div class="row"><div><label for="join-url">视频链接 <span class="hint">（线上调解；不填则自动生成，
自填须以 https:// 开头）</span></label><input type="text" id="join-url" name="join_url" maxlength="500"
 value="{f.k('schedule', 'join_url')}"></div>
<div><label for="order">答复顺序 <span class="hint">（错时调解；当事人编号，如 p2,p1；不填按登记顺序）</span></label>
<input type="text" id="order" name="party_order" maxlength="100" value="{f.k('schedule', 'party_order')}"></div></div>
<p class="hint">线上、线下调解须在工作日 8:30–12:00 或 14:00–18:00。错时调解：当事人在答复期内（4小时至15天，
填开始和截止的日期、时间）按顺序轮流答复，不必同时在场。</p>""", "安排", "schedule")


def scheduling_forms(f: Forms, sessions: list[dict[str, Any]], rooms: list[dict[str, Any]],
                     call_minutes: int) -> list[str]:
    """当事人可参加时间, 安排调解, 在线呼叫."""
    if not may("schedule", f.case):
        return []
    return [
        box("当事人可参加时间", f.form("availability", f"""
<label for="avail-party">当事人</label><select id="avail-party" name="party_id">{options(f.parties)}</select>
<label for="windows">可参加的时间段 <span class="hint">（北京时间，每行一个，如 2026-11-24 09:00-12:00；
安排调解时会核对）</span></label><textarea id="windows" name="windows" maxlength="3000">
{f.k("availability", "windows")}</textarea>""", "保存", "availability"), "availability", f.opened("availability")),
        box("安排调解", schedule_form(f, rooms), "schedule", f.opened("schedule", not sessions)),
        box("在线呼叫", f.form("call", f"""<div class="row">
<div><label for="call-kind">呼叫</label>
<select id="call-kind" name="kind">{options(CALL_KINDS_ZH.items())}</select></div>
<div><label for="call-party">发起的当事人</label>
<select id="call-party" name="party_id">{options(f.parties)}</select></div>
<div><label for="call-unit">被呼叫人所在单位代码 <span class="hint">（可不填，默认本单位；如法院诉调对接中心）</span>
</label><input type="text" id="call-unit" name="unit" maxlength="64" value="{f.k('call', 'unit')}"></div></div>
<p class="hint">立即接通一位空闲、且与当事人无回避关系的人员，生成视频链接并通知申请人；
被呼叫人保留给本次呼叫{esc(call_minutes)}分钟，结束后请点“结束呼叫”。</p>""", "立即呼叫", "call"),
            "call", f.opened("call"))]


def session_forms(f: Forms, sessions: list[dict[str, Any]]) -> list[str]:
    """For each session: 结束在线呼叫, 登记错时答复, 记录调解情况."""
    out, now = [], datetime.now(UTC)
    for n, x in enumerate(sessions):
        ends = as_dt(x.get("ends_at"))
        if x.get("on_demand") and x["state"] == "scheduled" and ends is not None and ends > now:
            out.append(box(f"结束在线呼叫（{local(x['starts_at'])}）", f.form(
                "end_call", f'<input type="hidden" name="session_id" value="{esc(x["session_id"])}">'
                "<p>通话结束后释放被呼叫人，以便接受其他呼叫。</p>", "结束呼叫", f"end-call-{n}"), f"end-call-{n}", True))
        if x["mode"] == "async" and x["state"] == "scheduled" and x.get("party_order"):
            due = next_turn(x["party_order"], ["?"] * x.get("turns", 0))
            out.append(box(f"登记错时答复（答复期 {local(x['starts_at'])} 至 {local(x['ends_at'])}）", f.form("turn", f"""
<input type="hidden" name="session_id" value="{esc(x['session_id'])}">
<label for="turn-party">答复的当事人 <span class="hint">（按顺序轮流；现应由{esc(party_name(f.case, due))}答复）</span>
</label><select id="turn-party" name="party_id">{options(f.parties, due)}</select>
<label for="statement">答复内容 <span class="hint">（加密保存）</span></label>
<textarea id="statement" name="statement" maxlength="5000">{f.k("turn", "statement")}</textarea>""",
                "登记答复", "turn"), "turn", f.opened("turn", True)))
        if x["state"] == "scheduled" and may("record", f.case):
            out.append(record_box(f, x))
    return out


def record_box(f: Forms, x: dict[str, Any]) -> str:
    checks = "".join(f'<label class="check"><input type="checkbox" name="{{n}}" value="{esc(p)}">'
                     f"{esc(t)}</label>" for p, t in f.parties)
    return box(f"记录调解情况（{local(x['starts_at'])}）", f.form("record", f"""
<input type="hidden" name="session_id" value="{esc(x['session_id'])}">
<label>到场的当事人</label>{checks.replace('{n}', 'attended')}
<label>缺席的当事人</label>{checks.replace('{n}', 'absent')}
<label for="summary">调解情况</label><textarea id="summary" name="summary" maxlength="5000">
{f.k("record", "summary")}</textarea>
<label for="next-step">下一步</label><input type="text" id="next-step" name="next_step" maxlength="300"
 value="{f.k('record', 'next_step')}">""", "保存记录", "record"), "record", f.opened("record"))


def agreement_forms(f: Forms, ag: dict[str, Any] | None) -> list[str]:
    """起草调解协议, 当事人确认与签署, 申请司法确认, 登记法院答复."""
    out, case = [], f.case
    if may("draft_agreement", case) and not (ag and ag["state"] == "signed"):
        facts = f.k("agreement", "facts_zh", ag["facts_zh"] if ag else "")
        terms = f.k("agreement", "terms", "\n".join(ag["terms"]) if ag else "")
        out.append(box("起草调解协议", f.form("agreement", f"""
<label for="facts">基本事实</label><textarea id="facts" name="facts_zh" maxlength="3000">{facts}</textarea>
<label for="terms">协议条款 <span class="hint">（每行一条）</span></label>
<textarea id="terms" name="terms" maxlength="20000">{terms}</textarea>""", "保存草稿", "draft"), "agreement",
                       f.opened("agreement")))
    if ag and ag["state"] == "draft":
        done = {x["party_id"] for x in ag["confirmations"]}
        todo = [(p, t) for p, t in f.parties if p not in done]
        inner = f.form("confirm", f"""<div class="row">
<div><label for="confirm-party">当事人</label><select id="confirm-party" name="party_id">{options(todo)}</select></div>
<div><label for="confirm-method">确认方式</label><select id="confirm-method" name="method">
{options(METHOD_ZH.items())}</select></div></div>""", "记录确认", "confirm") if todo else ""
        inner += f.form("sign", "<p>各方当事人均确认后签署，生成协议书PDF并归档。</p>", "签署协议", "sign")
        out.append(box("当事人确认与签署", inner, "sign", True))
    if may("judicial", case) and not case.get("judicial"):
        out.append(box("申请司法确认", f.form("judicial", '<label for="court">法院</label>'
                                         '<input type="text" id="court" name="court_zh" maxlength="100"'
                                         f' value="{f.k("judicial", "court_zh")}">', "申请", "judicial"),
                       "judicial", f.opened("judicial")))
    j = case.get("judicial") or {}
    if j.get("state") == "sent":
        out.append(box(f"登记法院答复（{j.get('court_zh', '')}）", f.form("court", f"""
<label class="check"><input type="radio" name="confirmed" value="1" checked>裁定确认协议有效</label>
<label class="check"><input type="radio" name="confirmed" value="0">裁定不予确认</label>
<div class="row"><div><label for="ruling">裁定书编号</label><input type="text" id="ruling" name="ruling_no"
 maxlength="64" value="{f.k('court', 'ruling_no')}"></div>
<div><label for="court-reason">说明 <span class="hint">（可不填）</span></label>
<input type="text" id="court-reason" name="reason" maxlength="500"></div></div>""", "登记答复", "court"),
            "court", True))
    return out


def closing_forms(f: Forms) -> list[str]:
    """结案, 调解不成, 移交 (诉调对接), and the transfer package's download."""
    out, case = [], f.case
    if may("close", case):
        out.append(f'<div class="card"><h2>结案</h2>{f.form("close", "", "结案", "close")}</div>')
    if may("fail", case):
        out.append(box("调解不成", f.form("fail", f"""
<label for="fail-reason">原因</label><textarea id="fail-reason" name="reason" maxlength="500">
{f.k("fail", "reason")}</textarea>
<label for="fail-next">后续</label><select id="fail-next" name="next">
{options([("transfer", "转入仲裁、诉讼或行政途径"), ("escalate", "提交上一级调解组织")])}</select>""",
                                              "确认调解不成", "fail", danger=True), "fail", f.opened("fail")))
    if may("transfer", case) and f.manage:
        out.append(box("移交（诉调对接）", f.form("transfer", f"""<div class="row">
<div><label for="to">转往</label><select id="to" name="to">{options(TRANSFER_ZH.items())}</select></div>
<div><label for="body">接收机关</label><input type="text" id="body" name="receiving_body_zh" maxlength="100"
 placeholder="如：金水区人民法院" value="{f.k('transfer', 'receiving_body_zh')}"></div></div>""",
                                                  "移交并生成卷宗", "transfer"), "transfer", True))
    if case.get("package_id"):
        out.append(f'<div class="card">{download_html(case, "package.zip", "下载移交卷宗", "package")}</div>')
    return out
