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
