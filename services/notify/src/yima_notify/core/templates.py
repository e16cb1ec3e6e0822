"""Message templates (pure): Chinese, plain, saying what happened, who acts and what comes next.

Every template has an id ``<audience>.<kind>.v<N>``; a wording change that alters meaning gets a new version
(the id is stored with every message, so what a person was told can always be reproduced).
An SMS segment is 70 Chinese characters; applicant texts aim at one or two segments.

Personal data: the applicant's texts name the case by its number and carry the tracking code only in the
first message (they are the applicant's own); a proxy (代办人) sees the applicant's name masked; staff texts
carry no personal data of the parties (the handling unit reads the parties in its work order) — an expert's answer
names the expert, who is not a party, by kind and name only; an invited expert is greeted by their own name and
reads the case by its number and category only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from yima_contracts import (
    CaseAssigned,
    CaseClosed,
    CaseStatusChanged,
    ExpertAnswered,
    ExpertInvited,
    MediationScheduled,
)
from yima_contracts.codes import CATEGORY_NAMES_ZH, RISK_LEVEL_NAMES_ZH, CaseState, SupervisionStep
from yima_contracts.risk_events import FollowupDue, WarningRaised
from yima_contracts.routing_events import CaseEscalated, JointSummoned, LeaderAssigned, SupervisionNotice
from yima_kit.safe_text import plain_field

from .policy import SHANGHAI

TEMPLATE_VERSION = "v1"
SIGNATURE = "【一码解纠纷】"
MAX_APPLICANT_CHARS = 140  # two SMS segments


@dataclass(frozen=True)
class Rendered:
    template_id: str
    title: str  # e-mail subject, inbox title, WeChat "first" line
    text: str
    urgent: bool = False  # urgent messages ignore quiet hours


def local_time(t: datetime) -> str:
    """A time as people read it: Beijing time, ``11月24日 09:30``."""
    lt = t.astimezone(SHANGHAI)
    return f"{lt.month}月{lt.day}日 {lt:%H:%M}"


def _fit(text: str, limit: int = MAX_APPLICANT_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clean(s: str) -> str:
    """A free-text field of an event as the template prints it: one line, no control characters and no
    links (a template that carries a link adds its own, checked one: docs/adr/0072), no closing stop."""
    return plain_field(s).strip().rstrip("。.；;")


# --- the applicant (and a proxy) ----------------------------------------------------------------------


_STEP_WORDS = {"办理进展": "有新的办理进展"}


def _step(title_zh: str, unit: str | None = None) -> str:
    """A step as it follows "您的纠纷（编号…）": "已登记" reads on directly; "承办单位已受理" after a comma (with
    the unit's name for "承办单位" when known). Producers title their steps for screens ("纠纷已登记",
    "案件已分派"): the leading noun is the case itself, which the sentence has named already."""
    title = _clean(title_zh)
    title = _STEP_WORDS.get(title, title)
    for noun in ("纠纷", "案件", "本案"):
        if title.startswith(noun + "已") or title.startswith(noun + "正在"):
            title = title[len(noun):]
            break
    if unit and title.startswith("承办单位"):
        title = unit + title.removeprefix("承办单位")
    return title if title.startswith(("已", "正在", "有")) else f"，{title}"


def case_ref_applicant(case_number: str) -> str:
    """How every applicant text begins (after the signature): the digest names the case once by this."""
    return f"您的纠纷（编号{case_number}）"


def render_applicant(event: CaseStatusChanged, case_number: str, tracking_code: str | None) -> Rendered:
    """One applicant-visible step (``case.status``): "您的纠纷（编号…）已交由…办理。…"."""
    unit = (_clean(event.acting_unit_name) if event.acting_unit_name
            and event.state not in (CaseState.SUBMITTED, CaseState.RATED) else None)
    step = _step(event.title_zh, unit)
    parts = [f"{SIGNATURE}{case_ref_applicant(case_number)}{step}。"]
    if event.state is CaseState.SUBMITTED and tracking_code:
        parts.append(f"查询码{tracking_code}，凭手机号后四位可随时查询办理进度。")
    if unit and unit not in step:
        parts.append(f"办理单位：{unit}。")
    if event.next_step_zh:
        nxt = _clean(event.next_step_zh)
        if unit:  # the unit is named once; the next step says "该单位"
            nxt = nxt.replace(unit, "该单位").replace("承办单位", "该单位")
        parts.append(f"下一步：{nxt}。")
    if event.due_at and event.state not in (CaseState.CLOSED, CaseState.RATED, CaseState.FOLLOWED_UP):
        parts.append(f"办理期限：{local_time(event.due_at)}前。")
    text = "".join(parts)
    if len(text) > MAX_APPLICANT_CHARS and event.due_at:  # the deadline is the first thing to drop
        text = "".join(parts[:-1])
    return Rendered(f"applicant.{event.state.value}.{TEMPLATE_VERSION}", _clean(event.title_zh), _fit(text))


def render_proxy(event: CaseStatusChanged, case_number: str, applicant_masked: str) -> Rendered:
    """A proxy submitter (代办人) hears every step of the case they submitted, without the tracking code."""
    parts = [f"{SIGNATURE}您代{applicant_masked}提交的纠纷（编号{case_number}）{_step(event.title_zh)}。"]
    if event.acting_unit_name and event.state is not CaseState.SUBMITTED:
        parts.append(f"办理单位：{_clean(event.acting_unit_name)}。")
    if event.next_step_zh:
        parts.append(f"下一步：{_clean(event.next_step_zh)}。")
    return Rendered(f"proxy.{event.state.value}.{TEMPLATE_VERSION}", _clean(event.title_zh), _fit("".join(parts)))


def render_session(event: MediationScheduled, case_number: str, *, reminder: bool) -> Rendered:
    """A mediation session was booked (and, ``reminder``, it comes up soon). The time, the manner and the place
    come from the event's fields, once: the event's ``applicant_message_zh`` says the same for screens and is not
    repeated here."""
    mode = {"online": "线上视频调解", "offline": "现场调解", "async": "错时异步调解"}[event.mode]
    when = f"时间{local_time(event.starts_at)}"
    if event.mode == "async" and event.ends_at is not None:
        when = f"请于{local_time(event.starts_at)}至{local_time(event.ends_at)}期间按顺序答复"
    where = ""
    if event.mode == "offline" and event.place_zh:
        where = f"，地点：{_clean(event.place_zh)}"
    elif event.mode == "online":
        where = "，届时请凭查询码在查询页进入视频调解"
    if reminder:
        text = (f"{SIGNATURE}{case_ref_applicant(case_number)}，提醒您参加{mode}，{when}{where}。"
                f"如不能参加，请及时联系办理单位。")
    else:
        text = (f"{SIGNATURE}{case_ref_applicant(case_number)}已安排{mode}，{when}{where}。"
                f"如不能参加，请及时联系办理单位。")
    kind = "session_reminder" if reminder else "session_scheduled"
    title = f"调解{'提醒' if reminder else '安排'}：{local_time(event.starts_at)}"
    return Rendered(f"applicant.{kind}.{TEMPLATE_VERSION}", title, _fit(text), urgent=reminder)


def render_rating_request(event: CaseClosed, case_number: str) -> Rendered:
    text = (f"{SIGNATURE}{case_ref_applicant(case_number)}，请凭查询码和手机号后四位在查询页对办理结果"
            f"进行满意度评价，您的评价将用于考核办理单位。")
    return Rendered(f"applicant.rating_request.{TEMPLATE_VERSION}", "请评价办理结果", _fit(text))


def render_followup_applicant(event: FollowupDue, case_number: str) -> Rendered:
    text = (f"{SIGNATURE}{case_ref_applicant(case_number)}，办理单位将于近期对您进行回访（回头看），"
            f"了解协议履行和矛盾化解情况，请保持电话畅通。")
    return Rendered(f"applicant.followup.{TEMPLATE_VERSION}", "回访通知", _fit(text))


# --- staff (addressed to their unit) ------------------------------------------------------------------


def _case_ref(case_number: str) -> str:
    return f"案件{case_number}"


def render_unit_assigned(event: CaseAssigned, case_number: str) -> Rendered:
    text = (f"{SIGNATURE}新交办：{_case_ref(case_number)}（{CATEGORY_NAMES_ZH[event.category]}，"
            f"{RISK_LEVEL_NAMES_ZH[event.risk_level]}色风险）由{event.supervisor_unit_name}交办贵单位。"
            f"请于{local_time(event.due_at)}前受理并反馈（受理或说明理由退回）。")
    return Rendered(f"unit.assigned.{TEMPLATE_VERSION}", f"新交办案件 {case_number}", text,
                    urgent=event.risk_level.value == "red")


_SUPERVISION = {
    SupervisionStep.WARNING: ("临期预警", "即将到期，请抓紧办理并反馈"),
    SupervisionStep.NOTICE: ("督办通知", "已到办理期限，现予督办，请立即办理并反馈"),
    SupervisionStep.SECOND_NOTICE: ("再次督办", "逾期未办结，现再次督办，逾期将提级处理"),
    SupervisionStep.ESCALATED: ("提级督办", "逾期未办结，已提级督办"),
    SupervisionStep.LEADER: ("分包领导督办", "已报分包领导督办"),
}


def render_supervision(event: SupervisionNotice, case_number: str, *, to_supervisor: bool = False) -> Rendered:
    name, what = _SUPERVISION[event.step]
    who = "贵单位交办的" if to_supervisor else ""
    text = (f"{SIGNATURE}{name}：{who}{_case_ref(case_number)}{what}。期限{local_time(event.due_at)}。"
            f"{_clean(event.message_zh)}。")
    audience = "supervisor" if to_supervisor else "unit"
    return Rendered(f"{audience}.supervision_{event.step.value}.{TEMPLATE_VERSION}", f"{name} {case_number}", text,
                    urgent=event.step is not SupervisionStep.WARNING)


def render_escalated(event: CaseEscalated, case_number: str, *, incoming: bool) -> Rendered:
    if incoming:
        text = (f"{SIGNATURE}提级交办：{_case_ref(case_number)}已提级由贵单位办理。原因：{_clean(event.reason_zh)}。"
                f"请尽快受理并反馈。")
        return Rendered(f"unit.escalated_in.{TEMPLATE_VERSION}", f"提级交办 {case_number}", text, urgent=True)
    text = (f"{SIGNATURE}{_case_ref(case_number)}已提级至上级单位办理。原因：{_clean(event.reason_zh)}。"
            f"贵单位请配合移交材料。")
    return Rendered(f"unit.escalated_out.{TEMPLATE_VERSION}", f"案件已提级 {case_number}", text)


def render_joint_summoned(event: JointSummoned, case_number: str) -> Rendered:
    """吹哨报到: who leads, why, by when, what to report and how (the summons id: the console or the unit's own
    system reports on it)."""
    lead = f"牵头单位{event.lead_unit_name}召集" if event.lead_unit_name else "现召集"
    what = _clean(event.report_what_zh) or "到场时间、参加人员和处置意见"
    how = (f"报到时请注明召集编号{event.joint_id}（可在平台“吹哨报到”中或经本单位对接系统报到）。"
           if event.joint_id else "")
    text = (f"{SIGNATURE}吹哨报到：{_case_ref(case_number)}需联合处置，{lead}贵单位参加。"
            f"事由：{_clean(event.reason_zh)}。请于{local_time(event.report_by)}前报到，并反馈{what}。{how}")
    return Rendered(f"unit.joint_summoned.{TEMPLATE_VERSION}", f"吹哨报到 {case_number}", text, urgent=True)


def render_leader_assigned(event: LeaderAssigned, case_number: str) -> Rendered:
    text = (f"{SIGNATURE}{_case_ref(case_number)}为红色风险案件，已确定分包领导{event.leader_name}"
            f"全程负责，直至办结和回访。")
    return Rendered(f"unit.leader_assigned.{TEMPLATE_VERSION}", f"分包领导 {case_number}", text)


def render_followup_unit(event: FollowupDue, case_number: str) -> Rendered:
    text = (f"{SIGNATURE}回头看：{_case_ref(case_number)}需开展回访，请于{local_time(event.due_at)}前完成并记录。"
            f"{_clean(event.reason_zh)}。")
    return Rendered(f"unit.followup_due.{TEMPLATE_VERSION}", f"回访任务 {case_number}", text)


def render_warning(event: WarningRaised, *, own_place: bool = True) -> Rendered:
    """预警 to the place's unit and, ``own_place`` False, to the units above it (community, street…)."""
    where = "" if own_place or not event.place_name else f"辖区{event.place_name}："
    message = _clean(event.message_zh)
    count = "" if f"{event.window_days}天内" in message else f"（{event.window_days}天内{len(event.case_ids)}件）"
    text = f"{SIGNATURE}矛盾预警：{where}{message}{count}。请研判并提前化解。"
    return Rendered(f"unit.warning_raised.{TEMPLATE_VERSION}", "矛盾纠纷预警", text, urgent=True)


