"""全城通办 in the catalogue: the competence rule, its checks, the area it reads and the
offices that may decide for an area."""

from __future__ import annotations

import copy
from importlib.resources import files
from typing import Any

import pytest
import yaml

from shared.domain.catalogue import CompetenceBy
from shared.domain.catalogue_loader import load_sample_catalogue, parse_catalogue
from shared.domain.competence import (
    candidate_sites,
    competent_area,
    handover_station_problem,
)
from shared.domain.errors import Problems

PERSON = {"name": "王小明", "id_number": "431021198001010019", "phone": "13800138000"}


@pytest.fixture(scope="module")
def sample_data() -> dict[str, Any]:
    text = (files("shared.domain") / "data" / "sample_catalogue.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def _with_rule(data: dict[str, Any], code: str, rule: object) -> dict[str, Any]:
    changed = copy.deepcopy(data)
    next(i for i in changed["items"] if i["code"] == code)["competence"] = rule
    return changed


def _problems(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(Problems) as raised:
        parse_catalogue(data)
    return raised.value.fields


def test_temporary_assistance_follows_the_applicants_residence() -> None:
    item = load_sample_catalogue().item("MZ-0305")
    assert item.competence.by is CompetenceBy.RESIDENCE
    assert item.competence.field == "residence_area"
    assert load_sample_catalogue().item("MZ-0101").competence.by is CompetenceBy.REGISTERING_SITE


def test_the_area_comes_from_the_declared_residence_else_the_id_number() -> None:
    item = load_sample_catalogue().item("MZ-0305")
    declared = {"applicant": PERSON, "form": {"residence_area": "431002002"}}
    assert competent_area(item, declared) == "431002002"
    assert competent_area(item, {"applicant": PERSON, "form": {}}) == "431021"
    assert competent_area(item, {"applicant": PERSON,
                                 "form": {"residence_area": "43100200"}}) == "431021"
    company = {"applicant": {"kind": "company", "name": "良田米业", "uscc": "x",
                             "legal_representative": PERSON}, "form": {}}
    assert competent_area(item, company) == "431021"
    other = load_sample_catalogue().item("MZ-0101")
    assert competent_area(other, declared) is None  # the registering site's rule


def test_the_candidates_are_the_items_tier_then_each_tier_up() -> None:
    assert candidate_sites("431002002201", "township") == ["431002002", "431002"]
    assert candidate_sites("431002002", "county") == ["431002"]
    assert candidate_sites("431002", "township") == []  # too coarse to name a township


def test_the_loader_names_each_bad_rule(sample_data: dict[str, Any]) -> None:
    assert _problems(_with_rule(sample_data, "MZ-0305", {"by": "place"}))[
        "items[2].competence.field"] == "required: the form field naming the place's area code"
    assert _problems(_with_rule(sample_data, "MZ-0305", {"by": "residence", "field": "nope"}))[
        "items[2].competence.field"] == "the item's form has no field 'nope'"
    assert _problems(_with_rule(sample_data, "MZ-0305",
                                {"by": "residence", "field": "amount_requested"}))[
        "items[2].competence.field"] == "'amount_requested' must be a text field of area codes"
    assert "is not one of" in _problems(_with_rule(sample_data, "MZ-0305", "anywhere"))[
        "items[2].competence.by"]
    city_item = _problems(_with_rule(sample_data, "MZ-0520", "residence"))
    assert any(key.endswith("competence.by") and "only township and county" in reason
               for key, reason in city_item.items())


def test_a_station_of_the_competent_area_may_hand_the_result_over() -> None:
    item = load_sample_catalogue().item("MZ-0305")
    home = {"form": {"residence_area": "431002002"}, "applicant": PERSON,
            "delivery": "village"}
    here = "431002001201"
    assert handover_station_problem(item, home, here, "431002002201") is None
    wrong_area = handover_station_problem(item, home, here, "431002003201")
    assert wrong_area is not None and "431002002" in wrong_area
    assert handover_station_problem(item, home, here, "4310020022") is not None
    courier = handover_station_problem(item, {**home, "delivery": "courier"}, here,
                                       "431002002201")
    assert courier is not None and "station" in courier
    # the applicant's own township is this station's: nothing to collect elsewhere
    own = {**home, "form": {"residence_area": "431002001"}}
    assert handover_station_problem(item, own, here, "431002001202") is not None
    other_item = load_sample_catalogue().item("MZ-0203")
    assert handover_station_problem(other_item, home, here, "431002002201") is not None
