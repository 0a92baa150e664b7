"""The smart adaptor (智能适配): the loader proves a decision table complete and unambiguous
and names each gap and overlap; the answers choose exactly one procedure, and why."""

from __future__ import annotations

import copy
import itertools
from importlib.resources import files
from typing import Any

import pytest
import yaml

from shared.domain.adaptors import (
    MAX_COMBINATIONS,
    adapt,
    adapted_api_dict,
    adaptor_api_dict,
    combinations,
    procedures,
    search_adaptors,
    situation_count,
)
from shared.domain.catalogue import Catalogue
from shared.domain.catalogue_loader import load_sample_catalogue, parse_catalogue
from shared.domain.errors import NotFound, Problems

Data = dict[str, Any]
FAMILY = "ZNSP-0001"

# The sample family's intended table, written out combination by combination (investor,
# land, obtained, scope) so a rule that drifts shows up here.
INTENDED = {
    ("government", "state", "allocated", "new_build"): "ZJ-0601",
    ("government", "state", "transferred", "new_build"): "ZJ-0607",
    ("government", "state", "existing", "new_build"): "ZJ-0606",
    ("government", "collective", "allocated", "new_build"): "ZJ-0605",
    ("government", "collective", "transferred", "new_build"): "ZJ-0605",
    ("government", "collective", "existing", "new_build"): "ZJ-0605",
    ("enterprise", "state", "allocated", "new_build"): "ZJ-0608",
    ("enterprise", "state", "transferred", "new_build"): "ZJ-0603",
    ("enterprise", "state", "existing", "new_build"): "ZJ-0606",
    ("enterprise", "collective", "allocated", "new_build"): "ZJ-0605",
    ("enterprise", "collective", "transferred", "new_build"): "ZJ-0605",
    ("enterprise", "collective", "existing", "new_build"): "ZJ-0605",
    **{("government", land, obtained, "renovation"): "ZJ-0602"
       for land in ("state", "collective") for obtained in ("allocated", "transferred",
                                                            "existing")},
    **{("enterprise", land, obtained, "renovation"): "ZJ-0604"
       for land in ("state", "collective") for obtained in ("allocated", "transferred",
                                                            "existing")},
}


@pytest.fixture(scope="module")
def sample() -> Catalogue:
    return load_sample_catalogue()


@pytest.fixture(scope="module")
def sample_data() -> Data:
    text = files("shared.domain").joinpath("data/sample_catalogue.yaml").read_text("utf-8")
    data: Data = yaml.safe_load(text)
    return data


def with_adaptor(sample_data: Data, **changes: Any) -> Data:
    """The sample with its family changed (``questions``, ``rules``, ``code`` ...)."""
    data = copy.deepcopy(sample_data)
    data["adaptors"][0].update(changes)
    return data


def rule(when: dict[str, Any], item: str) -> dict[str, Any]:
    return {"when": when, "item": item, "reason": {"zh": "理由", "en": "reason"}}


def question(key: str, *values: str) -> dict[str, Any]:
    return {"key": key, "label": {"zh": key, "en": key},
            "choices": [{"value": v, "label": {"zh": v, "en": v}} for v in values]}


def problems_of(data: Data) -> dict[str, str]:
    with pytest.raises(Problems) as refused:
        parse_catalogue(data)
    return refused.value.fields


# --- the sample family ----------------------------------------------------------------------


