"""Digests never drop a step, name each fact once, and read as Chinese — for every pair of templates that can
meet in one person's digest (the applicant's, a proxy's, an expert's, a unit duty officer's WeChat)."""

import itertools
import re
from datetime import UTC, datetime, timedelta

import pytest
from yima_contracts import CaseAssigned, CaseClosed, CaseStatusChanged, ExpertInvited, MediationScheduled
from yima_contracts.codes import CaseState, Category, Outcome, RiskLevel, SupervisionStep
from yima_contracts.risk_events import FollowupDue, WarningRaised
from yima_contracts.routing_events import JointSummoned, LeaderAssigned, SupervisionNotice
from yima_notify.core import templates as t
from yima_notify.core.digest import plan_digest
from yima_notify.core.policy import LONG_SMS_MAX_CHARS

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
BASE = {"case_id": "c1", "correlation_id": "c1"}
CN = "ZYQ-2026-000123"
SIG = t.SIGNATURE
UNIT = "中原区绿东村街道建设路社区人民调解委员会"  # a long, real-looking name: the worst case for length

# The steps as their producers title them (intake, routing, mediation): what the applicant is told.
STEPS = [
    (CaseState.SUBMITTED, "纠纷已登记", "平台正在评估风险并分派给负责处理的单位，分派后会通知您", None),
    (CaseState.ASSIGNED, "案件已分派", f"{UNIT}将在受理后联系您", NOW + timedelta(days=3)),
    (CaseState.ESCALATED, "案件已提级办理", f"{UNIT}将在受理后联系您", NOW + timedelta(days=5)),
    (CaseState.ACCEPTED, "承办单位已受理", "承办单位将联系您了解情况并组织调解", NOW + timedelta(days=15)),
    (CaseState.ACCEPTED, "办理进展", "承办单位正在办理", None),
    (CaseState.RETURNED, "案件正在重新分派", "督办单位将把案件交给更合适的单位，分派后会通知您", None),
    (CaseState.IN_MEDIATION, "调解员已接案", "调解员将与您联系安排调解", None),
    (CaseState.RESOLVED, "纠纷已化解", "请对办理结果进行评价", None),
    (CaseState.FAILED, "调解未成功", "督办单位将研究下一步处理方式并通知您", None),
    (CaseState.CLOSED, "案件已办结", "欢迎您对本次处理进行满意度评价", None),
    (CaseState.RATED, "感谢您的评价", "", None),
]


def _status(state: CaseState, title: str, nxt: str, due: datetime | None) -> CaseStatusChanged:
    return CaseStatusChanged(**BASE, state=state, title_zh=title, acting_unit_name=UNIT, next_step_zh=nxt, due_at=due)


def _session(mode: str) -> MediationScheduled:
    return MediationScheduled(
        **BASE,
        session_id="s1",
        unit_code="u1",
        mode=mode,
        starts_at=NOW + timedelta(days=1),  # type: ignore[arg-type]
        ends_at=NOW + timedelta(days=2) if mode == "async" else None,
        place_zh="中原区矛调中心第三调解室" if mode == "offline" else None,
        applicant_message_zh="已为您安排线上视频调解，时间：2026年12月08日 10:00，请凭查询码进入视频调解。",
    )


def applicant_texts() -> dict[str, str]:
    out = {
        f"status.{s.value}.{title}": t.render_applicant(_status(s, title, nxt, due), CN, "ABCD-EFGH-JKMN").text
        for s, title, nxt, due in STEPS
    }
    for mode in ("online", "offline", "async"):
        out[f"session.{mode}"] = t.render_session(_session(mode), CN, reminder=False).text
        out[f"reminder.{mode}"] = t.render_session(_session(mode), CN, reminder=True).text
    closed = CaseClosed(
        **BASE, outcome=Outcome.AGREEMENT, unit_code="u1", resolved=True, applicant_message_zh="调解成功"
    )
    out["rating"] = t.render_rating_request(closed, CN).text
    out["followup"] = t.render_followup_applicant(
        FollowupDue(**BASE, followup_id="f1", due_at=NOW, unit_code="u1", reason_zh="红色案件回头看"), CN
    ).text
    return out


def proxy_texts() -> dict[str, str]:
    return {
        f"proxy.{s.value}.{title}": t.render_proxy(_status(s, title, nxt, due), CN, "张*").text
        for s, title, nxt, due in STEPS
    }


