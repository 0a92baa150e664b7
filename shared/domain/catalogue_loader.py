"""Read a catalogue file (YAML or JSON), check it whole, and build the immutable model.

A catalogue travels to every site as a signed release, so a mistake in it reaches every
window at once. The loader therefore refuses any inconsistency and names every problem in one
:class:`~shared.domain.errors.Problems` whose keys are paths into the file (``items[3].window``);
it returns a :class:`~shared.domain.catalogue.Catalogue` only when nothing is wrong, so a caller
never sees half a catalogue.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any, TypeVar

import yaml

from shared.domain.adaptors import adaptor_rules, parse_adaptors, table_problems
from shared.domain.catalogue import (
    Authority,
    Bilingual,
    Catalogue,
    CertificateIssue,
    Choice,
    DecidingTier,
    Department,
    FeeFormula,
    FeeItem,
    FieldType,
    FormDefinition,
    FormField,
    ItemKind,
    ItemType,
    Material,
    ServiceItem,
    SiteTier,
    Window,
    WindowGrant,
)
from shared.domain.catalogue_reading import Entry as _Entry
from shared.domain.catalogue_reading import Found as _Found
from shared.domain.catalogue_reading import Parsed as _Parsed
from shared.domain.catalogue_reading import T
from shared.domain.catalogue_reading import bilingual_of as _bilingual
from shared.domain.catalogue_reading import duplicates as _duplicates
from shared.domain.catalogue_reading import parts_of as _parts
from shared.domain.competence import competence_rules, parse_competence
from shared.domain.composites import composite_rules, parse_composites
from shared.domain.errors import InvalidInput, Problems

ITEM_CODE = re.compile(r"[A-Z]{2,4}-\d{4}")
WINDOW_CODE = re.compile(r"W-[A-Z0-9]+(?:-[A-Z0-9]+)*")
DEPARTMENT_CODE = re.compile(r"[A-Z]{2,6}")
PART_CODE = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,31}")  # materials and fees within an item
FIELD_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
REGION_CODE = re.compile(r"\d{6}(?:\d{3}){0,2}")

MAX_DAYS = 365
MAX_MATERIAL_BYTES = 100 * 1024 * 1024
MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_PATTERN_LENGTH = 200
MAX_DECIMALS = 6
MAX_VALID_DAYS = 3660  # a copy kept for reuse: ten years at most
MAX_VALID_YEARS = 50  # an issued certificate's validity

SAMPLE_CATALOGUE = "sample_catalogue.yaml"



# --- departments and windows ---------------------------------------------------------------

_DEPARTMENT_KEYS = ("code", "name")
_WINDOW_KEYS = ("code", "name", "department", "site_tier", "grants")
_GRANT_KEYS = ("item", "authority")


def _department(found: _Found, raw: object, index: int) -> _Parsed[Department] | None:
    entry = _Entry(found, raw, f"departments[{index}]", _DEPARTMENT_KEYS)
    if not entry.is_mapping:
        return None
    code = entry.string("code", pattern=DEPARTMENT_CODE)
    name = entry.bilingual("name") or Bilingual("", "")
    return _Parsed(index, Department(code=code, name=name), frozenset(entry.bad))


def _window(found: _Found, raw: object, index: int) -> _Parsed[Window] | None:
    entry = _Entry(found, raw, f"windows[{index}]", _WINDOW_KEYS)
    if not entry.is_mapping:
        return None
    code = entry.string("code", pattern=WINDOW_CODE)
    name = entry.bilingual("name") or Bilingual("", "")
    department = entry.string("department", pattern=DEPARTMENT_CODE)
    site_tier = entry.enum(
        "site_tier",
        SiteTier,
        refused={"village": "village stations register only; they have no deciding windows"},
    )
    grants: list[WindowGrant] = []
    granted: dict[str, int] = {}
    for g_index, raw_grant in enumerate(entry.sequence("grants")):
        grant_entry = _Entry(found, raw_grant, entry.at(f"grants[{g_index}]"), _GRANT_KEYS)
        if not grant_entry.is_mapping:
            entry.bad.add("grants")
            continue
        item = grant_entry.string("item", pattern=ITEM_CODE)
        authority = grant_entry.enum("authority", Authority)
        if grant_entry.bad:
            entry.bad.add("grants")
            continue
        if item in granted:
            found.add(
                grant_entry.at("item"),
                f"item {item} is granted twice (also grants[{granted[item]}])",
            )
            entry.bad.add("grants")
            continue
        granted[item] = g_index
        grants.append(WindowGrant(item=item, authority=authority))
    window = Window(
        code=code,
        name=name,
        department=department,
        site_tier=site_tier,
        grants=tuple(grants),
    )
    return _Parsed(index, window, frozenset(entry.bad))


# --- items ---------------------------------------------------------------------------------

_ITEM_KEYS = (
    "code", "name", "type", "department", "tier", "window", "authority", "kind",
    "legal_days", "promised_days", "materials", "fees", "form", "overdue_means_approval",
    "absence_means_consent", "co_approvers", "external_authority", "refusal_grounds",
    "pay_on_collection", "issues", "competence",
)  # fmt: skip
_MATERIAL_KEYS = (
    "code", "name", "required", "certificate_held", "max_bytes", "often_missing", "valid_days",
)  # fmt: skip
_ISSUES_KEYS = ("material", "valid_years")
_FEE_KEYS = ("code", "name", "basis", "amount_fen", "formula", "reducible")
_FORM_KEYS = ("fields",)
_FIELD_KEYS = (
    "key", "label", "type", "required", "choices", "min", "max", "decimals", "not_future",
    "min_length", "max_length", "pattern",
)  # fmt: skip
_CHOICE_KEYS = ("value", "label")


def _material(found: _Found, raw: object, path: str) -> Material | None:
    entry = _Entry(found, raw, path, _MATERIAL_KEYS)
    if not entry.is_mapping:
        return None
    material = Material(
        code=entry.string("code", pattern=PART_CODE),
        name=entry.bilingual("name") or Bilingual("", ""),
        required=entry.boolean("required", True),
        certificate_held=entry.boolean("certificate_held", False),
        max_bytes=entry.integer(
            "max_bytes", minimum=1, maximum=MAX_MATERIAL_BYTES, default=10 * 1024 * 1024
        ),
        often_missing=entry.boolean("often_missing", False),
        valid_days=(entry.integer("valid_days", minimum=1, maximum=MAX_VALID_DAYS, default=0)
                    if entry.present("valid_days") else None),
    )
    return None if entry.bad else material


def _issues(found: _Found, entry: _Entry) -> CertificateIssue | None:
    """The item's ``issues``: which certificate its approval issues and for how long."""
    if not entry.present("issues"):
        return None
    issues = _Entry(found, entry.raw("issues"), entry.at("issues"), _ISSUES_KEYS)
    if not issues.is_mapping:
        entry.bad.add("issues")
        return None
    made = CertificateIssue(
        material=issues.string("material", pattern=PART_CODE),
        valid_years=issues.integer("valid_years", minimum=1, maximum=MAX_VALID_YEARS,
                                   default=None),
    )
    if issues.bad:
        entry.bad.add("issues")
        return None
    return made


