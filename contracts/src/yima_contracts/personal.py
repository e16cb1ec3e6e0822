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
    """138****5678; a landline keeps its area code (0371****5678, 010****5678), an extension is hidden whole.

    For display to anyone without a need to see the whole number (DESIGN.md §7, PIPL).
    """
    number, sep, ext = phone.partition("#")
    if _MOBILE.match(number):
        keep = 3
    elif _LANDLINE.match(number):
        keep = 3 if number[1] in "12" else 4  # 010 and 02x are the three-digit area codes
    else:  # not a phone we know the shape of: the last four only
        keep = 0
    if len(number) <= max(keep + 4, 7):  # too short to show four digits of
        masked = "*" * len(number)
    else:
        masked = number[:keep] + "*" * (len(number) - keep - 4) + number[-4:]
    return masked + (sep + "*" * len(ext) if sep else "")


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
    """110***********1234 / 110***********002X: the first three (the province and city) and the last four."""
    if len(rid) <= 7:
        return "*" * len(rid)
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


# Two-character family names (复姓), so that 欧阳娜娜 reads 欧阳* and not 欧*.
_COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 司空 夏侯 轩辕 令狐 端木 西门 南宫 独孤 "
    "呼延 澹台 太史 申屠 闻人 百里 东郭 万俟 钟离 赫连 公冶 濮阳 淳于 单于 拓跋 完颜".split())


def mask_name(name: str) -> str:
    """张* / 欧阳* / 买买提·* / J*: the family name (or a minority name's first part) stays readable, the rest
    is one ``*`` whatever its length, so the mask does not tell how long the name is. A one-character name is
    ``*`` alone."""
    name = name.strip()
    if not name:
        return name
    if "·" in name:
        return name.split("·", 1)[0] + "·*"
    if len(name) > 2 and name[:2] in _COMPOUND_SURNAMES:
        return name[:2] + "*"
    if len(name) == 1:
        return "*"
    return name[0] + "*"


# The administrative part of an address (province, city, district or county; a town or township where there
# is none) identifies nobody; what follows it (road, number, estate, building, room) does. Each level is read
# in turn from the start, so a 市 or 区 further on (农贸市场, 花园小区) is never taken for one.
_NOT_ADMIN = r"[^\d省市区县旗盟]"
_ADMIN = re.compile(
    rf"(?:{_NOT_ADMIN}{{2,9}}?(?:省|自治区|特别行政区))?"
    rf"(?:{_NOT_ADMIN}{{1,9}}?(?:市(?![场民])|自治州|地区|盟))?"
    rf"(?:{_NOT_ADMIN}{{1,9}}?(?:(?<![小社园校景营])区|县|旗|市(?![场民])))?")
_TOWN = re.compile(rf"{_NOT_ADMIN}{{1,9}}?(?:街道|镇|乡)")


def mask_address(address: str) -> str:
    """河南省郑州市金水区花园路8号院3号楼 → 河南省郑州市金水区****: cut to its administrative first part. An
    address with no recognisable first part is hidden whole."""
    s = address.strip()
    if not s:
        return s
    m = _ADMIN.match(s)
    keep = m.end() if m else 0
    if keep == 0:
        t = _TOWN.match(s)
        keep = t.end() if t else 0
    if keep >= len(s):
        return s
    return s[:keep] + "****"


# a run of seven or more digits (an ID may end in X), a landline written with its area code, a mobile in groups;
# \d takes full-width digits too. Dates (2026-11-23) and sums stay.
_DIGIT_RUN = re.compile(r"(?:0\d{2,3}[-－\s])?\d{7,}[XxＸｘ]?|1\d{2}[-－\s]\d{4}[-－\s]\d{4}")


def mask_numbers_in_text(text: str) -> str:
    """Free text a staff member typed (a reason kept in the audit chain) with every phone- or ID-like run of
    digits masked (138****5678, 110***********1234): the words stay, the numbers do not."""
    def one(m: re.Match[str]) -> str:
        s = re.sub(r"[-\s]", "", unicodedata.normalize("NFKC", m.group(0))).upper()
        return mask_resident_id(s) if len(s) in (15, 18) else mask_phone(s)

    return _DIGIT_RUN.sub(one, text)