EXPERT_KINDS_ZH = {
    "judge": "法官", "prosecutor": "检察官", "police": "警官", "lawyer": "律师", "counsellor": "心理咨询师",
    "community_worker": "社区工作者", "deputy": "两代表一委员", "sage": "乡贤", "volunteer": "志愿者",
}


def render_expert_invitation(event: MediationScheduled, case_number: str) -> Rendered:
    kinds = "、".join(EXPERT_KINDS_ZH.get(k, k) for k in event.expert_kinds)
    text = (f"{SIGNATURE}专家邀请：{_case_ref(case_number)}定于{local_time(event.starts_at)}调解，"
            f"需邀请{kinds}参加。请联系受邀专家确认出席。")
    return Rendered(f"expert.invitation.{TEMPLATE_VERSION}", f"专家邀请 {case_number}", text)


_MODES_ZH = {"online": "线上视频调解", "offline": "现场调解", "async": "错时异步调解"}


def render_expert_invited(event: ExpertInvited, page_url: str = "") -> Rendered:
    """The invited expert, told directly (SMS + their inbox): who invites, which case (number and category, no
    party data), when and how if a session is known, and how to answer. Within the applicant texts' limit
    (140 characters): the greeting by name gives way first, then the room, the session and the category, before
    anything is cut (with a page link: the category goes before the session's time; the page shows both).

    With an invitation code (mediation knows the expert's phone) and mediation's public address (``page_url``):
    ``expert.invited.v2`` — the expert answers on their own page (``<page_url>/invite/<code>``, opened with the
    last four digits of their phone), which also shows the video link; the text never carries the video link,
    as for applicants (a text is easily forwarded). The page link is never cut: it is the way to answer.
    Without a code (an older event, or no phone): ``expert.invited.v1`` as before — answer through the unit."""
    kind = EXPERT_KINDS_ZH.get(event.expert_kind, "专家")
    name = event.expert_name if event.expert_name.endswith(kind) else f"{event.expert_name}{kind}"
    category = f"（{CATEGORY_NAMES_ZH[event.category]}）"
    short = f"{event.unit_name}邀请您参与{_case_ref(event.case_number)}的调解"
    what = f"{event.unit_name}邀请您参与{_case_ref(event.case_number)}{category}的调解"
    page = f"{page_url.rstrip('/')}/invite/{event.invitation_code}" if event.invitation_code and page_url else ""
    session = place = link = ""
    if event.starts_at is not None:
        mode = _MODES_ZH[event.mode] if event.mode else "调解"
        session = f"，{mode}，时间{local_time(event.starts_at)}"
        if event.mode == "offline" and event.place_zh:
            place = f"，地点{_clean(event.place_zh)}"
        if event.mode == "online" and event.join_url and not page:
            link = f"，视频链接{event.join_url}"
    if page:
        # a space ends the link for the phone's link detection; the page asks the last four digits first
        reply = f"。请打开{page} 答复并查看安排（核对本机号码后四位）。"
        candidates = [
            f"{SIGNATURE}{name}您好：{what}{session}{place}{reply}",
            f"{SIGNATURE}您好：{what}{session}{place}{reply}",
            f"{SIGNATURE}您好：{what}{session}{reply}",
            f"{SIGNATURE}您好：{short}{session}{reply}",  # the time matters more than the category (on the page)
            f"{SIGNATURE}您好：{what}{reply}",
        ]
        # the last resort may run past the limit (a third segment) rather than cut the link
        text = next((c for c in candidates if len(c) <= MAX_APPLICANT_CHARS), f"{SIGNATURE}您好：{short}{reply}")
        return Rendered("expert.invited.v2", f"专家邀请 {event.case_number}", text)
    reply = f"。{_clean(event.reply_zh)}。"
    candidates = [
        f"{SIGNATURE}{name}您好：{what}{session}{place}{link}{reply}",
        f"{SIGNATURE}您好：{what}{session}{place}{link}{reply}",
        f"{SIGNATURE}{name}您好：{what}{session}{place}{reply}",
        f"{SIGNATURE}您好：{what}{session}{place}{reply}",
        f"{SIGNATURE}您好：{what}{session}{reply}",
    ]
    text = next((c for c in candidates if len(c) <= MAX_APPLICANT_CHARS), _fit(candidates[-1]))
    return Rendered(f"expert.invited.{TEMPLATE_VERSION}", f"专家邀请 {event.case_number}", text)