def _fee(found: _Found, raw: object, path: str) -> FeeItem | None:
    entry = _Entry(found, raw, path, _FEE_KEYS)
    if not entry.is_mapping:
        return None
    code = entry.string("code", pattern=PART_CODE)
    name = entry.bilingual("name") or Bilingual("", "")
    basis = entry.string("basis")
    amount_fen: int | None = None
    formula: FeeFormula | None = None
    if entry.present("amount_fen") == entry.present("formula"):
        entry.fail("amount_fen", "give exactly one of amount_fen and formula")
    elif entry.present("amount_fen"):
        amount_fen = entry.integer("amount_fen", minimum=0, maximum=10**10, default=None)
    else:
        text = entry.string("formula")
        if text:
            try:
                formula = FeeFormula.parse(text)
            except InvalidInput as exc:
                entry.fail("formula", exc.reason)
    reducible = entry.boolean("reducible", False)
    if entry.bad:
        return None
    return FeeItem(code=code, name=name, basis=basis, amount_fen=amount_fen, formula=formula,
                   reducible=reducible)


def _choices(entry: _Entry, field_type: FieldType) -> tuple[Choice, ...]:
    raw_choices = entry.sequence("choices")
    if raw_choices and field_type is not FieldType.CHOICE:
        entry.fail("choices", "only choice fields have choices")
        return ()
    if field_type is FieldType.CHOICE and not raw_choices and "type" not in entry.bad:
        entry.fail("choices", "a choice field needs at least one choice")
        return ()
    choices: list[Choice] = []
    seen: dict[str, int] = {}
    for c_index, raw_choice in enumerate(raw_choices):
        where = entry.at(f"choices[{c_index}]")
        choice_entry = _Entry(entry.found, raw_choice, where, _CHOICE_KEYS)
        if not choice_entry.is_mapping:
            entry.bad.add("choices")
            continue
        value = choice_entry.string("value")
        label = choice_entry.bilingual("label")
        if choice_entry.bad or label is None:
            entry.bad.add("choices")
            continue
        if value in seen:
            choice_entry.fail("value", f"{value!r} is listed twice (also choices[{seen[value]}])")
            entry.bad.add("choices")
            continue
        seen[value] = c_index
        choices.append(Choice(value=value, label=label))
    return tuple(choices)


