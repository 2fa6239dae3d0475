"""Validation, normalization and masking of Chinese identifiers.

Used by request validation (unified social credit codes, phone numbers, resident ID numbers) and by
the JSON log processor, which must never write a person's mobile number or ID number in clear.

* Unified social credit code (统一社会信用代码), GB 32100-2015: 18 characters; the last one is a
  mod-31 check character.  Enterprise codes are public and are never masked.
* Resident identity card number (居民身份证号码), GB 11643-1999: 17 digits plus an ISO 7064
  MOD 11-2 check character (``0``-``9`` or ``X``); digits 7-14 are the birth date.
* Phone numbers: mainland mobiles, landlines with an area code, 400/800 service numbers.

Everything here is pure: no database, no network.  Masking functions never raise.
"""

import re
import unicodedata
from datetime import date
from enum import StrEnum
from typing import Final

__all__ = [
    "ID_NUMBER_REGION_PREFIXES",
    "USCC_CHARSET",
    "InvalidIdentifier",
    "PhoneKind",
    "classify_phone",
    "id_number_check_char",
    "is_valid_id_number",
    "is_valid_uscc",
    "mask_id_number",
    "mask_name",
    "mask_phone",
    "mask_pii_in_text",
    "normalize_digits",
    "uscc_check_char",
    "validate_id_number",
    "validate_phone",
    "validate_uscc",
]


class InvalidIdentifier(ValueError):
    """An identifier failed validation.

    ``code`` is stable and machine-readable (``invalid_uscc``, ``invalid_phone``,
    ``invalid_id_number``); ``message_zh`` / ``message_en`` are for people, matching the
    ``code`` / ``message`` / ``message_en`` fields of :class:`shared.errors.ErrorBody`.
    """

    def __init__(self, code: str, message_zh: str, message_en: str) -> None:
        super().__init__(f"{code}: {message_en}")
        self.code = code
        self.message_zh = message_zh
        self.message_en = message_en

    def __reduce__(self) -> tuple[type["InvalidIdentifier"], tuple[str, str, str]]:
        return (type(self), (self.code, self.message_zh, self.message_en))


# --------------------------------------------------------------------------------------------
# Normalization
# --------------------------------------------------------------------------------------------

# Characters people put between digits: whitespace, hyphen/dash variants, dots, slashes,
# brackets, middle dots.  Applied after NFKC, so full-width forms are already ASCII.
_SEPARATORS_RE: Final = re.compile(r"[\s\-‐‑‒–—―−﹣_.·・•/\\()\[\]【】〔〕]+")


def normalize_digits(text: str) -> str:
    """NFKC-normalize ``text`` and drop spaces, hyphens and common separators.

    Full-width digits and letters become ASCII (``"１３８"`` → ``"138"``); case is kept.
    A leading ``+`` (international prefix) is kept.
    """
    return _SEPARATORS_RE.sub("", unicodedata.normalize("NFKC", text))


# --------------------------------------------------------------------------------------------
# Unified social credit code (GB 32100-2015)
# --------------------------------------------------------------------------------------------

USCC_CHARSET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUES: Final[dict[str, int]] = {c: i for i, c in enumerate(USCC_CHARSET)}
_USCC_WEIGHTS: Final = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# 登记管理部门代码: 1 机构编制, 2 外交, 3 司法行政, 4 文化, 5 民政, 6 旅游, 7 宗教, 8 工会,
# 9 市场监管(工商), A 中央军委改革和编制办公室, N 农业, Y 其他.
_USCC_AUTHORITIES: Final = frozenset("123456789ANY")
_USCC_SHAPE_RE: Final = re.compile(
    rf"[{USCC_CHARSET}]{{2}}[0-9]{{6}}[{USCC_CHARSET}]{{10}}",
)


def uscc_check_char(prefix17: str) -> str:
    """Return the check character for the first 17 characters of a USCC.

    Raises ``ValueError`` if ``prefix17`` is not 17 characters from :data:`USCC_CHARSET`.
    """
    if len(prefix17) != 17 or any(c not in _USCC_VALUES for c in prefix17):
        raise ValueError("a USCC prefix is 17 characters from USCC_CHARSET")
    total = sum(_USCC_VALUES[c] * w for c, w in zip(prefix17, _USCC_WEIGHTS, strict=True))
    check = 31 - total % 31
    return USCC_CHARSET[0 if check == 31 else check]


def _invalid_uscc(reason_zh: str, reason_en: str) -> InvalidIdentifier:
    return InvalidIdentifier(
        "invalid_uscc",
        f"统一社会信用代码无效：{reason_zh}",
        f"invalid unified social credit code: {reason_en}",
    )


