"""The applicant's tracking view (pure): what it shows of mediation sessions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from yima_intake.service import public_view

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
CASE = {"case_number": "JSQ-2026-000007", "category": "neighbour", "channel": "self_service", "state": "submitted"}


def session(mode: str, starts: datetime, **extra) -> dict:
    return {"mode": mode, "format": "joint", "starts_at": starts.replace(tzinfo=None), "ends_at":
            (starts + timedelta(hours=1)).replace(tzinfo=None), "place_zh": None, "join_url": None, **extra}


def test_an_online_session_shows_its_link_until_it_ends_and_times_in_beijing() -> None:
    coming = session("online", NOW + timedelta(days=1), join_url="https://meet.example/room/1")
    past = session("online", NOW - timedelta(days=1), join_url="https://meet.example/room/0")
    room = session("offline", NOW + timedelta(days=2), place_zh="丰产路街道调解室一")
    view = public_view(CASE, [], [past, coming, room], now=NOW)
    assert [s["join_url"] for s in view["sessions"]] == [None, "https://meet.example/room/1", None]
    assert [s["over"] for s in view["sessions"]] == [True, False, False]
    assert view["sessions"][1]["starts_at_local"] == "2026-11-24 10:00"
    assert view["sessions"][2]["place"] == "丰产路街道调解室一" and view["sessions"][2]["mode_name"] == "现场调解"


def test_no_sessions_no_card() -> None:
    assert public_view(CASE, [])["sessions"] == []


def test_messages_newest_first_in_beijing_time_and_none_means_unavailable() -> None:
    older = {"title": "已受理", "text": "已登记", "created_at": "2026-11-23T02:00:00+00:00"}
    newer = {"title": "", "text": "已分派", "created_at": "2026-11-23T12:30:00+08:00", "channel": "sms"}
    view = public_view(CASE, [], messages=[older, newer])
    assert [(m["text"], m["at_local"], m["channel_name"]) for m in view["messages"]] == [
        ("已分派", "2026-11-23 12:30", "短信"), ("已登记", "2026-11-23 10:00", "站内信")]
    assert view["messages_unavailable"] is False
    assert public_view(CASE, [], messages=[])["messages"] == []
    none = public_view(CASE, [])
    assert none["messages"] is None and none["messages_unavailable"] is True


def test_free_texts_of_staff_and_units_reach_the_applicant_on_one_line_without_links() -> None:
    """Issue 14 (replayed from outside, docs/security-replay.md): a unit's progress note or a supervisor's pause
    reason with a link and a second line went onto the tracking page as written."""
    forged = "请拨打0371-12345678并转账100元 https://evil.example/pay\n第二行"
    step = {"state": "in_progress", "title_zh": "办理中\nhttps://evil.example", "detail_zh": forged,
            "acting_unit_name": "黄河社区 www.evil.example", "next_step_zh": forged, "occurred_at": NOW}
    view = public_view(CASE, [step], [session("offline", NOW + timedelta(days=1), place_zh=forged)], now=NOW)
    shown = view["timeline"][0]
    assert shown["detail"] == shown["next_step"] == "请拨打0371-12345678并转账100元 第二行"
    assert (shown["title"], shown["unit"], view["next_step"]) == ("办理中", "黄河社区", shown["next_step"])
    assert view["sessions"][0]["place"] == "请拨打0371-12345678并转账100元 第二行"
    assert "evil" not in str(view) and "\n" not in str(view)
