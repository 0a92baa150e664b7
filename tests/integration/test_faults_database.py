"""The hub's PostgreSQL stopped while the village and the township sync by themselves
(their ``sanji node run`` jobs, every second): the hub answers 503 with ``Retry-After`` in
the JSON error shape, never a 500; the township records the failure, backs off, and catches
up once the database is back, with every case shown once everywhere.

The cluster is the test's own (``initdb`` and ``pg_ctl`` in a temporary directory on a free
port); the machine's shared server is never touched. It is stopped a random short time after
an exchange of the township with the hub has started, so the outage often lands inside one.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import requests

from tests.ci import unavailable
from tests.integration.city import city, signed_in
from tests.integration.fault_city import (
    OPERATORS,
    WINDOW,
    Tally,
    count,
    pending_up,
    point_parent,
    register,
    set_sync_interval,
    settle,
    wait_until,
)
from tests.integration.private_postgres import PrivateCluster, missing_reason
from tests.integration.tcp_proxy import Fault, TcpProxy

CATCH_UP_SECONDS = 240.0  # the backoff after a few failures: tens of seconds


def _routed_everywhere(tree_village_url: str, agent: requests.Session,
                       case_ids: list[str]) -> bool:
    for case_id in case_ids:
        shown = agent.get(f"{tree_village_url}/api/v1/cases/{case_id}", timeout=30).json()
        if "routed" not in [e["type"] for e in shown.get("events", [])]:
            return False
    return True


def database_outage_once(tmp_path: Path, rng: random.Random) -> Tally:
    """One run: cases before, during and after an outage of the hub's database."""
    tally = Tally(runs=1)
    cluster = PrivateCluster.create()
    try:
        with city(tmp_path, OPERATORS, hub_database_url=cluster.url) as tree:
            proxy = TcpProxy(tree.hub.port)
            try:
                case_ids = [register(tree, f"before-{n}") for n in range(2)]
                settle(tree, tally)
                operator = signed_in(tree.hub, "ga-1")  # signing in needs the database
                point_parent(tree.dirs["township"], proxy.url)
                for site in (tree.township, tree.village):
                    site.stop()
                    set_sync_interval(site, 1)
                    site.start()
                case_ids.append(register(tree, "in-flight"))
                proxy.arm(Fault())
                assert proxy.request_seen.wait(120), "the township never exchanged"
                cluster.stop_after(rng.uniform(0, 0.3))
                case_ids += [register(tree, f"during-{n}") for n in range(3)]
                queue = operator.get(f"{tree.hub.url}/api/v1/windows/{WINDOW}/cases",
                                     timeout=30)
                if (queue.status_code, queue.headers.get("Retry-After")) != (503, "5") or \
                        queue.json()["error"]["code"] != "unavailable":
                    tally.flag(f"hub during the outage: {queue.status_code} {queue.text}")
                wait_until(lambda: "HTTP 503" in str(_status(tree.township.url)["last_error"]),
                           120, "the township to meet the 503")
                cluster.start()
                case_ids.append(register(tree, "after"))
                wait_until(lambda: pending_up(tree.township) == 0
                           and pending_up(tree.village) == 0
                           and _routed_everywhere(tree.village.url, tree.agent(), case_ids),
                           CATCH_UP_SECONDS, "the tree to catch up")
                for site in (tree.township, tree.village):
                    site.stop()
                    set_sync_interval(site, 0)
                    site.start()
                settle(tree, tally)
                count(tree, case_ids, tally)
            finally:
                proxy.close()
            log = (tmp_path / "hub.log").read_text(errors="replace")
            if "unexpected error, incident" in log or "Traceback" in log:
                tally.flag("the hub logged an unhandled exception (a 500)")
    finally:
        cluster.destroy()
    return tally


def _status(url: str) -> dict[str, object]:
    body: dict[str, object] = requests.get(f"{url}/api/v1/sync/status", timeout=30).json()
    return body


@pytest.mark.timeout(600)
def test_the_hubs_database_stopped_gives_503_and_the_tree_catches_up(tmp_path: Path) -> None:
    reason = missing_reason()
    if reason is not None:
        unavailable(reason)
    tally = database_outage_once(tmp_path, random.Random(11))
    assert tally.clean, tally.notes