def _form_field(found: _Found, raw: object, path: str) -> FormField | None:
    entry = _Entry(found, raw, path, _FIELD_KEYS)
    if not entry.is_mapping:
        return None
    key = entry.string("key", pattern=FIELD_KEY)
    label = entry.bilingual("label") or Bilingual("", "")
    field_type = entry.enum("type", FieldType)
    typed = "type" not in entry.bad
    required = entry.boolean("required", False)
    choices = _choices(entry, field_type)

    def only_for(keys: Sequence[str], types: Sequence[FieldType], what: str) -> None:
        for rule in keys:
            if typed and entry.present(rule) and field_type not in types:
                entry.fail(rule, f"only {what} fields have {rule}")

    only_for(("decimals",), (FieldType.NUMBER,), "number")
    only_for(("not_future",), (FieldType.DATE,), "date")
    only_for(("min", "max"), (FieldType.NUMBER, FieldType.DATE), "number and date")
    only_for(("min_length", "max_length", "pattern"), (FieldType.TEXT,), "text")

    decimals = entry.integer("decimals", minimum=0, maximum=MAX_DECIMALS, default=0)
    min_value = max_value = None
    min_date = max_date = None
    if field_type is FieldType.NUMBER:
        min_value, max_value = entry.decimal("min"), entry.decimal("max")
        if min_value is not None and max_value is not None and min_value > max_value:
            entry.fail("min", f"{min_value} is greater than max {max_value}")
    elif field_type is FieldType.DATE:
        min_date, max_date = entry.iso_date("min"), entry.iso_date("max")
        if min_date is not None and max_date is not None and min_date > max_date:
            entry.fail("min", f"{min_date} is after max {max_date}")
    min_length = max_length = None
    if entry.present("min_length"):
        min_length = entry.integer("min_length", minimum=0, maximum=10_000, default=None)
    if entry.present("max_length"):
        max_length = entry.integer("max_length", minimum=1, maximum=10_000, default=None)
    if min_length is not None and max_length is not None and min_length > max_length:
        entry.fail("min_length", f"{min_length} is greater than max_length {max_length}")
    pattern = entry.string("pattern", required=False) or None
    if pattern is not None:
        if len(pattern) > MAX_PATTERN_LENGTH:
            entry.fail("pattern", f"longer than {MAX_PATTERN_LENGTH} characters")
        else:
            try:
                re.compile(pattern)
            except re.error as exc:
                entry.fail("pattern", f"not a valid regular expression: {exc}")
    form_field = FormField(
        key=key,
        label=label,
        type=field_type,
        required=required,
        choices=choices,
        min_value=min_value,
        max_value=max_value,
        decimals=decimals,
        min_date=min_date,
        max_date=max_date,
        not_future=entry.boolean("not_future", False),
        min_length=min_length,
        max_length=max_length,
        pattern=pattern,
    )
    return None if entry.bad else form_field


