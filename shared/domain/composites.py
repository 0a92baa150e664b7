"""One form for one thing (一表制): a composite catalogue entry and the form it asks.

A composite (e.g. 开办企业一件事) names the items of several departments an applicant needs
together. Its one form is the union of the parts' forms: a field that several parts ask
(same key) is asked once, and a material that several parts require (same code) is handed
in once. Registration then fans the application out into one case per part
(:mod:`shared.domain.case_bundles`). The loader refuses a composite whose parts would ask
the same key in two incompatible ways, since one answer could not serve both.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from shared.domain.catalogue import (
    Bilingual,
    Catalogue,
    Composite,
    FormDefinition,
    FormField,
    Material,
    ServiceItem,
    search_items,
)
from shared.domain.catalogue_reading import Entry, Found, Parsed, duplicates

COMPOSITE_CODE = re.compile(r"YJS-\d{4}")
"""一件事 codes: apart from item codes, so a code never names both."""
APPLICANT_FIELDS = 3
"""The applicant block every form asks (name, ID number, phone): once per separate item,
once in all on the one form."""
MIN_PARTS = 2
MAX_PARTS = 12
_KEYS = ("code", "name", "parts", "keywords")


def parse_composites(found: Found, raws: Sequence[object]) -> list[Parsed[Composite]]:
    """The ``composites`` section, each entry read and checked on its own."""
    parsed: list[Parsed[Composite]] = []
    for index, raw in enumerate(raws):
        entry = Entry(found, raw, f"composites[{index}]", _KEYS)
        if not entry.is_mapping:
            continue
        code = entry.string("code", pattern=COMPOSITE_CODE)
        name = entry.bilingual("name") or Bilingual("", "")
        parts = tuple(_codes(entry, "parts"))
        keywords = tuple(_codes(entry, "keywords"))
        if "parts" not in entry.bad and not MIN_PARTS <= len(parts) <= MAX_PARTS:
            entry.fail("parts", f"a one-form entry joins {MIN_PARTS} to {MAX_PARTS} items")
        for p_index, part in enumerate(parts):
            if part in parts[:p_index]:
                entry.fail("parts", f"item {part} is named twice")
        parsed.append(Parsed(index, Composite(code, name, parts, keywords),
                             frozenset(entry.bad)))
    return parsed


def _codes(entry: Entry, key: str) -> list[str]:
    values = entry.sequence(key)
    if any(not isinstance(v, str) or not v.strip() for v in values):
        entry.fail(key, "must be a list of non-empty strings")
        return []
    return [str(v) for v in values]


def composite_rules(found: Found, composites: Sequence[Parsed[Composite]],
                    items: Mapping[str, ServiceItem]) -> None:
    """Every part is an item of the catalogue, and the parts agree on every shared field."""
    codes = [p.value.code for p in composites]
    duplicates(found, "composites", "code", codes, "one-form code")
    for parsed in composites:
        path = f"composites[{parsed.index}]"
        if parsed.value.code in items:
            found.add(f"{path}.code", "an item already has this code")
        if not parsed.ok("parts"):
            continue
        known: list[ServiceItem] = []
        for p_index, code in enumerate(parsed.value.parts):
            item = items.get(code)
            if item is None:
                found.add(f"{path}.parts[{p_index}]", f"unknown item {code}")
            else:
                known.append(item)
        for key, reason in _field_conflicts(known).items():
            found.add(f"{path}.parts", f"field {key!r}: {reason}")


def _field_signature(form_field: FormField) -> tuple[object, ...]:
    return (form_field.type, form_field.choice_values(), form_field.min_value,
            form_field.max_value, form_field.decimals, form_field.pattern)


def _field_conflicts(items: Sequence[ServiceItem]) -> dict[str, str]:
    first: dict[str, tuple[str, FormField]] = {}
    conflicts: dict[str, str] = {}
    for item in items:
        for form_field in item.form.fields:
            seen = first.get(form_field.key)
            if seen is None:
                first[form_field.key] = (item.code, form_field)
            elif _field_signature(seen[1]) != _field_signature(form_field):
                conflicts[form_field.key] = (
                    f"{seen[0]} and {item.code} ask it with different types, choices or "
                    "rules; one answer cannot serve both")
    return conflicts


def search_composites(catalogue: Catalogue, query: str) -> list[Composite]:
    """The one-form entries ``query`` points to: by code, name or keyword, then because it
    finds one of their parts; every entry for an empty query."""
    wanted = "".join(unicodedata.normalize("NFKC", query).casefold().split())
    if not wanted:
        return list(catalogue.composites)
    found_items = {item.code for item in search_items(catalogue, query)}
    direct: list[Composite] = []
    by_part: list[Composite] = []
    for composite in catalogue.composites:
        texts = (composite.code.casefold(), composite.name.zh, composite.name.en.casefold(),
                 *(k.casefold() for k in composite.keywords))
        if any(wanted in text for text in texts):
            direct.append(composite)
        elif found_items.intersection(composite.parts):
            by_part.append(composite)
    return direct + by_part


def part_items(catalogue: Catalogue, composite: Composite) -> tuple[ServiceItem, ...]:
    """The composite's items, in the order it names them."""
    return tuple(catalogue.item(code) for code in composite.parts)