def validate_uscc(code: str) -> str:
    """Validate a unified social credit code; return it normalized (upper-case, no separators).

    Raises :class:`InvalidIdentifier` with code ``invalid_uscc``.
    """
    norm = normalize_digits(code).upper()
    if len(norm) != 18:
        raise _invalid_uscc("应为18位", "must be 18 characters")
    bad = sorted({c for c in norm if c not in _USCC_VALUES})
    if bad:
        raise _invalid_uscc(
            f"含有不允许的字符 {''.join(bad)}（不使用 I、O、Z、S、V）",
            f"contains disallowed characters {''.join(bad)} (I, O, Z, S, V are never used)",
        )
    if norm[0] not in _USCC_AUTHORITIES or norm[1] not in "123456789":
        raise _invalid_uscc(
            "登记管理部门代码或机构类别代码不正确", "unknown registration authority or type code"
        )
    if not _USCC_SHAPE_RE.fullmatch(norm):
        raise _invalid_uscc(
            "第3至8位应为行政区划代码（数字）",
            "characters 3-8 must be an administrative division code (digits)",
        )
    if uscc_check_char(norm[:17]) != norm[17]:
        raise _invalid_uscc("校验码不正确", "check character does not match")
    return norm


def is_valid_uscc(code: str) -> bool:
    try:
        validate_uscc(code)
    except InvalidIdentifier:
        return False
    return True


# --------------------------------------------------------------------------------------------
# Resident identity card number (GB 11643-1999)
# --------------------------------------------------------------------------------------------

_ID_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS: Final = "10X98765432"
# First two digits: province-level division (GB/T 2260) — plus 81/82/83 used by residence
# permits of Hong Kong, Macao and Taiwan residents.  Codes starting with 9 (foreigners'
# permanent residence cards, and most enterprise USCCs) are deliberately not accepted.
ID_NUMBER_REGION_PREFIXES: Final = frozenset(
    {
        *("11", "12", "13", "14", "15"),
        *("21", "22", "23"),
        *("31", "32", "33", "34", "35", "36", "37"),
        *("41", "42", "43", "44", "45", "46"),
        *("50", "51", "52", "53", "54"),
        *("61", "62", "63", "64", "65"),
        *("71", "81", "82", "83"),
    }
)
_ID_SHAPE_RE: Final = re.compile(r"[0-9]{17}[0-9X]")
_EARLIEST_BIRTH: Final = date(1900, 1, 1)