def test_the_sample_family_tells_24_situations_apart_among_8_procedures(
        sample: Catalogue) -> None:
    family = sample.adaptor(FAMILY)
    assert situation_count(family) == 24 >= 8
    assert [q.key for q in family.questions] == ["investor", "land", "obtained", "scope"]
    assert [p.item.code for p in procedures(sample, family)] == [
        f"ZJ-060{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8)]
    for procedure in procedures(sample, family):
        assert procedure.item.window == "W-ZJ-01"
        assert sample.window("W-ZJ-01").authority_for(procedure.item.code) is not None


@pytest.mark.parametrize(("answers", "item_code"), sorted(INTENDED.items()))
def test_each_combination_resolves_to_exactly_the_intended_procedure(
        sample: Catalogue, answers: tuple[str, str, str, str], item_code: str) -> None:
    given = dict(zip(("investor", "land", "obtained", "scope"), answers, strict=True))
    family = sample.adaptor(FAMILY)
    covering = [r.item for r in family.rules if r.covers(given)]
    assert covering == [item_code]
    adapted = adapt(sample, FAMILY, given)
    assert adapted.item.code == item_code
    assert adapted.rule.reason.zh and adapted.rule.reason.en
    assert len(list(combinations(family))) == len(INTENDED) == 24


def test_the_explanation_names_each_question_with_the_answer_given(sample: Catalogue) -> None:
    adapted = adapt(sample, FAMILY, {"investor": "enterprise", "land": "state",
                                     "obtained": "transferred", "scope": "new_build"})
    assert adapted.explanation("zh") == [("谁投资建设？", "社会投资(企业)"),
                                         ("用地属于哪一类？", "国有建设用地"),
                                         ("用地如何取得？", "出让"),
                                         ("建设性质是什么？", "新建")]
    body = adapted_api_dict(adapted, "en")
    assert body["item_code"] == "ZJ-0603"
    assert body["reason"].startswith("A privately funded new build on transferred state land")
    assert body["answers"][2] == {"key": "obtained", "value": "transferred",
                                  "question": "How was the land obtained?",
                                  "answer": "Transferred (bought at auction or by contract)"}


def test_the_api_shape_lists_questions_choices_and_procedures(sample: Catalogue) -> None:
    body = adaptor_api_dict(sample, sample.adaptor(FAMILY), "en")
    assert body["code"] == FAMILY and body["situations"] == 24
    assert body["questions"][0]["choices"] == [
        {"value": "government", "label": "Government funds"},
        {"value": "enterprise", "label": "Private funds (an enterprise)"}]
    assert len(body["procedures"]) == 8


# --- adapt() refuses what does not choose one procedure ---------------------------------------


def test_adapt_names_every_missing_unknown_and_extra_answer(sample: Catalogue) -> None:
    with pytest.raises(Problems) as refused:
        adapt(sample, FAMILY, {"investor": "army", "land": "", "colour": "red"})
    assert refused.value.fields == {
        "investor": "must be one of government, enterprise",
        "land": "required",
        "obtained": "required",
        "scope": "required",
        "colour": "no such question",
    }


def test_adapt_refuses_an_unknown_family(sample: Catalogue) -> None:
    with pytest.raises(NotFound) as refused:
        adapt(sample, "ZNSP-9999", {})
    assert "ZNSP-9999" in refused.value.reason


# --- the proof ----------------------------------------------------------------------------------


def test_the_sample_table_passes_the_proof(sample_data: Data) -> None:
    catalogue = parse_catalogue(copy.deepcopy(sample_data))
    assert catalogue.adaptor(FAMILY).rules


def test_a_gap_is_listed_with_its_answers(sample_data: Data) -> None:
    rules = [r for r in sample_data["adaptors"][0]["rules"] if r["item"] != "ZJ-0606"]
    problems = problems_of(with_adaptor(sample_data, rules=rules))
    assert problems == {"adaptors[0].rules": (
        "incomplete: no rule covers 2 combination(s): "
        "investor=government, land=state, obtained=existing, scope=new_build; "
        "investor=enterprise, land=state, obtained=existing, scope=new_build")}


def test_many_gaps_are_counted_beyond_the_first_ten(sample_data: Data) -> None:
    rules = [rule({"investor": "government", "scope": "renovation"}, "ZJ-0602")]
    problems = problems_of(with_adaptor(sample_data, rules=rules))
    message = problems["adaptors[0].rules"]
    assert message.startswith("incomplete: no rule covers 18 combination(s): ")
    assert message.endswith("(and 8 more)")
    assert message.count("investor=") == 10


def test_an_overlap_names_both_rules_and_the_answers_they_share(sample_data: Data) -> None:
    rules = [*sample_data["adaptors"][0]["rules"],
             rule({"land": "collective", "obtained": "existing"}, "ZJ-0606")]
    problems = problems_of(with_adaptor(sample_data, rules=rules))
    assert problems == {"adaptors[0].rules[8]": (
        "ambiguous: investor=government, land=collective, obtained=existing, scope=new_build "
        "is also covered by rules[4]; "
        "investor=government, land=collective, obtained=existing, scope=renovation "
        "is also covered by rules[1]; "
        "investor=enterprise, land=collective, obtained=existing, scope=new_build "
        "is also covered by rules[4]; "
        "investor=enterprise, land=collective, obtained=existing, scope=renovation "
        "is also covered by rules[3]")}


def test_two_rules_for_the_same_answers_are_ambiguous_even_with_one_item(
        sample_data: Data) -> None:
    rules = [*sample_data["adaptors"][0]["rules"],
             rule({"investor": "government", "scope": "renovation", "land": "state"}, "ZJ-0602")]
    problems = problems_of(with_adaptor(sample_data, rules=rules))
    assert list(problems) == ["adaptors[0].rules[8]"]
    assert "is also covered by rules[1]" in problems["adaptors[0].rules[8]"]


def test_a_rule_naming_an_unknown_question_or_answer_is_refused(sample_data: Data) -> None:
    rules = copy.deepcopy(sample_data["adaptors"][0]["rules"])
    rules[0]["when"]["colour"] = "red"
    rules[2]["when"]["obtained"] = "stolen"
    rules[3]["when"]["land"] = ["state", "moon"]
    rules[4]["when"]["scope"] = []
    rules[5]["item"] = "ZJ-9999"
    problems = problems_of(with_adaptor(sample_data, rules=rules))
    assert problems == {
        "adaptors[0].rules[0].when.colour":
            "no question 'colour' (asked: investor, land, obtained, scope)",
        "adaptors[0].rules[2].when.obtained":
            "must be one or a list of: allocated, existing, transferred",
        "adaptors[0].rules[3].when.land": "must be one or a list of: collective, state",
        "adaptors[0].rules[4].when.scope": "must be one or a list of: new_build, renovation",
        # named at its own index though rules before it were refused
        "adaptors[0].rules[5].item": "unknown item ZJ-9999",
    }


def test_a_rule_leading_to_an_unknown_item_is_refused(sample_data: Data) -> None:
    rules = copy.deepcopy(sample_data["adaptors"][0]["rules"])
    rules[5]["item"] = "ZJ-9999"
    problems = problems_of(with_adaptor(sample_data, rules=rules))
    assert problems == {"adaptors[0].rules[5].item": "unknown item ZJ-9999"}


def test_more_than_4096_combinations_are_refused_before_any_proof(sample_data: Data) -> None:
    # 13 questions of two choices: 8192 combinations
    questions = [question(f"q{n}", "yes", "no") for n in range(13)]
    problems = problems_of(with_adaptor(sample_data, questions=questions,
                                        rules=[rule({}, "ZJ-0601")]))
    assert problems == {"adaptors[0].questions":
                        f"more than {MAX_COMBINATIONS} combinations of answers"}


def test_exactly_4096_combinations_are_proved(sample_data: Data) -> None:
    questions = [question(f"q{n}", "yes", "no") for n in range(12)]
    catalogue = parse_catalogue(with_adaptor(sample_data, questions=questions,
                                             rules=[rule({"q0": "yes"}, "ZJ-0601"),
                                                    rule({"q0": "no"}, "ZJ-0602")]))
    assert situation_count(catalogue.adaptor(FAMILY)) == MAX_COMBINATIONS


def test_a_question_needs_two_distinct_choices_and_a_unique_key(sample_data: Data) -> None:
    questions = [question("investor", "government"), question("land", "state", "state"),
                 question("land", "a", "b")]
    problems = problems_of(with_adaptor(sample_data, questions=questions, rules=[]))
    assert problems["adaptors[0].questions[0].choices"] == \
        "a question offers at least two choices"
    assert problems["adaptors[0].questions[1].choices[1].value"].startswith(
        "duplicate choice state")
    assert problems["adaptors[0].questions[2].key"].startswith("duplicate question land")


def test_codes_are_checked_and_unique(sample_data: Data) -> None:
    data = copy.deepcopy(sample_data)
    data["adaptors"].append(copy.deepcopy(data["adaptors"][0]))
    data["adaptors"].append(dict(copy.deepcopy(data["adaptors"][0]), code="ADAPT-1"))
    problems = problems_of(data)
    assert problems["adaptors[1].code"] == \
        "duplicate adaptor code ZNSP-0001 (first at adaptors[0])"
    assert "does not match the pattern" in problems["adaptors[2].code"]


# --- finding a family ---------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["ZNSP-0001", "znsp0001", "房屋建筑", "改建", "我要新建厂房改建",
                                   "construction", "fwjz", "jianzhu", "划拨用地"])
