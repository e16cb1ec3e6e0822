"""Codes people type (pure): the applicant's tracking code (查询码) and an invited expert's invitation code.

One shape for both, since both are printed, texted and typed by the same people: 11 random symbols from a
31-letter alphabet without look-alikes (no 0/O, 1/I/L) — 54 bits — plus a weighted mod-31 check symbol. The
check catches every single mistyped symbol and every swap of two symbols, so "you typed it wrong" can be told
apart from "no such code". Shown as XXXX-XXXX-XXXX. The services keep only a keyed blind index of a code.
"""

from __future__ import annotations

import secrets
from typing import Literal

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_N = len(ALPHABET)  # 31, a prime
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
RANDOM_LEN = 11
CODE_LEN = RANDOM_LEN + 1


class CodeError(ValueError):
    """``kind``: "shape" (not 12 symbols of the alphabet) or "typo" (the check symbol does not match)."""

    def __init__(self, kind: Literal["shape", "typo"]) -> None:
        super().__init__(kind)
        self.kind = kind


def _check_symbol(body: str) -> str:
    # Weighted sum mod 31 with distinct weights 1..12 (the check symbol has weight 12): since 31 is prime,
    # any single wrong symbol and any swap of two symbols changes the sum, so every such typo is caught.
    total = sum((i + 1) * _INDEX[ch] for i, ch in enumerate(body))
    return ALPHABET[(-total * pow(CODE_LEN, -1, _N)) % _N]


def new_code() -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LEN))
    return body + _check_symbol(body)


def normalize_code(raw: str) -> str:
    """Upper-case and drop the separators and spaces people type."""
    return raw.strip().upper().replace("-", "").replace(" ", "")


def check_code(raw: str) -> str:
    """The normalized code, or CodeError."""
    s = normalize_code(raw)
    if len(s) != CODE_LEN or any(c not in _INDEX for c in s):
        raise CodeError("shape")
    if _check_symbol(s[:-1]) != s[-1]:
        raise CodeError("typo")
    return s


def display_code(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))
