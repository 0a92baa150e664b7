"""A station's bookings of several days in one request (what a village station's copy is
refreshed with): each booking names its day, the answer stops at the hall's last bookable
day and says so, a bad range is refused naming ``through``, and a relay signed for one day
cannot stand for a range."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

from hub.db_session import app_session
from hub.models import HubSite
from shared.web.hall_station_bookings import relay_pair
from tests.hub.conftest import WINDOW, Hub, User
from tests.hub.test_hall import DAY, STATION, _book, _hall, at

API = "/api/v1/hall/station-bookings"


def _station_hub(make_hub: Callable[..., Hub]) -> Hub:
    hub = make_hub(at(8, 30), [("sup", "supervisor", None)])
    _hall(hub, areas=[{"code": "A", "name": "民政", "windows": [WINDOW]}], days_ahead=3)
    with app_session(hub.app) as session:
        session.add(HubSite(code=STATION, name="良田村便民服务站", tier="village",
                            parent="431002001", created_ms=0))
        session.commit()
    return hub


def test_one_request_answers_every_day_to_the_last_bookable_one(
        make_hub: Callable[[object, Sequence[User]], Hub]) -> None:
    hub = _station_hub(make_hub)
    assert _book(hub, "13800138001", target=STATION).status_code == 201
    assert _book(hub, "13800138002", target=STATION, time="10:00",
                 day="2026-12-10").status_code == 201
    read = hub.app.test_client().get(API, headers=hub.bearer("sup"), query_string={
        "station": STATION, "date": DAY, "through": "2026-12-31"})
    assert read.status_code == 200, read.get_json()
    body = read.get_json()
    assert body["through"] == "2026-12-11"  # today and 3 days ahead
    assert [(b["date"], b["time"], b["phone"]) for b in body["bookings"]] == [
        (DAY, "09:00", "13800138001"), ("2026-12-10", "10:00", "13800138002")]
    one = hub.app.test_client().get(API, headers=hub.bearer("sup"), query_string={
        "station": STATION, "date": "2026-12-10"}).get_json()
    assert one["through"] == "2026-12-10" and [b["phone"] for b in one["bookings"]] == [
        "13800138002"]


def test_a_bad_range_is_refused_naming_through(
        make_hub: Callable[[object, Sequence[User]], Hub]) -> None:
    hub = _station_hub(make_hub)
    for through in ("2026-12-07", "2027-06-01", "soon"):
        refused = hub.app.test_client().get(API, headers=hub.bearer("sup"), query_string={
            "station": STATION, "date": DAY, "through": through})
        assert refused.status_code == 400, through
        assert set(refused.get_json()["error"]["fields"]) == {"through"}


def test_a_relay_for_one_day_cannot_stand_for_a_range() -> None:
    day = date(2026, 12, 8)
    assert relay_pair(STATION, day) == relay_pair(STATION, day, day)
    assert relay_pair(STATION, day, date(2026, 12, 9)) != relay_pair(STATION, day)