def one_form(catalogue: Catalogue, composite: Composite) -> FormDefinition:
    """The single form: every part's fields, each key once (required if any part needs it)."""
    merged: dict[str, FormField] = {}
    for item in part_items(catalogue, composite):
        for form_field in item.form.fields:
            held = merged.get(form_field.key)
            if held is None or (form_field.required and not held.required):
                merged[form_field.key] = form_field
    return FormDefinition(tuple(merged.values()))


def one_form_materials(catalogue: Catalogue, composite: Composite) -> tuple[Material, ...]:
    """Every part's materials, each code once (required if any part requires it)."""
    merged: dict[str, Material] = {}
    for item in part_items(catalogue, composite):
        for material in item.materials:
            held = merged.get(material.code)
            if held is None or (material.required and not held.required):
                merged[material.code] = material
    return tuple(merged.values())


@dataclass(frozen=True, slots=True)
class OneFormView:
    """What a page shows of a composite: its merged form and materials, read like an
    item's, with its parts and what the one form spares."""

    code: str
    name: Bilingual
    form: FormDefinition
    materials: tuple[Material, ...]
    parts: tuple[ServiceItem, ...]
    spared: SparedFigures

    def material(self, code: str) -> Material | None:
        """The material ``code`` of the one form, or ``None``."""
        return next((m for m in self.materials if m.code == code), None)


def one_form_view(catalogue: Catalogue, composite: Composite) -> OneFormView:
    """The one form of ``composite`` as the intake page and the online hall show it."""
    return OneFormView(composite.code, composite.name, one_form(catalogue, composite),
                       one_form_materials(catalogue, composite),
                       part_items(catalogue, composite), spared_figures(catalogue, composite))


@dataclass(frozen=True, slots=True)
class SparedFigures:
    """What the one form saves the applicant against applying item by item."""

    code: str
    parts: int
    fields_separately: int
    fields_one_form: int
    materials_separately: int
    materials_one_form: int

    @property
    def fields_spared(self) -> int:
        return self.fields_separately - self.fields_one_form

    @property
    def materials_spared(self) -> int:
        return self.materials_separately - self.materials_one_form

    def as_dict(self) -> dict[str, int | str]:
        return {"code": self.code, "parts": self.parts,
                "fields_separately": self.fields_separately,
                "fields_one_form": self.fields_one_form, "fields_spared": self.fields_spared,
                "materials_separately": self.materials_separately,
                "materials_one_form": self.materials_one_form,
                "materials_spared": self.materials_spared}


def spared_figures(catalogue: Catalogue, composite: Composite) -> SparedFigures:
    """Fields and materials asked item by item against on the one form.

    Every separate application repeats the applicant block (:data:`APPLICANT_FIELDS`); the
    one form asks it once. Materials count each document an applicant would hand in.
    """
    items = part_items(catalogue, composite)
    return SparedFigures(
        code=composite.code,
        parts=len(items),
        fields_separately=sum(len(i.form.fields) + APPLICANT_FIELDS for i in items),
        fields_one_form=len(one_form(catalogue, composite).fields) + APPLICANT_FIELDS,
        materials_separately=sum(len(i.materials) for i in items),
        materials_one_form=len(one_form_materials(catalogue, composite)),
    )
