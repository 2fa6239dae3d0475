"""Identifier validation, normalization and PII masking (shared/identifiers.py)."""

import pickle
import random
from datetime import date

import pytest

from shared.identifiers import (
    USCC_CHARSET,
    InvalidIdentifier,
    PhoneKind,
    classify_phone,
    id_number_check_char,
    is_valid_id_number,
    is_valid_uscc,
    mask_id_number,
    mask_name,
    mask_phone,
    mask_pii_in_text,
    normalize_digits,
    uscc_check_char,
    validate_id_number,
    validate_phone,
    validate_uscc,
)

# Codes published in the National Enterprise Credit Information Publicity System.
PUBLISHED_USCC = {
    "914403001922038216": "华为技术有限公司",
    "91440300708461136T": "深圳市腾讯计算机系统有限公司",
    "91110108551385082Q": "北京小米科技有限责任公司",
    "91330100799655058B": "阿里巴巴（中国）有限公司",
}


def _random_uscc(rng: random.Random) -> str:
    prefix = (
        rng.choice("159Y")
        + rng.choice("123")
        + "".join(rng.choices("0123456789", k=6))
        + "".join(rng.choices(USCC_CHARSET, k=9))
    )
    return prefix + uscc_check_char(prefix)


COMPUTED_USCC = [_random_uscc(random.Random(seed)) for seed in range(8)]


def _id_number(prefix17: str) -> str:
    return prefix17 + id_number_check_char(prefix17)


# Synthetic ID numbers (Handan, Hebei: 130402), check digits computed per GB 11643-1999.
ID_1990 = _id_number("13040219900101123")
ID_2000_LEAP = _id_number("13040220000229002")
ID_WITH_X = next(
    n for n in (_id_number(f"1304021985061{i:04d}") for i in range(100)) if n.endswith("X")
)


# ---------------------------------------------------------------------------------------------
# normalize_digits / InvalidIdentifier
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("１３８", "138"),
        ("１３８ １２３４ ５６７８", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("（０３１０）１２３４５６７", "03101234567"),
        ("+86 138.1234.5678", "+8613812345678"),
        ("９１１１０１０８５５１３８５０８２ｑ", "91110108551385082q"),
        ("0310\u30001234567", "03101234567"),
        ("0310—1234567", "03101234567"),
        ("", ""),
    ],
)
def test_normalize_digits(raw: str, expected: str) -> None:
    assert normalize_digits(raw) == expected


def test_invalid_identifier_carries_code_and_both_messages() -> None:
    with pytest.raises(InvalidIdentifier) as info:
        validate_uscc("not a code")
    err = info.value
    assert isinstance(err, ValueError)
    assert err.code == "invalid_uscc"
    assert "统一社会信用代码" in err.message_zh
    assert "social credit code" in err.message_en
    assert str(err).startswith("invalid_uscc: ")
    clone = pickle.loads(pickle.dumps(err))
    assert (clone.code, clone.message_zh, clone.message_en) == (
        err.code,
        err.message_zh,
        err.message_en,
    )


# ---------------------------------------------------------------------------------------------
# USCC
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(PUBLISHED_USCC))
def test_published_uscc_is_valid(code: str) -> None:
    assert validate_uscc(code) == code


@pytest.mark.parametrize("code", COMPUTED_USCC)
def test_computed_uscc_is_valid(code: str) -> None:
    assert validate_uscc(code) == code
    assert is_valid_uscc(code)


def test_uscc_is_normalized() -> None:
    assert validate_uscc(" 9144 0300 7084 6113 6t ") == "91440300708461136T"
    assert validate_uscc("９１４４０３００７０８４６１１３６Ｔ") == "91440300708461136T"
    assert validate_uscc("91440300-708461136-T") == "91440300708461136T"


def test_uscc_check_char_maps_31_to_zero() -> None:
    # Huawei's check character is a digit; look for a prefix whose raw check value is 31.
    rng = random.Random(31)
    for _ in range(2000):
        code = _random_uscc(rng)
        if code.endswith("0"):
            assert validate_uscc(code) == code
            return
    pytest.fail("no code with check character 0 found")


@pytest.mark.parametrize("code", [*sorted(PUBLISHED_USCC), *COMPUTED_USCC[:3]])
def test_uscc_rejects_every_single_character_change(code: str) -> None:
    for i, original in enumerate(code):
        for replacement in USCC_CHARSET:
            if replacement == original:
                continue
            changed = code[:i] + replacement + code[i + 1 :]
            assert not is_valid_uscc(changed), changed


@pytest.mark.parametrize(
    "code",
    [
        "",
        "91440300708461136",  # 17 characters
        "91440300708461136TT",  # 19
        "91440300708461136I",  # I is never used
        "9144030070846113OT",  # O
        "Z1440300708461136T",  # Z
        "91440300708461136S",  # S
        "91440300708461136V",  # V
        "01440300708461136T",  # no registration authority 0
        "90440300708461136T",  # no type code 0
        "9144A300708461136T",  # division code must be digits
        "91440300708461136$",
    ],
)
def test_uscc_rejects_malformed(code: str) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        validate_uscc(code)
    assert info.value.code == "invalid_uscc"


