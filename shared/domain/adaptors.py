"""The smart adaptor (智能适配): a few answers choose exactly one procedure of a family.

A family of related procedures (e.g. construction approval, chosen by who invests, the
land's nature, how it was obtained and how the project is managed) carries a decision table:
questions with fixed choices, and rules mapping answers to an item with the reason shown to
the applicant. The loader proves the table **complete** (every combination of answers is
covered) and **unambiguous** (no combination is covered by two rules), and names the gaps
and overlaps otherwise, so a wizard can never end in "no procedure" or "two procedures".
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict

from shared.domain.catalogue import (
    Adaptor,
    AdaptorQuestion,
    AdaptorRule,
    Bilingual,
    Catalogue,
    Choice,
    ServiceItem,
    search_items,
)
from shared.domain.catalogue_reading import Entry, Found, Parsed, bilingual_of, duplicates
from shared.domain.errors import Problems
from shared.domain.pinyin_keys import pinyin_keys

ADAPTOR_CODE = re.compile(r"ZNSP-\d{4}")
ANSWER_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
MAX_COMBINATIONS = 4096
"""Bounds the proof's work (and a wizard's length): 4 questions of 8 choices is 4096."""
MAX_LISTED = 10
"""Gaps or overlaps named one by one before the rest are only counted."""
_KEYS = ("code", "name", "keywords", "questions", "rules")
_QUESTION_KEYS = ("key", "label", "choices")
_CHOICE_KEYS = ("value", "label")
_RULE_KEYS = ("when", "item", "reason")


def parse_adaptors(found: Found, raws: Sequence[object]) -> list[Parsed[Adaptor]]:
    """The ``adaptors`` section, each entry read and its table proved on its own."""
    parsed: list[Parsed[Adaptor]] = []
    for index, raw in enumerate(raws):
        entry = Entry(found, raw, f"adaptors[{index}]", _KEYS)
        if not entry.is_mapping:
            continue
        code = entry.string("code", pattern=ADAPTOR_CODE)
        name = entry.bilingual("name") or Bilingual("", "")
        keywords = tuple(str(k) for k in entry.sequence("keywords") if isinstance(k, str))
        questions = _questions(entry)
        rules = _rules(entry, questions) if "questions" not in entry.bad else ()
        adaptor = Adaptor(code, name, questions, rules, keywords)
        if not entry.bad:
            for path, reason in table_problems(adaptor).items():
                found.add(entry.at(path), reason)
        parsed.append(Parsed(index, adaptor, frozenset(entry.bad)))
    return parsed


def _questions(entry: Entry) -> tuple[AdaptorQuestion, ...]:
    raws = entry.sequence("questions", required=True)
    if not raws and "questions" not in entry.bad:
        entry.fail("questions", "an adaptor asks at least one question")
    questions: list[AdaptorQuestion] = []
    for q_index, raw in enumerate(raws):
        q_entry = Entry(entry.found, raw, entry.at(f"questions[{q_index}]"), _QUESTION_KEYS)
        if not q_entry.is_mapping:
            entry.bad.add("questions")
            continue
        key = q_entry.string("key", pattern=ANSWER_KEY)
        label = q_entry.bilingual("label") or Bilingual("", "")
        choices: list[Choice] = []
        for c_index, raw_choice in enumerate(q_entry.sequence("choices", required=True)):
            c_entry = Entry(entry.found, raw_choice, q_entry.at(f"choices[{c_index}]"),
                            _CHOICE_KEYS)
            value = c_entry.string("value", pattern=ANSWER_KEY)
            choice_label = c_entry.bilingual("label")
            if c_entry.bad or choice_label is None:
                q_entry.bad.add("choices")
            else:
                choices.append(Choice(value, choice_label))
        if len(choices) < 2 and "choices" not in q_entry.bad:
            q_entry.fail("choices", "a question offers at least two choices")
        duplicates(entry.found, q_entry.at("choices"), "value", [c.value for c in choices],
                   "choice")
        if q_entry.bad:
            entry.bad.add("questions")
        questions.append(AdaptorQuestion(key, label, tuple(choices)))
    duplicates(entry.found, entry.at("questions"), "key", [q.key for q in questions],
               "question")
    return tuple(questions)


def _rules(entry: Entry, questions: Sequence[AdaptorQuestion]) -> tuple[AdaptorRule, ...]:
    allowed = {q.key: set(q.choice_values()) for q in questions}
    raws = entry.sequence("rules", required=True)
    if not raws and "rules" not in entry.bad:
        entry.fail("rules", "an adaptor needs at least one rule")
    # One rule per entry, a bad one too (marking ``rules`` bad, so no table is proved and no
    # catalogue is made), so that a rule's index stays its index in the file for the item
    # check (:func:`adaptor_rules`); an item not read is left empty and not checked again.
    rules: list[AdaptorRule] = []
    for r_index, raw in enumerate(raws):
        path = entry.at(f"rules[{r_index}]")
        r_entry = Entry(entry.found, raw, path, _RULE_KEYS)
        if not r_entry.is_mapping:
            entry.bad.add("rules")
            rules.append(AdaptorRule((), "", Bilingual("", "")))
            continue
        item = r_entry.string("item")
        reason = bilingual_of(entry.found, r_entry.raw("reason"), r_entry.at("reason"))
        when = _when(r_entry, allowed)
        if r_entry.bad or reason is None:
            entry.bad.add("rules")
        rules.append(AdaptorRule(when, "" if "item" in r_entry.bad else item,
                                 reason or Bilingual("", "")))
    return tuple(rules)


def _when(entry: Entry, allowed: Mapping[str, set[str]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    raw = entry.raw("when")
    if not isinstance(raw, Mapping):
        entry.fail("when", "must map question keys to an answer or a list of answers")
        return ()
    when: list[tuple[str, tuple[str, ...]]] = []
    for key, value in raw.items():
        values = [value] if isinstance(value, str) else value
        if key not in allowed:
            entry.fail(f"when.{key}", f"no question {key!r} (asked: {', '.join(allowed)})")
            continue
        if not isinstance(values, list) or not values \
                or any(v not in allowed[key] for v in values):
            entry.fail(f"when.{key}",
                       f"must be one or a list of: {', '.join(sorted(allowed[key]))}")
            continue
        when.append((str(key), tuple(str(v) for v in values)))
    return tuple(when)


def combinations(adaptor: Adaptor) -> Iterator[dict[str, str]]:
    """Every way the questions can be answered, in question and choice order."""
    keys = [q.key for q in adaptor.questions]
    for values in itertools.product(*(q.choice_values() for q in adaptor.questions)):
        yield dict(zip(keys, values, strict=True))


def _combination_count(adaptor: Adaptor) -> int:
    count = 1
    for question in adaptor.questions:
        count *= len(question.choices)
    return count


def _describe(adaptor: Adaptor, answers: Mapping[str, str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in answers.items())


def table_problems(adaptor: Adaptor) -> dict[str, str]:
    """The gaps (answers no rule covers) and overlaps (answers two rules cover), by path."""
    if _combination_count(adaptor) > MAX_COMBINATIONS:
        return {"questions": f"more than {MAX_COMBINATIONS} combinations of answers"}
    gaps: list[str] = []
    overlaps: dict[str, list[str]] = {}
    for answers in combinations(adaptor):
        covering = [i for i, rule in enumerate(adaptor.rules) if rule.covers(answers)]
        if not covering:
            gaps.append(_describe(adaptor, answers))
        elif len(covering) > 1:
            pair = f"rules[{covering[1]}]"
            overlaps.setdefault(pair, []).append(
                f"{_describe(adaptor, answers)} is also covered by rules[{covering[0]}]")
    problems: dict[str, str] = {}
    if gaps:
        listed = "; ".join(gaps[:MAX_LISTED])
        more = f" (and {len(gaps) - MAX_LISTED} more)" if len(gaps) > MAX_LISTED else ""
        problems["rules"] = f"incomplete: no rule covers {len(gaps)} combination(s): " \
                            f"{listed}{more}"
    for path, found in overlaps.items():
        more = f" (and {len(found) - MAX_LISTED} more)" if len(found) > MAX_LISTED else ""
        problems[path] = "ambiguous: " + "; ".join(found[:MAX_LISTED]) + more
    return problems


def adaptor_rules(found: Found, adaptors: Sequence[Parsed[Adaptor]],
                  items: Mapping[str, ServiceItem]) -> None:
    """Every rule leads to an item of the catalogue; codes are unique."""
    duplicates(found, "adaptors", "code", [p.value.code for p in adaptors], "adaptor code")
    for parsed in adaptors:
        for r_index, rule in enumerate(parsed.value.rules):
            if rule.item and rule.item not in items:
                found.add(f"adaptors[{parsed.index}].rules[{r_index}].item",
                          f"unknown item {rule.item}")


@dataclass(frozen=True, slots=True)
class Adapted:
    """The procedure the answers lead to, and why."""

    adaptor: Adaptor
    item: ServiceItem
    rule: AdaptorRule
    answers: Mapping[str, str]

    def explanation(self, lang: str = "zh") -> list[tuple[str, str]]:
        """Each question with the answer given, in the wizard's order."""
        shown: list[tuple[str, str]] = []
        for question in self.adaptor.questions:
            value = self.answers[question.key]
            label = next(c.label.get(lang) for c in question.choices if c.value == value)
            shown.append((question.label.get(lang), label))
        return shown


