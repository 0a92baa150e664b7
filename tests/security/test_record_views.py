"""Every view of a case's full record by staff is written to the audit log first: who,
when, which case, why (PIPL art. 51; ASVS 8.3.5). A view whose row cannot be written shows
nothing; a view refused (another window's case, a wrong reason) writes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from hub.db_session import app_session
from shared.storage.record_views import RecordView
from tests.hub.conftest import ID_NUMBER, WINDOW, Hub, User, register_at_hub

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
USERS: Sequence[User] = [("own", "window_operator", WINDOW),
                         ("other", "window_operator", "W-NY-01"),
                         ("chief", "supervisor", None),
                         ("desk", "agent", None)]


@pytest.fixture
def hub(make_hub: Callable[[datetime, Sequence[User]], Hub]) -> Hub:
    return make_hub(NOW, USERS)


def _rows(hub: Hub) -> list[tuple[str, str, uuid.UUID, str, str, str]]:
    with app_session(hub.app) as session:
        return [(r.username, r.role, r.case_id, r.reason, r.note, r.endpoint)
                for r in session.scalars(select(RecordView).order_by(RecordView.id))]


def test_a_case_page_and_its_scan_and_result_are_logged_before_they_are_shown(
    hub: Hub,
) -> None:
    case_id, _ = register_at_hub(hub)
    own = hub.login("own")
    page = own.get(f"/windows/cases/{case_id}")
    assert page.status_code == 200 and "李四" in page.get_data(as_text=True)
    assert _rows(hub) == [("own", "window_operator", case_id, "processing", "",
                           "windows.case_page")]
    own.get(f"/materials/case/{case_id}/0")
    assert [r[5] for r in _rows(hub)][-1] == "materials.case_material"


def test_a_supervisor_says_why_and_the_default_is_supervision(hub: Hub) -> None:
    case_id, _ = register_at_hub(hub)
    chief = hub.login("chief")
    assert chief.get(f"/windows/cases/{case_id}").status_code == 200
    asked = chief.get(f"/windows/cases/{case_id}",
                      query_string={"reason": "complaint", "note": "12345 热线\r\n投诉 #88"})
    assert asked.status_code == 200
    assert [(r[0], r[3], r[4]) for r in _rows(hub)] == [
        ("chief", "supervision", ""), ("chief", "complaint", "12345 热线 投诉 #88")]


def test_a_wrong_reason_or_another_windows_case_shows_and_writes_nothing(hub: Hub) -> None:
    case_id, _ = register_at_hub(hub)
    own = hub.login("own")
    wrong = own.get(f"/windows/cases/{case_id}", query_string={"reason": "curiosity"})
    assert wrong.status_code == 400 and "李四" not in wrong.get_data(as_text=True)
    long_note = own.get(f"/windows/cases/{case_id}",
                        query_string={"reason": "audit", "note": "x" * 201})
    assert long_note.status_code == 400
    other = hub.login("other")
    assert other.get(f"/windows/cases/{case_id}").status_code == 404
    assert _rows(hub) == []


def test_a_view_whose_row_cannot_be_written_shows_nothing(hub: Hub) -> None:
    case_id, _ = register_at_hub(hub)
    with app_session(hub.app) as session:
        session.execute(text("ALTER TABLE record_views RENAME TO record_views_gone"))
        session.commit()
    page = hub.login("own").get(f"/windows/cases/{case_id}")
    assert page.status_code in (500, 503)  # the row could not be written: no page
    body = page.get_data(as_text=True)
    assert "李四" not in body and ID_NUMBER not in body


def test_the_audit_page_lists_views_for_supervisors_only(hub: Hub) -> None:
    case_id, _ = register_at_hub(hub)
    hub.login("own").get(f"/windows/cases/{case_id}")
    chief = hub.login("chief")
    listed = chief.get("/admin/record-views", query_string={"case_id": str(case_id)})
    assert listed.status_code == 200
    page = listed.get_data(as_text=True)
    assert str(case_id) in page and ">own <small>window_operator" in page
    assert ID_NUMBER not in page and "李四" not in page
    nothing = chief.get("/admin/record-views", query_string={"case_id": str(uuid.uuid4())})
    assert str(case_id) not in nothing.get_data(as_text=True)
    assert chief.get("/admin/record-views", query_string={"case_id": "x"}).status_code == 400
    assert hub.login("own").get("/admin/record-views").status_code == 403
    assert hub.login("desk").get("/admin/record-views").status_code == 403


def test_views_older_than_the_audit_logs_are_kept_are_deleted_by_the_erasure_run(
        hub: Hub) -> None:
    from datetime import timedelta

    from hub.background import run_erasure

    case_id, _ = register_at_hub(hub)
    hub.login("own").get(f"/windows/cases/{case_id}")
    hub.clock.now = NOW + timedelta(days=3 * 365 - 1)  # the default: three years
    run_erasure(hub.app)
    assert len(_rows(hub)) == 1
    hub.clock.now = NOW + timedelta(days=3 * 365 + 1)
    hub.login("own").get(f"/windows/cases/{case_id}")  # a view of today stays
    run_erasure(hub.app)
    assert [r[0] for r in _rows(hub)] == ["own"]
    with app_session(hub.app) as session:
        newest = session.scalars(select(RecordView)).one()
    assert newest.at_ms > int(NOW.timestamp() * 1000) + 3 * 365 * 86_400_000
