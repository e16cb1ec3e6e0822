"""Validation of Chinese personal data (DESIGN.md §7): accept every real value, reject only the malformed.

Used both at the HTTP boundary (intake) and at the Kafka boundary (the event models), so the two can
never disagree about what a valid phone number or resident ID is.
"""

from __future__ import annotations

import re
import unicodedata

# Mobile: 11 digits starting 1[3-9]. Optional +86 / 0086 prefix and spaces or dashes in the usual places.
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
# Landline: area code 0 + 2-3 digits, then a 7-8 digit number, optional extension.
_LANDLINE = re.compile(r"^0\d{2,3}\d{7,8}(?:[#x]\d{1,6})?$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def normalize_phone(raw: str) -> str:
    """Return the phone number in canonical form or raise ValueError with a Chinese message."""
    s = unicodedata.normalize("NFKC", raw).strip()
    s = re.sub(r"[\s\-()（）]", "", s)
    s = s.replace("转", "#")
    if s.startswith("+86"):
        s = s[3:]
    elif s.startswith("0086"):
        s = s[4:]
    if _MOBILE.match(s) or _LANDLINE.match(s):
        return s
    raise ValueError("电话号码格式不正确：应为11位手机号（如13812345678）或带区号的固话（如0371-12345678）")


def phone_last4(phone: str) -> str:
    digits = re.sub(r"\D", "", phone.split("#")[0])
    return digits[-4:]


def mask_phone(phone: str) -> str:
    """138****5678 — masked for display to anyone without a need to see the whole number."""
    if len(phone) <= 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def validate_resident_id(raw: str) -> str:
    """18-digit resident ID with its ISO 7064 MOD 11-2 check digit (X allowed). Returns it upper-cased."""
    s = unicodedata.normalize("NFKC", raw).strip().upper()
    if not re.fullmatch(r"\d{17}[\dX]", s):
        raise ValueError("身份证号码格式不正确：应为18位，最后一位可以是数字或X")
    total = sum(int(d) * w for d, w in zip(s[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != s[17]:
        raise ValueError("身份证号码校验位不正确，请核对后重新输入")
    month, day = int(s[10:12]), int(s[12:14])
    if not (1 <= month <= 12 and 1 <= day <= 31):
        raise ValueError("身份证号码中的出生日期不正确")
    return s


def mask_resident_id(rid: str) -> str:
    """110***********1234"""
    return rid[:3] + "*" * (len(rid) - 7) + rid[-4:]


# Names: Han characters, the middle dot of minority names (买买提·艾力), Latin letters for foreigners,
# spaces inside a Latin name. Variants of the dot (· • ‧ ・ ･) are folded to U+00B7.
_DOTS = "•‧・･"
_HAN = "\u3400-\u9fff\U00020000-\U0002ebef\uf900-\ufaff"
_NAME = re.compile(
    rf"^[{_HAN}A-Za-z][{_HAN}A-Za-z·\s.'\-]{{0,48}}[{_HAN}A-Za-z.]$"  # two or more characters
    rf"|^[{_HAN}]$"  # a one-character Han name exists too
)


def normalize_name(raw: str) -> str:
    s = unicodedata.normalize("NFC", raw).strip()
    for d in _DOTS:
        s = s.replace(d, "·")
    s = re.sub(r"\s+", " ", s)
    if not _NAME.match(s) or "··" in s:
        raise ValueError("姓名格式不正确：请填写真实姓名（汉字、少数民族姓名可含间隔号“·”，外籍可用字母）")
    return s


def mask_name(name: str) -> str:
    """张** / 买买提·** — keep the family name (first character)."""
    if not name:
        return name
    return name[0] + "*" * max(1, len(name) - 1)
