"""Consultations and complaints (咨询投诉): what one records, who answers it and by when.

A consultation or complaint is recorded at any tier (the 9618 phone line, a window, the
city's online form, a village agent) and answered by the department it is assigned to within
a number of working days counted from the day it was recorded. It lives in the signed event
log: one about a case is a ``consultation_recorded`` event on that case's log (so it travels
with the case and shows in its history); any other is the first event of a log of its own,
whose id derives from that event like a case's (:mod:`shared.storage.case_ids`). The answer is
a ``consultation_answered`` event on the same log naming the recording event.

This module holds the figures and the checks every site shares; it imports no storage.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from shared.domain.catalogue import Catalogue
from shared.domain.errors import DomainError, InvalidInput, Problems
from shared.domain.identity import validate_name, validate_phone
from shared.domain.working_days import WorkingDayCalendar, end_of_day, local_date
from sync_protocol.payload_digest import is_erased

CHANNELS = ("phone", "window", "online")
"""How it reached the centre: the 9618 line, in person at a window or station, the web form."""
KINDS = ("consultation", "complaint")
ANSWER_DAYS: Mapping[str, int] = {"consultation": 5, "complaint": 15}
"""Working days a department has to answer, counted from the day of recording (the only
place these figures live; docs/consultations.md quotes them)."""
TEXT_MAX = 2000
ANSWER_MIN = 5
CONSULTATION_FIGURES = ("received", "answered", "answered_on_time", "overdue")
"""A department's figures of each kind in the period reports (docs/consultations.md)."""
CONSULTATION_COLUMNS = ("department", *(f"{kind}_{figure}" for kind in ("consultations",
                                                                         "complaints")
                                        for figure in CONSULTATION_FIGURES))
"""The flat columns of a department's figures in the report's CSV and PDF
(``consultations_received`` ... ``complaints_overdue``)."""


def _text(value: object, field: str, *, least: int = 1) -> str:
    if not isinstance(value, str) or len(value.strip()) < least:
        raise InvalidInput(field, "required text" if least == 1
                           else f"at least {least} characters")
    text = value.strip()
    if len(text) > TEXT_MAX:
        raise InvalidInput(field, f"at most {TEXT_MAX} characters")
    return text


