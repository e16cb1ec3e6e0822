import random

import pytest
from yima_intake.core.identity import (
    ALPHABET,
    TrackingCodeError,
    display_tracking_code,
    new_tracking_code,
    validate_tracking_code,
)


def test_codes_are_long_enough_and_use_no_look_alikes() -> None:
    codes = {new_tracking_code() for _ in range(2000)}
    assert len(codes) == 2000
    for c in codes:
        assert len(c) == 12
        assert not set(c) & set("01ILO")
        assert validate_tracking_code(c) == c
    assert len(ALPHABET) ** 11 >= 2**50


def test_every_single_typo_and_every_neighbour_swap_is_caught() -> None:
    rng = random.Random(7)
    for _ in range(200):
        code = new_tracking_code()
        i = rng.randrange(len(code))
        for sym in ALPHABET:
            if sym != code[i]:
                with pytest.raises(TrackingCodeError):
                    validate_tracking_code(code[:i] + sym + code[i + 1 :])
        for j in range(len(code) - 1):
            if code[j] != code[j + 1]:
                swapped = code[:j] + code[j + 1] + code[j] + code[j + 2 :]
                with pytest.raises(TrackingCodeError):
                    validate_tracking_code(swapped)


def test_display_form_is_accepted_back() -> None:
    code = new_tracking_code()
    shown = display_tracking_code(code)
    assert shown.count("-") == 2
    assert validate_tracking_code(shown.lower()) == code