def _item(found: _Found, raw: object, index: int) -> _Parsed[ServiceItem] | None:
    entry = _Entry(found, raw, f"items[{index}]", _ITEM_KEYS)
    if not entry.is_mapping:
        return None
    code = entry.string("code", pattern=ITEM_CODE)
    name = entry.bilingual("name") or Bilingual("", "")
    item_type = entry.enum("type", ItemType)
    department = entry.string("department", pattern=DEPARTMENT_CODE)
    tier = entry.enum(
        "tier",
        DecidingTier,
        refused={"village": "villages register only; an item is decided at township or above"},
    )
    window = entry.string("window", pattern=WINDOW_CODE)
    authority = entry.enum("authority", Authority)
    kind = entry.enum(
        "kind",
        ItemKind,
        refused={
            "supplement": "supplement is an outcome of a case, not an item's default kind",
            "returned": "returned is an outcome of a case, not an item's default kind",
        },
    )
    legal_days = entry.integer("legal_days", minimum=0, maximum=MAX_DAYS, default=None)
    promised_days = entry.integer("promised_days", minimum=0, maximum=MAX_DAYS, default=None)
    materials = _parts(entry, "materials", _material)
    fees = _parts(entry, "fees", _fee)
    form = FormDefinition()
    if entry.present("form"):
        form_entry = _Entry(found, entry.raw("form"), entry.at("form"), _FORM_KEYS)
        if not form_entry.is_mapping:
            entry.bad.add("form")
        else:
            form = FormDefinition(_parts(form_entry, "fields", _form_field))
            if form_entry.bad:
                entry.bad.add("form")
    co_approvers: list[str] = []
    for c_index, raw_code in enumerate(entry.sequence("co_approvers")):
        if not isinstance(raw_code, str) or not DEPARTMENT_CODE.fullmatch(raw_code):
            found.add(entry.at(f"co_approvers[{c_index}]"), f"not a department code: {raw_code!r}")
            entry.bad.add("co_approvers")
        else:
            co_approvers.append(raw_code)
    refusal_grounds: list[Bilingual] = []
    for r_index, raw_ground in enumerate(entry.sequence("refusal_grounds")):
        ground = _bilingual(found, raw_ground, entry.at(f"refusal_grounds[{r_index}]"))
        if ground is not None:
            refusal_grounds.append(ground)
    item = ServiceItem(
        code=code,
        name=name,
        type=item_type,
        department=department,
        tier=tier,
        window=window,
        authority=authority,
        kind=kind,
        legal_days=legal_days,
        promised_days=promised_days,
        materials=materials,
        fees=fees,
        form=form,
        overdue_means_approval=entry.boolean("overdue_means_approval", False),
        absence_means_consent=entry.boolean("absence_means_consent", False),
        co_approvers=tuple(co_approvers),
        external_authority=entry.bilingual("external_authority", required=False),
        refusal_grounds=tuple(refusal_grounds),
        pay_on_collection=entry.boolean("pay_on_collection", False),
        issues=_issues(found, entry),
        competence=parse_competence(entry),
    )
    return _Parsed(index, item, frozenset(entry.bad))


