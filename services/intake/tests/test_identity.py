import pytest
from yima_intake.core.identity import (
    TrackingCodeError,
    display_tracking_code,
    new_tracking_code,
    validate_tracking_code,
)


def test_a_mistyped_code_and_a_malformed_one_get_different_chinese_answers() -> None:
    code = new_tracking_code()
    typo = code[:3] + ("A" if code[3] != "A" else "B") + code[4:]
    with pytest.raises(TrackingCodeError, match="可能输错了一位"):
        validate_tracking_code(typo)
    with pytest.raises(TrackingCodeError, match="应为12位"):
        validate_tracking_code("ABC")


def test_display_form_is_accepted_back() -> None:
    code = new_tracking_code()
    shown = display_tracking_code(code)
    assert shown.count("-") == 2
    assert validate_tracking_code(shown.lower()) == code
