"""The applicant's view of a case: redacted, in Beijing time, in Chinese. Pure: the service reads the records and
notify's messages, this shapes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from yima_contracts.codes import CATEGORY_NAMES_ZH, CaseState, Category
from yima_kit.safe_text import plain_field

from .taxonomy import sub_item_name

# States after which the applicant may rate (the closing step arrives on case.status as ``closed``).
RATEABLE = frozenset({CaseState.CLOSED.value, CaseState.FOLLOWED_UP.value})


def public_view(case: dict[str, Any], timeline: list[dict[str, Any]],
                sessions: list[dict[str, Any]] | None = None, now: datetime | None = None,
                messages: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The applicant's redacted view: no personal data of anyone, no risk level, no internal notes.
    ``messages`` are notify's inbox messages; None when they could not be had (the view says so)."""
    shanghai = timedelta(hours=8)
    steps = [
        {
            "state": t["state"],
            # free texts of staff and units' systems are data (docs/adr/0072, 0186): one line, no links
            "title": plain_field(t["title_zh"], 100),
            "detail": plain_field(t.get("detail_zh"), 500),
            "unit": plain_field(t.get("acting_unit_name"), 100) or None,
            "next_step": plain_field(t.get("next_step_zh"), 300),
            "due_at": t["due_at"].isoformat() if t.get("due_at") else None,
            "due_at_local": (t["due_at"] + shanghai).strftime("%Y-%m-%d %H:%M") if t.get("due_at") else None,
            "at": t["occurred_at"].isoformat(),
            "at_local": (t["occurred_at"] + shanghai).strftime("%Y-%m-%d %H:%M"),
        }
        for t in timeline
    ]
    last = steps[-1] if steps else None
    category = Category(case["category"])
    state = last["state"] if last else case["state"]
    return {
        "case_number": case["case_number"],
        "category": case["category"],
        "category_name": CATEGORY_NAMES_ZH[category],
        "sub_item": case.get("sub_item"),
        "sub_item_name": sub_item_name(category, case.get("sub_item")),
        "channel": case["channel"],
        "emergency": bool(case.get("emergency")),
        "state": state,
        "current_unit": next((s["unit"] for s in reversed(steps) if s["unit"]), None),
        "next_step": next((s["next_step"] for s in reversed(steps) if s["next_step"]), ""),
        "can_rate": bool(case.get("closed_at")) or state in RATEABLE,
        "repeat_count": case.get("repeat_count", 1),
        "timeline": steps,
        "sessions": _session_views(sessions or [], now or datetime.now(UTC)),
        "messages": None if messages is None else _message_views(messages),
        "messages_unavailable": messages is None,
    }


SESSION_MODE_ZH = {"online": "线上视频调解", "offline": "现场调解", "async": "错时异步调解"}


def _session_views(sessions: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The applicant's mediation sessions: when, how, where; the video link only until the session ends."""
    shanghai = timedelta(hours=8)
    out = []
    for s in sessions:
        starts = s["starts_at"].replace(tzinfo=UTC)
        ends = s["ends_at"].replace(tzinfo=UTC) if s.get("ends_at") else starts + timedelta(hours=2)
        out.append({
            "mode": s["mode"], "mode_name": SESSION_MODE_ZH.get(s["mode"], s["mode"]),
            "starts_at_local": (starts + shanghai).strftime("%Y-%m-%d %H:%M"),
            "ends_at_local": (ends + shanghai).strftime("%Y-%m-%d %H:%M"),
            "place": plain_field(s.get("place_zh"), 200) or None, "over": ends <= now,
            "join_url": s.get("join_url") if s["mode"] == "online" and ends > now else None,
        })
    return out


# notify's channels, as the applicant knows them (the inbox holds in-app messages; the field is optional)
NOTIFY_CHANNEL_ZH = {"inbox": "站内信", "sms": "短信", "wechat": "微信", "email": "电子邮件"}


def _message_views(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """notify's messages for the applicant: newest first, times in Beijing time, the channel in Chinese."""
    out = []
    for m in sorted(messages, key=lambda m: _utc(m["created_at"]), reverse=True):
        at = _utc(m["created_at"])
        channel = str(m.get("channel") or "inbox")
        out.append({
            "at": at.isoformat(), "at_local": (at + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M"),
            "title": str(m.get("title") or ""), "text": m["text"],
            "channel": channel, "channel_name": NOTIFY_CHANNEL_ZH.get(channel, "其他"),
        })
    return out


def _utc(iso: str) -> datetime:
    at = datetime.fromisoformat(iso)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)  # notify stores UTC