def _item_rules(found: _Found, parsed: _Parsed[ServiceItem]) -> None:
    """The rules that concern one item alone."""
    item, ok = parsed.value, parsed.ok
    path = f"items[{parsed.index}]"
    if ok("competence", "form", "tier"):
        competence_rules(found, path, item)
    kind = item.kind
    if ok("legal_days", "promised_days") and item.promised_days > item.legal_days:
        found.add(
            f"{path}.promised_days",
            f"promised limit {item.promised_days} exceeds the legal limit {item.legal_days}",
        )
    if ok("kind", "promised_days"):
        if kind is ItemKind.IMMEDIATE and item.promised_days > 0:
            found.add(
                f"{path}.promised_days",
                "an immediate item is decided on the spot: promised_days must be 0",
            )
        if kind is not ItemKind.IMMEDIATE and item.promised_days == 0:
            found.add(f"{path}.promised_days", f"a {kind} item needs at least 1 working day")
    if ok("kind", "authority"):
        if kind is ItemKind.IMMEDIATE and item.authority is not Authority.DECISION:
            found.add(
                f"{path}.authority",
                "an immediate item is decided at the window: authority must be decision",
            )
        if (kind is ItemKind.REPORT_UP) != (item.authority is Authority.REVIEW_REPORT):
            found.add(
                f"{path}.authority",
                "review_report authority goes with kind report_up, and only with it",
            )
    if ok("kind", "tier") and (kind is ItemKind.REPORT_UP) != (item.tier is DecidingTier.EXTERNAL):
        found.add(
            f"{path}.tier",
            "an item decided by an external authority is a report_up item, and only such",
        )
    if ok("kind", "external_authority"):
        if kind is ItemKind.REPORT_UP and item.external_authority is None:
            found.add(
                f"{path}.external_authority",
                "a report_up item must name the external authority that decides it",
            )
        if kind is not ItemKind.REPORT_UP and item.external_authority is not None:
            found.add(f"{path}.external_authority", "only report_up items have one")
    if ok("kind", "co_approvers"):
        _joint_rules(found, path, item, check_lead=ok("department"))
    if ok("kind") and item.absence_means_consent and kind is not ItemKind.JOINT:
        found.add(
            f"{path}.absence_means_consent",
            "only joint items have co-approving departments to be deemed to agree",
        )
    if (
        ok("kind")
        and item.overdue_means_approval
        and kind
        in (
            ItemKind.IMMEDIATE,
            ItemKind.REPORT_UP,
        )
    ):
        found.add(
            f"{path}.overdue_means_approval",
            f"a {kind} item has no time limit of this window's that could expire into approval",
        )
    if ok("materials"):
        _duplicates(found, f"{path}.materials", "code", [m.code for m in item.materials], "code")
    if ok("materials", "issues") and item.issues is not None \
            and item.material(item.issues.material) is not None:
        found.add(f"{path}.issues.material",
                  f"{item.issues.material} is what the item issues, not one it asks for")
    if ok("fees"):
        _duplicates(found, f"{path}.fees", "code", [f.code for f in item.fees], "code")
    if ok("form"):
        keys = [f.key for f in item.form.fields]
        _duplicates(found, f"{path}.form.fields", "key", keys, "key")
    if ok("fees", "form"):
        _formula_rules(found, path, item)


def _joint_rules(found: _Found, path: str, item: ServiceItem, *, check_lead: bool) -> None:
    approvers = item.co_approvers
    if item.kind is not ItemKind.JOINT:
        if approvers:
            found.add(f"{path}.co_approvers", "only joint items have co-approving departments")
        return
    first: dict[str, int] = {}
    for index, code in enumerate(approvers):
        if code in first:
            found.add(
                f"{path}.co_approvers[{index}]",
                f"department {code} is listed twice (also co_approvers[{first[code]}])",
            )
        first.setdefault(code, index)
    if len(first) < 2:
        found.add(
            f"{path}.co_approvers",
            f"a joint item needs at least two co-approving departments, not {len(first)}",
        )
    elif check_lead and item.department not in first:
        found.add(
            f"{path}.co_approvers",
            f"must include the lead department {item.department}",
        )


def _formula_rules(found: _Found, path: str, item: ServiceItem) -> None:
    for f_index, fee in enumerate(item.fees):
        if fee.formula is None:
            continue
        for name in sorted(fee.formula.names):
            form_field = item.form.field(name)
            where = f"{path}.fees[{f_index}].formula"
            if form_field is None:
                found.add(where, f"refers to {name!r}, which is not a field of the form")
            elif form_field.type not in (FieldType.NUMBER, FieldType.BOOLEAN):
                found.add(where, f"{name!r} is a {form_field.type} field; use number or boolean")
            elif not form_field.required:
                found.add(where, f"{name!r} must be a required field so the fee can be computed")


