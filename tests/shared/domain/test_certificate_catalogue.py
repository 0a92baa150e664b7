"""The catalogue's certificate-store keys (docs/certificates.md): an item's ``issues`` and a
material's ``valid_days``, read, checked and published."""

from __future__ import annotations

from typing import Any

import pytest

from shared.domain.catalogue import item_api_dict
from shared.domain.catalogue_loader import load_sample_catalogue, parse_catalogue
from shared.domain.errors import Problems
from tests.shared.domain.test_catalogue_validation import valid


def _with(item_changes: dict[str, Any], material_changes: dict[str, Any] | None = None
          ) -> dict[str, Any]:
    data = valid()
    data["items"][0].update(item_changes)
    if material_changes:
        data["items"][0]["materials"][0].update(material_changes)
    return data


def test_issues_and_valid_days_are_read_and_published() -> None:
    catalogue = parse_catalogue(_with({"issues": {"material": "PERMIT", "valid_years": 5}},
                                      {"valid_days": 90}))
    item = catalogue.items[0]
    assert item.issues is not None
    assert (item.issues.material, item.issues.valid_years) == ("PERMIT", 5)
    assert item.materials[0].valid_days == 90 and item.materials[0].reusable
    shaped = item_api_dict(item)
    assert shaped["issues"] == {"material": "PERMIT", "valid_years": 5}
    assert shaped["materials"][0]["valid_days"] == 90


@pytest.mark.parametrize(("item_changes", "material_changes", "path", "words"), [
    ({"issues": {"material": "PERMIT", "valid_years": 0}}, None,
     "items[0].issues.valid_years", "between 1"),
    ({"issues": {"material": "PERMIT", "valid_years": 5, "forever": True}}, None,
     "items[0].issues.forever", "unknown key"),
    ({"issues": {"valid_years": 5}}, None, "items[0].issues.material", "required"),
    ({"issues": "PERMIT"}, None, "items[0].issues", "mapping"),
    ({}, {"valid_days": 0}, "items[0].materials[0].valid_days", "between 1"),
    ({}, {"valid_days": "180"}, "items[0].materials[0].valid_days", "whole number"),
])
def test_bad_certificate_keys_are_named(item_changes: dict[str, Any],
                                        material_changes: dict[str, Any] | None,
                                        path: str, words: str) -> None:
    with pytest.raises(Problems) as caught:
        parse_catalogue(_with(item_changes, material_changes))
    assert path in caught.value.fields, caught.value.fields
    assert words in caught.value.fields[path]


def test_an_item_does_not_ask_for_what_it_issues() -> None:
    data = valid()
    own = data["items"][0]["materials"][0]["code"]
    data["items"][0]["issues"] = {"material": own, "valid_years": 5}
    with pytest.raises(Problems) as caught:
        parse_catalogue(data)
    assert "not one it asks for" in caught.value.fields["items[0].issues.material"]


def test_the_sample_pair_issues_a_licence_later_items_ask_for() -> None:
    sample = load_sample_catalogue()
    issued = sample.item("SJ-0205").issues
    assert issued is not None and issued.material == "BUSINESS_LICENCE"
    for later in ("RS-3301", "WJ-0501", "SJ-1303"):
        material = sample.item(later).material("BUSINESS_LICENCE")
        assert material is not None and material.reusable
    id_card = sample.item("MZ-0101").material("ID_CARD")
    assert id_card is not None and id_card.valid_days == 180
    food = sample.item("SJ-1303").issues
    assert food is not None and (food.material, food.valid_years) == ("FOOD_LICENCE", 5)
