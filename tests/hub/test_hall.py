"""The city hall (政务大厅): a slot takes its limit of bookings and refuses the next with a
clear error (also when two requests want the last place at once, on PostgreSQL); a cancel
gives the place back; a window calls a booking due now before an older walk-in, else first
come first served; the wait is recorded and reported; the board shows the calls and the
counts waiting; the public pages are small and carry no script."""

from __future__ import annotations

import json
import logging
import subprocess
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import TestResponse

from hub.background import run_erasure
from hub.db_session import app_session
from hub.hall_models import HubHallBooking, Personal, open_personal
from hub.models import HubSite
from shared.storage.accounts import add_user
from tests.hub.conftest import PASSWORD, WINDOW, Hub, User, hub_maker

SHANGHAI_OFFSET = timedelta(hours=8)
DAY = "2026-12-08"  # a Tuesday, a working day

USERS: Sequence[User] = [("op1", "window_operator", WINDOW), ("sup", "supervisor", None),
                         ("op2", "window_operator", "W-MZ-02")]
STATION = "431002001001"


def at(hour: int, minute: int) -> datetime:
    """``hour:minute`` of :data:`DAY` in Shanghai, as the hub's (UTC) clock reads it."""
    return datetime(2026, 12, 8, hour, minute, tzinfo=UTC) - SHANGHAI_OFFSET


def _hall(hub: Hub, **config: Any) -> None:
    path = Path(hub.services.settings.data_dir) / "hall.json"
    path.write_text(json.dumps(config), encoding="utf-8")


def _book(hub: Hub, phone: str, time: str = "09:00", target: str = WINDOW,
          name: str = "张三", day: str = DAY) -> TestResponse:
    return hub.app.test_client().post("/api/v1/hall/bookings", json={
        "target": target, "date": day, "time": time, "name": name, "phone": phone})


def _free(hub: Hub, time: str, target: str = WINDOW) -> int:
    answer = hub.app.test_client().get(f"/api/v1/hall/slots?target={target}&date={DAY}")
    assert answer.status_code == 200, answer.get_json()
    return next(s["free"] for s in answer.get_json()["slots"] if s["time"] == time)


@pytest.fixture
def hub(make_hub: Callable[[datetime, Sequence[User]], Hub]) -> Hub:
    made = make_hub(at(8, 30), USERS)
    _hall(made, areas=[{"code": "A", "name": "民政", "windows": [WINDOW, "W-MZ-02"]}],
          window_capacity=2, bookings_per_phone=2)
    return made


def test_a_slot_takes_its_limit_refuses_the_next_and_a_cancel_frees_a_place(hub: Hub) -> None:
    assert _free(hub, "09:00") == 2
    first = _book(hub, "13800138001")
    assert first.status_code == 201, first.get_json()
    assert _book(hub, "13800138002").status_code == 201
    assert _free(hub, "09:00") == 0

    refused = _book(hub, "13800138003")
    assert refused.status_code == 409
    error = refused.get_json()["error"]
    assert "fully booked" in error["fields"]["slot"]

    code = first.get_json()["code"]
    wrong = hub.app.test_client().post(f"/api/v1/hall/bookings/{code}/cancel",
                                       json={"phone": "13900139000"})
    assert wrong.status_code == 404 and _free(hub, "09:00") == 0
    cancelled = hub.app.test_client().post(f"/api/v1/hall/bookings/{code}/cancel",
                                           json={"phone": "13800138001"})
    assert cancelled.status_code == 200 and cancelled.get_json()["state"] == "cancelled"
    assert _free(hub, "09:00") == 1
    assert _book(hub, "13800138003").status_code == 201
    again = hub.app.test_client().post(f"/api/v1/hall/bookings/{code}/cancel",
                                       json={"phone": "13800138001"})
    assert again.status_code == 409


