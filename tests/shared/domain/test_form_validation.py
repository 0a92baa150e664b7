"""A submitted form is coerced to its fields' types or refused with every bad field named."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.catalogue import (
    Bilingual,
    Catalogue,
    Choice,
    FieldType,
    FormDefinition,
    FormField,
)
from shared.domain.catalogue_loader import load_sample_catalogue
from shared.domain.errors import Problems
from shared.domain.form_validation import form_json_values, validate_form

TODAY = date(2025, 10, 9)


def label(text: str) -> Bilingual:
    return Bilingual(zh=text, en=text)


FORM = FormDefinition(
    fields=(
        FormField("name", label("名称"), FieldType.TEXT, required=True, max_length=10),
        FormField("code", label("编号"), FieldType.TEXT, pattern="[0-9]{4}", min_length=4),
        FormField(
            "count", label("数量"), FieldType.NUMBER, required=True,
            min_value=Decimal(1), max_value=Decimal(10),
        ),
        FormField("amount", label("金额"), FieldType.NUMBER, decimals=2, min_value=Decimal(0)),
        FormField("since", label("起始日"), FieldType.DATE, not_future=True),
        FormField(
            "window_date", label("预约日"), FieldType.DATE,
            min_date=date(2025, 1, 1), max_date=date(2025, 12, 31),
        ),
        FormField(
            "size", label("规模"), FieldType.CHOICE, required=True,
            choices=(Choice("small", label("小")), Choice("large", label("大"))),
        ),
        FormField("urgent", label("加急"), FieldType.BOOLEAN),
        FormField("person", label("身份证"), FieldType.ID_NUMBER),
        FormField("mobile", label("手机"), FieldType.PHONE),
        FormField("company", label("信用代码"), FieldType.USCC),
    )
)  # fmt: skip

GOOD: dict[str, Any] = {
    "name": "  张𠮷  ",
    "code": "0042",
    "count": "3",
    "amount": "1,234.5",
    "since": "2025-10-09",
    "window_date": date(2025, 6, 1),
    "size": "large",
    "urgent": "on",
    "person": "11010519491231002x",
    "mobile": "+86 139-0731-0000",
    "company": "91350100m000100y43",
}


def test_good_values_are_coerced_to_their_types() -> None:
    clean = validate_form(FORM, GOOD, today=TODAY)
    assert clean == {
        "name": "张𠮷",
        "code": "0042",
        "count": 3,
        "amount": Decimal("1234.50"),
        "since": date(2025, 10, 9),
        "window_date": date(2025, 6, 1),
        "size": "large",
        "urgent": True,
        "person": "11010519491231002X",
        "mobile": "13907310000",
        "company": "91350100M000100Y43",
    }
    assert isinstance(clean["count"], int)


def test_full_width_digits_from_a_chinese_keyboard_are_accepted() -> None:
    clean = validate_form(
        FORM, {**GOOD, "count": "５", "mobile": "１３９０７３１００００"}, today=TODAY
    )
    assert clean["count"] == 5
    assert clean["mobile"] == "13907310000"


def test_optional_blank_fields_are_left_out() -> None:
    minimal = {"name": "李四", "count": 1, "size": "small", "amount": "", "urgent": None}
    assert validate_form(FORM, minimal, today=TODAY) == {
        "name": "李四",
        "count": 1,
        "size": "small",
    }


BAD: list[tuple[str, object, str]] = [
    ("name", "x" * 11, "at most 10 characters"),
    ("name", "张\u200b三", "invisible"),
    ("name", "张\u202e三", "invisible"),
    ("name", "张\x07三", "control"),
    ("name", 42, "must be text"),
    ("code", "12a4", "format"),
    ("code", "123", "at least 4"),
    ("count", "0", "at least 1"),
    ("count", 11, "at most 10"),
    ("count", "2.5", "whole number"),
    ("count", True, "not true/false"),
    ("count", "three", "not a number"),
    ("count", "NaN", "finite"),
    ("count", float("inf"), "finite"),
    ("count", [3], "must be a number"),
    ("amount", "1.005", "at most 2 decimal places"),
    ("amount", "-1", "at least 0"),
    ("amount", "1e30", "too large"),
    ("since", "2025-10-10", "future"),
    ("since", "2025-02-30", "not a real date"),
    ("since", "10/09/2025", "YYYY-MM-DD"),
    ("window_date", "2024-12-31", "not before 2025-01-01"),
    ("window_date", "2026-01-01", "not after 2025-12-31"),
    ("size", "medium", "not one of small, large"),
    ("urgent", "maybe", "true or false"),
    ("person", "110105194912310021", "checksum"),
    ("person", "110105194902300020", "not a real date"),
    ("person", "11010520300101001X", "future"),
    ("person", "11010519491231002", "18 characters"),
    ("mobile", "12907310000", "mobile number"),
    ("mobile", "0735-2222222", "mobile number"),
    ("company", "91350100M000100Y44", "does not match"),
    ("company", "91350100M000100O43", "except I, O, S, V, Z"),
]


@pytest.mark.parametrize(("key", "value", "words"), BAD)
def test_a_bad_value_is_named_with_its_reason(key: str, value: object, words: str) -> None:
    with pytest.raises(Problems) as caught:
        validate_form(FORM, {**GOOD, key: value}, today=TODAY)
    assert list(caught.value.fields) == [f"form.{key}"]
    assert words in caught.value.fields[f"form.{key}"]


def test_every_bad_field_is_named_at_once() -> None:
    submitted = {**GOOD, "count": "0", "size": "huge", "extra": 1, "person": "123"}
    del submitted["name"]
    with pytest.raises(Problems) as caught:
        validate_form(FORM, submitted, today=TODAY)
    assert caught.value.fields == {
        "form.extra": "unknown field",
        "form.name": "required",
        "form.count": "at least 1",
        "form.size": "'huge' is not one of small, large",
        "form.person": "must be 18 characters, not 3",
    }


def test_required_blank_is_refused() -> None:
    with pytest.raises(Problems) as caught:
        validate_form(FORM, {**GOOD, "name": "   "}, today=TODAY)
    assert caught.value.fields == {"form.name": "required"}


def test_form_must_be_a_mapping() -> None:
    with pytest.raises(Problems) as caught:
        validate_form(FORM, ["name"], today=TODAY)
    assert caught.value.fields == {"form": "must be an object of field values"}


def test_prefix_names_where_the_form_sits() -> None:
    with pytest.raises(Problems) as caught:
        validate_form(FORM, {**GOOD, "count": 0}, today=TODAY, prefix="proxy.form")
    assert list(caught.value.fields) == ["proxy.form.count"]


def test_date_checks_need_today() -> None:
    with pytest.raises(ValueError, match="today"):
        validate_form(FORM, GOOD)
    plain = FormDefinition((FormField("n", label("n"), FieldType.NUMBER),))
    assert validate_form(plain, {"n": 2}) == {"n": 2}


def test_json_values_keep_money_exact() -> None:
    clean = validate_form(FORM, GOOD, today=TODAY)
    values = form_json_values(clean)
    assert values["amount"] == "1234.50"
    assert values["since"] == "2025-10-09"
    assert values["count"] == 3
    assert values["urgent"] is True


# --- against the sample's forms -------------------------------------------------------------


@pytest.fixture(scope="module")
def sample() -> Catalogue:
    return load_sample_catalogue()


def test_a_minimum_living_allowance_form(sample: Catalogue) -> None:
    item = sample.item("MZ-0101")
    clean = validate_form(
        item.form,
        {
            "household_size": "4",
            "monthly_income": "1860.5",
            "residence_type": "rural",
            "has_disabled_member": "false",
            "bank_account": "6217995520001234567",
        },
        today=TODAY,
    )
    assert clean["monthly_income"] == Decimal("1860.50")
    assert clean["has_disabled_member"] is False


def test_a_transfer_form_gives_its_fee(sample: Catalogue) -> None:
    item = sample.item("ZR-0801")
    clean = validate_form(
        item.form,
        {
            "property_cert_no": "湘(2024)郴州市不动产权第0012345号",
            "is_residential": "true",
            "price": "568000",
            "extra_certificates": "1",
        },
        today=TODAY,
    )
    assert item.fee_total(clean) == 9000


def test_a_business_opening_form_refuses_bad_identities(sample: Catalogue) -> None:
    item = sample.item("SJ-0101")
    with pytest.raises(Problems) as caught:
        validate_form(
            item.form,
            {
                "company_name": "郴州市湘南机电有限公司",
                "company_type": "llc",
                "registered_capital": "100",
                "legal_rep_id": "431002199001011230",
                "legal_rep_phone": "1390731",
                "seal_count": 2,
            },
            today=TODAY,
        )
    assert set(caught.value.fields) == {"form.legal_rep_id", "form.legal_rep_phone"}


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_submission_gives_a_clean_form_or_problems(data: st.DataObject) -> None:
    sample = load_sample_catalogue()
    item = data.draw(st.sampled_from(sample.items))
    keys = [f.key for f in item.form.fields]
    submitted = data.draw(
        st.dictionaries(st.sampled_from(keys) | st.text(max_size=8), JSONISH, max_size=6)
    )
    try:
        clean = validate_form(item.form, submitted, today=TODAY)
    except Problems as problems:
        assert problems.fields
        assert all(key.startswith("form.") for key in problems.fields)
    else:
        assert set(clean) <= set(keys)
        assert set(clean) >= {f.key for f in item.form.fields if f.required}
        # a clean form validates again to itself
        assert validate_form(item.form, clean, today=TODAY) == clean
