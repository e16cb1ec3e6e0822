"""Case identity: tracking codes and case numbers (pure).

Tracking code: 11 random symbols from a 31-letter alphabet without look-alikes (no 0/O, 1/I/L) —
54 bits — plus a weighted mod-31 check symbol, which catches every single mistyped symbol and every
swap of two symbols, so "you typed it wrong" can be told apart from "no such case". Shown as
XXXX-XXXX-XXXX.
"""

from __future__ import annotations

import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_N = len(ALPHABET)  # 31, a prime
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
RANDOM_LEN = 11


def _check_symbol(body: str) -> str:
    # Weighted sum mod 31 with distinct weights 1..12 (the check symbol has weight 12): since 31 is prime,
    # any single wrong symbol and any swap of two symbols changes the sum, so every such typo is caught.
    total = sum((i + 1) * _INDEX[ch] for i, ch in enumerate(body))
    inverse_12 = pow(RANDOM_LEN + 1, -1, _N)
    return ALPHABET[(-total * inverse_12) % _N]


def new_tracking_code() -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LEN))
    return body + _check_symbol(body)


def normalize_tracking_code(raw: str) -> str:
    """Upper-case and drop the separators and spaces people type."""
    return raw.strip().upper().replace("-", "").replace(" ", "")


class TrackingCodeError(ValueError):
    pass


def validate_tracking_code(raw: str) -> str:
    s = normalize_tracking_code(raw)
    if len(s) != RANDOM_LEN + 1 or any(c not in _INDEX for c in s):
        raise TrackingCodeError("查询码应为12位字母或数字（不含0、1、I、L、O），请核对后再试")
    if _check_symbol(s[:-1]) != s[-1]:
        raise TrackingCodeError("查询码有误，可能输错了一位，请核对后再试")
    return s


def display_tracking_code(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def format_case_number(prefix: str, year: int, seq: int) -> str:
    return f"{prefix}-{year}-{seq:06d}"