def adapt(catalogue: Catalogue, adaptor_code: str, answers: Mapping[str, object]) -> Adapted:
    """The one procedure ``answers`` lead to; :class:`Problems` names each unanswered or
    unknown answer (every question must be answered)."""
    adaptor = catalogue.adaptor(adaptor_code)
    problems: dict[str, str] = {}
    given: dict[str, str] = {}
    for question in adaptor.questions:
        value = answers.get(question.key)
        if value in (None, ""):
            problems[question.key] = "required"
        elif value not in question.choice_values():
            problems[question.key] = f"must be one of {', '.join(question.choice_values())}"
        else:
            given[question.key] = str(value)
    unknown = sorted(set(answers) - {q.key for q in adaptor.questions})
    for key in unknown:
        problems[key] = "no such question"
    if problems:
        raise Problems(problems, "the answers do not choose a procedure")
    rule = next(rule for rule in adaptor.rules if rule.covers(given))
    return Adapted(adaptor, catalogue.item(rule.item), rule, given)


# --- finding a family, and what it offers ---------------------------------------------------


def _fold(text: str) -> str:
    # NFKC turns full-width letters typed with a Chinese input method into ASCII.
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


def search_adaptors(catalogue: Catalogue, query: str) -> list[Adaptor]:
    """The families ``query`` points to, best first: by code, name or keyword (either way
    round, so 新建厂房改建 finds the family with the keyword 改建), then by the pinyin
    initials of the name, then because it finds one of the family's procedures. An empty
    query points to none: every family is listed anyway where families are offered."""
    wanted = _fold(query)
    if not wanted:
        return []
    keys = pinyin_keys(a.name.zh for a in catalogue.adaptors)
    found_items = {item.code for item in search_items(catalogue, query)}
    ranked: list[tuple[int, int, Adaptor]] = []
    for position, adaptor in enumerate(catalogue.adaptors):
        words = [_fold(k) for k in adaptor.keywords if _fold(k)]
        if wanted in (_fold(adaptor.code), _fold(adaptor.code).replace("-", "")) \
                or wanted in _fold(adaptor.name.zh) or wanted in _fold(adaptor.name.en) \
                or any(wanted in word or word in wanted for word in words):
            rank = 0
        elif wanted in keys[adaptor.name.zh][0] or wanted in keys[adaptor.name.zh][1]:
            rank = 1
        elif found_items & {rule.item for rule in adaptor.rules}:
            rank = 2
        else:
            continue
        ranked.append((rank, position, adaptor))
    ranked.sort(key=lambda entry: (entry[0], entry[1]))
    return [adaptor for _, _, adaptor in ranked]