def _cross_rules(
    found: _Found,
    departments: Sequence[_Parsed[Department]],
    windows: Sequence[_Parsed[Window]],
    items: Sequence[_Parsed[ServiceItem]],
) -> None:
    """The rules that tie departments, windows and items together."""
    department_at = _first_by_code(found, "departments", "department code", departments)
    window_at = _first_by_code(found, "windows", "window code", windows)
    item_at = _first_by_code(found, "items", "item code", items)

    for parsed in windows:
        window = parsed.value
        path = f"windows[{parsed.index}]"
        if parsed.ok("department") and window.department not in department_at:
            found.add(f"{path}.department", f"unknown department {window.department}")
        if not parsed.ok("grants", "code"):
            continue
        for g_index, grant in enumerate(window.grants):
            served = item_at.get(grant.item)
            where = f"{path}.grants[{g_index}].item"
            if served is None:
                found.add(where, f"unknown item {grant.item}")
            elif (
                served.ok("window")
                and served.value.window in window_at
                and served.value.window != window.code
            ):
                found.add(
                    where,
                    f"item {grant.item} is served by window {served.value.window}; "
                    "each item has one authorised window",
                )

    seats = {
        (p.value.department, p.value.site_tier.value)
        for p in windows
        if p.ok("department", "site_tier")
    }
    for entry in items:
        _item_cross_rules(found, entry, department_at, window_at)
        if entry.ok("co_approvers", "kind", "tier") and entry.value.kind is ItemKind.JOINT:
            _co_approver_seats(found, entry, department_at, seats)


def _co_approver_seats(
    found: _Found,
    parsed: _Parsed[ServiceItem],
    department_at: Mapping[str, _Parsed[Department]],
    seats: set[tuple[str, str]],
) -> None:
    """Each co-approving department needs a window where the joint item is decided."""
    item = parsed.value
    for c_index, code in enumerate(item.co_approvers):
        if code in department_at and (code, item.tier.value) not in seats:
            found.add(
                f"items[{parsed.index}].co_approvers[{c_index}]",
                f"department {code} has no window at {item.tier} sites to co-approve from",
            )


def _item_cross_rules(
    found: _Found,
    parsed: _Parsed[ServiceItem],
    department_at: Mapping[str, _Parsed[Department]],
    window_at: Mapping[str, _Parsed[Window]],
) -> None:
    item = parsed.value
    path = f"items[{parsed.index}]"
    if parsed.ok("department") and item.department not in department_at:
        found.add(f"{path}.department", f"unknown department {item.department}")
    if parsed.ok("co_approvers", "kind") and item.kind is ItemKind.JOINT:
        for c_index, code in enumerate(item.co_approvers):
            if code not in department_at:
                found.add(f"{path}.co_approvers[{c_index}]", f"unknown department {code}")
    if not parsed.ok("window"):
        return
    held = window_at.get(item.window)
    if held is None:
        found.add(f"{path}.window", f"unknown window {item.window}")
        return
    window = held.value
    if (
        parsed.ok("department")
        and item.department in department_at
        and held.ok("department")
        and window.department != item.department
    ):
        found.add(
            f"{path}.window",
            f"window {window.code} belongs to department {window.department}, "
            f"not {item.department}",
        )
    if held.ok("grants") and parsed.ok("code", "authority"):
        granted = window.authority_for(item.code)
        if granted is None:
            found.add(
                f"{path}.window",
                f"window {window.code} holds no authority for item {item.code}",
            )
        elif granted is not item.authority:
            found.add(
                f"{path}.authority",
                f"window {window.code} holds {granted} for this item, not {item.authority}",
            )
    if parsed.ok("tier") and held.ok("site_tier"):
        _tier_rule(found, path, item, window)


