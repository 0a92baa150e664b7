"""What a village station's copy of its bookings costs on its line: one relayed request for
today to the last bookable day (what the sync run sends) against one request per day.

Hub, township and village are ``sanji`` processes behind the counting proxies of
``bench/link.py`` (150 ms each way). The village's agent reads the station's bookings at the
village's API, which asks up through the township to the hub: once with ``&through=`` for
today to 90 days on (the hub stops at its last bookable day, 14 days on by default), then once
per day for the same days, before any booking and with ``--bookings`` of them (at most 10: the
hub takes 10 bookings an hour from one address). Counted on the village's line: bytes both
ways (HTTP heads included), requests, TCP connections, and time from first byte to last.

    .venv/bin/python -m bench.station_copy
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

import requests

from bench.link import link_city
from bench.link_proxy import LinkCounts, LinkProxy
from tests.integration.city import AGENT, VILLAGE, signed_in
from tests.integration.processes import Site

TIMEOUT = 60.0
API = "/api/v1/hall/station-bookings"


def _read(agent: requests.Session, village: Site, link: LinkProxy,
          params: list[dict[str, str]]) -> tuple[LinkCounts, int]:
    """The requests ``params`` at the village, counted on its line; bookings seen."""
    link.reset()
    seen = 0
    for one in params:
        answer = agent.get(f"{village.url}{API}", params=one, timeout=TIMEOUT)
        if answer.status_code != 200:
            raise RuntimeError(f"{one}: HTTP {answer.status_code} {answer.text[:300]}")
        seen += len(answer.json()["bookings"])
    return link.snapshot(), seen  # each answer crossed the line before the village answered


def _row(label: str, counts: LinkCounts, seen: int) -> str:
    span = ((counts.last_byte_at or 0.0) - (counts.first_byte_at or 0.0))
    return (f"| {label} | {seen} | {counts.bytes_up:,} | {counts.bytes_down:,} | "
            f"{counts.requests} | {counts.connections} | {span:.2f} s |")


def _book(hub: Site, today: date, wanted: int) -> int:
    """Up to ``wanted`` bookings of the station spread over its bookable days; how many."""
    made = 0
    for offset in range(20):
        day = (today + timedelta(days=offset)).isoformat()
        slots = requests.get(f"{hub.url}/api/v1/hall/slots", timeout=TIMEOUT,
                             params={"target": VILLAGE, "date": day}).json()["slots"]
        for slot in slots[:2]:
            if made == wanted:
                return made
            booked = requests.post(f"{hub.url}/api/v1/hall/bookings", timeout=TIMEOUT, json={
                "target": VILLAGE, "date": day, "time": slot["time"], "name": "王小明",
                "phone": f"1380013{made:04d}"})
            if booked.status_code != 201:
                raise RuntimeError(f"booking {made}: HTTP {booked.status_code} {booked.text}")
            made += 1
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=10)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work, \
            link_city(Path(work), delay=0.150, rate=None) as tree:
        subprocess.run([sys.executable, "-m", "sanji_cli", "node", "sync-now", "--data-dir",
                        str(tree.dirs["township"])], check=True, capture_output=True)
        agent = signed_in(tree.village, AGENT)
        subprocess.run([sys.executable, "-m", "sanji_cli", "node", "sync-now", "--data-dir",
                        str(tree.dirs["village"])], check=True, capture_output=True)
        today = date.fromisoformat(agent.get(f"{tree.village.url}{API}", timeout=TIMEOUT)
                                   .json()["date"])
        ranged = [{"date": today.isoformat(),
                   "through": (today + timedelta(days=90)).isoformat()}]
        through = agent.get(f"{tree.village.url}{API}", params=ranged[0],
                            timeout=TIMEOUT).json()["through"]
        days = (date.fromisoformat(through) - today).days + 1
        daily = [{"date": (today + timedelta(days=n)).isoformat()} for n in range(days)]
        rows = ["| what | bookings | bytes up | bytes down | requests | connections | time |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        for stage in ("none", "booked"):
            made = _book(tree.hub, today, args.bookings) if stage == "booked" else 0
            rows.append(_row(f"{days} days, one request (`through`), {made} booked",
                             *_read(agent, tree.village, tree.village_link, ranged)))
            rows.append(_row(f"{days} days, one request per day, {made} booked",
                             *_read(agent, tree.village, tree.village_link, daily)))
        print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