def render_expert_session(event: MediationScheduled, case_number: str, *, with_link: bool,
                          reminder: bool = False) -> Rendered:
    """An invited expert hears that the session was booked: when, how, where. The case by its number only (the
    event carries no category, and no party data goes to experts). An online session's video link goes only to
    the inbox (``with_link``), never by SMS, as for applicants: a text is easily forwarded or read by others. The
    SMS sends the expert to their invitation page (the link in the invitation's text), which shows the video
    link once they have accepted (v2; v1 told them to ask the unit for it)."""
    mode = _MODES_ZH[event.mode]
    when = f"时间{local_time(event.starts_at)}"
    if event.mode == "async" and event.ends_at is not None:
        when = f"答复时间{local_time(event.starts_at)}至{local_time(event.ends_at)}"
    where = ""
    if event.mode == "offline" and event.place_zh:
        where = f"，地点{_clean(event.place_zh)}"
    elif event.mode == "online":
        where = (f"，视频链接{event.join_url}" if with_link and event.join_url
                 else "，视频入口请打开邀请短信中的专家邀请页查看")
    greeting = "提醒：" if reminder else "您好："
    head = f"{SIGNATURE}{greeting}您受邀参与的{_case_ref(case_number)}调解已安排{mode}，{when}"
    tail = "。请准时参加；如不能参加请尽快告知调解组织。"
    text = head + where + tail
    if not with_link and len(text) > MAX_APPLICANT_CHARS:  # a long room name gives way before anything is cut
        text = _fit(head + tail)
    if reminder:  # urgent: a reminder held back by the quiet hours would come too late
        return Rendered("expert.session_reminder.v1", f"调解提醒：{local_time(event.starts_at)}", text, urgent=True)
    title = f"调解安排：{local_time(event.starts_at)}"
    return Rendered("expert.session_scheduled.v2", title, text)


