"""Templates render for every event type notify hears: Chinese, versioned, within SMS limits, no personal data."""

from datetime import UTC, datetime, timedelta

import pytest
from yima_contracts import (
    CaseAssigned,
    CaseClosed,
    CaseStatusChanged,
    ExpertAnswered,
    ExpertInvited,
    MediationScheduled,
)
from yima_contracts.codes import CaseState, Category, Outcome, RiskLevel, SupervisionStep
from yima_contracts.risk_events import FollowupDue, WarningRaised
from yima_contracts.routing_events import CaseEscalated, JointSummoned, LeaderAssigned, SupervisionNotice
from yima_notify.core import templates as t
from yima_notify.core.policy import sms_segments

NOW = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)  # 09:30 in Beijing
BASE = {"case_id": "c1", "correlation_id": "c1"}
CN = "JSQ-2026-000001"


@pytest.mark.parametrize("state", list(CaseState))
def test_every_step_renders_in_chinese_within_two_sms_segments(state: CaseState) -> None:
    e = CaseStatusChanged(**BASE, state=state, title_zh="案件已分派", acting_unit_name="黄河社区",
                          next_step_zh="黄河社区将在受理后联系您", due_at=NOW)
    r = t.render_applicant(e, CN, "ABCD-EFGH-JKMN")
    assert r.text.startswith("【一码解纠纷】") and CN in r.text
    assert sms_segments(r.text) <= 2
    assert r.template_id == f"applicant.{state.value}.v1"
    assert "黄河社区" in r.text and "下一步" in r.text  # who acts, what comes next
    p = t.render_proxy(e, CN, "买*")
    assert p.template_id == f"proxy.{state.value}.v1" and "您代买*提交" in p.text and "ABCD" not in p.text


def test_the_first_message_carries_the_tracking_code_and_later_ones_do_not() -> None:
    first = CaseStatusChanged(**BASE, state=CaseState.SUBMITTED, title_zh="纠纷已登记")
    later = CaseStatusChanged(**BASE, state=CaseState.ACCEPTED, title_zh="已受理")
    assert "ABCD-EFGH-JKMN" in t.render_applicant(first, "N", "ABCD-EFGH-JKMN").text
    assert "ABCD-EFGH-JKMN" not in t.render_applicant(later, "N", "ABCD-EFGH-JKMN").text


def test_long_texts_are_cut_to_two_segments() -> None:
    e = CaseStatusChanged(**BASE, state=CaseState.ACCEPTED, title_zh="已受理" * 30, next_step_zh="等" * 200, due_at=NOW)
    assert len(t.render_applicant(e, CN, None).text) <= 140


def test_free_text_fields_of_a_step_are_printed_as_plain_data() -> None:
    """Links, line breaks and control characters in an event's fields never reach the applicant's text: the
    template's own words and checked links only (docs/adr/0072)."""
    e = CaseStatusChanged(**BASE, state=CaseState.CLOSED, title_zh="案件已办结\nhttps://evil.example/pay",
                          acting_unit_name="金水区人民法院 www.evil.cn", next_step_zh="请点击http://evil.example/x\x07")
    for r in (t.render_applicant(e, CN, None), t.render_proxy(e, CN, "买*")):
        assert "evil" not in r.text and "http" not in r.text and "\n" not in r.text and "\x07" not in r.text
        assert "已办结" in r.text and "金水区人民法院" in r.text  # the step (its noun is the case itself)


def _invited(**over) -> ExpertInvited:
    base = dict(**BASE, invitation_id="i1", assignment_id="a1", unit_code="JSQ-LDTJ",
                unit_name="金水区劳动争议调解委员会", person_id="p-1", expert_kind="lawyer", expert_name="李明",
                expert_phone="13812345678", case_number=CN, category=Category.LABOUR_WAGES,
                reply_zh="请尽快联系金水区劳动争议调解委员会答复是否参加。")
    return ExpertInvited(**{**base, **over})