def test_bad_bookings_are_refused_naming_the_field_and_nothing_is_taken(hub: Hub) -> None:
    cases = [({"phone": "12345"}, "phone"), ({"time": "09:10"}, "slot"),
             ({"day": "2026-12-12"}, "slot"),  # a Saturday
             ({"time": "08:00"}, "slot"), ({"target": "NOPE"}, "target"),
             ({"name": "\u202e张三"}, "name")]
    for change, field in cases:
        args: dict[str, Any] = {"phone": "13800138001", **change}
        answer = _book(hub, **args)
        assert answer.status_code == 400, (change, answer.get_json())
        assert field in answer.get_json()["error"]["fields"], (change, answer.get_json())
    assert _free(hub, "09:00") == 2
    missing = hub.app.test_client().post("/api/v1/hall/bookings", json={"target": WINDOW})
    assert missing.status_code == 400
    assert {"date", "time", "name", "phone"} <= set(missing.get_json()["error"]["fields"])


def test_one_phone_holds_a_limited_number_of_bookings(hub: Hub) -> None:
    assert _book(hub, "13800138001", "09:00").status_code == 201
    assert _book(hub, "13800138001", "09:30").status_code == 201
    third = _book(hub, "13800138001", "10:00")
    assert third.status_code == 409 and "phone" in third.get_json()["error"]["fields"]


