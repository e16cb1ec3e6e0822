"""Invitation codes (pure): what an invited expert types, or taps in their SMS, to reach their own page.

The same shape as intake's tracking codes (the experts' texts read like the applicants'): 11 random symbols
from a 31-letter alphabet without look-alikes (no 0/O, 1/I/L) — 54 bits — and a weighted mod-31 check
symbol, so a typo is told apart from a wrong code. Shown as XXXX-XXXX-XXXX. Mediation keeps only a keyed
blind index of a code (FieldCipher), never the code itself.
"""

from __future__ import annotations

import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_N = len(ALPHABET)  # 31, a prime
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
RANDOM_LEN = 11


class InviteCodeError(ValueError):
    pass


def _check_symbol(body: str) -> str:
    # Distinct weights 1..12 mod a prime: every single wrong symbol and every swap of two symbols is caught.
    total = sum((i + 1) * _INDEX[ch] for i, ch in enumerate(body))
    return ALPHABET[(-total * pow(RANDOM_LEN + 1, -1, _N)) % _N]


def new_invite_code() -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LEN))
    return body + _check_symbol(body)


def normalize_invite_code(raw: str) -> str:
    """Upper-case and drop the separators and spaces people type."""
    return raw.strip().upper().replace("-", "").replace(" ", "")[:40]


def validate_invite_code(raw: str) -> str:
    s = normalize_invite_code(raw)
    if len(s) != RANDOM_LEN + 1 or any(c not in _INDEX for c in s):
        raise InviteCodeError("邀请码应为12位字母或数字（不含0、1、I、L、O），请核对短信中的邀请码")
    if _check_symbol(s[:-1]) != s[-1]:
        raise InviteCodeError("邀请码有误，可能输错了一位，请核对短信中的邀请码")
    return s


def display_invite_code(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))
