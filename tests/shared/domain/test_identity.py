"""Validators for ID numbers, credit codes, phones and names, and whole applicants."""

from __future__ import annotations

import unicodedata
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.errors import InvalidInput, Problems
from shared.domain.identity import (
    DOT_LOOKALIKES,
    MIDDLE_DOT,
    PROVINCE_CODES,
    Applicant,
    Company,
    Person,
    id_birth_date,
    mask_id_number,
    mask_name,
    mask_phone,
    resident_id_check_char,
    uscc_check_char,
    validate_applicant,
    validate_id_number,
    validate_name,
    validate_organisation_name,
    validate_phone,
    validate_uscc,
)

TODAY = date(2026, 3, 15)
PROPERTY = settings(max_examples=150, deadline=None)


# Computed here independently of the module, straight from the standards' definitions.
def id_check(first17: str) -> str:
    weights = [2 ** (17 - i) % 11 for i in range(17)]  # ISO 7064 MOD 11-2: 2^(i) mod 11
    total = sum(int(c) * w for c, w in zip(first17, weights, strict=True))
    return "10X98765432"[total % 11]


USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def uscc_check(first17: str) -> str:
    total = sum(USCC_CHARS.index(c) * (3**i % 31) for i, c in enumerate(first17))
    return USCC_CHARS[(31 - total % 31) % 31]


def make_id(area: str = "430102", born: str = "19850615", seq: str = "123") -> str:
    first17 = area + born + seq
    return first17 + id_check(first17)


def wrong_check(number: str) -> str:
    return number[:17] + next(c for c in "0123456789X" if c != number[17])


# -- resident ID numbers ------------------------------------------------------------


def test_the_standards_own_example_is_valid() -> None:
    # GB 11643's worked example; its check character is X, also typed as x.
    assert validate_id_number("11010519491231002X", TODAY) == "11010519491231002X"
    assert validate_id_number("11010519491231002x", TODAY) == "11010519491231002X"
    assert id_birth_date("11010519491231002X") == date(1949, 12, 31)


def test_check_character_agrees_with_the_definition() -> None:
    for first17 in ("11010519491231002", "43010219850615123", "53290119900101001"):
        assert resident_id_check_char(first17) == id_check(first17)


@pytest.mark.parametrize(
    "number", [make_id(), make_id("532901", "20000229", "004"), make_id("650102", "19010101")]
)
def test_valid_id_numbers(number: str) -> None:
    assert validate_id_number(number, TODAY) == number


def test_full_width_digits_and_spaces_are_normalised() -> None:
    number = make_id()
    typed = " ".join(number[i : i + 6] for i in range(0, 18, 6))
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in number)
    assert validate_id_number(typed, TODAY) == number
    assert validate_id_number(full_width, TODAY) == number


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (wrong_check(make_id()), "checksum does not match"),
        (make_id()[:17], "18 characters"),
        (make_id() + "1", "18 characters"),
        ("430102850615123", "15-digit"),
        ("43010219850615A23X", "17 digits"),
        (make_id("990102"), "not a province code"),
        (make_id(born="19850230"), "not a real date"),
        (make_id(born="20260316"), "future"),
        (make_id(born="18991231"), "too early"),
        ("", "required"),
        (None, "required"),
        (430102198506151234, "must be text"),
    ],
)
def test_invalid_id_numbers(value: object, reason: str) -> None:
    with pytest.raises(InvalidInput) as err:
        validate_id_number(value, TODAY, field="applicant.id_number")
    assert err.value.field == "applicant.id_number"
    assert reason in err.value.reason


def test_born_today_is_allowed_born_tomorrow_is_not() -> None:
    assert validate_id_number(make_id(born="20260315"), TODAY)
    with pytest.raises(InvalidInput, match="future"):
        validate_id_number(make_id(born="20260315"), TODAY - timedelta(days=1))


def test_every_single_digit_typo_is_caught() -> None:
    number = make_id()
    for i in range(17):
        for d in "0123456789":
            if d != number[i]:
                typo = number[:i] + d + number[i + 1 :]
                with pytest.raises(InvalidInput):
                    validate_id_number(typo, TODAY)


