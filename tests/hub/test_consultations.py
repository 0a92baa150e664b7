"""Consultations and complaints (咨询投诉) at the hub, through the Flask test client on a real
hub data directory: recorded by a supervisor on the 9618 line and on the public online form,
answered by the department (and by no other), counted in the period report, and a complaint
about a case shown in that case's history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.hub.conftest import Hub, User, hub_maker, register_at_hub

MAY_4 = datetime(2026, 5, 6, 2, 0, tzinfo=UTC)  # a Wednesday, 10:00 in Shanghai
USERS: Sequence[User] = [("sup", "supervisor", None), ("mz-op", "window_operator", "W-MZ-01"),
                         ("mz-head", "department_head", "MZ"),
                         ("sj-op", "window_operator", "W-SJ-01")]
PERSON = {"name": "王五", "phone": "138 0013 8000"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def hub(request: pytest.FixtureRequest, tmp_path: Path) -> Hub:
    """The hub on SQLite, and on a PostgreSQL schema of its own."""
    url = None if request.param == "sqlite" else str(request.getfixturevalue("pg_schema_url"))
    return hub_maker(tmp_path, url)(MAY_4, USERS)


def _record(hub: Hub, body: dict[str, Any], who: str = "sup") -> Any:
    return hub.app.test_client().post("/api/v1/consultations", json=body,
                                      headers=hub.bearer(who))


def test_a_complaint_about_a_case_is_answered_by_its_department_and_shown_to_the_supervisor(
        hub: Hub) -> None:
    case_id, acceptance_no = register_at_hub(hub)
    made = _record(hub, {"channel": "phone", "kind": "complaint", **PERSON,
                         "text": "窗口态度不好,材料要求反复变化", "acceptance_no": acceptance_no})
    assert made.status_code == 201, made.get_json()
    recorded = made.get_json()
    # the department is the case's item's; a complaint has 15 working days: to the end of
    # May 26 in Shanghai (Saturday May 9 is a working day in 2026)
    assert recorded["department"] == "MZ" and recorded["case_id"] == str(case_id)
    assert recorded["due"] == "2026-05-26T16:00:00+00:00"
    client = hub.app.test_client()
    # another department neither sees nor answers it
    other = hub.bearer("sj-op")
    assert client.get(f"/api/v1/consultations/{recorded['id']}", headers=other
                      ).status_code == 404
    refused = client.post(f"/api/v1/consultations/{recorded['id']}/answer",
                          json={"answer": "我们会改进服务"}, headers=other)
    assert refused.status_code == 404
    assert client.get("/api/v1/consultations", headers=other).get_json()["consultations"] == []
    # the department's operator answers it once
    mz = hub.bearer("mz-op")
    shown = client.get(f"/api/v1/consultations/{recorded['id']}", headers=mz).get_json()
    assert (shown["name"], shown["phone"], shown["status"]) == ("王五", "13800138000", "open")
    hub.clock.now = MAY_4 + timedelta(days=2)
    mz = hub.bearer("mz-op")  # a new day, a new token
    answered = client.post(f"/api/v1/consultations/{recorded['id']}/answer",
                           json={"answer": "已约谈窗口人员并一次性告知全部材料"}, headers=mz)
    assert answered.status_code == 200 and answered.get_json()["status"] == "answered"
    again = client.post(f"/api/v1/consultations/{recorded['id']}/answer",
                        json={"answer": "再答复一次试试"}, headers=mz)
    assert again.status_code == 409
    # the case's history shows the complaint and its answer (API and the supervisor's page)
    sup = hub.bearer("sup")
    events = client.get(f"/api/v1/cases/{case_id}", headers=sup).get_json()["events"]
    types = [e["type"] for e in events]
    assert "consultation_recorded" in types and "consultation_answered" in types
    listed = hub.login("sup").get("/consultations").get_data(as_text=True)
    assert f'href="/windows/cases/{case_id}">{acceptance_no}</a>' in listed
    assert "2026-05-06 10:00" in listed and "2026-05-26" in listed  # Shanghai time
    page = hub.login("sup").get(f"/windows/cases/{case_id}").get_data(as_text=True)
    assert 'class="ev-consultation_recorded"' in page and "投诉" in page
    assert 'class="ev-consultation_answered"' in page
    # counted in the month's report, answered on time
    report = client.get("/api/v1/reports/month", query_string={"date": "2026-05-06"},
                        headers=sup).get_json()
    assert report["consultations"] == [{
        "department": "MZ",
        "complaints": {"received": 1, "answered": 1, "answered_on_time": 1, "overdue": 0},
        "consultations": {"received": 0, "answered": 0, "answered_on_time": 0, "overdue": 0}}]
    shown = hub.login("sup").get("/supervision/reports/month?date=2026-05-06")
    table = shown.get_data(as_text=True).split('<table id="consultations">')[1]
    assert "<td>MZ</td><td>投诉</td>" in table.replace("\n", "")


def test_an_online_question_about_an_item_answered_late_counts_overdue(hub: Hub) -> None:
    client = hub.app.test_client()
    page = client.get("/consult")
    assert page.status_code == 200 and len(page.data) < 60_000
    assert b"<script" not in page.data and b'name="csrf_token"' in page.data
    sent = client.post("/consult", data={"kind": "consultation", **PERSON,
                                         "text": "社会团体成立登记需要哪些材料?",
                                         "item_code": "MZ-0520"})
    assert sent.status_code == 200, sent.get_data(as_text=True)
    assert b'id="cons-done"' in sent.data and b"2026-05-12" in sent.data  # the due day
    sup = hub.bearer("sup")
    listed = client.get("/api/v1/consultations", headers=sup).get_json()["consultations"]
    assert [(c["channel"], c["kind"], c["department"], c["item_code"]) for c in listed] == [
        ("online", "consultation", "MZ", "MZ-0520")]
    # five working days: due by the end of May 12; answered by the department head on May 15
    assert listed[0]["due"] == "2026-05-12T16:00:00+00:00"
    hub.clock.now = datetime(2026, 5, 15, 2, 0, tzinfo=UTC)
    answered = client.post(f"/api/v1/consultations/{listed[0]['id']}/answer",
                           json={"answer": "请携带章程、登记申请书等材料"},
                           headers=hub.bearer("mz-head"))
    assert answered.status_code == 200, answered.get_json()
    sup = hub.bearer("sup")
    report = client.get("/api/v1/reports/month", query_string={"date": "2026-05-06"},
                        headers=sup).get_json()
    assert report["consultations"][0]["consultations"] == {
        "received": 1, "answered": 1, "answered_on_time": 0, "overdue": 1}
    # the week it fell due in counts it overdue though it was not yet answered
    week = client.get("/api/v1/reports/week", query_string={"date": "2026-05-13"},
                      headers=sup).get_json()
    assert week["consultations"][0]["consultations"]["overdue"] == 1


def test_bad_fields_are_named_and_nothing_is_recorded(hub: Hub) -> None:
    bad = _record(hub, {"channel": "fax", "kind": "complaint", "name": "王五",
                        "phone": "12345", "text": "x"})
    assert bad.status_code == 400
    assert "channel" in bad.get_json()["error"]["fields"]
    # every bad field at once
    phone = _record(hub, {"channel": "phone", "kind": "complaint", "name": "王五",
                          "phone": "12345", "text": "  "})
    assert phone.status_code == 400
    assert set(phone.get_json()["error"]["fields"]) == {"phone", "text", "department"}
    nobody = _record(hub, {"channel": "phone", "kind": "consultation", **PERSON,
                           "text": "问一下"})
    assert nobody.get_json()["error"]["fields"] == {
        "department": "required: the department that answers"}
    case = _record(hub, {"channel": "window", "kind": "complaint", **PERSON, "text": "投诉",
                         "acceptance_no": "431000-20260101-9999"})
    assert case.get_json()["error"]["fields"]["acceptance_no"] == (
        "no case with this acceptance number")
    item = _record(hub, {"channel": "window", "kind": "consultation", **PERSON,
                         "text": "问", "item_code": "NO-SUCH"})
    assert set(item.get_json()["error"]["fields"]) == {"item_code"}
    client = hub.app.test_client()
    form = client.post("/consult", data={"kind": "consultation", "name": "王五",
                                         "phone": "1380013", "text": "问",
                                         "department": "MZ"})
    assert form.status_code == 400 and b"phone" in form.data
    assert client.get("/api/v1/consultations", headers=hub.bearer("sup")
                      ).get_json()["consultations"] == []
    # nobody records without signing in
    assert hub.app.test_client().post("/api/v1/consultations", json={}).status_code == 401


def test_the_same_form_or_key_sent_twice_records_once(hub: Hub) -> None:
    client = hub.app.test_client()
    shown = client.get("/consult").get_data(as_text=True)
    submission = shown.split('name="submission" value="')[1].split('"')[0]
    form = {"kind": "consultation", **PERSON, "text": "几点下班?", "department": "MZ",
            "submission": submission}
    first, again = client.post("/consult", data=form), client.post("/consult", data=form)
    assert first.status_code == again.status_code == 200
    number = first.get_data(as_text=True).split('id="cons-done"')[1].split("<b>")[1][:36]
    assert number in again.get_data(as_text=True)
    headers = {**hub.bearer("sup"), "Idempotency-Key": "call-0001"}
    body = {"channel": "phone", "kind": "complaint", **PERSON, "text": "来电投诉",
            "department": "MZ"}
    calls = [client.post("/api/v1/consultations", json=body, headers=headers)
             for _ in range(2)]
    assert [c.status_code for c in calls] == [201, 201]
    assert calls[0].get_json() == calls[1].get_json()
    other = client.post("/api/v1/consultations", json={**body, "text": "另一件事"},
                        headers=headers)
    assert other.status_code == 409
    listed = client.get("/api/v1/consultations", headers=hub.bearer("sup")).get_json()
    assert len(listed["consultations"]) == 2


def test_the_online_form_is_limited_per_address(hub: Hub) -> None:
    client = hub.app.test_client()
    body = {"kind": "consultation", **PERSON, "text": "办理时间是什么时候?",
            "department": "MZ"}
    answers = [client.post("/api/v1/public/consultations", json=body).status_code
               for _ in range(6)]
    assert answers == [201] * 5 + [429]


def test_the_staff_page_records_a_call_and_the_department_answers_on_it(hub: Hub) -> None:
    supervisor = hub.login("sup")
    page = supervisor.get("/consultations")
    assert page.status_code == 200 and len(page.data) < 60_000 and b"<script" not in page.data
    taken = supervisor.post("/consultations", data={
        "channel": "phone", "kind": "complaint", **PERSON, "text": "9618来电:窗口无人",
        "acceptance_no": "", "item_code": "", "department": "MZ"})
    assert taken.status_code == 200 and b'id="cons-message"' in taken.data
    bad = supervisor.post("/consultations", data={
        "channel": "phone", "kind": "complaint", "name": "王五", "phone": "1",
        "text": "再来电", "department": "MZ"})
    assert bad.status_code == 400 and b"phone" in bad.data
    # the other department lists nothing; the department's head gets the answer box
    assert b"answer_id" not in hub.login("sj-op").get("/consultations").data
    head = hub.login("mz-head")
    listed = head.get("/consultations").get_data(as_text=True)
    consultation = listed.split('name="answer_id" value="')[1].split('"')[0]
    answered = head.post("/consultations", data={"answer_id": consultation,
                                                 "answer": "已安排专人值守窗口"})
    assert answered.status_code == 200 and b"answer_id" not in answered.data
    shown = hub.app.test_client().get(f"/api/v1/consultations/{consultation}",
                                      headers=hub.bearer("sup")).get_json()
    assert (shown["channel"], shown["status"], shown["answer"]) == (
        "phone", "answered", "已安排专人值守窗口")
