"""A village station's copy of its bookings in the node's real SQLite store: names and
phones are sealed (the database file alone shows neither), the copy answers a day it holds
while the link is down and says when it was read, a day it does not hold is not answered,
another station's bookings are not kept, and days gone by are deleted."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

from flask import Flask

from node.db_session import app_session
from node.hall_station import NodeStationBookings, refresh_copy
from node.models import NodeStationBookingCopy
from node.sealing import DataSealer
from shared.storage.sealing import DataKeyHolder
from shared.web.hall_station_bookings import StationAnswer
from tests.node.conftest import SITE, Clock, node_services

DAY = date(2025, 3, 3)  # the clock's day in Shanghai
NAME, PHONE = "王小明", "13912345678"


def _answer(through: date) -> StationAnswer:
    booking = {"code": "ABCD2345", "date": (DAY + timedelta(days=1)).isoformat(),
               "time": "09:00", "name": NAME, "phone": PHONE, "item_code": None,
               "state": "booked"}
    return StationAnswer(200, [booking], answered_by="431000", as_of="",
                         through=through.isoformat())


def _rows(app: Flask) -> list[tuple[str, str]]:
    with app_session(app) as session:
        return [(r.station, r.day) for r in session.query(NodeStationBookingCopy)
                .order_by(NodeStationBookingCopy.day)]


def test_the_copy_is_sealed_and_answers_the_days_it_holds(app: Flask, clock: Clock) -> None:
    site = NodeStationBookings(node_services(app))
    with app_session(app) as session:
        site.keep(session, SITE, DAY, _answer(DAY + timedelta(days=2)))
    assert _rows(app) == [(SITE, "2025-03-03"), (SITE, "2025-03-04"), (SITE, "2025-03-05")]
    with app_session(app) as session:
        sealed = [r.bookings_sealed for r in session.query(NodeStationBookingCopy)]
    assert not any(NAME.encode() in s or PHONE.encode() in s for s in sealed)
    data_dir = Path(node_services(app).settings.data_dir)
    db_files = list(data_dir.glob("node.sqlite*"))
    assert db_files and not any(PHONE.encode() in f.read_bytes() for f in db_files)

    clock.advance(hours=2)
    with app_session(app) as session:
        tomorrow = site.copy(session, SITE, DAY + timedelta(days=1), DAY + timedelta(days=1))
        empty = site.copy(session, SITE, DAY, DAY)
        all_three = site.copy(session, SITE, DAY, DAY + timedelta(days=2))
        not_held = site.copy(session, SITE, DAY, DAY + timedelta(days=3))
        other = site.copy(session, "431002001202", DAY, DAY)
    assert tomorrow is not None and tomorrow.answered_by == "copy"
    assert [(b["name"], b["phone"], b["time"]) for b in tomorrow.bookings] == [
        (NAME, PHONE, "09:00")]
    assert tomorrow.as_of == "2025-03-03T02:30:00+00:00"  # when it was read, not now
    assert empty is not None and empty.bookings == []  # "none that day" is known offline
    assert all_three is not None and len(all_three.bookings) == 1
    assert not_held is None and other is None


def test_another_stations_answer_is_not_kept(app: Flask) -> None:
    site = NodeStationBookings(node_services(app))
    with app_session(app) as session:
        site.keep(session, "431002001202", DAY, _answer(DAY))
    assert _rows(app) == []


def test_a_new_read_replaces_the_days_it_covers(app: Flask, clock: Clock) -> None:
    site = NodeStationBookings(node_services(app))
    tomorrow = DAY + timedelta(days=1)
    with app_session(app) as session:
        site.keep(session, SITE, DAY, _answer(tomorrow))
    clock.advance(minutes=30)
    cancelled = StationAnswer(200, [dict(_answer(tomorrow).bookings[0], state="cancelled")],
                              answered_by="431000", through=tomorrow.isoformat())
    with app_session(app) as session:
        site.keep(session, SITE, tomorrow, cancelled)
        copy = site.copy(session, SITE, tomorrow, tomorrow)
        today = site.copy(session, SITE, DAY, DAY)
    assert copy is not None and [b["state"] for b in copy.bookings] == ["cancelled"]
    assert copy.as_of == "2025-03-03T03:00:00+00:00"
    assert today is not None and today.as_of == "2025-03-03T02:30:00+00:00"


def test_days_gone_by_are_deleted(app: Flask, clock: Clock) -> None:
    site = NodeStationBookings(node_services(app))
    with app_session(app) as session:
        site.keep(session, SITE, DAY, _answer(DAY + timedelta(days=1)))
    clock.advance(days=1)
    with app_session(app) as session:
        assert site.copy(session, SITE, DAY, DAY) is None  # past its day: never shown
    refresh_copy(app, reached=False)  # a sync run that failed: what is past goes all the same
    assert _rows(app) == [(SITE, "2025-03-04")]
    clock.advance(days=1)
    refresh_copy(app)
    assert _rows(app) == []


def test_nothing_is_kept_or_shown_while_the_data_key_is_locked(app: Flask) -> None:
    node = node_services(app)
    with app_session(app) as session:
        NodeStationBookings(node).keep(session, SITE, DAY, _answer(DAY))
    locked = NodeStationBookings(replace(node, sealer=DataSealer(DataKeyHolder())))
    with app_session(app) as session:
        assert locked.copy(session, SITE, DAY, DAY) is None
        locked.keep(session, SITE, DAY + timedelta(days=1), _answer(DAY + timedelta(days=1)))
    assert _rows(app) == [(SITE, "2025-03-03")]
