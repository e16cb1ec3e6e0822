"""Invitation codes (pure): what an invited expert types, or taps in their SMS, to reach their own page.

The same shape as the applicants' tracking codes (yima_contracts.human_codes: the experts' texts read like the
applicants'). Mediation keeps only a keyed blind index of a code (FieldCipher), never the code itself.
"""

from __future__ import annotations

from yima_contracts.human_codes import CodeError, check_code, display_code, new_code, normalize_code

new_invite_code = new_code
display_invite_code = display_code


class InviteCodeError(ValueError):
    pass


def normalize_invite_code(raw: str) -> str:
    return normalize_code(raw)[:40]


def validate_invite_code(raw: str) -> str:
    try:
        return check_code(raw)
    except CodeError as exc:
        message = {"shape": "邀请码应为12位字母或数字（不含0、1、I、L、O），请核对短信中的邀请码",
                   "typo": "邀请码有误，可能输错了一位，请核对短信中的邀请码"}[exc.kind]
        raise InviteCodeError(message) from None
