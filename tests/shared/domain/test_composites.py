"""One-form entries (一表制): the loader's rules, the merged form and what it spares, and
the one form's check split into its parts."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

import pytest
import yaml

from shared.domain.application import check_one_form
from shared.domain.catalogue_loader import load_sample_catalogue, parse_catalogue
from shared.domain.composites import (
    one_form,
    one_form_materials,
    search_composites,
    spared_figures,
)
from shared.domain.errors import Problems

APPLICANT = {"name": "王小明", "id_number": "431002198001010017", "phone": "13800138000"}
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def sample_data() -> dict[str, Any]:
    text = (files("shared.domain") / "data" / "sample_catalogue.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def _with_composites(data: dict[str, Any], composites: list[dict[str, Any]]) -> dict[str, Any]:
    changed = copy.deepcopy(data)
    changed["composites"] = composites
    return changed


def _problems(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(Problems) as raised:
        parse_catalogue(data)
    return raised.value.fields


def test_the_sample_has_composites_joining_different_departments() -> None:
    sample = load_sample_catalogue()
    assert len(sample.composites) >= 2
    for composite in sample.composites:
        departments = {sample.item(code).department for code in composite.parts}
        assert len(departments) == len(composite.parts)  # one case per department


def test_shared_fields_and_materials_are_asked_once() -> None:
    sample = load_sample_catalogue()
    composite = sample.composite("YJS-0002")
    keys = [f.key for f in one_form(sample, composite).fields]
    assert keys.count("bank_account") == 1
    assert len(keys) == len(set(keys)) == 8  # 5 + 4 fields, the bank account once
    codes = [m.code for m in one_form_materials(sample, composite)]
    assert codes.count("ID_CARD") == codes.count("HUKOU") == 1
    spared = spared_figures(sample, composite)
    assert (spared.fields_separately, spared.fields_one_form) == (15, 11)
    assert (spared.materials_separately, spared.materials_one_form) == (10, 8)
    assert (spared.fields_spared, spared.materials_spared) == (4, 2)


def test_a_field_required_by_one_part_is_required_on_the_one_form() -> None:
    sample = load_sample_catalogue()
    merged = one_form(sample, sample.composite("YJS-0003"))
    # GA-4410 asks the employer as optional; RS-2205 asks employment_status as required
    employer, status = merged.field("employer"), merged.field("employment_status")
    assert employer is not None and not employer.required
    assert status is not None and status.required


def test_the_loader_names_each_bad_composite(sample_data: dict[str, Any]) -> None:
    problems = _problems(_with_composites(sample_data, [
        {"code": "YJS-0001", "name": {"zh": "一", "en": "one"}, "parts": ["MZ-0101"]},
        {"code": "YJS-0002", "name": {"zh": "二", "en": "two"},
         "parts": ["MZ-0101", "XX-9999"]},
        {"code": "YJS-0003", "name": {"zh": "三", "en": "three"},
         "parts": ["MZ-0101", "MZ-0101"]},
        {"code": "MZ-0101", "name": {"zh": "四", "en": "four"},
         "parts": ["MZ-0101", "CL-3307"]},
        {"code": "YJS-0002", "name": {"zh": "五", "en": "five"},
         "parts": ["MZ-0101", "CL-3307"], "colour": "red"},
    ]))
    assert problems["composites[0].parts"] == "a one-form entry joins 2 to 12 items"
    assert problems["composites[1].parts[1]"] == "unknown item XX-9999"
    assert problems["composites[2].parts"] == "item MZ-0101 is named twice"
    assert "does not match" in problems["composites[3].code"]
    assert problems["composites[4].code"].startswith("duplicate one-form code YJS-0002")
    assert problems["composites[4].colour"].startswith("unknown key")


def test_parts_asking_one_key_two_ways_are_refused(sample_data: dict[str, Any]) -> None:
    # MZ-0101 asks residence_type as a choice; give CL-3307 a text field of that key
    data = copy.deepcopy(sample_data)
    item = next(i for i in data["items"] if i["code"] == "CL-3307")
    item["form"]["fields"].append({"key": "residence_type", "type": "text",
                                   "label": {"zh": "户籍", "en": "Residence"}})
    problems = _problems(_with_composites(data, [
        {"code": "YJS-0009", "name": {"zh": "九", "en": "nine"},
         "parts": ["MZ-0101", "CL-3307"]}]))
    assert problems["composites[0].parts"] == (
        "field 'residence_type': MZ-0101 and CL-3307 ask it with different types, choices "
        "or rules; one answer cannot serve both")


def test_the_one_form_is_checked_whole_and_split_into_parts() -> None:
    sample = load_sample_catalogue()
    form = {"residence_address": "北湖区人民路 18 号", "residence_since": "2024-06-01",
            "employment_status": "flexible"}
    checked, problems = check_one_form(sample, "YJS-0003", APPLICANT, form, "village", NOW)
    assert problems == {} and checked is not None
    assert [p.item.code for p in checked.parts] == ["GA-4410", "RS-2205"]
    assert checked.parts[0].form == {"residence_address": "北湖区人民路 18 号",
                                     "residence_since": "2024-06-01"}
    assert checked.parts[1].form == {"employment_status": "flexible"}
    missing, problems = check_one_form(sample, "YJS-0003", {"name": ""}, {}, "drone", NOW)
    assert missing is None
    assert problems == {
        "applicant.name": "required", "applicant.id_number": "required",
        "applicant.phone": "required", "form.residence_address": "required",
        "form.residence_since": "required", "form.employment_status": "required",
        "delivery": "must be one of village, window, courier"}
    _, problems = check_one_form(sample, "YJS-7777", APPLICANT, {}, "village", NOW)
    assert problems == {"composite": "no one-form entry 'YJS-7777' in catalogue v1"}


def test_search_finds_a_composite_by_keyword_or_by_one_of_its_parts() -> None:
    sample = load_sample_catalogue()
    assert [c.code for c in search_composites(sample, "居住证")] == ["YJS-0003"]
    assert [c.code for c in search_composites(sample, "restaurant")] == ["YJS-0001"]
    assert "YJS-0002" in [c.code for c in search_composites(sample, "zdsh")]  # 最低生活保障
    assert len(search_composites(sample, "")) == len(sample.composites)
    assert search_composites(sample, "护照") == []