def _tier_rule(found: _Found, path: str, item: ServiceItem, window: Window) -> None:
    if item.tier is DecidingTier.EXTERNAL:
        if window.site_tier is SiteTier.TOWNSHIP:
            found.add(
                f"{path}.window",
                f"window {window.code} sits at township sites; an item for an external "
                "authority is reported up from a county or city window",
            )
    elif window.site_tier.value != item.tier.value:
        found.add(
            f"{path}.window",
            f"window {window.code} sits at {window.site_tier} sites but the item is decided "
            f"at {item.tier} level",
        )


_Coded = TypeVar("_Coded", Department, Window, ServiceItem)


def _first_by_code(
    found: _Found, path: str, what: str, entries: Sequence[_Parsed[_Coded]]
) -> dict[str, _Parsed[_Coded]]:
    first: dict[str, _Parsed[_Coded]] = {}
    for parsed in entries:
        if not parsed.ok("code"):
            continue
        code = parsed.value.code
        if code in first:
            found.add(
                f"{path}[{parsed.index}].code",
                f"duplicate {what} {code} (first at {path}[{first[code].index}])",
            )
        else:
            first[code] = parsed
    return first


# --- entry points --------------------------------------------------------------------------

_TOP_KEYS = (
    "version", "region_code", "region_name", "effective_from", "departments", "windows", "items",
    "composites", "adaptors",
)  # fmt: skip


def _entries(
    found: _Found,
    raws: Sequence[object],
    parse: Callable[[_Found, object, int], _Parsed[T] | None],
) -> list[_Parsed[T]]:
    parsed = (parse(found, raw, index) for index, raw in enumerate(raws))
    return [entry for entry in parsed if entry is not None]


def parse_catalogue(data: object) -> Catalogue:
    """Check already-decoded catalogue data and build the model.

    Raises :class:`~shared.domain.errors.Problems` listing every problem, keyed by path.
    """
    found = _Found()
    top = _Entry(found, data, "", _TOP_KEYS)
    if not top.is_mapping:
        raise Problems(found.problems, "catalogue rejected")
    version = top.integer("version", minimum=1, maximum=2**31 - 1, default=None)
    raw_region = top.raw("region_code")
    if isinstance(raw_region, int) and not isinstance(raw_region, bool):
        raw_region = str(raw_region)  # an unquoted code in YAML reads as a number
    region_code = ""
    if not isinstance(raw_region, str) or not REGION_CODE.fullmatch(raw_region):
        top.fail("region_code", "must be an administrative division code of 6, 9 or 12 digits")
    else:
        region_code = raw_region
    region_name = top.bilingual("region_name") or Bilingual("", "")
    effective_from = top.iso_date("effective_from")
    departments = _entries(found, top.sequence("departments", required=True), _department)
    windows = _entries(found, top.sequence("windows", required=True), _window)
    raw_items = top.sequence("items", required=True)
    if not raw_items and "items" not in top.bad:
        top.fail("items", "a catalogue needs at least one item")
    items = _entries(found, raw_items, _item)
    for parsed_item in items:
        _item_rules(found, parsed_item)
    _cross_rules(found, departments, windows, items)
    item_by_code = {p.value.code: p.value for p in items}
    composites = parse_composites(found, top.sequence("composites"))
    composite_rules(found, composites, item_by_code)
    adaptors = parse_adaptors(found, top.sequence("adaptors"))
    adaptor_rules(found, adaptors, item_by_code)
    if found.problems:
        count = len(found.problems)
        raise Problems(found.problems, f"catalogue rejected: {count} problem(s)")
    return Catalogue(
        version=version,
        region_code=region_code,
        region_name=region_name,
        departments=tuple(p.value for p in departments),
        windows=tuple(p.value for p in windows),
        items=tuple(p.value for p in items),
        effective_from=effective_from,
        composites=tuple(p.value for p in composites),
        adaptors=tuple(p.value for p in adaptors),
    )


