"""A booking for a village station is made at the city's site and read at the station over
real processes (hub, township, village): the village's agent sees the name, phone and time,
asked up through the township, which vouches for its child; another station's bookings
and anonymous callers are refused. The station keeps a copy, filled by its sync run and by
each read: with the township down it answers from the copy, saying when it was taken, and a
cancellation made meanwhile shows once the link is back; a day it holds no copy of cannot be
read."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import text

from shared.domain.working_days import SHANGHAI
from shared.storage.db import make_engine
from tests.integration.city import VILLAGE, city
from tests.integration.fault_city import set_sync_interval, wait_until

TIMEOUT = 30


def _bookable(hub_url: str) -> tuple[str, str]:
    """The first day (and its first slot) the station can be booked for."""
    for offset in range(20):
        day = requests.get(f"{hub_url}/api/v1/hall/slots", timeout=TIMEOUT, params={
            "target": VILLAGE, "date": _day(offset)}).json()
        if day["slots"]:
            return day["date"], day["slots"][0]["time"]
    raise AssertionError("no bookable day in the next three weeks")


def _day(offset: int) -> str:
    return (datetime.now(UTC) + timedelta(hours=8, days=offset)).date().isoformat()


@pytest.mark.integration
def test_the_station_reads_its_bookings_from_the_hub_through_the_township(
        tmp_path: Path) -> None:
    with city(tmp_path, {}, depth=3) as tree:
        tree.sync("village")  # the township learns the village's key, as every sync does
        day, time = _bookable(tree.hub.url)
        booked = requests.post(f"{tree.hub.url}/api/v1/hall/bookings", timeout=TIMEOUT,
                               json={"target": VILLAGE, "date": day, "time": time,
                                     "name": "王小明", "phone": "13800138000"})
        assert booked.status_code == 201, booked.text

        agent = tree.agent()
        read = agent.get(f"{tree.village.url}/api/v1/hall/station-bookings",
                         params={"date": day}, timeout=TIMEOUT)
        assert read.status_code == 200, read.text
        body = read.json()
        assert body["station"] == VILLAGE and body["answered_by"] == "431000"
        assert [(b["name"], b["phone"], b["time"], b["code"]) for b in body["bookings"]] == [
            ("王小明", "13800138000", time, booked.json()["code"])]
        page = agent.get(f"{tree.village.url}/hall/station-bookings", params={"date": day},
                         timeout=TIMEOUT)
        assert page.status_code == 200 and "王小明" in page.text and len(page.content) < 60_000

        other = agent.get(f"{tree.village.url}/api/v1/hall/station-bookings",
                          params={"date": day, "station": "431002001202"}, timeout=TIMEOUT)
        assert other.status_code == 403
        anonymous = requests.get(f"{tree.village.url}/api/v1/hall/station-bookings",
                                 params={"date": day}, timeout=TIMEOUT)
        assert anonymous.status_code == 401
        forged = requests.get(f"{tree.hub.url}/api/v1/hall/station-bookings", timeout=TIMEOUT,
                              params={"date": day, "station": VILLAGE},
                              headers={"X-Sanji-Relay": f"{VILLAGE};agent:x;1;00;00"})
        assert forged.status_code == 401

        tree.township.stop()
        never_read = agent.get(f"{tree.village.url}/hall/station-bookings",
                               params={"date": _day(100)}, timeout=TIMEOUT)
        assert never_read.status_code == 503 and 'id="offline"' in never_read.text


@pytest.mark.integration
def test_the_station_answers_from_its_copy_while_the_link_is_down(tmp_path: Path) -> None:
    with city(tmp_path, {}, depth=3) as tree:
        day, time = _bookable(tree.hub.url)
        booked = requests.post(f"{tree.hub.url}/api/v1/hall/bookings", timeout=TIMEOUT,
                               json={"target": VILLAGE, "date": day, "time": time,
                                     "name": "王小明", "phone": "13800138000"})
        assert booked.status_code == 201, booked.text
        code, state = booked.json()["code"], booked.json()["state"]
        agent = tree.agent()
        tree.sync("village")  # the sync run refreshes the copy: nobody has read the page yet

        tree.township.stop()
        api = f"{tree.village.url}/api/v1/hall/station-bookings"
        offline = agent.get(api, params={"date": day}, timeout=TIMEOUT)
        assert offline.status_code == 200, offline.text
        body = offline.json()
        assert body["answered_by"] == "copy" and body["date"] == day
        assert [(b["name"], b["phone"], b["time"], b["code"], b["state"])
                for b in body["bookings"]] == [("王小明", "13800138000", time, code, state)]
        taken = datetime.fromisoformat(body["as_of"])
        page = agent.get(f"{tree.village.url}/hall/station-bookings", params={"date": day},
                         timeout=TIMEOUT)
        shown = taken.astimezone(SHANGHAI).strftime("%H:%M")
        assert page.status_code == 200 and 'id="copy"' in page.text
        assert f"{shown}" in page.text and "王小明" in page.text
        next_day = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
        other_day = agent.get(api, params={"date": next_day}, timeout=TIMEOUT).json()
        assert other_day["answered_by"] == "copy" and other_day["bookings"] == []
        never_read = agent.get(api, params={"date": _day(100)}, timeout=TIMEOUT)
        assert never_read.status_code == 503

        cancelled = requests.post(f"{tree.hub.url}/api/v1/hall/bookings/{code}/cancel",
                                  json={"phone": "13800138000"}, timeout=TIMEOUT)
        assert cancelled.status_code == 200, cancelled.text
        still = agent.get(api, params={"date": day}, timeout=TIMEOUT).json()
        assert [b["state"] for b in still["bookings"]] == [state]  # taken before the cancel

        tree.township.start()
        live = agent.get(api, params={"date": day}, timeout=TIMEOUT).json()
        assert live["answered_by"] == "431000"
        assert [b["state"] for b in live["bookings"]] == ["cancelled"]
        tree.township.stop()
        again = agent.get(api, params={"date": day}, timeout=TIMEOUT).json()
        assert again["answered_by"] == "copy" and again["as_of"] > body["as_of"]
        assert [(b["code"], b["state"]) for b in again["bookings"]] == [(code, "cancelled")]


def _copied_days(village_dir: Path, day: str) -> int:
    """How many of the village's copy rows are for ``day`` (read from its SQLite file)."""
    engine = make_engine(f"sqlite:///{village_dir / 'node.sqlite'}")
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(
                "SELECT count(*) FROM node_station_booking_copies WHERE day = :day"),
                {"day": day}).scalar_one())
    finally:
        engine.dispose()


@pytest.mark.integration
def test_the_background_sync_fills_the_copy_without_a_read(tmp_path: Path) -> None:
    with city(tmp_path, {}, depth=3) as tree:
        day, time = _bookable(tree.hub.url)
        booked = requests.post(f"{tree.hub.url}/api/v1/hall/bookings", timeout=TIMEOUT,
                               json={"target": VILLAGE, "date": day, "time": time,
                                     "name": "李四", "phone": "13900139000"})
        assert booked.status_code == 201, booked.text
        tree.village.stop()
        set_sync_interval(tree.village, 1)
        tree.village.start()
        agent = tree.agent()  # the restarted village is locked until its agent signs in
        wait_until(lambda: _copied_days(tree.dirs["village"], day) == 1, 120,
                   "the village's sync job to copy its bookings")

        tree.township.stop()
        offline = agent.get(f"{tree.village.url}/api/v1/hall/station-bookings",
                            params={"date": day}, timeout=TIMEOUT)
        assert offline.status_code == 200, offline.text
        assert offline.json()["answered_by"] == "copy"
        assert [(b["name"], b["code"]) for b in offline.json()["bookings"]] == [
            ("李四", booked.json()["code"])]
