"""Pure domain rules of mediation: working hours, availability, room slots, turns, conflicts, the
agreement PDF and the case-file package."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from yima_kit.pdf import ensure_cjk_font
from yima_mediation.adapters.agreement_pdf import render_agreement
from yima_mediation.core import states
from yima_mediation.core.agreement import AgreementDoc, AgreementParty, Confirmation, sha256_hex
from yima_mediation.core.conflict import PartyRef, PersonRef, Relation, conflicts
from yima_mediation.core.package import build_package
from yima_mediation.core.schedule import (
    SHANGHAI,
    ScheduleError,
    Window,
    check_async_window,
    check_live_session,
    next_turn,
    room_slots,
    unavailable_parties,
)

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai


def sh(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SHANGHAI)


def test_a_session_within_working_hours_of_a_workday_is_accepted() -> None:
    check_live_session(sh(2026, 11, 24, 9), sh(2026, 11, 24, 11), NOW)
    check_live_session(sh(2026, 11, 24, 14), sh(2026, 11, 24, 18), NOW)


@pytest.mark.parametrize("start,end,code", [
    (sh(2026, 11, 24, 12), sh(2026, 11, 24, 13), "outside_working_hours"),  # lunch break
    (sh(2026, 11, 24, 7), sh(2026, 11, 24, 9), "outside_working_hours"),
    (sh(2026, 11, 24, 17), sh(2026, 11, 24, 19), "outside_working_hours"),
    (sh(2026, 11, 28, 9), sh(2026, 11, 28, 10), "not_a_workday"),  # Saturday
    (sh(2026, 10, 1, 9), sh(2026, 10, 1, 10), "in_the_past"),
    (sh(2026, 11, 24, 10), sh(2026, 11, 24, 9), "end_before_start"),
])
def test_sessions_outside_working_time_are_refused(start: datetime, end: datetime, code: str) -> None:
    with pytest.raises(ScheduleError) as exc:
        check_live_session(start, end, NOW)
    assert exc.value.code == code and exc.value.message


def test_national_day_holiday_is_not_a_workday_but_a_makeup_saturday_is() -> None:
    later = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ScheduleError, match="工作日"):
        check_live_session(sh(2026, 10, 2, 9), sh(2026, 10, 2, 10), later - timedelta(days=300))
    # 2026-01-04 (Sunday) is a make-up workday (调休) for New Year's Day
    check_live_session(sh(2026, 1, 4, 9), sh(2026, 1, 4, 10), datetime(2025, 12, 30, tzinfo=UTC))


def test_async_window_bounds() -> None:
    check_async_window(NOW, NOW + timedelta(days=3), NOW)
    with pytest.raises(ScheduleError):
        check_async_window(NOW, NOW + timedelta(hours=1), NOW)
    with pytest.raises(ScheduleError):
        check_async_window(NOW, NOW + timedelta(days=30), NOW)


def test_only_parties_whose_windows_miss_the_session_are_named() -> None:
    s, e = sh(2026, 11, 24, 9), sh(2026, 11, 24, 10)
    avail = {"p1": [Window(sh(2026, 11, 24, 8), sh(2026, 11, 24, 12))],
             "p2": [Window(sh(2026, 11, 24, 14), sh(2026, 11, 24, 18))], "p3": []}
    assert unavailable_parties(s, e, avail) == ["p2"]


def test_room_slots_cover_the_booking_in_half_hours() -> None:
    slots = room_slots(sh(2026, 11, 24, 9, 15), sh(2026, 11, 24, 10, 0))
    assert [t.astimezone(SHANGHAI).strftime("%H:%M") for t in slots] == ["09:00", "09:30"]
    # overlapping bookings share a slot: the unique index refuses the second
    assert set(slots) & set(room_slots(sh(2026, 11, 24, 9, 45), sh(2026, 11, 24, 11)))
    assert not set(slots) & set(room_slots(sh(2026, 11, 24, 10), sh(2026, 11, 24, 11)))


def test_async_turns_alternate() -> None:
    assert next_turn(["p1", "p2"], []) == "p1"
    assert next_turn(["p1", "p2"], ["p1"]) == "p2"
    assert next_turn(["p1", "p2"], ["p1", "p2"]) == "p1"


def test_conflicts_name_the_reason() -> None:
    parties = [PartyRef("p1", "applicant", "A"), PartyRef("p2", "respondent", "B")]
    assert conflicts(PersonRef("C"), parties) == []
    assert conflicts(PersonRef("C", (Relation("B", "亲属"),)), parties) == ["与本案被申请人存在亲属关系，应当回避"]
    assert "本人即为本案申请人" in conflicts(PersonRef("A"), parties)[0]
    assert "任职于本案被申请人" in conflicts(PersonRef("C", employer_index="B"), parties)[0]


def test_illegal_moves_are_refused_in_chinese() -> None:
    states.check("accept", states.NEW)
    with pytest.raises(states.IllegalMove, match="已办结"):
        states.check("sign", states.CLOSED)


def test_package_is_deterministic_and_lists_each_file_hash() -> None:
    a, ha = build_package({"case_id": "c1"}, {"case.json": b"{}", "documents/x.pdf": b"%PDF"})
    b, hb = build_package({"case_id": "c1"}, {"documents/x.pdf": b"%PDF", "case.json": b"{}"})
    assert a == b and ha == hb and ha == sha256_hex(a)
    with zipfile.ZipFile(io.BytesIO(a)) as z:
        assert sorted(z.namelist()) == ["case.json", "documents/x.pdf", "manifest.json"]
        assert sha256_hex(b"%PDF") in z.read("manifest.json").decode()


def test_agreement_pdf_embeds_a_cjk_font_and_is_reproducible(tmp_path: Path) -> None:
    font = ensure_cjk_font("", Path.home() / ".cache/yima/fonts")
    signed = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    doc = AgreementDoc(
        agreement_no="JSQ-LDTJ-调-2026-00001", kind="people", unit_name="金水区劳动争议人民调解委员会",
        case_number="JSQ-2026-000001",
        parties=[AgreementParty("applicant", "买买提·艾力", "138****5678"), AgreementParty("respondent", "某建筑公司")],
        facts_zh="申请人在被申请人处务工，被拖欠工资两万元。", terms=["被申请人于2026年12月1日前支付工资20000元。"],
        mediators=["王调解"], experts=["律师李明"],
        confirmations=[Confirmation("买买提·艾力", "video", signed), Confirmation("某建筑公司", "signature", signed)],
        signed_at=signed)
    pdf = render_agreement(doc, font)
    assert pdf.startswith(b"%PDF") and b"/FontFile2" in pdf  # the TrueType font is embedded (subset)
    assert render_agreement(doc, font) == pdf  # same agreement, same bytes, same SHA-256
    assert len(sha256_hex(pdf)) == 64
