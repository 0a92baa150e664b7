"""The sample catalogue, the model's lookups and fees, the API shape and search."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from shared.domain.catalogue import (
    Authority,
    Catalogue,
    DecidingTier,
    FeeFormula,
    FieldType,
    ItemKind,
    SiteTier,
    catalogue_api_dict,
    item_api_dict,
    search_items,
)
from shared.domain.catalogue_loader import load_catalogue, load_sample_catalogue
from shared.domain.errors import InvalidInput, NotFound


@pytest.fixture(scope="module")
def sample() -> Catalogue:
    return load_sample_catalogue()


# --- the sample's coverage ------------------------------------------------------------------


def test_sample_is_for_chenzhou_and_big_enough(sample: Catalogue) -> None:
    assert sample.region_code == "431000"
    assert sample.version >= 1
    assert len(sample.items) >= 25
    assert len(sample.departments) >= 8
    assert len(sample.windows) >= 12


def test_sample_covers_every_tier_kind_and_authority(sample: Catalogue) -> None:
    assert {item.tier for item in sample.items} == set(DecidingTier)
    assert {item.kind for item in sample.items} == set(ItemKind)
    assert {item.authority for item in sample.items} == set(Authority)
    assert {window.site_tier for window in sample.windows} == set(SiteTier)


def test_sample_has_a_joint_item_with_three_departments(sample: Catalogue) -> None:
    opening = sample.item("SJ-0101")
    assert opening.kind is ItemKind.JOINT
    assert set(opening.co_approvers) == {"SJ", "SW", "GA"}
    assert opening.absence_means_consent
    # every co-approving department has a window where the item is decided
    city_departments = {w.department for w in sample.windows_at(SiteTier.CITY)}
    assert set(opening.co_approvers) <= city_departments


def test_sample_report_up_items_name_their_external_authority(sample: Catalogue) -> None:
    report_up = [item for item in sample.items if item.kind is ItemKind.REPORT_UP]
    assert report_up
    for item in report_up:
        assert item.tier is DecidingTier.EXTERNAL
        assert item.authority is Authority.REVIEW_REPORT
        assert item.external_authority is not None
        assert "湖南省" in item.external_authority.zh


def test_sample_township_items_sit_at_township_windows(sample: Catalogue) -> None:
    township_items = [item for item in sample.items if item.tier is DecidingTier.TOWNSHIP]
    assert len(township_items) >= 3
    for item in township_items:
        assert sample.window(item.window).site_tier is SiteTier.TOWNSHIP


def test_sample_fees_cover_free_standard_and_formula(sample: Catalogue) -> None:
    free = [item for item in sample.items if item.is_free]
    standard = [i for i in sample.items if any(f.amount_fen for f in i.fees)]
    formula = [i for i in sample.items if any(f.formula is not None for f in i.fees)]
    assert len(free) >= 10
    assert standard
    assert formula


def test_sample_has_items_prone_to_supplement_and_refusal(sample: Catalogue) -> None:
    supplement_prone = [
        item for item in sample.items if any(m.often_missing for m in item.materials)
    ]
    refusal_prone = [item for item in sample.items if item.refusal_grounds]
    assert len(supplement_prone) >= 10
    assert len(refusal_prone) >= 5
    assert any(m.certificate_held for item in sample.items for m in item.materials)


def test_sample_has_overdue_means_approval_items(sample: Catalogue) -> None:
    flagged = [item for item in sample.items if item.overdue_means_approval]
    assert len(flagged) >= 3
    assert all(item.kind is ItemKind.PROMISED for item in flagged)


def test_sample_uses_the_bench_data_item_codes(sample: Catalogue) -> None:
    bench = {"CL-3307", "MZ-0203", "NY-5502", "YB-2101", "MZ-0305", "MZ-0101", "GA-4410"}
    bench.add("RS-1102")
    assert bench <= {item.code for item in sample.items}
    assert sample.item("CL-3307").name.zh == "残疾人两项补贴申请"


def test_sample_forms_use_every_field_type(sample: Catalogue) -> None:
    types = {f.type for item in sample.items for f in item.form.fields}
    assert types == set(FieldType)


def test_sample_time_limits_are_sane(sample: Catalogue) -> None:
    for item in sample.items:
        assert 0 <= item.promised_days <= item.legal_days
        assert (item.promised_days == 0) == (item.kind is ItemKind.IMMEDIATE)


def test_every_department_has_items_or_co_approves(sample: Catalogue) -> None:
    serving = Counter(item.department for item in sample.items)
    approving = {code for item in sample.items for code in item.co_approvers}
    for department in sample.departments:
        assert serving[department.code] or department.code in approving


# --- lookups --------------------------------------------------------------------------------


def test_lookups_find_and_refuse(sample: Catalogue) -> None:
    assert sample.item("MZ-0101").window == "W-MZ-02"
    assert sample.window("W-MZ-02").authority_for("MZ-0101") is Authority.DECISION
    assert sample.window("W-MZ-02").authority_for("GA-4410") is None
    assert sample.department("MZ").name.en == "Civil Affairs Bureau"
    assert [i.code for i in sample.items_of_window("W-MZ-02")] == ["MZ-0101", "MZ-0203"]
    with pytest.raises(NotFound) as caught:
        sample.item("XX-9999")
    assert caught.value.field == "item_code"
    with pytest.raises(NotFound):
        sample.window("W-XX-01")
    with pytest.raises(NotFound):
        sample.department("XX")


# --- fees -----------------------------------------------------------------------------------


def test_formula_fee_follows_the_national_standard(sample: Catalogue) -> None:
    transfer = sample.item("ZR-0801")
    assert transfer.fee_total({"is_residential": True, "extra_certificates": 0}) == 8000
    assert transfer.fee_total({"is_residential": True, "extra_certificates": 2}) == 10000
    assert transfer.fee_total({"is_residential": False, "extra_certificates": 1}) == 56000
    assert not transfer.is_free


def test_standard_fee_and_free_items(sample: Catalogue) -> None:
    assert sample.item("GA-3101").fee_total({}) == 12000
    assert sample.item("GA-2301").fee_total({"reason": "expired"}) == 2000
    assert sample.item("MZ-0101").is_free
    assert sample.item("MZ-0101").fee_total({}) == 0


def test_formula_rounds_half_up_to_whole_fen() -> None:
    formula = FeeFormula.parse("area * 2.5 + max(count, 1) * 100 - floor(0.9) + ceil(0.1)")
    assert formula.names == {"area", "count"}
    assert formula.evaluate({"area": Decimal("0.3"), "count": 0}) == 102  # 0.75 + 100 + 1


def test_formula_needs_its_fields() -> None:
    formula = FeeFormula.parse("copies * 1000")
    with pytest.raises(InvalidInput) as caught:
        formula.evaluate({})
    assert caught.value.field == "form.copies"
    with pytest.raises(InvalidInput):
        formula.evaluate({"copies": "three"})


def test_formula_refuses_a_negative_amount_or_division_by_zero() -> None:
    with pytest.raises(InvalidInput):
        FeeFormula.parse("100 - copies").evaluate({"copies": 5000})
    with pytest.raises(InvalidInput):
        FeeFormula.parse("100 / copies").evaluate({"copies": 0})


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "copies.real",
        "copies[0]",
        "'100'",
        "True * 100",
        "abs(copies)",
        "max(a=1)",
        "max()",
        "lambda: 1",
        "copies if copies else 1",
        "copies ** 2",
        "copies < 2",
        "x" * 201,
        "1 +",
    ],
)
def test_formula_refuses_anything_but_arithmetic(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        FeeFormula.parse(text)
    assert caught.value.field == "formula"


# --- API shape ------------------------------------------------------------------------------

CONTRACT_ITEM_KEYS = {
    "code", "name", "tier", "window", "authority", "kind", "promised_days", "legal_days",
    "materials", "form",
}  # fmt: skip


def test_item_api_dict_has_the_contract_shape(sample: Catalogue) -> None:
    for item in sample.items:
        shaped = item_api_dict(item)
        assert shaped.keys() >= CONTRACT_ITEM_KEYS
        assert shaped["tier"] in {"township", "county", "city", "external"}
        assert shaped["authority"] in {"decision", "review_report", "preliminary"}
        assert shaped["kind"] in {"immediate", "promised", "joint", "report_up"}
        assert isinstance(shaped["promised_days"], int)
        assert isinstance(shaped["legal_days"], int)
        for material in shaped["materials"]:
            assert {"code", "name", "required"} <= material.keys()
            assert isinstance(material["required"], bool)
        assert shaped["form"].keys() == {"fields"}
        for form_field in shaped["form"]["fields"]:
            assert {"key", "label", "type", "required", "choices"} <= form_field.keys()
            assert isinstance(form_field["choices"], list)
        json.dumps(shaped)  # plain JSON, no Decimal or date left in it


def test_item_api_dict_values_in_chinese_and_english(sample: Catalogue) -> None:
    zh = item_api_dict(sample.item("MZ-0101"))
    en = item_api_dict(sample.item("MZ-0101"), lang="en")
    assert zh["name"] == "城乡居民最低生活保障申请"
    assert en["name"] == "Application for the minimum living allowance"
    assert zh["window"] == "W-MZ-02"
    assert zh["authority"] == "decision"
    assert zh["kind"] == "promised"
    assert (zh["promised_days"], zh["legal_days"]) == (20, 30)
    assert zh["materials"][0] == {
        "code": "ID_CARD",
        "name": "申请人居民身份证",
        "required": True,
        "certificate_held": True,
        "max_bytes": 10 * 1024 * 1024,
        "valid_days": 180,
    }
    residence = zh["form"]["fields"][2]
    assert residence["type"] == "choice"
    assert residence["choices"] == [
        {"value": "rural", "label": "农村"},
        {"value": "urban", "label": "城镇"},
    ]
    income = zh["form"]["fields"][1]
    assert income["rules"] == {"min": 0, "max": 100000, "decimals": 2}


def test_item_api_dict_extras_for_joint_and_report_up(sample: Catalogue) -> None:
    joint = item_api_dict(sample.item("SJ-0101"))
    assert joint["co_approvers"] == ["SJ", "SW", "GA"]
    assert joint["free"] is True
    report_up = item_api_dict(sample.item("ZR-1102"), lang="en")
    assert report_up["tier"] == "external"
    assert report_up["external_authority"] == "Hunan Provincial Department of Natural Resources"
    transfer = item_api_dict(sample.item("ZR-0801"))
    formula = transfer["fees"][0]["formula"]
    assert formula is not None
    assert formula.startswith("is_residential")
    assert transfer["fees"][0]["amount_fen"] is None


def test_catalogue_api_dict_carries_the_version(sample: Catalogue) -> None:
    body = catalogue_api_dict(sample)
    assert body["version"] == sample.version
    assert [i["code"] for i in body["items"]] == [i.code for i in sample.items]


# --- search ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("zdsh", "MZ-0101"),  # initials of 最低生活
        ("cjrlx", "CL-3307"),  # 残疾人两项
        ("JHDJ", "MZ-0410"),  # 结婚登记, upper case
        ("qykb", "SJ-0101"),  # 企业开办
        ("baozhang", "MZ-0101"),  # full pinyin
        ("MZ-0203", "MZ-0203"),
        ("mz0203", "MZ-0203"),
        ("ＧＡ－４４１０", "GA-4410"),  # full-width, as typed with a Chinese input method
        ("居住证", "GA-4410"),
        ("passport", "GA-3101"),
        ("Residence Permit", "GA-4410"),
    ],
)
def test_search_finds_by_code_name_and_pinyin(sample: Catalogue, query: str, first: str) -> None:
    assert search_items(sample, query)[0].code == first


def test_search_ranks_codes_before_names(sample: Catalogue) -> None:
    found = [item.code for item in search_items(sample, "ga")]
    assert found[:5] == ["GA-4410", "GA-1201", "GA-2301", "GA-3101", "GA-5601"]


def test_search_initials_prefix_before_substring(sample: Catalogue) -> None:
    found = [item.code for item in search_items(sample, "cx")]
    # 城乡居民... items start with cx; items containing cx inside come later
    starts = [code for code in found if code in {"MZ-0101", "YB-2101", "RS-1102"}]
    assert found[: len(starts)] == starts


def test_search_empty_and_unmatched(sample: Catalogue) -> None:
    assert search_items(sample, "  ") == list(sample.items)
    assert search_items(sample, "qqqqzzzz") == []
    assert search_items(sample.items[:2], "MZ-0203") == [sample.item("MZ-0203")]


# --- files ----------------------------------------------------------------------------------


def test_json_and_yaml_give_the_same_catalogue(sample: Catalogue, tmp_path: Path) -> None:
    from importlib.resources import files

    text = (files("shared.domain") / "data" / "sample_catalogue.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    json_file = tmp_path / "catalogue.json"
    json_file.write_text(json.dumps(data, default=str, ensure_ascii=False), "utf-8")
    yaml_file = tmp_path / "catalogue.yml"
    yaml_file.write_text(text, "utf-8")
    assert load_catalogue(json_file) == sample
    assert load_catalogue(yaml_file) == sample
