import pytest
from yima_contracts.personal import (
    mask_address,
    mask_name,
    mask_numbers_in_text,
    mask_phone,
    mask_resident_id,
    normalize_name,
    normalize_phone,
    validate_resident_id,
)


@pytest.mark.parametrize(
    "raw,want",
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("+86 138-1234-5678", "13812345678"),
        ("０３７１－６５５５１２３４", "037165551234"),  # full-width, as typed on a Chinese keyboard
        ("0371-6555123", "03716555123"),
        ("010-12345678转123", "01012345678#123"),
    ],
)
def test_accepts_real_phone_numbers(raw: str, want: str) -> None:
    assert normalize_phone(raw) == want


@pytest.mark.parametrize("raw", ["12345678901", "1381234567", "abc", "", "23812345678", "0371-12"])
def test_rejects_malformed_phone_numbers_with_a_chinese_message(raw: str) -> None:
    with pytest.raises(ValueError, match="电话号码格式不正确"):
        normalize_phone(raw)


def _with_check(first17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]


def test_resident_id_check_digit_including_x() -> None:
    assert validate_resident_id("11010519491231002X") == "11010519491231002X"
    assert validate_resident_id("11010519491231002x") == "11010519491231002X"
    good = _with_check("41010519900307123")
    assert validate_resident_id(good) == good
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    with pytest.raises(ValueError, match="校验位"):
        validate_resident_id(bad)
    with pytest.raises(ValueError, match="18位"):
        validate_resident_id("4101051990030712")


@pytest.mark.parametrize("name", ["张三", "欧阳娜娜", "买买提·艾力", "阿卜杜热依木·买买提明", "John Smith", "王"])
def test_accepts_real_names(name: str) -> None:
    assert normalize_name(name) == name


def test_folds_middle_dot_variants() -> None:
    assert normalize_name("买买提•艾力") == "买买提·艾力"


@pytest.mark.parametrize("name", ["", "   ", "张三123", "<script>", "·张三", "张··三"])
def test_rejects_malformed_names(name: str) -> None:
    with pytest.raises(ValueError, match="姓名格式不正确"):
        normalize_name(name)


def test_masks() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_resident_id("11010519491231002X") == "110***********002X"


@pytest.mark.parametrize("raw,want", [
    ("13812345678", "138****5678"),
    ("+86 138-1234-5678", "138****5678"),
    ("0371-65551234", "0371****1234"),  # a four-digit area code stays whole
    ("0371-6555123", "0371***5123"),  # a seven-digit local number
    ("010-12345678", "010****5678"),  # Beijing's three-digit area code
    ("021-12345678转801", "021****5678#***"),  # the extension is hidden whole, not taken for the last four
])
def test_phone_masks_keep_the_network_or_area_code_and_the_last_four(raw: str, want: str) -> None:
    masked = mask_phone(normalize_phone(raw))
    assert masked == want
    assert normalize_phone(raw) not in masked


def test_resident_id_masks_keep_three_and_four() -> None:
    rid = validate_resident_id("11010519491231002X")
    assert mask_resident_id(rid) == "110***********002X" and len(mask_resident_id(rid)) == 18
    good = validate_resident_id(_with_check("41010519900307123"))
    assert mask_resident_id(good) == "410***********" + good[-4:]
    assert "19900307" not in mask_resident_id(good)  # the birth date never shows
    assert mask_resident_id("123") == "***"


@pytest.mark.parametrize("raw,want", [
    ("买买提·艾力", "买买提·*"),  # a minority name keeps its first part
    ("买买提•艾力", "买买提·*"),  # whichever dot was typed
    ("欧阳娜娜", "欧阳*"),  # a compound family name stays whole
    ("司马相如", "司马*"),
    ("张三", "张*"),
    ("王小明", "王*"),  # one * whatever the length: the mask does not tell it
    ("张", "*"),
    ("John Smith", "J*"),
])
def test_name_masks_keep_the_family_name_readable(raw: str, want: str) -> None:
    assert mask_name(normalize_name(raw)) == want


@pytest.mark.parametrize("raw,want", [
    ("河南省郑州市金水区花园路8号院3号楼2单元501", "河南省郑州市金水区****"),
    ("北京市东城区东华门街道1号", "北京市东城区****"),
    ("新疆维吾尔自治区乌鲁木齐市天山区人民路1号", "新疆维吾尔自治区乌鲁木齐市天山区****"),
    ("河南省南阳市镇平县城关镇建设路", "河南省南阳市镇平县****"),
    ("金水区农贸市场5号摊位", "金水区****"),  # 市场 is no city
    ("花园小区3号楼", "****"),  # 小区 is no district: nothing recognisable, hidden whole
    ("某某镇某某村5组", "某某镇****"),
    ("郑州市金水区", "郑州市金水区"),  # nothing beyond the administrative part
    ("", ""),
])
def test_address_masks_keep_the_administrative_part_only(raw: str, want: str) -> None:
    assert mask_address(raw) == want


def test_numbers_typed_into_free_text_are_masked() -> None:
    rid = validate_resident_id("11010519491231002X")
    text = f"申请人13812345678来电，身份证{rid.lower()}，固话０３７１６５５５１２３４，欠薪2万元"
    assert mask_numbers_in_text(text) == (
        "申请人138****5678来电，身份证110***********002X，固话0371****1234，欠薪2万元")
    text = "2026-11-23致电138 1234 5678及0371-65551234未接通"
    assert mask_numbers_in_text(text) == "2026-11-23致电138****5678及0371****1234未接通"  # the date stays
