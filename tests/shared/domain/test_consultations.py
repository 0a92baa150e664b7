"""The rules every site shares for consultations and complaints (咨询投诉): the fields, the
department that answers, the deadlines, and what survives the case's erasure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.domain.case_events import EventType, check_payload
from shared.domain.catalogue_loader import load_sample_catalogue
from shared.domain.consultations import ANSWER_DAYS, answer_due, assigned, check_recorded
from shared.domain.errors import InvalidInput
from shared.domain.retention import erased_payload
from shared.domain.working_days import WorkingDayCalendar

RECORDED = {"channel": "phone", "kind": "complaint", "name": "王五", "phone": "+86 138-0013-8000",
            "text": "窗口无人", "department": "MZ", "acceptance_no": "431000-20260506-0001"}


def test_a_recording_is_tidied_and_every_bad_field_named_at_once() -> None:
    assert check_recorded(RECORDED, prefix="")["phone"] == "13800138000"
    with pytest.raises(InvalidInput) as bad:
        check_recorded({"channel": "fax", "kind": "praise", "name": "", "phone": "1",
                        "text": " "}, prefix="")
    assert set(bad.value.fields) == {"channel", "kind", "name", "phone", "text",
                                     "department"}


def test_the_item_decides_the_department_else_the_one_given_must_exist() -> None:
    catalogue = load_sample_catalogue()
    assert assigned(catalogue, "MZ-0520", "SJ") == ("MZ-0520", "MZ")
    assert assigned(catalogue, None, "SJ") == (None, "SJ")
    for item, department, field in (("NO-SUCH", None, "item_code"), (None, None, "department"),
                                     (None, "XX", "department")):
        with pytest.raises(InvalidInput) as bad:
            assigned(catalogue, item, department)
        assert set(bad.value.fields) == {field}


def test_a_question_has_five_working_days_and_a_complaint_fifteen() -> None:
    assert ANSWER_DAYS == {"consultation": 5, "complaint": 15}
    calendar = WorkingDayCalendar.standard()
    friday = datetime(2026, 6, 5, 2, 0, tzinfo=UTC)
    # Monday 8th to Friday 12th: the end of Friday in Shanghai
    assert answer_due(calendar, "consultation", friday) == datetime(2026, 6, 12, 16, 0,
                                                                    tzinfo=UTC)


def test_erasure_takes_the_person_and_the_words_and_keeps_what_is_counted() -> None:
    recorded = erased_payload("consultation_recorded", check_recorded(RECORDED))
    assert not {"name", "phone", "text"} & set(recorded)
    assert (recorded["kind"], recorded["department"]) == ("complaint", "MZ")
    check_payload(EventType.CONSULTATION_RECORDED, recorded)  # still a valid event
    answered = erased_payload("consultation_answered", {
        "consultation": {"origin": "431000", "epoch": 1, "seq": 3}, "answer": "已约谈窗口人员"})
    assert "answer" not in answered
    check_payload(EventType.CONSULTATION_ANSWERED, answered)