def test_a_family_is_found_by_code_name_keyword_pinyin_or_one_of_its_procedures(
        sample: Catalogue, query: str) -> None:
    assert [a.code for a in search_adaptors(sample, query)] == [FAMILY]


@pytest.mark.parametrize("query", ["", "  ", "结婚登记", "qqqzzz"])
def test_no_family_for_an_empty_or_unrelated_query(sample: Catalogue, query: str) -> None:
    assert search_adaptors(sample, query) == []


def test_every_combination_is_enumerated_in_question_and_choice_order(
        sample: Catalogue) -> None:
    family = sample.adaptor(FAMILY)
    expected = [dict(zip(["investor", "land", "obtained", "scope"], values, strict=True))
                for values in itertools.product(("government", "enterprise"),
                                                ("state", "collective"),
                                                ("allocated", "transferred", "existing"),
                                                ("new_build", "renovation"))]
    assert list(combinations(family)) == expected


def test_a_rule_that_cannot_be_read_raises_no_follow_on_noise(sample_data: Data) -> None:
    rules = copy.deepcopy(sample_data["adaptors"][0]["rules"])
    rules[0] = "ZJ-0601"
    del rules[1]["item"]
    problems = problems_of(with_adaptor(sample_data, rules=rules))
    assert sorted(problems) == ["adaptors[0].rules[0]", "adaptors[0].rules[1].item"]