def situation_count(adaptor: Adaptor) -> int:
    """How many situations (combinations of answers) the family tells apart."""
    return _combination_count(adaptor)


@dataclass(frozen=True, slots=True)
class Procedure:
    """One procedure of a family, with the situations it serves (the reasons of its rules),
    for choosing by hand."""

    item: ServiceItem
    reasons: tuple[Bilingual, ...]


def procedures(catalogue: Catalogue, adaptor: Adaptor) -> list[Procedure]:
    """The family's procedures in the order its rules first name them."""
    reasons: dict[str, list[Bilingual]] = {}
    for rule in adaptor.rules:
        reasons.setdefault(rule.item, []).append(rule.reason)
    return [Procedure(catalogue.item(code), tuple(found)) for code, found in reasons.items()]


# --- the API shape --------------------------------------------------------------------------


class ChoiceAnswerApi(TypedDict):
    value: str
    label: str


class QuestionApi(TypedDict):
    key: str
    label: str
    choices: list[ChoiceAnswerApi]


class ProcedureApi(TypedDict):
    item_code: str
    item_name: str


class AdaptorApi(TypedDict):
    """One family of ``GET /api/v1/catalog/adaptors``."""

    code: str
    name: str
    keywords: list[str]
    situations: int
    questions: list[QuestionApi]
    procedures: list[ProcedureApi]


class AnswerApi(TypedDict):
    key: str
    value: str
    question: str
    answer: str


class AdaptedApi(TypedDict):
    """The body of ``POST /api/v1/catalog/adaptors/<code>/resolve``."""

    adaptor: str
    item_code: str
    item_name: str
    reason: str
    answers: list[AnswerApi]


def adaptor_api_dict(catalogue: Catalogue, adaptor: Adaptor, lang: str = "zh") -> AdaptorApi:
    """A family with its questions, choices and procedures, texts in ``lang``."""
    return {
        "code": adaptor.code,
        "name": adaptor.name.get(lang),
        "keywords": list(adaptor.keywords),
        "situations": situation_count(adaptor),
        "questions": [
            {"key": q.key, "label": q.label.get(lang),
             "choices": [{"value": c.value, "label": c.label.get(lang)} for c in q.choices]}
            for q in adaptor.questions
        ],
        "procedures": [{"item_code": p.item.code, "item_name": p.item.name.get(lang)}
                       for p in procedures(catalogue, adaptor)],
    }


def adapted_api_dict(adapted: Adapted, lang: str = "zh") -> AdaptedApi:
    """The procedure the answers chose, why, and the answers as the applicant saw them."""
    labels = adapted.explanation(lang)
    return {
        "adaptor": adapted.adaptor.code,
        "item_code": adapted.item.code,
        "item_name": adapted.item.name.get(lang),
        "reason": adapted.rule.reason.get(lang),
        "answers": [
            {"key": q.key, "value": adapted.answers[q.key], "question": question,
             "answer": answer}
            for q, (question, answer) in zip(adapted.adaptor.questions, labels, strict=True)
        ],
    }