def render_expert_answered(event: ExpertAnswered) -> Rendered:
    """The hosting unit hears an invited expert's answer at once (inbox + its channels): the expert by kind and
    name (not a party: the desk needs to know who), the case by its number, whether they come, and — declined or
    refused for a conflict — the reason and that the desk should invite someone else. Not urgent: finding another
    expert is office-hours work (the new expert's own invitation text waits for the quiet hours too), and inbox,
    webhook and e-mail go at once anyway; only a duty officer's WeChat waits until the morning."""
    kind = EXPERT_KINDS_ZH.get(event.expert_kind, "专家")
    who = event.expert_name if kind in event.expert_name else f"{kind}{event.expert_name}"
    how = "（本人在线答复）" if event.answered_by == "expert" else "（工作人员代为登记）"
    case = _case_ref(event.case_number)
    reason = _clean(event.reason_zh or "")
    if len(reason) > 100:
        reason = reason[:99] + "…"
    if event.answer == "accepted":
        text = f"{SIGNATURE}专家答复：{who}已同意参加{case}的调解{how}。"
        title = f"专家已同意 {event.case_number}"
    elif event.answer == "declined":
        why = f"（理由：{reason}）" if reason else ""
        text = f"{SIGNATURE}专家答复：{who}已谢绝参加{case}的调解{why}{how}，请另行邀请。"
        title = f"专家已谢绝 {event.case_number}"
    else:  # refused_conflict: accepted, but must recuse (the reason names a party's role only)
        why = f"，但{reason}" if reason else "，但存在应当回避的情形"
        text = f"{SIGNATURE}专家答复：{who}同意参加{case}的调解{how}{why}，已改为不予邀请，请另行邀请。"
        title = f"专家需回避 {event.case_number}"
    return Rendered(f"unit.expert_answered.{TEMPLATE_VERSION}", title, text)


