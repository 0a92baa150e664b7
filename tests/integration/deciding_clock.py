"""Helpers of the real-process tests of a deciding node's own jobs (signals, timers): start
the node again with its clock moved on and its jobs run every second, and wait, bounded, for
a case to reach a state in a window's queue."""

from __future__ import annotations

import time
from datetime import timedelta

import requests

from tests.integration.processes import Site

TRIES = 30
"""Polls of a queue, about half a second apart: bounded."""


def restart_ahead(site: Site, ahead: timedelta) -> None:
    """Stop ``site`` and start it again ``ahead`` in time (the nodes' test-only clock
    offset) with ``--timer-interval 1``."""
    site.stop()
    site.env.update({"SANJI_TEST_FAULTS": "1",
                     "SANJI_TEST_CLOCK_OFFSET_SECONDS": str(ahead.total_seconds())})
    site.args += ["--timer-interval", "1"]
    site.start()


def queue_state(site: Site, headers: dict[str, str], window: str, case_id: str) -> str | None:
    """The case's state in ``window``'s queue at ``site`` (None: not listed)."""
    response = requests.get(f"{site.url}/api/v1/windows/{window}/cases", headers=headers,
                            timeout=10)
    assert response.status_code == 200, response.text
    rows = [c for c in response.json()["cases"] if c["case_id"] == case_id]
    return str(rows[0]["state"]) if rows else None


def wait_for_state(site: Site, headers: dict[str, str], window: str, case_id: str,
                   wanted: str) -> str | None:
    """Poll the queue until the case is in ``wanted`` (or the tries run out); the last
    state seen."""
    state = None
    for _ in range(TRIES):
        state = queue_state(site, headers, window, case_id)
        if state == wanted:
            break
        time.sleep(0.5)
    return state
