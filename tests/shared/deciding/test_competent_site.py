"""Who decides a case that follows the applicant's area (全城通办), as each site of the
tree sees it: only the site where the branches meet records the referral, a site that
knows no office for the area leaves it to those above, and a missing township centre hands
the case to the county, never straight to the hub."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from shared.deciding.competent_site import Placement, place
from shared.domain.case_events import CaseEvent, EventActor, EventType, Role
from shared.domain.catalogue_loader import load_sample_catalogue

HUB, COUNTY, OTHER_COUNTY = "431000", "431002", "431021"
TOWN_B, TOWN_A = "431002001", "431002002"
VILLAGE, A_VILLAGE = "431002001201", "431002002201"
PARENTS: dict[str, str | None] = {HUB: None, COUNTY: HUB, OTHER_COUNTY: HUB,
                                  TOWN_B: COUNTY, TOWN_A: COUNTY, VILLAGE: TOWN_B,
                                  A_VILLAGE: TOWN_A}
AT = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
ITEM = load_sample_catalogue().item("MZ-0305")


def _case(area: str | None, referred_to: str | None = None,
          handover: str | None = None, origin: str = VILLAGE) -> list[CaseEvent]:
    case_id = str(uuid.uuid4())
    form: dict[str, Any] = {"residence_area": area} if area else {}
    registration = {"item_code": "MZ-0305", "window": "W-MZ-11", "kind": "promised",
                    "applicant": {"name": "王小明", "id_number": "431002198001010017"},
                    "form": form}
    if handover is not None:
        registration["handover_station"] = handover
    events = [CaseEvent(case_id, origin, 1, 1, EventType.REGISTERED,
                        EventActor("agent", Role.AGENT), AT, registration)]
    if referred_to is not None:
        events.append(CaseEvent(case_id, COUNTY, 1, 1, EventType.REFERRED,
                                EventActor("system", Role.SYSTEM), AT,
                                {"to": referred_to, "area": TOWN_A, "reason": "户籍地"}))
    return events


def _seen_from(site: str, events: list[CaseEvent]) -> Placement | None:
    below = {s for s in PARENTS if _under(s, site)}
    known = {s: p for s, p in PARENTS.items() if s in below or s == site}
    return place(site, site == HUB, ITEM, events, known if site != HUB else PARENTS)


def _under(site: str, ancestor: str) -> bool:
    current = PARENTS.get(site)
    while current is not None:
        if current == ancestor:
            return True
        current = PARENTS.get(current)
    return False


def test_only_the_site_where_the_branches_meet_records_the_referral() -> None:
    events = _case(TOWN_A)
    assert _seen_from(TOWN_B, events) == Placement("")  # not its own: left to those above
    at_county = _seen_from(COUNTY, events)
    assert at_county is not None and at_county.owner == TOWN_A
    assert at_county.referral is not None
    assert at_county.referral["to"] == TOWN_A and at_county.referral["area"] == TOWN_A
    assert "户籍地" in at_county.referral["reason"]
    assert _seen_from(HUB, events) == Placement(TOWN_A)  # the owner, but no second referral
    assert _seen_from(TOWN_A, events) == Placement(TOWN_A)


def test_a_referral_held_names_the_owner_everywhere() -> None:
    events = _case(TOWN_A, referred_to=TOWN_A)
    for site in (TOWN_B, COUNTY, HUB, TOWN_A):
        assert _seen_from(site, events) == Placement(TOWN_A)


def test_the_registering_township_keeps_its_own_applicants() -> None:
    assert _seen_from(TOWN_B, _case(TOWN_B)) == Placement(TOWN_B)
    assert _seen_from(COUNTY, _case(TOWN_B)) == Placement(TOWN_B)
    assert _seen_from(TOWN_B, _case(None)) is None  # the ID's county only: where registered


def test_an_area_without_a_township_centre_goes_to_the_county() -> None:
    events = _case("431002009")
    assert _seen_from(TOWN_B, events) == Placement("")
    at_county = _seen_from(COUNTY, events)
    assert at_county is not None and at_county.owner == COUNTY
    assert at_county.referral is not None and "上一级" in at_county.referral["reason"]
    assert _seen_from(HUB, events) == Placement(COUNTY)


def test_the_hub_places_what_no_county_knows_and_leaves_other_cities_alone() -> None:
    other = _case("431021005")  # a township of a county with no township centres here
    at_hub = _seen_from(HUB, other)
    assert at_hub is not None and at_hub.owner == OTHER_COUNTY and at_hub.referral is not None
    no_county = _case("431099001")  # inside the city, no centre of either tier: the city
    at_hub = _seen_from(HUB, no_county)
    assert at_hub is not None and at_hub.owner == HUB and at_hub.referral is not None
    assert _seen_from(HUB, _case("110105001")) is None  # another city: where registered


def test_the_referral_names_the_station_of_the_area_the_applicant_collects_at() -> None:
    at_county = _seen_from(COUNTY, _case(TOWN_A, handover=A_VILLAGE))
    assert at_county is not None and at_county.referral is not None
    assert at_county.referral["handover"] == A_VILLAGE
    # a station outside the owner's area is not taken: the registering station hands over
    stray = _seen_from(COUNTY, _case(TOWN_A, handover="431002001299"))
    assert stray is not None and stray.referral is not None
    assert "handover" not in stray.referral
    assert "431002001299" in stray.referral["reason"]


def test_a_case_registered_at_a_desk_above_the_office_is_referred_down_from_there() -> None:
    """Applied for at the hub (its desk, or online) or at the county's desk by an applicant
    of township A: the registering site itself records the referral and sends it down."""
    at_hub = _seen_from(HUB, _case(TOWN_A, origin=HUB))
    assert at_hub is not None and at_hub.owner == TOWN_A
    assert at_hub.referral is not None and at_hub.referral["to"] == TOWN_A
    at_county = _seen_from(COUNTY, _case(TOWN_A, origin=COUNTY))
    assert at_county is not None and at_county.referral is not None
    assert at_county.referral["to"] == TOWN_A
    # an office that is the registering site itself refers nothing
    own = _seen_from(COUNTY, _case("431002009", origin=COUNTY))  # no centre: the county
    assert own == Placement(COUNTY)