@pytest.mark.postgres
def test_two_requests_for_the_last_place_at_once_get_it_once(
        tmp_path: Path, pg_schema_url: str) -> None:
    hub = hub_maker(tmp_path, pg_schema_url)(at(8, 30), USERS)
    _hall(hub, areas=[{"code": "A", "name": "民政", "windows": [WINDOW]}], window_capacity=1)
    start = threading.Barrier(2)
    answers: list[int] = []

    def one(phone: str) -> None:
        start.wait(timeout=10)
        answers.append(_book(hub, phone).status_code)

    threads = [threading.Thread(target=one, args=(p,)) for p in ("13800138001", "13800138002")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(answers) == [201, 409]
    assert _free(hub, "09:00") == 0


def _ticket(hub: Hub, **body: str) -> dict[str, Any]:
    answer = hub.app.test_client().post("/api/v1/hall/tickets", json=body)
    assert answer.status_code == 201, answer.get_json()
    found: dict[str, Any] = answer.get_json()
    return found


def _call(hub: Hub, headers: dict[str, str], action: str = "next",
          window: str = WINDOW) -> dict[str, Any] | None:
    answer = hub.app.test_client().post(f"/api/v1/hall/windows/{window}/call",
                                        json={"action": action}, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    ticket: dict[str, Any] | None = answer.get_json()["ticket"]
    return ticket


def test_a_booking_at_its_time_is_called_before_an_older_walk_in_else_first_come(
        hub: Hub) -> None:
    booking = _book(hub, "13800138001", "09:00").get_json()
    hub.clock.now = at(8, 40)
    walk_in = _ticket(hub, area="A")
    assert walk_in["label"] == "A001"
    hub.clock.now = at(8, 50)
    checked_in = _ticket(hub, booking_code=booking["code"], phone="13800138001")
    assert checked_in["label"] == "A002" and checked_in["booking"] is True
    hub.clock.now = at(8, 52)
    later = _ticket(hub, area="A")
    assert later["waiting_ahead"] == 2

    operator = hub.bearer("op1")
    hub.clock.now = at(8, 55)
    assert _call(hub, operator)["label"] == "A002"  # the booking, due at 09:00
    hub.clock.now = at(9, 5)
    assert _call(hub, operator)["label"] == "A001"  # then the oldest walk-in
    hub.clock.now = at(9, 8)
    third = _call(hub, operator)
    assert third is not None and third["label"] == "A003"
    hub.clock.now = at(9, 9)
    assert _call(hub, operator) is None  # nobody waits; A003 was finished

    state = hub.app.test_client().get(f"/api/v1/hall/windows/{WINDOW}", headers=operator)
    assert state.get_json()["current"] is None and state.get_json()["waiting"] == 0


def test_a_booking_of_another_window_waits_for_its_own_window_while_due(hub: Hub) -> None:
    other = _book(hub, "13800138001", "09:00", target="W-MZ-02").get_json()
    hub.clock.now = at(8, 50)
    _ticket(hub, booking_code=other["code"], phone="13800138001")
    walk_in = _ticket(hub, area="A")
    hub.clock.now = at(8, 55)
    assert _call(hub, hub.bearer("op1"))["label"] == walk_in["label"]
    assert _call(hub, hub.bearer("op2"), window="W-MZ-02")["label"] == "A001"


def test_an_operator_calls_for_their_own_window_only(hub: Hub) -> None:
    answer = hub.app.test_client().post("/api/v1/hall/windows/W-MZ-02/call",
                                        json={"action": "next"}, headers=hub.bearer("op1"))
    assert answer.status_code == 403
    stranger = hub.app.test_client().post(f"/api/v1/hall/windows/{WINDOW}/call",
                                          json={"action": "next"})
    assert stranger.status_code == 401


def test_the_wait_is_recorded_and_reported_per_area_and_window(hub: Hub) -> None:
    booking = _book(hub, "13800138001", "09:00").get_json()
    hub.clock.now = at(9, 0)
    walk_in = _ticket(hub, area="A")
    hub.clock.now = at(9, 1)
    _ticket(hub, booking_code=booking["code"], phone="13800138001")
    operator = hub.bearer("op1")
    hub.clock.now = at(9, 4)
    first = _call(hub, operator)
    assert first is not None and first["booking"] and first["waited_minutes"] == 4.0
    hub.clock.now = at(9, 12)
    second = _call(hub, operator)
    assert second is not None and second["label"] == walk_in["label"]
    assert second["waited_minutes"] == 12.0
    _call(hub, operator, "no_show")

    report = hub.app.test_client().get(f"/api/v1/reports/day?date={DAY}",
                                       headers=hub.bearer("sup"))
    assert report.status_code == 200, report.get_json()
    waiting = report.get_json()["waiting"]
    assert waiting["areas"] == [{"area": "A", "called": 2, "average_minutes": 8.0,
                                 "max_minutes": 12.0}]
    assert waiting["windows"] == [{"window": WINDOW, "called": 2, "average_minutes": 8.0,
                                   "max_minutes": 12.0}]
    assert "rows" in report.get_json() and "one_forms" in report.get_json()


def test_the_board_shows_the_last_calls_and_the_counts_waiting(hub: Hub) -> None:
    for _ in range(3):
        _ticket(hub, area="A")
    _call(hub, hub.bearer("op1"))
    hub.clock.now = at(8, 31)
    _call(hub, hub.bearer("op2"), window="W-MZ-02")
    _call(hub, hub.bearer("op2"), "recall", window="W-MZ-02")
    page = hub.app.test_client().get("/board").get_data(as_text=True)
    calling = page[page.index('id="calling"'):page.index('id="waiting"')]
    assert calling.index("A002") < calling.index("A001")
    assert "W-MZ-02 ×2" in calling and WINDOW in calling
    waiting = page[page.index('id="waiting"'):]
    assert 'data-area="A"' in waiting and '<b class="s">1</b>' in waiting


def test_the_kiosk_and_the_calling_page_work_as_plain_pages(hub: Hub) -> None:
    citizen = hub.app.test_client()
    kiosk = citizen.get("/hall/kiosk")
    assert kiosk.status_code == 200 and len(kiosk.data) < 60_000
    assert b"<script" not in kiosk.data
    taken = citizen.post("/hall/kiosk", data={"area": "A"})
    assert taken.status_code == 303
    ticket = citizen.get(taken.headers["Location"])
    assert b"A001" in ticket.data and b"80mm" in ticket.data and len(ticket.data) < 60_000

    operator = hub.login("op1")
    page = operator.get(f"/hall/call/{WINDOW}")
    assert page.status_code == 200 and b'id="waiting">1<' in page.data
    called = operator.post(f"/hall/call/{WINDOW}", data={"action": "next"})
    assert called.status_code == 303
    page = operator.get(f"/hall/call/{WINDOW}")
    assert b'id="current">A001<' in page.data
    assert b'id="go"' in citizen.get(taken.headers["Location"]).data
    other = operator.get("/hall/call/W-MZ-02")
    assert other.status_code == 403


def test_a_station_booking_is_kept_at_the_hub_for_its_staff(hub: Hub) -> None:
    with app_session(hub.app) as session:
        session.add(HubSite(code=STATION, name="良田村便民服务站", tier="village",
                            parent="431002001", created_ms=0))
        session.commit()
    assert _free(hub, "09:00", STATION) == 2
    assert _book(hub, "13800138001", target=STATION).status_code == 201
    listed = hub.app.test_client().get(f"/api/v1/hall/bookings?target={STATION}&date={DAY}",
                                       headers=hub.bearer("sup"))
    assert listed.status_code == 200
    assert [(b["name"], b["phone"], b["time"]) for b in listed.get_json()["bookings"]] == [
        ("张三", "13800138001", "09:00")]
    public = hub.app.test_client().get(f"/api/v1/hall/bookings?target={STATION}&date={DAY}")
    assert public.status_code == 401


def test_the_booking_pages_book_and_cancel(hub: Hub) -> None:
    citizen = hub.app.test_client()
    form = citizen.get(f"/hall/book?target={WINDOW}&date={DAY}")
    assert form.status_code == 200 and b'value="09:00"' in form.data
    assert len(form.data) < 60_000
    booked = citizen.post("/hall/book", data={"target": WINDOW, "date": DAY, "time": "09:00",
                                              "name": "张三", "phone": "13800138001"})
    assert booked.status_code == 200, booked.get_data(as_text=True)
    page = booked.get_data(as_text=True)
    code = page.split('id="booking-code" class="num">')[1].split("<")[0]
    bad = citizen.post("/hall/book", data={"target": WINDOW, "date": DAY, "time": "09:00",
                                           "name": "张三", "phone": "123"})
    assert bad.status_code == 400 and "phone" in bad.get_data(as_text=True)
    cancelled = citizen.post("/hall/cancel", data={"code": code, "phone": "13800138001"})
    assert cancelled.status_code == 200 and b'id="cancelled"' in cancelled.data
    assert _free(hub, "09:00") == 2


def test_a_station_s_bookings_are_read_by_the_hub_s_staff_not_by_another_site_s_user(
        hub: Hub) -> None:
    with app_session(hub.app) as session:
        session.add(HubSite(code=STATION, name="良田村便民服务站", tier="village",
                            parent="431002001", created_ms=0))
        add_user(session, username="st-agent", password=PASSWORD, role="agent",
                 site=STATION, now=hub.clock())
        session.commit()
    assert _book(hub, "13800138001", target=STATION).status_code == 201
    staff = hub.app.test_client().get("/api/v1/hall/station-bookings", headers=hub.bearer(
        "sup"), query_string={"station": STATION, "date": DAY})
    assert staff.status_code == 200, staff.get_json()
    assert [b["phone"] for b in staff.get_json()["bookings"]] == ["13800138001"]
    # a station's agent reads them at the station (tests/integration/
    # test_hall_station_bookings.py); at the hub the gate refuses another site's user
    agent = hub.bearer("st-agent")
    for path in ("/api/v1/hall/bookings", "/api/v1/hall/station-bookings"):
        refused = hub.app.test_client().get(path, headers=agent,
                                            query_string={"target": STATION,
                                                          "station": STATION, "date": DAY})
        assert refused.status_code == 403, path


def test_the_report_page_and_pdf_show_the_waiting_times(hub: Hub, tmp_path: Path) -> None:
    hub.clock.now = at(9, 0)
    _ticket(hub, area="A")
    hub.clock.now = at(9, 6)
    _call(hub, hub.bearer("op1"))
    page = hub.login("sup").get(f"/supervision/reports/day?date={DAY}")
    assert page.status_code == 200
    table = page.get_data(as_text=True).split('id="waiting"')[1].split("</table>")[0]
    assert ">6.0<" in table and WINDOW in table
    pdf = hub.app.test_client().get(f"/api/v1/reports/day?date={DAY}&format=pdf",
                                    headers=hub.bearer("sup"))
    assert pdf.status_code == 200
    (tmp_path / "r.pdf").write_bytes(pdf.get_data())
    printed = subprocess.run(["pdftotext", "-layout", str(tmp_path / "r.pdf"), "-"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    waiting = printed.split("大厅排队等候")[1]
    assert "6.0" in waiting and WINDOW in waiting


def test_the_background_erasure_blanks_names_and_phones_a_month_after_the_day(hub: Hub) -> None:
    assert _book(hub, "13800138001").status_code == 201
    hub.clock.now = at(9, 0) + timedelta(days=30)
    run_erasure(hub.app)
    keys = hub.services.data_keys
    with app_session(hub.app) as session:
        kept = session.query(HubHallBooking).one()
        assert open_personal(keys, kept) == Personal("张三", "13800138001")
    hub.clock.now = at(9, 0) + timedelta(days=31)
    run_erasure(hub.app)
    with app_session(hub.app) as session:
        blanked = session.query(HubHallBooking).one()
        assert (blanked.personal, blanked.phone_index, blanked.day) == (None, None, DAY)
        assert open_personal(keys, blanked) == Personal("", "")


@pytest.mark.postgres
def test_two_windows_calling_at_once_never_get_the_same_ticket(
        tmp_path: Path, pg_schema_url: str) -> None:
    hub = hub_maker(tmp_path, pg_schema_url)(at(8, 30), USERS)
    _hall(hub, areas=[{"code": "A", "name": "民政", "windows": [WINDOW, "W-MZ-02"]}])
    only = _ticket(hub, area="A")
    headers = {WINDOW: hub.bearer("op1"), "W-MZ-02": hub.bearer("op2")}
    start = threading.Barrier(2)
    called: list[dict[str, Any] | None] = []

    def one(window: str) -> None:
        start.wait(timeout=10)
        called.append(_call(hub, headers[window], window=window))

    threads = [threading.Thread(target=one, args=(w,)) for w in headers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(called) == 2 and called.count(None) == 1
    assert [t["label"] for t in called if t is not None] == [only["label"]]


def test_the_calling_screen_shows_the_latest_call_first_without_a_cache(hub: Hub) -> None:
    for _ in range(2):
        _ticket(hub, area="A")
    _call(hub, hub.bearer("op1"))
    first = hub.app.test_client().get("/hall/screen")
    assert first.status_code == 200 and len(first.data) < 60_000 and b"<script" not in first.data
    hub.clock.now = at(8, 31)
    _call(hub, hub.bearer("op2"), window="W-MZ-02")
    page = hub.app.test_client().get("/hall/screen").get_data(as_text=True)
    latest = page.split('<tr class="now">')[1].split("</tr>")[0]
    assert "A002" in latest and "W-MZ-02" in latest
    assert '<span data-area="A">' in page and "<b>0</b>" in page


def test_a_booking_texts_its_code_and_time_to_the_phone(
        hub: Hub, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sanji.sms")
    booked = _book(hub, "13800138001", "10:30")
    assert booked.status_code == 201
    texts = [r.fields["text"] for r in caplog.records  # type: ignore[attr-defined]
             if getattr(r, "fields", {}).get("phone") == "138****8001"]
    assert len(texts) == 1
    assert booked.get_json()["code"] in texts[0] and f"{DAY} 10:30" in texts[0]
    assert _book(hub, "13800138002", "10:30", name="").status_code == 400
    assert not [r for r in caplog.records  # a refused booking texts nothing
                if getattr(r, "fields", {}).get("phone") == "138****8002"]


def test_the_guide_offers_a_booking_at_the_item_s_city_window(hub: Hub) -> None:
    page = hub.app.test_client().get("/guide/MZ-0520").get_data(as_text=True)
    link = page.split('id="book-window"')[0].rsplit('<a href="', 1)[1].split('"')[0]
    assert link == f"/hall/book?target={WINDOW}"
    form = hub.app.test_client().get(f"{link}&date={DAY}")
    assert form.status_code == 200 and b'value="09:00"' in form.data
    assert 'id="hall-link"' in page
