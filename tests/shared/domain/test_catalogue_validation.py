"""An inconsistent catalogue is refused with every problem named by its path."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.catalogue import ItemKind
from shared.domain.catalogue_loader import (
    check_catalogue,
    load_catalogue,
    load_catalogue_text,
    load_sample_catalogue,
    parse_catalogue,
)
from shared.domain.errors import InvalidInput, Problems

Data = dict[str, Any]


def name(zh: str, en: str) -> dict[str, str]:
    return {"zh": zh, "en": en}


def valid() -> Data:
    """A small consistent catalogue; each test breaks one thing in it."""
    return {
        "version": 3,
        "region_code": "431000",
        "region_name": name("郴州市", "Chenzhou"),
        "departments": [
            {"code": "AA", "name": name("甲局", "Bureau A")},
            {"code": "BB", "name": name("乙局", "Bureau B")},
            {"code": "CC", "name": name("丙局", "Bureau C")},
        ],
        "windows": [
            {
                "code": "W-AA-01",
                "name": name("甲局窗口", "Bureau A window"),
                "department": "AA",
                "site_tier": "city",
                "grants": [
                    {"item": "AA-0001", "authority": "decision"},
                    {"item": "AA-0003", "authority": "decision"},
                    {"item": "AA-0005", "authority": "review_report"},
                ],
            },
            {
                "code": "W-AA-11",
                "name": name("乡镇甲窗口", "Township window A"),
                "department": "AA",
                "site_tier": "township",
                "grants": [{"item": "AA-0002", "authority": "decision"}],
            },
            {
                "code": "W-BB-01",
                "name": name("乙局窗口", "Bureau B window"),
                "department": "BB",
                "site_tier": "city",
            },
            {
                "code": "W-CC-01",
                "name": name("丙局窗口", "Bureau C window"),
                "department": "CC",
                "site_tier": "city",
            },
        ],
        "items": [
            {
                "code": "AA-0001",
                "name": name("甲许可", "Licence A"),
                "type": "licensing",
                "department": "AA",
                "tier": "city",
                "window": "W-AA-01",
                "authority": "decision",
                "kind": "promised",
                "legal_days": 20,
                "promised_days": 10,
                "overdue_means_approval": True,
                "materials": [
                    {"code": "ID_CARD", "name": name("身份证", "ID card"), "required": True},
                    {"code": "PLAN", "name": name("平面图", "Plan"), "required": False},
                ],
                "fees": [
                    {
                        "code": "FEE",
                        "name": name("工本费", "Fee"),
                        "basis": "文件",
                        "formula": "100 * copies",
                    }
                ],
                "form": {
                    "fields": [
                        {
                            "key": "copies",
                            "label": name("份数", "Copies"),
                            "type": "number",
                            "required": True,
                            "min": 1,
                        },
                        {"key": "note", "label": name("备注", "Note"), "type": "text"},
                        {
                            "key": "size",
                            "label": name("规模", "Size"),
                            "type": "choice",
                            "choices": [
                                {"value": "small", "label": name("小", "small")},
                                {"value": "large", "label": name("大", "large")},
                            ],
                        },
                        {"key": "since", "label": name("起始日", "Since"), "type": "date"},
                    ]
                },
            },
            {
                "code": "AA-0002",
                "name": name("甲登记", "Registration A"),
                "type": "public_service",
                "department": "AA",
                "tier": "township",
                "window": "W-AA-11",
                "authority": "decision",
                "kind": "immediate",
                "legal_days": 5,
                "promised_days": 0,
            },
            {
                "code": "AA-0003",
                "name": name("联合审批", "Joint approval"),
                "type": "licensing",
                "department": "AA",
                "tier": "city",
                "window": "W-AA-01",
                "authority": "decision",
                "kind": "joint",
                "co_approvers": ["AA", "BB", "CC"],
                "absence_means_consent": True,
                "legal_days": 15,
                "promised_days": 5,
            },
            {
                "code": "AA-0005",
                "name": name("上报审批", "Reported approval"),
                "type": "licensing",
                "department": "AA",
                "tier": "external",
                "external_authority": name("省厅", "Provincial department"),
                "window": "W-AA-01",
                "authority": "review_report",
                "kind": "report_up",
                "legal_days": 20,
                "promised_days": 10,
            },
        ],
    }


def test_the_base_catalogue_is_consistent() -> None:
    catalogue = parse_catalogue(valid())
    assert catalogue.version == 3
    assert [item.code for item in catalogue.items] == ["AA-0001", "AA-0002", "AA-0003", "AA-0005"]
    assert catalogue.item("AA-0003").kind is ItemKind.JOINT


Mutation = Callable[[Data], None]


def item(index: int, **changes: Any) -> Mutation:
    def mutate(data: Data) -> None:
        data["items"][index].update(changes)

    return mutate


def drop(index: int, key: str) -> Mutation:
    def mutate(data: Data) -> None:
        del data["items"][index][key]

    return mutate


def window(index: int, **changes: Any) -> Mutation:
    def mutate(data: Data) -> None:
        data["windows"][index].update(changes)

    return mutate


def field(index: int, **changes: Any) -> Mutation:
    def mutate(data: Data) -> None:
        data["items"][0]["form"]["fields"][index].update(changes)

    return mutate


def fee(**changes: Any) -> Mutation:
    def mutate(data: Data) -> None:
        data["items"][0]["fees"][0].update(changes)

    return mutate


def top(**changes: Any) -> Mutation:
    def mutate(data: Data) -> None:
        data.update(changes)

    return mutate


def run(*steps: Mutation) -> Mutation:
    def mutate(data: Data) -> None:
        for step in steps:
            step(data)

    return mutate


def duplicate(section: str, source: int) -> Mutation:
    def mutate(data: Data) -> None:
        data[section].append(copy.deepcopy(data[section][source]))

    return mutate


def set_grants(index: int, grants: list[dict[str, str]]) -> Mutation:
    return window(index, grants=grants)


def add_material(data: Data) -> None:
    data["items"][0]["materials"].append(copy.deepcopy(data["items"][0]["materials"][0]))


def add_field(data: Data) -> None:
    fields = data["items"][0]["form"]["fields"]
    fields.append(copy.deepcopy(fields[1]))


# (id, mutation, path, words the reason must contain)
CASES: list[tuple[str, Mutation, str, str]] = [
    # references
    ("unknown department", item(0, department="ZZ"), "items[0].department", "unknown department"),
    ("unknown window", item(0, window="W-ZZ-01"), "items[0].window", "unknown window"),
    (
        "window without authority",
        set_grants(
            0,
            [
                {"item": "AA-0003", "authority": "decision"},
                {"item": "AA-0005", "authority": "review_report"},
            ],
        ),
        "items[0].window",
        "holds no authority",
    ),
    (
        "authority differs from grant",
        item(0, authority="preliminary"),
        "items[0].authority",
        "holds decision",
    ),
    (
        "window of another department",
        item(0, window="W-BB-01"),
        "items[0].window",
        "belongs to department BB",
    ),
    ("window at another tier", item(1, tier="county"), "items[1].window", "sits at township"),
    (
        "report-up from a township window",
        run(
            item(3, window="W-AA-11"),
            set_grants(
                1,
                [
                    {"item": "AA-0002", "authority": "decision"},
                    {"item": "AA-0005", "authority": "review_report"},
                ],
            ),
            set_grants(
                0,
                [
                    {"item": "AA-0001", "authority": "decision"},
                    {"item": "AA-0003", "authority": "decision"},
                ],
            ),
        ),
        "items[3].window",
        "county or city",
    ),
    (
        "window of unknown department",
        window(2, department="ZZ"),
        "windows[2].department",
        "unknown",
    ),
    (
        "grant for unknown item",
        set_grants(2, [{"item": "ZZ-0001", "authority": "decision"}]),
        "windows[2].grants[0].item",
        "unknown item",
    ),
    (
        "grant for an item served elsewhere",
        set_grants(
            1,
            [
                {"item": "AA-0002", "authority": "decision"},
                {"item": "AA-0001", "authority": "decision"},
            ],
        ),
        "windows[1].grants[1].item",
        "served by window W-AA-01",
    ),
    (
        "item granted twice",
        set_grants(
            1,
            [
                {"item": "AA-0002", "authority": "decision"},
                {"item": "AA-0002", "authority": "decision"},
            ],
        ),
        "windows[1].grants[1].item",
        "granted twice",
    ),
    # duplicates
    ("duplicate item", duplicate("items", 1), "items[4].code", "duplicate item code AA-0002"),
    ("duplicate window", duplicate("windows", 2), "windows[4].code", "duplicate window code"),
    (
        "duplicate department",
        duplicate("departments", 0),
        "departments[3].code",
        "duplicate department code AA",
    ),
    ("duplicate material", add_material, "items[0].materials[2].code", "duplicate code ID_CARD"),
    ("duplicate form key", add_field, "items[0].form.fields[4].key", "duplicate key note"),
    # time limits
    ("promised above legal", item(0, promised_days=25), "items[0].promised_days", "exceeds"),
    ("immediate with promised days", item(1, promised_days=2), "items[1].promised_days", "be 0"),
    ("promised with no days", item(0, promised_days=0), "items[0].promised_days", "at least 1"),
    ("negative legal limit", item(0, legal_days=-1), "items[0].legal_days", "between 0 and 365"),
    ("legal limit not a number", item(0, legal_days="20"), "items[0].legal_days", "whole number"),
    # kinds and authority
    (
        "immediate without decision authority",
        run(
            item(1, authority="preliminary"),
            set_grants(1, [{"item": "AA-0002", "authority": "preliminary"}]),
        ),
        "items[1].authority",
        "must be decision",
    ),
    (
        "review_report on a promised item",
        run(
            item(0, authority="review_report"),
            set_grants(
                0,
                [
                    {"item": "AA-0001", "authority": "review_report"},
                    {"item": "AA-0003", "authority": "decision"},
                    {"item": "AA-0005", "authority": "review_report"},
                ],
            ),
        ),
        "items[0].authority",
        "report_up",
    ),
    ("report-up decided in the city", item(3, tier="city"), "items[3].tier", "external"),
    (
        "report-up without authority named",
        drop(3, "external_authority"),
        "items[3].external_authority",
        "must name",
    ),
    (
        "external authority on a promised item",
        item(0, external_authority=name("省厅", "Province")),
        "items[0].external_authority",
        "only report_up",
    ),
    ("village tier", item(1, tier="village"), "items[1].tier", "villages register only"),
    ("village window", window(1, site_tier="village"), "windows[1].site_tier", "register only"),
    ("supplement as a kind", item(0, kind="supplement"), "items[0].kind", "outcome"),
    ("unknown kind", item(0, kind="urgent"), "items[0].kind", "not one of"),
    ("unknown type", item(0, type="permit"), "items[0].type", "not one of"),
    # joint items
    ("joint with one department", item(2, co_approvers=["AA"]), "items[2].co_approvers", "two"),
    (
        "joint with an unknown department",
        item(2, co_approvers=["AA", "ZZ"]),
        "items[2].co_approvers[1]",
        "unknown department ZZ",
    ),
    (
        "joint listing a department twice",
        item(2, co_approvers=["AA", "BB", "BB"]),
        "items[2].co_approvers[2]",
        "listed twice",
    ),
    (
        "joint without its lead",
        item(2, co_approvers=["BB", "CC"]),
        "items[2].co_approvers",
        "lead department AA",
    ),
    (
        "joint partner without a window there",
        run(lambda d: d["windows"].pop(3)),
        "items[2].co_approvers[2]",
        "no window at city",
    ),
    (
        "co-approvers on a promised item",
        item(0, co_approvers=["AA", "BB"]),
        "items[0].co_approvers",
        "only joint",
    ),
    (
        "absence means consent outside joint",
        item(0, absence_means_consent=True),
        "items[0].absence_means_consent",
        "only joint",
    ),
    (
        "overdue approval on an immediate item",
        item(1, overdue_means_approval=True),
        "items[1].overdue_means_approval",
        "no time limit",
    ),
    (
        "overdue approval on a report-up item",
        item(3, overdue_means_approval=True),
        "items[3].overdue_means_approval",
        "no time limit",
    ),
    # structure
    ("typo in a key", item(0, promise_days=3), "items[0].promise_days", "unknown key"),
    ("name missing", drop(0, "name"), "items[0].name", "required"),
    ("english name missing", item(0, name={"zh": "甲"}), "items[0].name.en", "required"),
    ("bad item code", item(0, code="aa-1"), "items[0].code", "pattern"),
    (
        "flag not a boolean",
        item(0, overdue_means_approval="yes"),
        "items[0].overdue_means_approval",
        "true or false",
    ),
    ("materials not a list", item(0, materials="ID"), "items[0].materials", "must be a list"),
    (
        "material too large",
        lambda d: d["items"][0]["materials"][0].update(max_bytes=0),
        "items[0].materials[0].max_bytes",
        "between 1",
    ),
    ("entry not a mapping", lambda d: d["items"].append("AA-0009"), "items[4]", "mapping"),
    # fees
    (
        "fee with amount and formula",
        fee(amount_fen=100),
        "items[0].fees[0].amount_fen",
        "exactly one",
    ),
    ("fee without amount", fee(formula=None), "items[0].fees[0].amount_fen", "exactly one"),
    ("negative fee", fee(formula=None, amount_fen=-5), "items[0].fees[0].amount_fen", "between"),
    ("fee without basis", fee(basis=""), "items[0].fees[0].basis", "non-empty"),
    ("formula on unknown field", fee(formula="100 * pages"), "items[0].fees[0].formula", "'pages'"),
    (
        "formula on a text field",
        fee(formula="100 * note"),
        "items[0].fees[0].formula",
        "text field",
    ),
    (
        "formula on an optional field",
        field(0, required=False),
        "items[0].fees[0].formula",
        "required",
    ),
    (
        "formula running code",
        fee(formula="copies.__class__"),
        "items[0].fees[0].formula",
        "not allowed",
    ),
    # form fields
    (
        "choice without choices",
        field(2, choices=[]),
        "items[0].form.fields[2].choices",
        "at least one",
    ),
    (
        "choices on a text field",
        field(1, choices=[{"value": "a", "label": name("甲", "a")}]),
        "items[0].form.fields[1].choices",
        "only choice",
    ),
    (
        "duplicate choice",
        field(
            2,
            choices=[
                {"value": "a", "label": name("甲", "a")},
                {"value": "a", "label": name("乙", "b")},
            ],
        ),
        "items[0].form.fields[2].choices[1].value",
        "twice",
    ),
    ("min above max", field(0, max=0), "items[0].form.fields[0].min", "greater than max"),
    (
        "date min after max",
        field(3, min="2025-02-01", max="2025-01-01"),
        "items[0].form.fields[3].min",
        "after",
    ),
    ("date bound not a date", field(3, min="soon"), "items[0].form.fields[3].min", "YYYY-MM-DD"),
    (
        "length rule on a number",
        field(0, max_length=5),
        "items[0].form.fields[0].max_length",
        "only text",
    ),
    (
        "min_length above max_length",
        field(1, min_length=9, max_length=3),
        "items[0].form.fields[1].min_length",
        "greater",
    ),
    (
        "bad pattern",
        field(1, pattern="[0-9"),
        "items[0].form.fields[1].pattern",
        "regular expression",
    ),
    ("decimals on text", field(1, decimals=2), "items[0].form.fields[1].decimals", "only number"),
    (
        "not_future on a number",
        field(0, not_future=True),
        "items[0].form.fields[0].not_future",
        "only date",
    ),
    ("unknown field type", field(1, type="email"), "items[0].form.fields[1].type", "not one of"),
    ("bad field key", field(1, key="Note"), "items[0].form.fields[1].key", "pattern"),
    # the catalogue itself
    ("version zero", top(version=0), "version", "between 1"),
    ("version missing", lambda d: d.pop("version"), "version", "required"),
    ("bad region code", top(region_code="43100"), "region_code", "division code"),
    ("no items", top(items=[]), "items", "at least one item"),
    ("unknown top-level key", top(catalog_version=2), "catalog_version", "unknown key"),
]


@pytest.mark.parametrize(
    ("mutation", "path", "words"),
    [pytest.param(m, p, w, id=case_id) for case_id, m, p, w in CASES],
)
def test_each_inconsistency_is_named(mutation: Mutation, path: str, words: str) -> None:
    data = valid()
    mutation(data)
    with pytest.raises(Problems) as caught:
        parse_catalogue(data)
    problems = caught.value.fields
    assert path in problems, problems
    assert words in problems[path], problems


def test_every_problem_is_listed_at_once() -> None:
    data = valid()
    item(0, department="ZZ", promised_days=30)(data)
    item(2, co_approvers=["AA"])(data)
    drop(3, "external_authority")(data)
    duplicate("windows", 2)(data)
    field(2, choices=[])(data)
    top(version=0)(data)
    with pytest.raises(Problems) as caught:
        parse_catalogue(data)
    assert set(caught.value.fields) >= {
        "items[0].department",
        "items[0].promised_days",
        "items[2].co_approvers",
        "items[3].external_authority",
        "windows[4].code",
        "items[0].form.fields[2].choices",
        "version",
    }
    assert str(caught.value).startswith("catalogue rejected: ")
    assert caught.value.http_status == 400


def test_a_broken_entry_does_not_hide_the_problems_of_others() -> None:
    data = valid()
    item(0, kind="urgent", department="ZZ")(data)  # a bad kind and an unknown department
    item(1, window="W-ZZ-99")(data)
    with pytest.raises(Problems) as caught:
        parse_catalogue(data)
    assert set(caught.value.fields) == {"items[0].kind", "items[0].department", "items[1].window"}


def test_a_bad_value_raises_no_follow_on_noise() -> None:
    data = valid()
    item(0, kind="urgent")(data)
    with pytest.raises(Problems) as caught:
        parse_catalogue(data)
    # only the kind is named: rules that need the kind are not guessed at
    assert list(caught.value.fields) == ["items[0].kind"]


def test_two_reasons_for_one_path_are_both_kept() -> None:
    data = valid()
    item(1, promised_days=9)(data)  # immediate with days, and above the legal limit of 5
    with pytest.raises(Problems) as caught:
        parse_catalogue(data)
    reason = caught.value.fields["items[1].promised_days"]
    assert "exceeds the legal limit" in reason
    assert "must be 0" in reason


def test_input_data_is_left_untouched() -> None:
    data = valid()
    item(0, department="ZZ")(data)
    before = copy.deepcopy(data)
    with pytest.raises(Problems):
        parse_catalogue(data)
    assert data == before


def test_check_catalogue_applies_the_same_rules_to_built_catalogues() -> None:
    sample = load_sample_catalogue()
    check_catalogue(sample)  # the sample is consistent
    broken_item = dataclasses.replace(sample.items[0], promised_days=99)
    broken = dataclasses.replace(sample, items=(broken_item, *sample.items[1:]))
    with pytest.raises(Problems) as caught:
        check_catalogue(broken)
    assert caught.value.fields == {
        "items[0].promised_days": f"promised limit 99 exceeds the legal limit "
        f"{sample.items[0].legal_days}"
    }


# --- files ----------------------------------------------------------------------------------


def test_yaml_key_given_twice_is_refused() -> None:
    text = "version: 1\nversion: 2\nregion_code: '431000'\n"
    with pytest.raises(Problems) as caught:
        load_catalogue_text(text, "yaml")
    assert list(caught.value.fields.values()) == [
        "key 'version' appears twice in one mapping (line 2)"
    ]


def test_json_key_given_twice_is_refused() -> None:
    with pytest.raises(Problems) as caught:
        load_catalogue_text('{"version": 1, "version": 2}', "json")
    assert "appears twice" in next(iter(caught.value.fields.values()))


def test_broken_yaml_and_json_are_refused() -> None:
    with pytest.raises(Problems) as caught:
        load_catalogue_text("items: [unclosed", "yaml")
    assert "not valid YAML" in caught.value.fields["file"]
    with pytest.raises(Problems) as caught:
        load_catalogue_text("{", "json")
    assert "not valid JSON" in caught.value.fields["file"]
    with pytest.raises(Problems) as caught:
        load_catalogue_text("- just\n- a list\n", "yaml")
    assert caught.value.fields == {"catalogue": "must be a mapping, not list"}


def test_yaml_cannot_construct_python_objects() -> None:
    with pytest.raises(Problems):
        load_catalogue_text("version: !!python/object/apply:os.system ['true']\n", "yaml")


def test_file_errors_are_typed(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_catalogue(tmp_path / "missing.yaml")
    assert caught.value.field == "file"
    with pytest.raises(InvalidInput):
        load_catalogue(tmp_path / "catalogue.txt")
    with pytest.raises(InvalidInput):
        load_catalogue_text(b"\xff\xfe", "yaml")
    with pytest.raises(InvalidInput):
        load_catalogue_text("{}", "toml")


def test_a_json_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(valid(), ensure_ascii=False), "utf-8")
    catalogue = load_catalogue(path)
    assert catalogue.item("AA-0001").fees[0].formula is not None


# --- any corruption is refused with Problems, never another exception -----------------------

ANY_VALUE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**12), max_value=10**12)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["AA", "ZZ", "W-AA-01", "AA-0001", "city", "village", "joint", "1 +"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=6,
)


def _containers(node: object, found: list[tuple[Any, Any]]) -> None:
    """Every (container, key) pair in ``node``, so a test can replace one value."""
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((node, key))
            _containers(value, found)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.append((node, index))
            _containers(value, found)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_corruption_gives_a_catalogue_or_problems(data: st.DataObject) -> None:
    catalogue = valid()
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        slots: list[tuple[Any, Any]] = []
        _containers(catalogue, slots)
        container, key = data.draw(st.sampled_from(slots))
        container[key] = data.draw(ANY_VALUE)
    try:
        parse_catalogue(catalogue)
    except Problems as problems:
        assert problems.fields
        assert all(isinstance(path, str) and reason for path, reason in problems.fields.items())