def test_uscc_check_char_rejects_bad_prefix() -> None:
    with pytest.raises(ValueError, match="17 characters"):
        uscc_check_char("9144030070846113")
    with pytest.raises(ValueError, match="17 characters"):
        uscc_check_char("9144030070846113I")


# ---------------------------------------------------------------------------------------------
# Resident ID number
# ---------------------------------------------------------------------------------------------


def test_id_number_check_digit_of_a_known_number() -> None:
    # The worked example of GB 11643-1999: 11010519491231002X.
    assert id_number_check_char("11010519491231002") == "X"
    assert validate_id_number("11010519491231002X") == "11010519491231002X"


@pytest.mark.parametrize("number", [ID_1990, ID_2000_LEAP, ID_WITH_X])
def test_valid_id_numbers(number: str) -> None:
    assert validate_id_number(number) == number
    assert is_valid_id_number(number)


def test_id_number_is_normalized() -> None:
    assert validate_id_number("11010519491231002x") == "11010519491231002X"
    assert validate_id_number(" 110105 19491231 002Ｘ") == "11010519491231002X"
    full_width = ID_1990.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert validate_id_number(full_width) == ID_1990


@pytest.mark.parametrize(
    "number",
    [
        "",
        "110105194912310",  # 15-digit first-generation numbers are not accepted
        "11010519491231002",
        "11010519491231002XX",
        "1101051949123100AX",
        "11010519491231002Y",
        "11010519491231002" + "1",  # wrong check digit
        _id_number("99010519491231002"),  # no such region
        _id_number("01010519491231002"),
        _id_number("13040219900230123"),  # 30 February
        _id_number("13040219010229123"),  # 1901 is not a leap year
        _id_number("13040218991231123"),  # before 1900
        _id_number("13040221000101123"),  # in the future
    ],
)
def test_invalid_id_numbers(number: str) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        validate_id_number(number)
    assert info.value.code == "invalid_id_number"
    assert not is_valid_id_number(number)


def test_id_number_birth_date_bounded_by_today() -> None:
    number = _id_number("13040220240601123")
    assert validate_id_number(number, today=date(2024, 6, 1)) == number
    with pytest.raises(InvalidIdentifier):
        validate_id_number(number, today=date(2024, 5, 31))


def test_id_number_rejects_every_single_digit_change() -> None:
    for i in range(17):
        for digit in "0123456789":
            if digit != ID_1990[i]:
                assert not is_valid_id_number(ID_1990[:i] + digit + ID_1990[i + 1 :])


# ---------------------------------------------------------------------------------------------
# Phone numbers
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected", "kind"),
    [
        ("13812345678", "13812345678", PhoneKind.mobile),
        ("199 1234 5678", "19912345678", PhoneKind.mobile),
        ("138-1234-5678", "13812345678", PhoneKind.mobile),
        ("+86 138 1234 5678", "13812345678", PhoneKind.mobile),
        ("+86-13812345678", "13812345678", PhoneKind.mobile),
        ("0086 13812345678", "13812345678", PhoneKind.mobile),
        ("8613812345678", "13812345678", PhoneKind.mobile),
        ("１３８１２３４５６７８", "13812345678", PhoneKind.mobile),
        ("0310-1234567", "0310-1234567", PhoneKind.landline),
        ("0310-12345678", "0310-12345678", PhoneKind.landline),
        ("03101234567", "0310-1234567", PhoneKind.landline),
        ("(0310) 1234567", "0310-1234567", PhoneKind.landline),
        ("（０３１０）１２３４５６７", "0310-1234567", PhoneKind.landline),
        ("0310-123-4567", "0310-1234567", PhoneKind.landline),
        ("010-62345678", "010-62345678", PhoneKind.landline),
        ("01062345678", "010-62345678", PhoneKind.landline),
        ("021 6234 5678", "021-62345678", PhoneKind.landline),
        ("+86 10 6234 5678", "010-62345678", PhoneKind.landline),
        ("0086-310-1234567", "0310-1234567", PhoneKind.landline),
        ("0310-1234567-801", "0310-1234567-801", PhoneKind.landline),
        ("0310-1234567转801", "0310-1234567-801", PhoneKind.landline),
        ("0310-1234567 ext. 801", "0310-1234567-801", PhoneKind.landline),
        ("0310-1234567#8", "0310-1234567-8", PhoneKind.landline),
        ("400-123-4567", "400-123-4567", PhoneKind.service),
        ("800 123 4567", "800-123-4567", PhoneKind.service),
        ("4001234567", "400-123-4567", PhoneKind.service),
    ],
)
def test_valid_phones(raw: str, expected: str, kind: PhoneKind) -> None:
    assert validate_phone(raw) == expected
    assert classify_phone(raw) is kind


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "12345",  # hotline short numbers are rejected
        "110",
        "95588",
        "10086",
        "1234567",  # no area code
        "62345678",
        "12812345678",  # 12x is not a mobile prefix
        "23812345678",
        "1381234567",  # 10 digits
        "138123456789",  # 12 digits
        "010-1234567",  # three-digit areas have 8-digit numbers
        "0310-0234567",  # local numbers never start with 0
        "0310-123456",
        "0310-123456789",
        "0310-1234567-1234567",  # extension too long
        "4001234",
        "500-123-4567",
        "+1 415 555 0100",
        "phone",
    ],
)
def test_invalid_phones(raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        validate_phone(raw)
    assert info.value.code == "invalid_phone"
    with pytest.raises(InvalidIdentifier):
        classify_phone(raw)


# ---------------------------------------------------------------------------------------------
# Masking single values
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("13812345678", "138****5678"),
        ("+86 138-1234-5678", "138****5678"),
        ("１３８１２３４５６７８", "138****5678"),
        ("0310-1234567", "0310-***4567"),
        ("010-62345678", "010-****5678"),
        ("0310-1234567-801", "0310-***4567-801"),
        ("400-123-4567", "400-123-4567"),  # business service numbers are public
        ("12345", "1***5"),
        ("ab", "**"),
        ("", ""),
    ],
)
def test_mask_phone(raw: str, masked: str) -> None:
    assert mask_phone(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("130402199001011234", "130402********1234"),
        ("11010519491231002X", "110105********002X"),
        (" 130402199001011234 ", "130402********1234"),
        ("130402", "1****2"),
        ("", ""),
    ],
)
def test_mask_id_number(raw: str, masked: str) -> None:
    assert mask_id_number(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("张三", "张*"),
        ("欧阳娜娜", "欧***"),
        ("李小明", "李**"),
        ("张", "*"),
        (" 王五 ", "王*"),
        ("阿依古丽·买买提", "阿***·***"),
        ("", ""),
    ],
)
def test_mask_name(raw: str, masked: str) -> None:
    assert mask_name(raw) == masked


