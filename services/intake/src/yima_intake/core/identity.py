"""Case identity: tracking codes and case numbers (pure).

The tracking code's shape (12 symbols without look-alikes, a check symbol that catches every typo, shown as
XXXX-XXXX-XXXX) is yima_contracts.human_codes, shared with notify (which looks a case up by it) and with
mediation's invitation codes.
"""

from __future__ import annotations

from yima_contracts.human_codes import CodeError, check_code, display_code, new_code, normalize_code

new_tracking_code = new_code
normalize_tracking_code = normalize_code
display_tracking_code = display_code


class TrackingCodeError(ValueError):
    pass


def validate_tracking_code(raw: str) -> str:
    try:
        return check_code(raw)
    except CodeError as exc:
        shape = "查询码应为12位字母或数字（不含0、1、I、L、O），请核对后再试"
        raise TrackingCodeError(shape if exc.kind == "shape" else "查询码有误，可能输错了一位，请核对后再试") from None


def format_case_number(prefix: str, year: int, seq: int) -> str:
    return f"{prefix}-{year}-{seq:06d}"