def check_catalogue(catalogue: Catalogue) -> None:
    """Apply the consistency rules to a catalogue built in code (e.g. edited at the hub).

    Raises :class:`~shared.domain.errors.Problems` exactly as :func:`parse_catalogue` would.
    """
    found = _Found()
    departments = [_Parsed(i, d) for i, d in enumerate(catalogue.departments)]
    windows = [_Parsed(i, w) for i, w in enumerate(catalogue.windows)]
    items = [_Parsed(i, item) for i, item in enumerate(catalogue.items)]
    for parsed_item in items:
        _item_rules(found, parsed_item)
    _cross_rules(found, departments, windows, items)
    item_by_code = {item.code: item for item in catalogue.items}
    composite_rules(found, [_Parsed(i, c) for i, c in enumerate(catalogue.composites)],
                    item_by_code)
    adaptors = [_Parsed(i, a) for i, a in enumerate(catalogue.adaptors)]
    for parsed_adaptor in adaptors:
        for path, reason in table_problems(parsed_adaptor.value).items():
            found.add(f"adaptors[{parsed_adaptor.index}].{path}", reason)
    adaptor_rules(found, adaptors, item_by_code)
    if found.problems:
        raise Problems(found.problems, f"catalogue rejected: {len(found.problems)} problem(s)")


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that records keys given twice instead of keeping the last."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.repeated: list[str] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, str | int) and key in seen:
                line = key_node.start_mark.line + 1
                self.repeated.append(f"key {key!r} appears twice in one mapping (line {line})")
            seen.add(key if isinstance(key, str | int) else id(key))
        return super().construct_mapping(node, deep=deep)


def _decode_yaml(text: str) -> object:
    loader = _UniqueKeyLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        raise Problems({"file": f"not valid YAML: {exc}"}, "catalogue rejected")
    finally:
        loader.dispose()
    if loader.repeated:
        raise Problems(
            {f"file[{i}]": reason for i, reason in enumerate(loader.repeated)},
            "catalogue rejected",
        )
    return data


def _decode_json(text: str) -> object:
    repeated: list[str] = []

    def pairs(items: list[tuple[str, object]]) -> dict[str, object]:
        counts = Counter(key for key, _ in items)
        repeated.extend(
            f"key {k!r} appears twice in one object" for k, n in counts.items() if n > 1
        )
        return dict(items)

    try:
        data = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        raise Problems({"file": f"not valid JSON: {exc}"}, "catalogue rejected")
    if repeated:
        raise Problems(
            {f"file[{i}]": reason for i, reason in enumerate(sorted(repeated))},
            "catalogue rejected",
        )
    return data


def load_catalogue_text(text: str | bytes, fmt: str = "yaml") -> Catalogue:
    """Decode and check a catalogue given as text; ``fmt`` is ``yaml`` or ``json``."""
    if len(text) > MAX_FILE_BYTES:
        raise InvalidInput("file", f"larger than {MAX_FILE_BYTES} bytes")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput("file", f"not UTF-8: {exc.reason}")
    if fmt == "yaml":
        return parse_catalogue(_decode_yaml(text))
    if fmt == "json":
        return parse_catalogue(_decode_json(text))
    raise InvalidInput("format", f"{fmt!r} is not yaml or json")


def load_catalogue(path: str | os.PathLike[str]) -> Catalogue:
    """Read and check a catalogue file; the format follows the suffix (.yaml, .yml, .json)."""
    file = Path(path)
    suffix = file.suffix.lower()
    fmt = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}.get(suffix)
    if fmt is None:
        raise InvalidInput("file", f"{file.name}: the suffix must be .yaml, .yml or .json")
    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            raise InvalidInput("file", f"{file.name} is larger than {MAX_FILE_BYTES} bytes")
        data = file.read_bytes()
    except OSError as exc:
        raise InvalidInput("file", f"cannot read {file}: {exc.strerror}")
    return load_catalogue_text(data, fmt)


@lru_cache(maxsize=1)
def load_sample_catalogue() -> Catalogue:
    """The sample catalogue shipped with the package (郴州市, 431000), parsed and checked."""
    resource = files("shared.domain") / "data" / SAMPLE_CATALOGUE
    return load_catalogue_text(resource.read_bytes(), "yaml")