id_numbers = st.builds(
    lambda area, born, seq: make_id(area, born.strftime("%Y%m%d"), f"{seq:03d}"),
    st.sampled_from(sorted(PROVINCE_CODES)).map(lambda p: p + "0102"),
    st.dates(date(1900, 1, 1), TODAY),
    st.integers(0, 999),
)


@PROPERTY
@given(number=id_numbers)
def test_generated_id_numbers_round_trip(number: str) -> None:
    assert validate_id_number(number, TODAY) == number
    assert validate_id_number(number.lower(), TODAY) == number
    with pytest.raises(InvalidInput, match="checksum"):
        validate_id_number(wrong_check(number), TODAY)


# -- unified social credit codes ----------------------------------------------------


def make_uscc(body: str = "91430100MA4L0XYZ1") -> str:
    body = body.replace("Z", "2")
    return body + uscc_check(body)


def test_a_published_credit_code_is_valid() -> None:
    # PetroChina Company Limited, as printed on its business licence.
    assert validate_uscc("91110000710925462X") == "91110000710925462X"
    assert uscc_check_char("91110000710925462") == "X"


@pytest.mark.parametrize("body", ["91430100MA4L0XY21", "12100000400000624", "52430100MJ0000001"])
def test_computed_credit_codes_are_valid(body: str) -> None:
    code = make_uscc(body)
    assert validate_uscc(code) == code
    assert validate_uscc(code.lower()) == code


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (make_uscc()[:17] + next(c for c in USCC_CHARS if c != make_uscc()[17]), "checksum"),
        ("91430100MA4L0XYI1X", "I"),
        ("91430100MA4LOXY21X", "O"),
        ("91430100MA4L0SY21X", "S"),
        ("91430100MA4L0XY2", "18 characters"),
        ("B1430100MA4L0XY21X", "registering-authority"),
        ("90430100MA4L0XY21X", "category"),
        ("9143A100MA4L0XY21X", "division"),
    ],
)
def test_invalid_credit_codes(value: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as err:
        validate_uscc(value, field="applicant.uscc")
    assert err.value.field == "applicant.uscc"
    assert reason in err.value.reason


@PROPERTY
@given(
    authority=st.sampled_from("123456789ANY"),
    category=st.sampled_from("123459"),
    area=st.integers(110000, 659999).map(str),
    org=st.text(alphabet=USCC_CHARS, min_size=9, max_size=9),
)
def test_generated_credit_codes_round_trip(
    authority: str, category: str, area: str, org: str
) -> None:
    code = make_uscc(authority + category + area + org)
    assert validate_uscc(code) == code
    bad = code[:17] + next(c for c in USCC_CHARS if c != code[17])
    with pytest.raises(InvalidInput, match="checksum"):
        validate_uscc(bad)


# -- phones -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "13812345678",
        "+8613812345678",
        "+86 138 1234 5678",
        "0086-138-1234-5678",
        "１３８１２３４５６７８",
    ],
)
def test_phone_prefixes_and_separators_are_normalised(typed: str) -> None:
    assert validate_phone(typed) == "13812345678"


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("12812345678", "beginning 13 to 19"),
        ("1381234567", "11-digit"),
        ("0731-84567890", "11-digit"),
        ("138123456789", "11-digit"),
        ("138abc45678", "only digits"),
        ("", "required"),
    ],
)
def test_invalid_phones(typed: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as err:
        validate_phone(typed, field="applicant.proxy.phone")
    assert err.value.field == "applicant.proxy.phone"
    assert reason in err.value.reason


# -- names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "张三",
        "欧阳娜娜",
        "㐷",
        "𠮷野",
        "王𪚥",
        "李〇",
        "John Smith",
        "Zoë Müller",
        "Mary-Jane O'Neil",
    ],
)
def test_names_in_any_cjk_extension_or_latin(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize("dot", sorted(DOT_LOOKALIKES | {".", "\uff0e", MIDDLE_DOT}))
def test_every_look_alike_dot_becomes_the_middle_dot(dot: str) -> None:
    assert validate_name(f"阿依古丽{dot}买买提") == "阿依古丽·买买提"
    assert validate_name(f"阿依古丽 {dot} 买买提") == "阿依古丽·买买提"


def test_names_are_nfc_normalised_and_spaces_tidied() -> None:
    assert validate_name("Zoe\u0308  Mu\u0308ller ") == "Zoë Müller"
    assert validate_name("\u3000张三\u3000") == "张三"
    assert validate_name("Ｊｏｈｎ Ｓｍｉｔｈ") == "John Smith"
    assert validate_name("O\u2019Neil") == "O'Neil"
    stacked = "Nguye\u0302\u0303n"  # two marks on one letter (NFC composes to ễ)
    assert validate_name(stacked) == "Nguyễn"
    assert validate_name("Ba\u0304\u0331") == unicodedata.normalize("NFC", "Ba\u0304\u0331")
    with pytest.raises(InvalidInput):
        validate_name("\u0301张")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("张\u200b三", "invisible"),  # zero-width space
        ("张\u200d三", "invisible"),  # zero-width joiner
        ("\ufeff张三", "invisible"),  # byte-order mark
        ("\u202e三张", "invisible"),  # right-to-left override
        ("张\u2066三", "invisible"),  # left-to-right isolate
        ("张三\u00ad", "invisible"),  # soft hyphen
        ("葛\ufe00", "invisible"),  # variation selector
        ("张\n三", "control"),
        ("张\x00三", "control"),
        ("张\ue000", "private-use"),
        ("·买买提", "begin or end with a middle dot"),
        ("阿依古丽•", "begin or end with a middle dot"),
        ("阿依古丽··买买提", "two middle dots"),
        ("张3", "digits"),
        ("张三!", "may not"),
        ("Иван", "may not"),
        ("-John", "begin with a letter"),
        ("John-", "end with a letter"),
        ("", "required"),
        ("   ", "required"),
        ("张" * 65, "longer than 64"),
    ],
)
def test_invalid_names(name: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as err:
        validate_name(name, field="applicant.name")
    assert err.value.field == "applicant.name"
    assert reason in err.value.reason


cjk = st.one_of(
    st.integers(0x4E00, 0x9FFF), st.integers(0x3400, 0x4DBF), st.integers(0x20000, 0x2A6DF)
).map(chr)
cjk_words = st.text(alphabet=cjk, min_size=1, max_size=6)


@PROPERTY
@given(
    parts=st.lists(cjk_words, min_size=1, max_size=3),
    dots=st.lists(st.sampled_from(sorted(DOT_LOOKALIKES | {MIDDLE_DOT})), min_size=2, max_size=2),
)
def test_name_normalisation_is_idempotent(parts: list[str], dots: list[str]) -> None:
    typed = "".join(p + (dots[i % 2] if i < len(parts) - 1 else "") for i, p in enumerate(parts))
    name = validate_name(typed)
    assert name == MIDDLE_DOT.join(parts)
    assert validate_name(name) == name
    masked = mask_name(name)
    assert len(masked) == len(name)
    assert masked[0] == (name[0] if len(name) > 1 else "*")
    assert masked.count(MIDDLE_DOT) == name.count(MIDDLE_DOT)


@PROPERTY
@given(name=cjk_words, junk=st.sampled_from(["\u200b", "\u200c", "\u200e", "\u202d", "\u2068"]))
def test_invisible_characters_are_refused_anywhere(name: str, junk: str) -> None:
    for i in range(len(name) + 1):
        with pytest.raises(InvalidInput):
            validate_name(name[:i] + junk + name[i:])


def test_organisation_names() -> None:
    assert (
        validate_organisation_name("郴州市北湖区某某农业专业合作社")
        == "郴州市北湖区某某农业专业合作社"
    )
    assert validate_organisation_name("湖南某某科技有限公司（长沙分公司）")
    assert validate_organisation_name("ABC (China) Co., Ltd.") == "ABC (China) Co., Ltd."
    with pytest.raises(InvalidInput, match="invisible"):
        validate_organisation_name("某某\u200b公司")
    with pytest.raises(InvalidInput, match="too short"):
        validate_organisation_name("某")


# -- masks --------------------------------------------------------------------------


def test_masks() -> None:
    assert mask_id_number("430102198506151234") == "4301**********1234"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳娜娜") == "欧***"
    assert mask_name("阿依古丽·买买提") == "阿***·***"
    assert mask_name("John Smith") == "J*** *****"
    assert mask_name("㐷") == "*"
    assert mask_phone("12345") == "*****"
    assert mask_id_number("123") == "***"


# -- applicants ---------------------------------------------------------------------

PERSON = {"name": "张三", "id_number": make_id(), "phone": "13812345678"}
PROXY = {"name": "李四", "id_number": make_id(born="19900101", seq="456"), "phone": "13900001111"}


def test_a_person_with_a_proxy() -> None:
    applicant = validate_applicant({**PERSON, "proxy": PROXY}, TODAY)
    assert applicant.kind == "person"
    assert applicant.party == Person("张三", make_id(), "13812345678")
    assert applicant.proxy is not None and applicant.proxy.name == "李四"
    assert applicant.contact_phone == "13900001111"
    assert validate_applicant(applicant.to_dict(), TODAY) == applicant
    masked = applicant.masked()
    assert masked["name"] == "张*"
    assert masked["id_number"] == "4301**********" + make_id()[-4:]
    assert masked["proxy"] == {
        "name": "李*",
        "id_number": mask_id_number(PROXY["id_number"]),
        "phone": "139****1111",
    }


def test_a_company_with_its_legal_representative() -> None:
    data = {
        "kind": "company",
        "name": "湖南某某农业科技有限公司",
        "uscc": make_uscc(),
        "legal_representative": PERSON,
    }
    applicant = validate_applicant(data, TODAY)
    assert isinstance(applicant.party, Company)
    assert applicant.name == "湖南某某农业科技有限公司"
    assert applicant.contact_phone == "13812345678"
    assert validate_applicant(applicant.to_dict(), TODAY) == applicant
    assert applicant.masked()["uscc"] == make_uscc()


def test_every_problem_is_reported_at_once() -> None:
    data: dict[str, Any] = {
        "name": "张\u200b三",
        "id_number": wrong_check(make_id()),
        "phone": "12345",
        "colour": "blue",
        "proxy": {"name": "·李四", "id_number": make_id(born="20300101"), "phone": "+86 139"},
    }
    with pytest.raises(Problems) as err:
        validate_applicant(data, TODAY)
    fields = err.value.fields
    assert set(fields) == {
        "applicant.name",
        "applicant.id_number",
        "applicant.phone",
        "applicant.colour",
        "applicant.proxy.name",
        "applicant.proxy.id_number",
        "applicant.proxy.phone",
    }
    assert fields["applicant.id_number"] == "checksum does not match"
    assert "future" in fields["applicant.proxy.id_number"]
    assert err.value.http_status == 400


def test_missing_fields_and_bad_shapes() -> None:
    with pytest.raises(Problems) as err:
        validate_applicant({"kind": "company", "name": "某", "proxy": "李四"}, TODAY)
    assert err.value.fields == {
        "applicant.name": "is too short for a registered name",
        "applicant.uscc": "required",
        "applicant.legal_representative": "required",
        "applicant.proxy": "must be an object with name, id_number and phone",
    }
    with pytest.raises(Problems) as err:
        validate_applicant({"kind": "robot"}, TODAY, prefix="case.applicant")
    assert "case.applicant.kind" in err.value.fields
    with pytest.raises(Problems) as err:
        validate_applicant({}, TODAY)
    assert err.value.fields["applicant.id_number"] == "required"


def test_a_proxy_must_be_someone_else() -> None:
    with pytest.raises(Problems) as err:
        validate_applicant({**PERSON, "proxy": PERSON}, TODAY)
    assert "someone other" in err.value.fields["applicant.proxy.id_number"]


@PROPERTY
@given(
    name=cjk_words.filter(lambda s: len(s) >= 2),
    number=id_numbers,
    phone=st.integers(3, 9).flatmap(
        lambda d: st.integers(0, 10**9 - 1).map(lambda r: f"1{d}{r:09d}")
    ),
    with_proxy=st.booleans(),
)
def test_applicant_round_trip(name: str, number: str, phone: str, with_proxy: bool) -> None:
    proxy = Person("王五", make_id("110105", "19700101", "777"), "15000000000")
    applicant = Applicant(Person(name, number, phone), proxy if with_proxy else None)
    if with_proxy and proxy.id_number == number:
        return
    assert validate_applicant(applicant.to_dict(), TODAY) == applicant
