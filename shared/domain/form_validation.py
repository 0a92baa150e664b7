"""Check a submitted application form against the item's form definition.

Agents type on village PCs and browsers send strings, so every value is coerced to its
field's type (numbers, dates, booleans), normalised (full-width digits, spaces) and checked
against the field's rules. Every bad field is reported at once, keyed ``form.<key>``, and a
form with any problem yields nothing: the caller stores either a whole clean form or none.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from shared.domain.catalogue import FieldType, FormDefinition, FormField
from shared.domain.errors import InvalidInput, Problems
from shared.domain.identity import validate_id_number, validate_phone, validate_uscc

FormValue = str | int | Decimal | date | bool

DEFAULT_TEXT_MAX_LENGTH = 500
MAX_NUMBER_DIGITS = 20

_TRUE = frozenset({"true", "1", "yes", "on", "是"})
_FALSE = frozenset({"false", "0", "no", "off", "否"})

class _Bad(Exception):
    """One field's value is not acceptable; carries the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def validate_form(
    form: FormDefinition,
    submitted: object,
    *,
    today: date | None = None,
    prefix: str = "form",
) -> dict[str, FormValue]:
    """The clean, typed form, or :class:`Problems` naming every bad field as ``form.<key>``.

    Unknown keys are refused. A missing, null or blank optional field is left out of the
    result. ``today`` (the site's date in Asia/Shanghai) is needed for ``not_future`` dates
    and birth dates in ID numbers; without it those two checks cannot be made, so a form
    with such a field and no ``today`` raises :class:`ValueError` (a programming error).
    """
    if not isinstance(submitted, Mapping):
        raise Problems({prefix: "must be an object of field values"}, "invalid form")
    if today is None and any(_needs_today(f) for f in form.fields):
        raise ValueError("validate_form needs today= for this form's date checks")
    problems: dict[str, str] = {}
    known = {f.key for f in form.fields}
    for key in submitted:
        if key not in known:
            problems[f"{prefix}.{key}"] = "unknown field"
    clean: dict[str, FormValue] = {}
    for form_field in form.fields:
        raw = submitted.get(form_field.key)
        if _blank(raw):
            if form_field.required:
                problems[f"{prefix}.{form_field.key}"] = "required"
            continue
        try:
            clean[form_field.key] = _coerce(form_field, raw, today=today)
        except _Bad as bad:
            problems[f"{prefix}.{form_field.key}"] = bad.reason
    if problems:
        raise Problems(problems, "invalid form")
    return clean


def _needs_today(form_field: FormField) -> bool:
    return form_field.type is FieldType.ID_NUMBER or (
        form_field.type is FieldType.DATE and form_field.not_future
    )


def _blank(raw: object) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def _coerce(form_field: FormField, raw: object, *, today: date | None) -> FormValue:
    """One field's value, coerced and checked; raises ``_Bad`` with the reason."""
    match form_field.type:
        case FieldType.TEXT:
            return _text(form_field, raw)
        case FieldType.NUMBER:
            return _number(form_field, raw)
        case FieldType.DATE:
            return _date(form_field, raw, today)
        case FieldType.CHOICE:
            return _choice(form_field, raw)
        case FieldType.BOOLEAN:
            return _boolean(raw)
        case FieldType.ID_NUMBER:
            return _id_number(raw, today)
        case FieldType.PHONE:
            return _identity(validate_phone, raw)
        case FieldType.USCC:
            return _identity(validate_uscc, raw)


def _string(raw: object) -> str:
    if not isinstance(raw, str):
        raise _Bad(f"must be text, not {type(raw).__name__}")
    return raw


def _compact(raw: object) -> str:
    """NFKC (full-width to ASCII), upper case, without spaces or hyphens."""
    text = unicodedata.normalize("NFKC", _string(raw))
    return re.sub(r"[\s-]", "", text).upper()