def unit_texts() -> dict[str, str]:
    assigned = CaseAssigned(
        **BASE,
        assignment_id="a1",
        unit_code="u1",
        unit_name=UNIT,
        supervisor_unit_code="u0",
        supervisor_unit_name="中原区矛盾纠纷调处化解中心",
        category=Category.NEIGHBOUR,
        risk_level=RiskLevel.RED,
        rule_id="r1",
        reason_zh="邻里纠纷由社区调解",
        due_at=NOW,
    )
    sup = SupervisionNotice(
        **BASE,
        assignment_id="a1",
        unit_code="u1",
        supervisor_unit_code="u0",
        step=SupervisionStep.NOTICE,
        due_at=NOW,
        message_zh="请立即办理",
    )
    summoned = JointSummoned(
        **BASE,
        joint_id="sm1",
        lead_unit_code="u0",
        lead_unit_name="石湾镇街道综治中心",
        summoned_unit_codes=["u1"],
        reason_zh="机耕路纠纷需联合处置",
        report_by=NOW,
        report_what_zh="到场时间、参加人员和处置意见",
    )
    leader = LeaderAssigned(**BASE, leader_staff_id="s1", leader_name="王建国", unit_code="u1")
    warning = WarningRaised(
        **BASE,
        warning_id="w1",
        kind="place_cluster",
        unit_code="u1",
        category=Category.NEIGHBOUR,
        threshold=3,
        place_name="建设路社区第一网格",
        window_days=7,
        case_ids=["c1", "c2", "c3"],
        message_zh="同一地点（建设路社区第一网格）7天内邻里纠纷3件",
    )
    return {
        "assigned": t.render_unit_assigned(assigned, CN).text,
        "supervision": t.render_supervision(sup, CN).text,
        "summoned": t.render_joint_summoned(summoned, CN).text,
        "leader": t.render_leader_assigned(leader, CN).text,
        "warning": t.render_warning(warning).text,
    }


def expert_texts() -> dict[str, str]:
    inv = ExpertInvited(
        **BASE,
        invitation_id="i1",
        assignment_id="a1",
        unit_code="u1",
        unit_name=UNIT,
        person_id="p1",
        expert_kind="lawyer",
        expert_name="李明",
        expert_phone="13812345678",
        case_number=CN,
        category=Category.NEIGHBOUR,
        reply_zh="请答复",
        invitation_code="K7Q2M9XPL4RT",
        starts_at=NOW,
        mode="online",
    )
    ses = _session("offline")
    return {
        "invited": t.render_expert_invited(inv, "https://yima.example.cn").text,
        "session": t.render_expert_session(ses, CN, with_link=False).text,
        "reminder": t.render_expert_session(ses, CN, with_link=False, reminder=True).text,
    }


AUDIENCES = {"applicant": applicant_texts(), "proxy": proxy_texts(), "unit": unit_texts(), "expert": expert_texts()}
PAIRS = [(aud, a, b) for aud, texts in AUDIENCES.items() for a, b in itertools.product(texts, repeat=2)]
TIME = re.compile(r"\d{1,2}月\d{1,2}日 \d{2}:\d{2}")


def _reads_as_chinese(text: str) -> None:
    for bad in ("。。", "，，", "。，", "，。", "纠纷）纠纷", "纠纷）案件", "：：", "的的", "（编号）"):
        assert bad not in text, (bad, text)


@pytest.mark.parametrize("audience,a,b", PAIRS, ids=[f"{x}:{a}+{b}" for x, a, b in PAIRS])
def test_every_pair_that_meets_in_a_digest_arrives_whole_and_says_each_fact_once(audience: str, a: str, b: str) -> None:
    texts = AUDIENCES[audience]
    pair = [texts[a], texts[b]]
    parts = plan_digest(SIG, pair, LONG_SMS_MAX_CHARS)
    assert sorted(i for p in parts for i in p.members) == [0, 1]  # each message in exactly one text
    for part in parts:
        assert part.text.startswith(SIG) and part.text.count(SIG) == 1
        assert len(part.text) <= LONG_SMS_MAX_CHARS
        _reads_as_chinese(part.text)
        for i in part.members:  # the step is all there: every sentence after the case reference
            body = pair[i].removeprefix(SIG)
            tail = re.sub(r"^您的纠纷（编号[^）]+）[，：]?", "", body)
            for sentence in re.findall(r"[^。]+。?", tail):
                assert sentence in part.text, (sentence, part.text)
        for sentence in set(re.findall(r"[^。]+。", part.text.split("：", 1)[-1])):
            assert part.text.count(sentence) == 1 or len(sentence) < 4, (sentence, part.text)  # each fact once
        if audience == "applicant" and len(part.members) == 2:
            assert part.text.count(CN) == 1  # the case named once, at the head
            if a != b:
                assert part.text.startswith(f"{SIG}您的纠纷（编号{CN}）有2条新进展：①")


@pytest.mark.parametrize("name,text", [(f"{aud}:{k}", v) for aud, tx in AUDIENCES.items() for k, v in tx.items()])
def test_each_template_reads_as_chinese_and_says_each_fact_once(name: str, text: str) -> None:
    _reads_as_chinese(text)
    times = TIME.findall(text)
    assert len(times) == len(set(times)), text  # a session's time (or a deadline) once
    assert "年" not in text.replace("周年", "")  # dates as people read them (12月8日), never 2026年12月08日
    if name.startswith("applicant"):
        assert text.count(CN) == 1 and "纠纷（编号" in text