def _answered(**over) -> ExpertAnswered:
    base = dict(**BASE, invitation_id="i1", assignment_id="a1", unit_code="JSQ-LDTJ", person_id="p-1",
                expert_kind="lawyer", expert_name="李明", answer="accepted", answered_by="expert", case_number=CN)
    return ExpertAnswered(**{**base, **over})


def _events() -> list[tuple[str, t.Rendered]]:
    assigned = CaseAssigned(**BASE, assignment_id="a1", unit_code="410105001001", unit_name="黄河社区",
                            supervisor_unit_code="410105001", supervisor_unit_name="丰产路街道",
                            category=Category.NEIGHBOUR, risk_level=RiskLevel.RED, rule_id="r1",
                            reason_zh="邻里纠纷由社区调解", due_at=NOW)
    session = MediationScheduled(**BASE, session_id="s1", unit_code="410105001001", mode="offline",
                                 starts_at=NOW + timedelta(days=2), place_zh="黄河社区调解室",
                                 expert_kinds=["lawyer", "judge"], applicant_message_zh="请携带身份证和相关材料")
    online = session.model_copy(update={"mode": "online", "place_zh": None})
    follow = FollowupDue(**BASE, followup_id="f1", due_at=NOW, unit_code="410105001001", reason_zh="红色案件办结后回访")
    out = [
        ("unit.assigned.v1", t.render_unit_assigned(assigned, CN)),
        ("unit.escalated_in.v1", t.render_escalated(CaseEscalated(
            **BASE, from_unit_code="410105001001", to_unit_code="410105001", reason="overdue",
            reason_zh="社区逾期未办结", assignment_id="a2"), CN, incoming=True)),
        ("unit.escalated_out.v1", t.render_escalated(CaseEscalated(
            **BASE, from_unit_code="410105001001", to_unit_code="410105001", reason="failed",
            reason_zh="调解不成", assignment_id="a2"), CN, incoming=False)),
        ("unit.joint_summoned.v1", t.render_joint_summoned(JointSummoned(
            **BASE, lead_unit_code="410105001", summoned_unit_codes=["410105-labour"], reason_zh="欠薪涉及多部门",
            report_by=NOW), CN)),
        ("unit.leader_assigned.v1", t.render_leader_assigned(LeaderAssigned(
            **BASE, leader_staff_id="s9", leader_name="王建国", unit_code="410105001"), CN)),
        ("unit.warning_raised.v1", t.render_warning(WarningRaised(
            **BASE, warning_id="w1", kind="respondent_cluster", category=Category.LABOUR_WAGES, unit_code="410105001",
            respondent="某建筑公司", case_ids=["c1", "c2", "c3"], window_days=30, threshold=3,
            message_zh="某建筑公司30天内被反映欠薪3次"))),
        ("applicant.session_scheduled.v1", t.render_session(session, CN, reminder=False)),
        ("applicant.session_reminder.v1", t.render_session(online, CN, reminder=True)),
        ("expert.invitation.v1", t.render_expert_invitation(session, CN)),
        ("expert.invited.v1", t.render_expert_invited(_invited())),
        ("unit.expert_answered.v1", t.render_expert_answered(_answered())),
        ("unit.expert_answered.v1", t.render_expert_answered(_answered(answer="declined", reason_zh="当天有庭审"))),
        ("unit.expert_answered.v1", t.render_expert_answered(_answered(
            answer="refused_conflict", reason_zh="与本案第三人存在亲属关系，应当回避", answered_by="staff"))),
        ("applicant.rating_request.v1", t.render_rating_request(CaseClosed(
            **BASE, outcome=Outcome.AGREEMENT, unit_code="410105001001", resolved=True,
            applicant_message_zh="调解成功"), CN)),
        ("applicant.followup.v1", t.render_followup_applicant(follow, CN)),
        ("unit.followup_due.v1", t.render_followup_unit(follow, CN)),
        ("unit.delivery_failed.v1", t.render_delivery_failed("短信", "applicant.accepted.v1", CN, "HTTP 503")),
        ("unit.delivery_fallback.v1", t.render_delivery_fallback("微信", "短信", "applicant.accepted.v1", CN,
                                                                 "WeChat errcode 43004")),
        ("expert.session_scheduled.v2", t.render_expert_session(session, CN, with_link=False)),
        ("expert.session_scheduled.v2", t.render_expert_session(online, CN, with_link=True)),
        ("expert.session_reminder.v1", t.render_expert_session(online, CN, with_link=False, reminder=True)),
    ]
    for step in SupervisionStep:
        notice = SupervisionNotice(**BASE, assignment_id="a1", step=step, unit_code="410105001001",
                                   supervisor_unit_code="410105001", due_at=NOW, message_zh="请按期办结")
        out.append((f"unit.supervision_{step.value}.v1", t.render_supervision(notice, CN)))
        out.append((f"supervisor.supervision_{step.value}.v1", t.render_supervision(notice, CN, to_supervisor=True)))
    return out


