"""Helpers of the real-process tests of a deciding node's own jobs (signals, timers): start
the node again with its clock moved on and its jobs run every second, and wait, until a
deadline, for a case to reach a state in a window's queue or for the jobs to run again."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

import requests

from tests.integration.processes import Site

WAIT_SECONDS = 20.0
"""How long a wait lasts at most (the jobs run every second)."""
POLL_SECONDS = 0.2
T = TypeVar("T")


def restart_ahead(site: Site, ahead: timedelta) -> None:
    """Stop ``site`` and start it again ``ahead`` in time (the nodes' test-only clock
    offset) with ``--timer-interval 1``."""
    site.stop()
    site.env.update({"SANJI_TEST_FAULTS": "1",
                     "SANJI_TEST_CLOCK_OFFSET_SECONDS": str(ahead.total_seconds())})
    site.args += ["--timer-interval", "1"]
    site.start()


def wait_until(probe: Callable[[], T], done: Callable[[T], bool]) -> T:
    """Call ``probe`` until ``done`` holds for what it returns, or the deadline passes; the
    last value seen (the caller asserts on it)."""
    deadline = time.monotonic() + WAIT_SECONDS
    value = probe()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        value = probe()
    return value


def queue_state(site: Site, headers: dict[str, str], window: str, case_id: str) -> str | None:
    """The case's state in ``window``'s queue at ``site`` (None: not listed)."""
    response = requests.get(f"{site.url}/api/v1/windows/{window}/cases", headers=headers,
                            timeout=10)
    assert response.status_code == 200, response.text
    rows = [c for c in response.json()["cases"] if c["case_id"] == case_id]
    return str(rows[0]["state"]) if rows else None


def wait_for_state(site: Site, headers: dict[str, str], window: str, case_id: str,
                   wanted: str) -> str | None:
    """Wait for the case to be in ``wanted``; the last state seen."""
    return wait_until(lambda: queue_state(site, headers, window, case_id),
                      lambda state: state == wanted)


def job_runs(site: Site) -> int:
    """The runs of the node's deciding jobs so far, as its ``/metrics`` counts them."""
    text = requests.get(f"{site.url}/metrics", timeout=10).text
    found = re.search(r"^sanji_node_deciding_runs_total\{[^}]*\} (\d+)$", text, re.M)
    assert found is not None, text
    return int(found.group(1))


def wait_for_more_runs(site: Site, more: int = 2) -> None:
    """Wait until the node's jobs have run ``more`` times after now (so a test can say that
    later runs changed nothing)."""
    wanted = job_runs(site) + more
    assert wait_until(lambda: job_runs(site), lambda n: n >= wanted) >= wanted
