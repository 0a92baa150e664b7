"""Fee assessment from the catalogue's standard (以票控费): formulas in whole fen with the
basis shown, rounding half up, waivers only where the catalogue allows them and with a
reason, and the state's account of receipts, voids and refunds."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from shared.domain.catalogue import Bilingual, FeeFormula, FeeItem, ServiceItem
from shared.domain.catalogue_loader import load_sample_catalogue as sample_catalogue
from shared.domain.errors import InvalidInput, Problems
from shared.domain.fees import assess, check_assessed, formula_values


def _item_with(*fees: FeeItem) -> ServiceItem:
    return dataclasses.replace(sample_catalogue().item("ZR-0801"), fees=fees)


AREA_FEE = FeeItem("SURVEY", Bilingual("测绘费", "Survey fee"),
                   "《收费标准》每平方米1.55元,最高500元",
                   formula=FeeFormula.parse("min(area * 155, 50000)"))


def test_a_formula_is_computed_in_whole_fen_rounded_half_up_and_capped() -> None:
    item = _item_with(AREA_FEE)
    # 80.5 m² x 155 fen = 12,477.5 fen: half up to 12,478, never a float
    assessed = assess(item, {"area": "80.5"})
    assert assessed == {"fees": [{"code": "SURVEY", "name": "测绘费",
                                  "basis": "《收费标准》每平方米1.55元,最高500元",
                                  "standard_fen": 12478, "amount_fen": 12478}],
                        "total_fen": 12478}
    assert assess(item, {"area": "1000"})["total_fen"] == 50000  # type: ignore[index]
    assert formula_values({"area": "80.5", "n": 2, "flag": True}) == {
        "area": Decimal("80.5"), "n": 2, "flag": True}


def test_the_sample_real_estate_fee_follows_its_basis() -> None:
    item = sample_catalogue().item("ZR-0801")
    residential = assess(item, {"is_residential": True, "extra_certificates": 2})
    other = assess(item, {"is_residential": False, "extra_certificates": 0})
    assert residential is not None and other is not None
    assert residential["total_fen"] == 8000 + 2 * 1000  # 80 yuan + 10 yuan per extra book
    assert other["total_fen"] == 55000
    assert "发改价格规〔2016〕2559号" in residential["fees"][0]["basis"]


def test_a_waiver_needs_a_reducible_fee_and_a_reason() -> None:
    item = sample_catalogue().item("ZR-0801")  # REGISTRATION_FEE is reducible
    form = {"is_residential": False, "extra_certificates": 0}
    waived = assess(item, form, {"REGISTRATION_FEE": (0, "小微企业免收不动产登记费")})
    assert waived is not None and waived["total_fen"] == 0
    assert waived["fees"][0]["standard_fen"] == 55000
    assert waived["fees"][0]["reason"] == "小微企业免收不动产登记费"
    with pytest.raises(Problems) as no_reason:
        assess(item, form, {"REGISTRATION_FEE": (0, "免")})
    assert "fees.REGISTRATION_FEE.reason" in no_reason.value.problems
    with pytest.raises(Problems) as above:
        assess(item, form, {"REGISTRATION_FEE": (60000, "加收加急费用一项")})
    assert "fees.REGISTRATION_FEE" in above.value.problems
    with pytest.raises(Problems) as unknown:
        assess(item, form, {"NOT_A_FEE": (0, "免收这一项费用")})
    assert "fees.NOT_A_FEE" in unknown.value.problems

    card_item = sample_catalogue().item("GA-2301")  # CARD_FEE: not reducible
    with pytest.raises(Problems) as fixed:
        assess(card_item, {"reason": "expired"}, {"CARD_FEE": (0, "申请人家庭困难")})
    assert fixed.value.problems == {"fees.CARD_FEE": "the catalogue allows no waiver or reduction"}


def test_the_assessed_event_holds_its_own_sums() -> None:
    good: dict[str, Any] = {"fees": [{"code": "A", "basis": "依据", "standard_fen": 100,
                                      "amount_fen": 60, "reason": "减半收取的依据"}],
                            "total_fen": 60}
    check_assessed(good)
    for bad in ({**good, "total_fen": 100},
                {"fees": [{**good["fees"][0], "amount_fen": 200}], "total_fen": 200},
                {"fees": [{**good["fees"][0], "reason": ""}], "total_fen": 60},
                {"fees": [{**good["fees"][0], "amount_fen": 1.5}], "total_fen": 1.5}):
        with pytest.raises(InvalidInput):
            check_assessed(bad)


def test_the_catalogue_reads_the_fee_flags() -> None:
    catalogue = sample_catalogue()
    assert catalogue.item("ZR-0801").fees[0].reducible
    assert catalogue.item("GA-2301").pay_on_collection
    assert not catalogue.item("GA-3101").pay_on_collection