def _text(form_field: FormField, raw: object) -> str:
    text = unicodedata.normalize("NFC", _string(raw)).strip()
    for char in text:
        category = unicodedata.category(char)
        if (category == "Cc" and char not in "\n\t") or category in ("Cf", "Co", "Cs"):
            raise _Bad(f"contains a control or invisible character (U+{ord(char):04X})")
    length = len(text)
    max_length = form_field.max_length or DEFAULT_TEXT_MAX_LENGTH
    if length > max_length:
        raise _Bad(f"at most {max_length} characters, not {length}")
    if form_field.min_length is not None and length < form_field.min_length:
        raise _Bad(f"at least {form_field.min_length} characters, not {length}")
    if form_field.pattern is not None and not re.fullmatch(form_field.pattern, text):
        raise _Bad("does not have the required format")
    return text


def _number(form_field: FormField, raw: object) -> int | Decimal:
    if isinstance(raw, bool):
        raise _Bad("must be a number, not true/false")
    if isinstance(raw, int | Decimal):
        value = Decimal(raw)
    elif isinstance(raw, float):
        value = Decimal(repr(raw))
    elif isinstance(raw, str):
        text = unicodedata.normalize("NFKC", raw).strip().replace(",", "")
        if len(text) > MAX_NUMBER_DIGITS + 2:
            raise _Bad("is too long to be a number")
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise _Bad(f"{raw!r} is not a number")
    else:
        raise _Bad(f"must be a number, not {type(raw).__name__}")
    if not value.is_finite():
        raise _Bad("must be a finite number")
    if value.adjusted() >= MAX_NUMBER_DIGITS:
        raise _Bad("is too large")
    exponent = value.normalize().as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    if places > form_field.decimals:
        allowed = (
            "a whole number"
            if form_field.decimals == 0
            else (f"at most {form_field.decimals} decimal places")
        )
        raise _Bad(f"must be {allowed}")
    if form_field.min_value is not None and value < form_field.min_value:
        raise _Bad(f"at least {form_field.min_value}")
    if form_field.max_value is not None and value > form_field.max_value:
        raise _Bad(f"at most {form_field.max_value}")
    if form_field.decimals == 0:
        return int(value)
    return value.quantize(Decimal(1).scaleb(-form_field.decimals))


def _date(form_field: FormField, raw: object, today: date | None) -> date:
    if isinstance(raw, datetime):
        raise _Bad("must be a date without a time")
    if isinstance(raw, date):
        value = raw
    else:
        text = unicodedata.normalize("NFKC", _string(raw)).strip()
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise _Bad("must be a date YYYY-MM-DD")
        try:
            value = date.fromisoformat(text)
        except ValueError:
            raise _Bad(f"{text} is not a real date")
    if form_field.min_date is not None and value < form_field.min_date:
        raise _Bad(f"not before {form_field.min_date.isoformat()}")
    if form_field.max_date is not None and value > form_field.max_date:
        raise _Bad(f"not after {form_field.max_date.isoformat()}")
    if form_field.not_future and today is not None and value > today:
        raise _Bad("may not be in the future")
    return value


def _choice(form_field: FormField, raw: object) -> str:
    value = _string(raw).strip()
    if value not in form_field.choice_values():
        raise _Bad(f"{value!r} is not one of {', '.join(form_field.choice_values())}")
    return value


def _boolean(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        text = raw.strip().casefold()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise _Bad("must be true or false")


def _identity(check: Callable[[object], str], raw: object) -> str:
    """Run one of :mod:`shared.domain.identity`'s validators, turning its error into ``_Bad``."""
    try:
        return check(raw)
    except InvalidInput as exc:
        raise _Bad(exc.reason) from None


def _id_number(raw: object, today: date | None) -> str:
    """A resident ID number (GB 11643), checked as
    :func:`shared.domain.identity.validate_id_number`."""
    assert today is not None  # validate_form insists on ``today`` for such forms
    return _identity(lambda value: validate_id_number(value, today), raw)


def form_json_values(clean: Mapping[str, FormValue]) -> dict[str, str | int | bool]:
    """A clean form as JSON-safe values: decimals as strings, dates as ISO dates.

    Decimals stay strings so that money keeps its exact value on the way to storage.
    """
    result: dict[str, str | int | bool] = {}
    for key, value in clean.items():
        if isinstance(value, Decimal):
            result[key] = str(value)
        elif isinstance(value, date):
            result[key] = value.isoformat()
        else:
            result[key] = value
    return result