def render_delivery_fallback(channel_zh: str, fallback_zh: str, template_id: str, case_number: str,
                             error: str) -> Rendered:
    """A message that failed on one channel went by another (an applicant's WeChat → SMS): staff need not call,
    but should know the applicant's WeChat no longer reaches them."""
    text = (f"{SIGNATURE}通知已改发：{_case_ref(case_number)}的一条通知（{template_id}）未能通过{channel_zh}送达"
            f"（{error[:60]}），已改为{fallback_zh}发送给当事人，无需人工补发；如{fallback_zh}也失败将另行提示。")
    return Rendered(f"unit.delivery_fallback.{TEMPLATE_VERSION}", f"通知已改发{fallback_zh} {case_number}", text)


def render_delivery_failed(channel_zh: str, template_id: str, case_number: str, error: str) -> Rendered:
    text = (f"{SIGNATURE}通知发送失败：{_case_ref(case_number)}的一条通知（{template_id}）经多次重试仍未能通过"
            f"{channel_zh}送达（{error[:60]}）。请人工联系当事人，并检查渠道配置。")
    return Rendered(f"unit.delivery_failed.{TEMPLATE_VERSION}", f"通知发送失败 {case_number}", text, urgent=True)


CHANNEL_NAMES_ZH = {"sms": "短信", "wechat": "微信", "email": "电子邮件", "webhook": "系统对接", "inbox": "站内信"}