# ---------------------------------------------------------------------------------------------
# Masking inside free text
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("联系电话13812345678，请回电", "联系电话138****5678，请回电"),
        ("手机：１３８１２３４５６７８", "手机：１３８****５６７８"),
        ("tel 138 1234 5678.", "tel 138 **** 5678."),
        ("+86 138-1234-5678", "+86 138-****-5678"),
        ("8613812345678", "86138****5678"),
        ('{"phone": "13912345678"}', '{"phone": "139****5678"}'),
        ("电话0310-1234567转801", "电话0310-***4567转801"),
        ("（0310）1234567", "（0310）***4567"),
        ("010 62345678", "010 ****5678"),
        ("两个号码13812345678和13987654321", "两个号码138****5678和139****4321"),
        (f"身份证{ID_1990}。", f"身份证{ID_1990[:6]}********{ID_1990[-4:]}。"),
        (f"证件号:{ID_WITH_X}", f"证件号:{ID_WITH_X[:6]}********{ID_WITH_X[-4:]}"),
        (
            f"证件号:{ID_WITH_X[:-1]}x",
            f"证件号:{ID_WITH_X[:6]}********{ID_WITH_X[-4:-1]}x",
        ),
    ],
)
def test_mask_pii_in_text_masks(text: str, masked: str) -> None:
    assert mask_pii_in_text(text) == masked


def test_mask_pii_in_text_full_width_id_number() -> None:
    full_width = ID_1990.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert mask_pii_in_text(f"号码{full_width}") == (
        f"号码{full_width[:6]}********{full_width[-4:]}"
    )


@pytest.mark.parametrize(
    "text",
    [
        *(f"企业统一社会信用代码：{code}" for code in PUBLISHED_USCC),
        *(f"代码{code}联系" for code in COMPUTED_USCC),
        "订单号201312345678901234",  # 18 digits, not a valid ID number
        "身份证" + ID_1990[:-1] + ("0" if ID_1990[-1] != "0" else "1"),  # wrong check digit
        "流水号1381234567890",  # a mobile-looking prefix of a longer number
        "a13812345678",
        "13812345678b",
        "热线12345，报警110",
        "服务热线400-123-4567",
        "日期2024-05-12，金额1,000,000元",
        "编号0310-12345",
        "no digits at all",
        "",
    ],
)
def test_mask_pii_in_text_leaves_non_pii_alone(text: str) -> None:
    assert mask_pii_in_text(text) == text


def test_mask_pii_in_text_keeps_uscc_and_masks_phone_in_same_line() -> None:
    text = "企业91110108551385082Q（联系人手机13912345678）反映问题"
    assert mask_pii_in_text(text) == "企业91110108551385082Q（联系人手机139****5678）反映问题"


def test_all_digit_uscc_is_never_taken_for_an_id_number() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        prefix = "9" + rng.choice("123") + "".join(rng.choices("0123456789", k=15))
        code = prefix + uscc_check_char(prefix)
        if code.isdigit():
            assert mask_pii_in_text(code) == code
