"""The codes people type (tracking codes, invitation codes): long enough, no look-alikes, every typo caught."""

import random

import pytest
from yima_contracts.human_codes import ALPHABET, CodeError, check_code, display_code, new_code


def test_codes_are_long_enough_and_use_no_look_alikes() -> None:
    codes = {new_code() for _ in range(2000)}
    assert len(codes) == 2000
    for c in codes:
        assert len(c) == 12
        assert not set(c) & set("01ILO")
        assert check_code(c) == c
    assert len(ALPHABET) ** 11 >= 2**50


def test_every_single_typo_and_every_neighbour_swap_is_caught() -> None:
    rng = random.Random(7)
    for _ in range(200):
        code = new_code()
        i = rng.randrange(len(code))
        for sym in ALPHABET:
            if sym != code[i]:
                with pytest.raises(CodeError) as typo:
                    check_code(code[:i] + sym + code[i + 1 :])
                assert typo.value.kind == "typo"
        for j in range(len(code) - 1):
            if code[j] != code[j + 1]:
                with pytest.raises(CodeError):
                    check_code(code[:j] + code[j + 1] + code[j] + code[j + 2 :])


def test_malformed_codes_are_told_apart_from_typos_and_the_display_form_is_accepted_back() -> None:
    for bad in ("", "ABC", "0" * 12, "ABCD-EFGH-IJKL"):
        with pytest.raises(CodeError) as err:
            check_code(bad)
        assert err.value.kind == "shape"
    code = new_code()
    assert display_code(code).count("-") == 2
    assert check_code(f" {display_code(code).lower()} ") == code