@pytest.mark.parametrize(("template_id", "rendered"), _events(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_event_type_renders(template_id: str, rendered: t.Rendered) -> None:
    assert rendered.template_id == template_id
    assert rendered.text.startswith(t.SIGNATURE) and rendered.title
    assert CN in rendered.text or template_id == "unit.warning_raised.v1"
    assert sms_segments(rendered.text) <= 3
    # Times are Beijing time as people read them, never UTC ISO strings.
    assert "T01:30" not in rendered.text and "+00:00" not in rendered.text


def test_times_are_shown_in_beijing_time() -> None:
    assert t.local_time(NOW) == "11月23日 09:30"


def test_supervision_notices_are_urgent_and_warnings_are_not() -> None:
    def notice(step: SupervisionStep) -> SupervisionNotice:
        return SupervisionNotice(**BASE, assignment_id="a", step=step, unit_code="u1", supervisor_unit_code="u0",
                                 due_at=NOW, message_zh="请按期办结")

    assert not t.render_supervision(notice(SupervisionStep.WARNING), CN).urgent
    assert t.render_supervision(notice(SupervisionStep.NOTICE), CN).urgent
    assert "督办" in t.render_supervision(notice(SupervisionStep.NOTICE), CN).text


def test_the_invited_expert_reads_who_invites_which_case_and_how_to_answer() -> None:
    r = t.render_expert_invited(_invited())
    assert r.template_id == "expert.invited.v1" and r.title == f"专家邀请 {CN}" and not r.urgent
    assert r.text == (f"【一码解纠纷】李明律师您好：金水区劳动争议调解委员会邀请您参与案件{CN}（劳动争议/欠薪）的调解。"
                      "请尽快联系金水区劳动争议调解委员会答复是否参加。")
    assert "13812345678" not in r.text  # the expert's own phone is the address, never the text
    named = t.render_expert_invited(_invited(expert_name="周法官", expert_kind="judge"))
    assert "周法官您好" in named.text  # not 周法官法官


def test_a_known_session_is_in_the_invitation_in_beijing_time() -> None:
    offline = t.render_expert_invited(_invited(session_id="s1", mode="offline", starts_at=NOW, place_zh="第一调解室"))
    assert "现场调解，时间11月23日 09:30，地点第一调解室" in offline.text
    online = t.render_expert_invited(_invited(session_id="s2", mode="online", starts_at=NOW,
                                              join_url="https://m.yima.cn/r/a1"))
    assert "李明律师您好" in online.text and "视频链接https://m.yima.cn/r/a1" in online.text


def test_a_long_invitation_drops_the_extras_before_the_answer_is_cut() -> None:
    link = "https://meet.yima.local/room/" + "0" * 36
    # the greeting by name gives way to the video link …
    r = t.render_expert_invited(_invited(expert_name="买买提·艾力江", session_id="s2", mode="online", starts_at=NOW,
                                         join_url="https://m.yima.cn/r/abc123"))
    assert "买买提" not in r.text and "https://m.yima.cn/r/abc123" in r.text and len(r.text) <= t.MAX_APPLICANT_CHARS
    # … then a link that cannot fit goes, and the room; how to answer always survives
    r = t.render_expert_invited(_invited(unit_name="金水区" + "矛盾纠纷多元化解" * 4 + "中心", session_id="s2",
                                         mode="offline", starts_at=NOW, place_zh="调解中心" * 10,
                                         reply_zh="请尽快联系调解中心答复是否参加"))
    assert len(r.text) <= t.MAX_APPLICANT_CHARS and sms_segments(r.text) <= 3
    assert r.text.endswith("请尽快联系调解中心答复是否参加。") and CN in r.text and "劳动争议/欠薪" in r.text
    assert "地点" not in r.text and "李明" not in r.text
    r = t.render_expert_invited(_invited(session_id="s3", mode="online", starts_at=NOW, join_url=link))
    assert link not in r.text and "线上视频调解，时间11月23日 09:30" in r.text


CODE = "ABCD2345EFGH"
PAGE = "http://127.0.0.1:8003"


def test_an_invitation_with_a_code_links_to_the_experts_page_and_never_carries_the_video_link() -> None:
    link = "https://m.yima.cn/r/a1"
    r = t.render_expert_invited(_invited(session_id="s2", mode="online", starts_at=NOW, join_url=link,
                                         invitation_code=CODE), PAGE)
    assert r.template_id == "expert.invited.v2" and r.title == f"专家邀请 {CN}" and not r.urgent
    assert r.text == (f"【一码解纠纷】您好：金水区劳动争议调解委员会邀请您参与案件{CN}的调解，"
                      f"线上视频调解，时间11月23日 09:30。请打开{PAGE}/invite/{CODE} "
                      "答复并查看安排（核对本机号码后四位）。")
    named = t.render_expert_invited(_invited(invitation_code=CODE), PAGE)  # no session: room for the greeting
    assert named.text.startswith("【一码解纠纷】李明律师您好：") and named.template_id == "expert.invited.v2"
    assert link not in r.text and "13812345678" not in r.text and len(r.text) <= t.MAX_APPLICANT_CHARS
    # a trailing slash in the setting makes no double slash
    assert f"{PAGE}/invite/{CODE} " in t.render_expert_invited(_invited(invitation_code=CODE), PAGE + "/").text
    # long names give way, the page link is never cut (a third segment rather than a broken link)
    long = t.render_expert_invited(_invited(unit_name="金水区" + "矛盾纠纷多元化解" * 5 + "中心", session_id="s2",
                                            mode="offline", starts_at=NOW, place_zh="调解中心" * 10,
                                            invitation_code=CODE), "https://tiaojie.zhengzhou.example.gov.cn/m")
    assert "https://tiaojie.zhengzhou.example.gov.cn/m/invite/ABCD2345EFGH " in long.text and "地点" not in long.text
    assert long.text.endswith("（核对本机号码后四位）。") and sms_segments(long.text) <= 3
    # without a code (no phone, or an older event) the text is the v1 one: answer through the unit
    old = t.render_expert_invited(_invited(session_id="s2", mode="online", starts_at=NOW, join_url=link), PAGE)
    assert old.template_id == "expert.invited.v1" and "/invite/" not in old.text and "答复是否参加" in old.text


def _session(**over) -> MediationScheduled:
    base = dict(**BASE, session_id="s1", unit_code="JSQ-LDTJ", mode="offline", starts_at=NOW, place_zh="第一调解室",
                expert_kinds=["lawyer"], expert_person_ids=["p-1"], applicant_message_zh="已为您安排调解")
    return MediationScheduled(**{**base, **over})


def test_an_invited_expert_reads_the_sessions_time_place_and_kind() -> None:
    r = t.render_expert_session(_session(), CN, with_link=False)
    assert r.template_id == "expert.session_scheduled.v2" and not r.urgent and r.title == "调解安排：11月23日 09:30"
    assert r.text == (f"【一码解纠纷】您好：您受邀参与的案件{CN}调解已安排现场调解，"
                      "时间11月23日 09:30，地点第一调解室。请准时参加；如不能参加请尽快告知调解组织。")
    assert sms_segments(r.text) <= 2
    window = t.render_expert_session(_session(mode="async", place_zh=None, ends_at=NOW + timedelta(days=3)), CN,
                                     with_link=False)
    assert "错时异步调解，答复时间11月23日 09:30至11月26日 09:30" in window.text
    # a long room name gives way; the time and how to answer never do
    long_room = t.render_expert_session(_session(place_zh="调解中心" * 30), CN, with_link=False)
    assert len(long_room.text) <= t.MAX_APPLICANT_CHARS and "时间11月23日 09:30" in long_room.text
    assert long_room.text.endswith("如不能参加请尽快告知调解组织。")


def test_an_online_sessions_link_is_only_in_the_experts_inbox_never_in_the_text() -> None:
    link = "https://meet.yima.local/room/" + "0" * 60
    online = _session(mode="online", place_zh=None, join_url=link)
    sms = t.render_expert_session(online, CN, with_link=False)
    assert link not in sms.text and "meet.yima" not in sms.text
    assert "视频入口请打开邀请短信中的专家邀请页查看" in sms.text
    assert "线上视频调解，时间11月23日 09:30" in sms.text and len(sms.text) <= t.MAX_APPLICANT_CHARS
    inbox = t.render_expert_session(online, CN, with_link=True)
    assert f"视频链接{link}" in inbox.text  # the inbox is not a text: the link is never cut
    assert inbox.template_id == sms.template_id


def test_staff_read_that_a_failed_wechat_went_by_text() -> None:
    r = t.render_delivery_fallback("微信", "短信", "applicant.accepted.v1", CN, "WeChat errcode 43004")
    assert "未能通过微信送达" in r.text and "已改为短信发送给当事人" in r.text and "无需人工补发" in r.text
    assert not r.urgent and r.title == f"通知已改发短信 {CN}"


def test_the_hosting_unit_reads_the_experts_answer_and_what_to_do() -> None:
    ok = t.render_expert_answered(_answered())
    assert ok.template_id == "unit.expert_answered.v1" and ok.title == f"专家已同意 {CN}" and not ok.urgent
    assert ok.text == f"【一码解纠纷】专家答复：律师李明已同意参加案件{CN}的调解（本人在线答复）。"
    no = t.render_expert_answered(_answered(answer="declined", reason_zh="当天有庭审。", answered_by="staff"))
    assert no.title == f"专家已谢绝 {CN}" and not no.urgent  # office-hours work: see the template's docstring
    assert no.text == (f"【一码解纠纷】专家答复：律师李明已谢绝参加案件{CN}的调解（理由：当天有庭审）"
                       "（工作人员代为登记），请另行邀请。")
    bare = t.render_expert_answered(_answered(answer="declined", expert_name="周律师"))  # no reason given
    assert bare.text == f"【一码解纠纷】专家答复：周律师已谢绝参加案件{CN}的调解（本人在线答复），请另行邀请。"
    refused = t.render_expert_answered(_answered(answer="refused_conflict", expert_kind="judge", expert_name="陈某",
                                                 reason_zh="与本案第三人存在亲属关系，应当回避"))
    assert refused.title == f"专家需回避 {CN}" and not refused.urgent
    assert refused.text == (f"【一码解纠纷】专家答复：法官陈某同意参加案件{CN}的调解（本人在线答复），"
                            "但与本案第三人存在亲属关系，应当回避，已改为不予邀请，请另行邀请。")
    long = t.render_expert_answered(_answered(answer="declined", reason_zh="因" * 500))
    assert "因" * 99 + "…" in long.text and "因" * 100 not in long.text and long.text.endswith("请另行邀请。")