def test_the_zhongyuan_burst_assigned_accepted_and_session_arrives_whole() -> None:
    """The seed's burst: dispatched, accepted and an online session booked within two minutes — the text naming
    the handling unit is not dropped, and nothing said twice."""
    texts = applicant_texts()
    burst = [texts["status.assigned.案件已分派"], texts["status.accepted.承办单位已受理"], texts["session.online"]]
    parts = plan_digest(SIG, burst, LONG_SMS_MAX_CHARS)
    joined = "".join(p.text for p in parts)
    assert "已分派" in joined and f"{UNIT}已受理" in joined and "已安排线上视频调解" in joined
    assert sorted(i for p in parts for i in p.members) == [0, 1, 2]
    assert "较早消息" not in joined
    assert all(len(p.text) <= LONG_SMS_MAX_CHARS for p in parts)


def test_a_deadline_said_by_two_steps_is_said_once() -> None:
    texts = applicant_texts()
    due = NOW + timedelta(days=15)
    assigned = t.render_applicant(_status(CaseState.ASSIGNED, "案件已分派", "将在受理后联系您", due), CN, None).text
    accepted = t.render_applicant(_status(CaseState.ACCEPTED, "承办单位已受理", "将联系您", due), CN, None).text
    [part] = plan_digest(SIG, [assigned, accepted, texts["session.online"]], LONG_SMS_MAX_CHARS)
    assert part.text.count("办理期限") == 1 and "③已安排线上视频调解" in part.text
    [same] = plan_digest(SIG, [accepted, accepted], LONG_SMS_MAX_CHARS)  # nothing new: one step, said once
    assert same.members == (0, 1) and same.text.count("已受理") == 1 and "新进展" not in same.text


def test_a_long_burst_is_split_in_order_and_a_single_message_goes_as_it_is() -> None:
    texts = [f"{SIG}您的纠纷（编号{CN}）已受理，第{i}条。" + f"第{i}条的说明" * 10 for i in range(9)]
    parts = plan_digest(SIG, texts, LONG_SMS_MAX_CHARS)
    assert len(parts) > 1 and [i for p in parts for i in p.members] == list(range(9))
    assert all(len(p.text) <= LONG_SMS_MAX_CHARS for p in parts)
    assert plan_digest(SIG, texts[:1], LONG_SMS_MAX_CHARS)[0].text == texts[0]
    other = plan_digest(SIG, [f"{SIG}甲。", f"{SIG}乙。"], LONG_SMS_MAX_CHARS)
    assert [p.text for p in other] == [f"{SIG}您有2条新消息：①甲。②乙。"]
    assert plan_digest(SIG, [], LONG_SMS_MAX_CHARS) == []


# --- when a text goes: the SMS digest decision (core.digest) ------------------------------------------------

def test_the_digest_window_holds_a_text_until_it_ends_then_gathers_everything_due() -> None:
    from datetime import UTC, datetime, timedelta

    from yima_notify.core.digest import SmsDecision, sms_digest_decision

    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    window = timedelta(minutes=2)
    assert sms_digest_decision(window, now - timedelta(seconds=30), now) == SmsDecision(
        hold_until=now + timedelta(seconds=90))
    assert sms_digest_decision(window, now - window, now) == SmsDecision(gather=True)
    assert sms_digest_decision(window, None, now) == SmsDecision(gather=True)  # nobody texted this person yet
    assert sms_digest_decision(timedelta(0), now, now) == SmsDecision()  # no window: each text alone, at once


def test_a_text_waits_for_an_earlier_one_on_its_way_but_not_behind_a_long_backoff() -> None:
    from datetime import UTC, datetime, timedelta

    from yima_notify.core.digest import ORDER_RECHECK, InFlight, wait_for_earlier

    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    ttl, poll = timedelta(seconds=60), timedelta(seconds=1)
    mine = now - timedelta(seconds=10)
    sending = InFlight("sending", mine - timedelta(seconds=1), claimed_at=now - timedelta(seconds=58))
    assert wait_for_earlier(mine, None, [sending], now, ttl, poll) == now + timedelta(seconds=2)  # claim expires
    retry_soon = InFlight("queued", mine - timedelta(seconds=1), not_before=now + timedelta(seconds=30), batched=True)
    assert wait_for_earlier(mine, None, [retry_soon], now, ttl, poll) == now + ORDER_RECHECK
    retry_late = InFlight("queued", mine - timedelta(seconds=1), not_before=now + timedelta(hours=1), batched=True)
    never_tried = InFlight("queued", mine - timedelta(seconds=1), not_before=now)
    later = InFlight("sending", mine + timedelta(seconds=1), claimed_at=now)
    assert wait_for_earlier(mine, None, [retry_late, never_tried, later], now, ttl, poll) is None
    same_ms = InFlight("sending", mine, seq=1, claimed_at=now - timedelta(seconds=58))
    assert wait_for_earlier(mine, 2, [same_ms], now, ttl, poll) is not None  # staged first in the same millisecond
    assert wait_for_earlier(mine, 0, [same_ms], now, ttl, poll) is None