def _choice(value: object, field: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InvalidInput(field, f"must be one of {', '.join(choices)}")
    return str(value)


def _code(value: object, field: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 40:
        raise InvalidInput(field, "a code of at most 40 characters")
    return value.strip()


def check_recorded(p: Mapping[str, Any], prefix: str = "payload.") -> dict[str, Any]:
    """The recording's fields once each is valid: channel, kind, the person's name and
    mobile phone, the text, the department it is assigned to, and optionally the case
    (acceptance number) or item it concerns. Every bad field is named at once
    (:class:`Problems`, each under ``prefix``)."""
    problems: dict[str, str] = {}
    out: dict[str, Any] = {}
    if is_erased(p):  # its person and words erased with the case: what is counted stays
        _choice(p.get("channel"), f"{prefix}channel", CHANNELS)
        _choice(p.get("kind"), f"{prefix}kind", KINDS)
        return {k: v for k, v in p.items() if k in ("channel", "kind", "department")}
    checks: dict[str, Callable[[object, str], Any]] = {
        "channel": lambda v, f: _choice(v, f, CHANNELS),
        "kind": lambda v, f: _choice(v, f, KINDS),
        "name": validate_name, "phone": validate_phone, "text": _text,
        "department": _required_code, "acceptance_no": _code, "item_code": _code}
    for key, check in checks.items():
        try:
            value = check(p.get(key), f"{prefix}{key}")
        except InvalidInput as exc:
            problems.update(exc.fields)
            continue
        if value is not None:
            out[key] = value
    if problems:
        raise Problems(problems, "the consultation is not complete or not valid")
    return out


def _required_code(value: object, field: str) -> str:
    code = _code(value, field)
    if code is None:
        raise InvalidInput(field, "required: the department that answers")
    return code


def check_answered(p: Mapping[str, Any], prefix: str = "payload.") -> None:
    """An answer names the recording event (origin, epoch, seq) and says what was answered."""
    ref = p.get("consultation")
    if not isinstance(ref, Mapping) or not isinstance(ref.get("origin"), str):
        raise InvalidInput(f"{prefix}consultation", "the recording event's origin, epoch, seq")
    for part in ("epoch", "seq"):
        value = ref.get(part)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InvalidInput(f"{prefix}consultation.{part}", "a whole number from 1")
    if not is_erased(p):  # an erased answer keeps only its reference
        _text(p.get("answer"), f"{prefix}answer", least=ANSWER_MIN)


def answered_payload(origin: str, epoch: int, seq: int, text: object) -> dict[str, Any]:
    """The ``consultation_answered`` payload: the recording event it answers and the
    answer's words, checked (:class:`InvalidInput` names ``answer``). The one builder of it,
    wherever the department answers (the hub, a township's or county's own site)."""
    payload = {"consultation": {"origin": origin, "epoch": epoch, "seq": seq},
               "answer": text.strip() if isinstance(text, str) else text}
    check_answered(payload, prefix="")
    return payload


def answered_key(p: Mapping[str, Any]) -> tuple[str, int, int] | None:
    """The recording event ``(origin, epoch, seq)`` an answer's payload names (None when it
    names none)."""
    ref = p.get("consultation")
    if not isinstance(ref, Mapping):
        return None
    origin, epoch, seq = ref.get("origin"), ref.get("epoch"), ref.get("seq")
    if not isinstance(origin, str) or not isinstance(epoch, int) or not isinstance(seq, int):
        return None
    return origin, epoch, seq


def assigned(catalogue: Catalogue, item_code: object, department: object
             ) -> tuple[str | None, str]:
    """``(item code, department)`` that answers: the item's department when it concerns an
    item (a case's item included; a department given is then ignored), else the department
    given, which the catalogue must know. :class:`InvalidInput` names the field."""
    if isinstance(item_code, str) and item_code.strip():
        try:
            item = catalogue.item(item_code.strip())
        except DomainError:
            raise InvalidInput("item_code", "no such item in the catalogue") from None
        return item.code, item.department
    if not isinstance(department, str) or not department.strip():
        raise InvalidInput("department", "required: the department that answers")
    try:
        return None, catalogue.department(department.strip()).code
    except DomainError:
        raise InvalidInput("department", "no such department in the catalogue") from None


def answer_due(calendar: WorkingDayCalendar, kind: str, recorded_at: datetime) -> datetime:
    """The end of the last working day the department has to answer (:data:`ANSWER_DAYS`)."""
    day: date = calendar.add_working_days(local_date(recorded_at), ANSWER_DAYS[kind])
    return end_of_day(day)


def recorded_payload(catalogue: Catalogue, body: Mapping[str, Any], case_item: str | None,
                     problems: dict[str, str]) -> dict[str, Any]:
    """The ``consultation_recorded`` payload of a recording as the API or a page takes it,
    assigned to its department (``case_item``: the item of the case it concerns, if any);
    :class:`Problems` naming every bad field with the caller's ``problems``."""
    fields = dict(body)
    try:
        fields["item_code"], fields["department"] = assigned(
            catalogue, case_item if case_item is not None else body.get("item_code"),
            body.get("department"))
    except InvalidInput as exc:  # named with the fields' own problems
        problems.update(exc.fields)
        fields["department"] = body.get("department") or "?"
    payload: dict[str, Any] = {}
    try:
        payload = check_recorded(fields, prefix="")
    except InvalidInput as exc:
        problems = {**exc.fields, **problems}
    if problems:
        raise Problems(problems, "the consultation is not complete or not valid")
    return payload


@dataclass(frozen=True, slots=True)
class Recorded:
    """What recording answers at any site: the consultation's id, the case it concerns,
    the department it is assigned to and its deadline."""

    id: uuid.UUID
    case_id: uuid.UUID | None
    department: str
    due: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"id": str(self.id), "case_id": str(self.case_id) if self.case_id else None,
                "department": self.department, "due": self.due.isoformat()}


def flat_figures(figures: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A report's ``consultations`` rows (per department, a mapping of figures per kind)
    with one column per kind and figure (:data:`CONSULTATION_COLUMNS`), as the CSV and the
    PDF print them."""
    return [{"department": row["department"],
             **{f"{kind}_{figure}": row[kind][figure]
                for kind in ("consultations", "complaints") for figure in CONSULTATION_FIGURES}}
            for row in figures]
