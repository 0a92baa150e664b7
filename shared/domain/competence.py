"""Handle anywhere (全城通办): which area's office is competent for a case.

By default the registering station's own branch decides (the item's tier on the path from
the station to the hub). An item may instead name the applicant's residence (户籍地) or a
place its form names (the property's location): the case then goes to the office of that
tier for that area, wherever it was registered. Areas are administrative division codes,
and so are site codes: a county centre's code is the county's 6 digits, a township
centre's the township's 9, so the competent site's code is read off the area code.

Pure: which sites exist is the caller's to say (:mod:`shared.deciding.competent_site`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from shared.domain.catalogue import (
    Competence,
    CompetenceBy,
    FieldType,
    ServiceItem,
)
from shared.domain.catalogue_reading import Entry, Found

AREA_CODE = re.compile(r"\d{6}(?:\d{3}){0,2}")
"""A county (6 digits), township (9) or village (12) administrative division code."""
TIER_DIGITS: Mapping[str, int] = {"county": 6, "township": 9}
"""How many digits of an area code name the site of each tier (the city is the hub)."""
_KEYS = ("by", "field")
HANDOVER_STATION = "handover_station"
"""The registration's key for the station of the competent area the applicant chose to
collect the result at (a 12-digit village code), instead of the registering station."""
STATION_CODE = re.compile(r"\d{12}")


def parse_competence(entry: Entry) -> Competence:
    """An item's ``competence``: a bare rule name, or ``{by, field}``."""
    raw = entry.raw("competence")
    if not entry.present("competence"):
        return Competence()
    if isinstance(raw, str):
        raw = {"by": raw}
    rule = Entry(entry.found, raw, entry.at("competence"), _KEYS)
    if not rule.is_mapping:
        entry.bad.add("competence")
        return Competence()
    by = rule.enum("by", CompetenceBy)
    field = rule.string("field", required=False) or None
    if rule.bad:
        entry.bad.add("competence")
        return Competence()
    return Competence(by, field)


def competence_rules(found: Found, path: str, item: ServiceItem) -> None:
    """The field a rule reads is a text field of the item's own form; ``place`` needs one,
    the registering site's rule reads none."""
    rule = item.competence
    where = f"{path}.competence"
    if rule.by is CompetenceBy.REGISTERING_SITE and rule.field is not None:
        found.add(f"{where}.field", "the registering site's rule reads no field")
    if rule.by is CompetenceBy.PLACE and rule.field is None:
        found.add(f"{where}.field", "required: the form field naming the place's area code")
    if rule.field is not None:
        form_field = item.form.field(rule.field)
        if form_field is None:
            found.add(f"{where}.field", f"the item's form has no field {rule.field!r}")
        elif form_field.type is not FieldType.TEXT:
            found.add(f"{where}.field", f"{rule.field!r} must be a text field of area codes")
    if rule.by is not CompetenceBy.REGISTERING_SITE and str(item.tier) not in TIER_DIGITS:
        found.add(f"{where}.by", f"a {item.tier} item is decided in one place; only township "
                                 "and county items can follow the applicant's area")


def competent_area(item: ServiceItem, registration: Mapping[str, Any]) -> str | None:
    """The area code the item's rule names for this registration; None when the
    registering site's rule applies (or the registration names no area)."""
    rule = item.competence
    if rule.by is CompetenceBy.REGISTERING_SITE:
        return None
    form = registration.get("form")
    if rule.field is not None and isinstance(form, Mapping):
        value = form.get(rule.field)
        if isinstance(value, str) and AREA_CODE.fullmatch(value):
            return value
    if rule.by is CompetenceBy.RESIDENCE:
        return _id_area(registration.get("applicant"))
    return None


def _id_area(applicant: object) -> str | None:
    """The county of the ID number's first six digits (the person's, or a company's legal
    representative's)."""
    if not isinstance(applicant, Mapping):
        return None
    person = applicant.get("legal_representative") if applicant.get("kind") == "company" \
        else applicant
    number = person.get("id_number") if isinstance(person, Mapping) else None
    if isinstance(number, str) and len(number) >= 6 and number[:6].isdigit():
        return number[:6]
    return None


def candidate_sites(area: str, tier: str) -> list[str]:
    """The codes of the sites that may decide for ``area``, the item's tier first, then each
    tier up (a missing township centre hands its cases to the county). Empty when the area
    code is too coarse to name a site of the item's tier."""
    digits = TIER_DIGITS.get(tier)
    if digits is None or len(area) < digits:
        return []
    return [area[:d] for d in sorted(TIER_DIGITS.values(), reverse=True) if d <= digits]


def handover_station_problem(item: ServiceItem, registration: Mapping[str, Any],
                             registering_site: str, station: str) -> str | None:
    """Why ``station`` cannot hand over the result of this registration, or None when it
    can: it must be a station (12 digits) of the competent area's office, on another branch
    than the registering station's (only a case that changes branch can be collected
    elsewhere), and the result must be collected in person."""
    if not STATION_CODE.fullmatch(station):
        return "a station's 12-digit code"
    if registration.get("delivery") != "village":
        return "only a result collected at a station can be collected elsewhere"
    area = competent_area(item, registration)
    candidates = candidate_sites(area, str(item.tier)) if area is not None else []
    if area is None or not candidates:
        return ("this item is decided on this station's branch: the result is handed over "
                "at this station")
    office = candidates[0]
    if registering_site.startswith(office):
        return "the applicant's own office is this station's: the result is handed over here"
    if not station.startswith(office):
        return f"choose a station of the competent area {office}"
    return None
