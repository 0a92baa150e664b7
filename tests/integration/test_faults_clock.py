"""A village PC whose clock is hours off (the node's test-only clock offset,
``SANJI_TEST_FAULTS=1`` with ``SANJI_TEST_CLOCK_OFFSET_SECONDS``). Its first request is
refused ``clock_skew``; the refusal carries the township's clock, the village learns the
offset and the same ``sync-now`` goes through at once. Events it stamps afterwards carry the
corrected time, the deadline the city window sets is the same at the village as at the hub,
and every signature verifies.

A case registered before the village ever talked to its parent carries the PC's own time:
nothing could have corrected it yet, and its signed time is never rewritten (a note)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from tests.integration.city import Tree, city, signed_in
from tests.integration.fault_city import (
    OPERATORS,
    Tally,
    count,
    register,
    settle,
    sync_may_fail,
)

CORRECTED_WITHIN = timedelta(minutes=5)  # the protocol's request window


def _skew(tree: Tree, seconds: float) -> None:
    """Restart the village with its clock ``seconds`` off (``sync-now`` gets it too)."""
    tree.village.stop()
    tree.village.env.update({"SANJI_TEST_FAULTS": "1",
                             "SANJI_TEST_CLOCK_OFFSET_SECONDS": str(seconds)})
    tree.village.start()
    tree._agent = None  # sign in again: a token of the village's own clock


def _case(session: requests.Session, url: str, case_id: str) -> dict[str, Any]:
    body: dict[str, Any] = session.get(f"{url}/api/v1/cases/{case_id}", timeout=30).json()
    return body


def skewed_clock_once(tmp_path: Path, rng: random.Random) -> Tally:
    """One run: the village's clock off by a random number of hours, either way."""
    tally = Tally(runs=1)
    offset = rng.choice((-1, 1)) * rng.uniform(1, 12) * 3600
    with city(tmp_path, OPERATORS) as tree:
        _skew(tree, offset)
        early = register(tree, "before-first-contact")
        first = sync_may_fail(tree.dirs["village"], tree.village.env)
        if first.returncode != 0:
            tally.flag(f"sync-now with a clock {offset / 3600:+.1f} h off: {first.stderr[-400:]}")
        late = register(tree, "after-first-contact")
        settle(tree, tally)
        operator = signed_in(tree.hub, "ga-1")
        for case_id in (early, late):
            for action in ("claim", "accept"):
                done = operator.post(f"{tree.hub.url}/api/v1/cases/{case_id}/actions",
                                     json={"action": action}, timeout=30)
                if done.status_code != 200:
                    tally.flag(f"{action}: {done.status_code} {done.text[:200]}")
        settle(tree, tally)
        for case_id in (early, late):
            at_hub = _case(operator, tree.hub.url, case_id)
            at_village = _case(tree.agent(), tree.village.url, case_id)
            if at_hub["deadline"] is None or at_hub["deadline"] != at_village["deadline"]:
                tally.flag(f"deadline {at_hub['deadline']} at the hub, "
                           f"{at_village['deadline']} at the village")
        stamped = datetime.fromisoformat(_case(operator, tree.hub.url, late)["events"][0]["at"])
        if abs(stamped - datetime.now(UTC)) > CORRECTED_WITHIN:
            tally.flag(f"a case after the first contact stamped {stamped}, "
                       f"clock {offset / 3600:+.1f} h off")
        before = datetime.fromisoformat(_case(operator, tree.hub.url, early)["events"][0]["at"])
        hours = (before - datetime.now(UTC)).total_seconds() / 3600
        tally.notes.append(f"clock {offset / 3600:+.1f} h: the case before first contact "
                           f"is stamped {hours:+.1f} h")
        count(tree, [early, late], tally)
    return tally


def test_a_village_clock_hours_off_is_corrected_by_the_protocol(tmp_path: Path) -> None:
    tally = skewed_clock_once(tmp_path, random.Random(5))
    assert tally.clean, tally.notes
