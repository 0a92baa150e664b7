"""A booking for a village station is made at the city's site and read at the station over
real processes (hub, township, village): the village's agent sees the name, phone and time,
asked up through the township, which vouches for its child; another station's bookings
and anonymous callers are refused; with the township down the station's page says the
bookings cannot be read now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from tests.integration.city import VILLAGE, city

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
        offline = agent.get(f"{tree.village.url}/hall/station-bookings",
                            params={"date": day}, timeout=TIMEOUT)
        assert offline.status_code == 503 and 'id="offline"' in offline.text