def id_number_check_char(prefix17: str) -> str:
    """Return the ISO 7064 MOD 11-2 check character for the first 17 digits of an ID number."""
    if len(prefix17) != 17 or not prefix17.isascii() or not prefix17.isdigit():
        raise ValueError("an ID number prefix is 17 ASCII digits")
    total = sum(int(c) * w for c, w in zip(prefix17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK_CHARS[total % 11]


def _id_number_problem(norm: str, today: date | None) -> tuple[str, str] | None:
    """Why the normalized ``norm`` is not a valid ID number, or ``None`` if it is."""
    if not _ID_SHAPE_RE.fullmatch(norm):
        return ("应为17位数字加1位校验码（数字或X）", "must be 17 digits and a check digit or X")
    if norm[:2] not in ID_NUMBER_REGION_PREFIXES:
        return ("地址码不正确", "unknown region code")
    try:
        birth = date(int(norm[6:10]), int(norm[10:12]), int(norm[12:14]))
    except ValueError:
        return ("出生日期不正确", "birth date is not a valid date")
    if not _EARLIEST_BIRTH <= birth <= (today or date.today()):
        return ("出生日期超出合理范围", "birth date is out of range")
    if id_number_check_char(norm[:17]) != norm[17]:
        return ("校验码不正确", "check digit does not match")
    return None


def validate_id_number(number: str, *, today: date | None = None) -> str:
    """Validate an 18-digit resident ID number; return it normalized (ASCII, upper-case ``X``).

    ``today`` (default: the current date) bounds the birth date.  Raises
    :class:`InvalidIdentifier` with code ``invalid_id_number``.
    """
    norm = normalize_digits(number).upper()
    problem = _id_number_problem(norm, today)
    if problem is not None:
        raise InvalidIdentifier(
            "invalid_id_number",
            f"身份证号码无效：{problem[0]}",
            f"invalid resident ID number: {problem[1]}",
        )
    return norm


def is_valid_id_number(number: str, *, today: date | None = None) -> bool:
    return _id_number_problem(normalize_digits(number).upper(), today) is None


# --------------------------------------------------------------------------------------------
# Phone numbers
# --------------------------------------------------------------------------------------------


class PhoneKind(StrEnum):
    mobile = "mobile"
    landline = "landline"
    service = "service"  # 400 / 800


_MOBILE_RE: Final = re.compile(r"(?:\+86|0086|86)?(1[3-9][0-9]{9})")
_SERVICE_RE: Final = re.compile(r"([48]00)([0-9]{3})([0-9]{4})")
# Extension markers; the text is NFKC-normalized and lower-cased first.
_EXTENSION_RE: Final = re.compile(r"(.+?)(?:转|分机|ext\.?|x|#|,|;)([0-9]{1,6})")
# Area codes: 010 and 020-029 have three digits, all others four, so a landline written without
# separators is unambiguous.  The leading 0 is dropped after +86 / 0086.  Local numbers have 7 or
# 8 digits (8 in the three-digit areas) and never start with 0.
_LANDLINE_RE: Final = re.compile(
    r"(?:(?:\+86|0086)0?|0)"
    r"(?:(?P<area3>[12][0-9])(?P<local8>[1-9][0-9]{7})"
    r"|(?P<area4>[3-9][0-9]{2})(?P<local>[1-9][0-9]{6,7}))"
)
_DASHES_RE: Final = re.compile(r"[\-‐‑‒–—―−﹣]")
_WHITESPACE_RE: Final = re.compile(r"\s+")


def _invalid_phone() -> InvalidIdentifier:
    return InvalidIdentifier(
        "invalid_phone",
        "电话号码无效：应为11位手机号、带区号的固定电话或400/800号码",
        "invalid phone number: expected an 11-digit mobile, a landline with area code, "
        "or a 400/800 number",
    )


def _parse_landline(text: str) -> str | None:
    m = _LANDLINE_RE.fullmatch(normalize_digits(text))
    if m is None:
        return None
    if m.group("area3") is not None:
        return f"0{m.group('area3')}-{m.group('local8')}"
    return f"0{m.group('area4')}-{m.group('local')}"


def _parse_phone(phone: str) -> tuple[PhoneKind, str] | None:
    text = unicodedata.normalize("NFKC", phone).lower()
    text = _WHITESPACE_RE.sub("", _DASHES_RE.sub("-", text))
    digits = normalize_digits(text)
    if m := _MOBILE_RE.fullmatch(digits):
        return PhoneKind.mobile, m.group(1)
    if m := _SERVICE_RE.fullmatch(digits):
        return PhoneKind.service, "-".join(m.groups())
    if landline := _parse_landline(text):
        return PhoneKind.landline, landline
    # Landline with an extension: "0310-1234567转801", "0310-1234567 ext. 801", "0310-1234567-801".
    if m := _EXTENSION_RE.fullmatch(text):
        base, extension = m.group(1), m.group(2)
    else:
        base, _, extension = text.rpartition("-")
        if not base or not extension.isdigit() or len(extension) > 6:
            return None
    if landline := _parse_landline(base):
        return PhoneKind.landline, f"{landline}-{extension}"
    return None


def validate_phone(phone: str) -> str:
    """Validate a phone number and return its normalized form.

    * mobile ``1[3-9]xxxxxxxxx`` (optional ``+86`` / ``0086`` / ``86`` prefix) → 11 digits,
      e.g. ``"13812345678"``;
    * landline with area code → ``"0310-1234567"`` (with extension: ``"0310-1234567-801"``);
    * 400/800 service number → ``"400-123-4567"``.

    Short numbers (``12345``, ``110``, ``95588``) and numbers without an area code are
    rejected.  Raises :class:`InvalidIdentifier` with code ``invalid_phone``.
    """
    parsed = _parse_phone(phone)
    if parsed is None:
        raise _invalid_phone()
    return parsed[1]


def classify_phone(phone: str) -> PhoneKind:
    """The kind of a phone number; raises :class:`InvalidIdentifier` like :func:`validate_phone`."""
    parsed = _parse_phone(phone)
    if parsed is None:
        raise _invalid_phone()
    return parsed[0]


# --------------------------------------------------------------------------------------------
# Masking
# --------------------------------------------------------------------------------------------


def _is_digit(c: str) -> bool:
    return "0" <= c <= "9" or "０" <= c <= "９"


def _mask_digits(text: str, keep_head: int, keep_tail: int) -> str:
    """Replace digits of ``text`` with ``*`` except the first ``keep_head`` and last ``keep_tail``."""
    positions = [i for i, c in enumerate(text) if _is_digit(c)]
    masked = set(positions[keep_head : max(keep_head, len(positions) - keep_tail)])
    return "".join("*" if i in masked else c for i, c in enumerate(text))


def _mask_generic(text: str) -> str:
    """Keep roughly the first and last quarter of ``text``, mask the rest."""
    n = len(text)
    if n <= 2:
        return "*" * n
    keep = max(1, n // 4)
    return text[:keep] + "*" * (n - 2 * keep) + text[n - keep :]


def mask_phone(phone: str) -> str:
    """``"13812345678"`` → ``"138****5678"``; ``"0310-1234567"`` → ``"0310-***4567"``.

    Valid numbers are masked in their normalized form; anything else is masked generically.
    Never raises.
    """
    parsed = _parse_phone(phone)
    if parsed is None:
        return _mask_generic(phone.strip())
    kind, norm = parsed
    if kind is PhoneKind.mobile:
        return norm[:3] + "****" + norm[7:]
    if kind is PhoneKind.landline:
        area, local, *ext = norm.split("-")
        return "-".join([area, "*" * (len(local) - 4) + local[-4:], *ext])
    return norm  # 400/800 numbers belong to businesses and are public


def mask_id_number(number: str) -> str:
    """Keep the first 6 and last 4 characters: ``"130402********1234"``.  Never raises."""
    text = number.strip()
    if len(text) <= 10:
        return _mask_generic(text)
    return text[:6] + "*" * (len(text) - 10) + text[-4:]


_NAME_SEPARATORS: Final = frozenset(" ·•・.-")


def mask_name(name: str) -> str:
    """Keep the first character: ``"张三"`` → ``"张*"``, ``"欧阳娜娜"`` → ``"欧***"``.

    A one-character name becomes ``"*"``.  Separators (``·`` in names like ``"阿依古丽·买买提"``,
    spaces) are kept.  Never raises.
    """
    text = name.strip()
    if len(text) <= 1:
        return "*" * len(text)
    return text[0] + "".join(c if c in _NAME_SEPARATORS else "*" for c in text[1:])


# Free-text scanning.  Digits include full-width ones; a match must not touch another ASCII or
# full-width letter or digit, so parts of longer codes (USCCs, order numbers, bank cards) are
# never taken for phone or ID numbers.
_D: Final = "[0-9０-９]"
_ALNUM: Final = "0-9A-Za-z０-９Ａ-Ｚａ-ｚ"
_SEP: Final = "[ \u3000\\-－‐‑]"
_PII_RE: Final = re.compile(
    rf"(?<![{_ALNUM}+＋])"
    rf"(?:"
    # 18-digit ID number; masked only if its region, birth date and check digit are valid.
    rf"(?P<id>[1-8１-８]{_D}{{16}}[0-9０-９XxＸｘ])"
    # Mobile, optionally with +86 / 0086 / 86 and 3-4-4 grouping.
    rf"|(?P<m_prefix>(?:[+＋]|0{{2}}|００)?(?:86|８６){_SEP}?)?"
    rf"(?P<mobile>[1１][3-9３-９]{_D}{_SEP}?{_D}{{4}}{_SEP}?{_D}{{4}})"
    # Landline with area code: 0310-1234567, (0310)1234567, 010 62345678.
    rf"|(?P<l_area>[(（]?[0０](?:[1-2１-２]{_D}|[3-9３-９]{_D}{{2}})[)）]?)(?P<l_sep>{_SEP}?)"
    rf"(?P<l_local>[1-9１-９]{_D}{{6,7}})"
    rf")"
    rf"(?![{_ALNUM}])"
)
_HAS_DIGIT_RUN_RE: Final = re.compile(rf"{_D}{{3}}")


def _mask_pii_match(m: re.Match[str]) -> str:
    if (id_number := m.group("id")) is not None:
        norm = unicodedata.normalize("NFKC", id_number).upper()
        if _id_number_problem(norm, None) is not None:
            return id_number
        return id_number[:6] + "*" * 8 + id_number[14:]
    if (mobile := m.group("mobile")) is not None:
        return (m.group("m_prefix") or "") + _mask_digits(mobile, 3, 4)
    local = m.group("l_local")
    return m.group("l_area") + m.group("l_sep") + "*" * (len(local) - 4) + local[-4:]


def mask_pii_in_text(text: str) -> str:
    """Mask mobile numbers, landlines and valid 18-digit ID numbers inside free text.

    Full-width digits are recognised.  Unified social credit codes are left alone: a match must not
    touch another letter or digit, so nothing is found inside an 18-character code, and an 18-digit
    code is masked only if it passes the ID-number test.  Codes from market regulators start with
    9 (no such region); in the others digits 7-14 are the tail of a division code followed by the
    organization code, which only very rarely reads as a plausible birth date with a matching
    check digit.  Never raises.
    """
    if not text or not _HAS_DIGIT_RUN_RE.search(text):
        return text
    return _PII_RE.sub(_mask_pii_match, text)
