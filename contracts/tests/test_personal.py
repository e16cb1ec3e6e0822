import pytest
from yima_contracts.personal import (
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
