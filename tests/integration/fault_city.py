"""What the fault tests and ``bench/faults.py`` share: the city they break, the cases they
register, and how they count what the application shows afterwards.

Counting is done from the outside, as a person would check: the hub's case API (how many
``registered`` events each case shows), the city window's queue (how often each case is
listed) and the village's case API (how many ``routed`` events came back down), plus
``sanji audit verify`` at every site. A case shown nowhere is lost; shown twice, doubled;
anything else that should not happen (an audit failure, a 500, a fault never reached) is
counted as unexpected.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.integration.city import HUB, Tree, signed_in
from tests.integration.processes import Site

ITEM = "GA-5601"  # 公章刻制备案, decided at the city window W-GA-01
WINDOW = "W-GA-01"
OPERATORS = {HUB: [("ga-1", WINDOW), ("ga-2", WINDOW)]}
FORM = {"enterprise_name": "郴州市良田米业有限公司", "uscc": "91110000710925462X",
        "seal_count": 2}
APPLICANT = {"name": "王小明", "id_number": "431002198001010017", "phone": "13800138000"}
SETTLE_ROUNDS = 8
SYNC_SECONDS = 300.0


@dataclass
class Tally:
    """One fault row's figures over its runs."""

    runs: int = 0
    lost: int = 0
    duplicated: int = 0
    unexpected: int = 0
    notes: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.runs += other.runs
        self.lost += other.lost
        self.duplicated += other.duplicated
        self.unexpected += other.unexpected
        self.notes.extend(other.notes)

    def flag(self, note: str) -> None:
        self.unexpected += 1
        self.notes.append(note)

    @property
    def clean(self) -> bool:
        return self.lost == self.duplicated == self.unexpected == 0


def register(tree: Tree, key: str) -> str:
    """A case at the village through its API; its id."""
    response = tree.agent().post(f"{tree.village.url}/api/v1/cases", timeout=30,
                                 json={"item_code": ITEM, "applicant": APPLICANT,
                                       "form": FORM, "delivery": "village"},
                                 headers={"Idempotency-Key": key})
    assert response.status_code in (200, 201), response.text
    case_id: str = response.json()["case_id"]
    return case_id


def point_parent(data_dir: Path, url: str) -> None:
    """Send a node's exchanges to ``url`` (e.g. through a proxy): ``parent_url`` in node.json."""
    path = data_dir / "node.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["parent_url"] = url
    path.write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def set_sync_interval(site: Site, seconds: float) -> None:
    """The node's ``--sync-interval`` at its next start."""
    at = site.args.index("--sync-interval")
    site.args[at + 1] = str(seconds)


def sync_command(data_dir: Path) -> list[str]:
    return [sys.executable, "-m", "sanji_cli", "node", "sync-now", "--data-dir", str(data_dir)]


def sync_may_fail(data_dir: Path, env: Mapping[str, str] | None = None
                  ) -> subprocess.CompletedProcess[str]:
    """``sanji node sync-now`` (``env`` added to the environment, e.g. a site's fault
    settings); its result whatever it is."""
    return subprocess.run(sync_command(data_dir), capture_output=True, text=True,
                          timeout=SYNC_SECONDS, env={**os.environ, **(env or {})})


def start_sync(data_dir: Path) -> subprocess.Popen[bytes]:
    """``sanji node sync-now`` in the background, to be killed while it exchanges."""
    return subprocess.Popen(sync_command(data_dir), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def pending_up(site: Site) -> int:
    """What the site's outbox still holds, from its (open) sync status API."""
    body = requests.get(f"{site.url}/api/v1/sync/status", timeout=30).json()
    return int(body["pending_up"])


def settle(tree: Tree, tally: Tally) -> None:
    """Sync up and down until every queue is empty and every sync succeeds (bounded)."""
    failed: list[str] = []
    for _ in range(SETTLE_ROUNDS):
        failed = []
        for name in ("village", "township", "township", "village"):
            site = tree.village if name == "village" else tree.township
            done = sync_may_fail(tree.dirs[name], site.env)
            if done.returncode != 0:
                failed.append(f"{name}: {done.stderr.strip()[-2500:]}")
        if not failed and pending_up(tree.village) == 0 and pending_up(tree.township) == 0:
            return
    tally.flag(f"queues did not empty after {SETTLE_ROUNDS} rounds: {failed[-2:]}, "
               f"pending up {pending_up(tree.village)} (village), "
               f"{pending_up(tree.township)} (township)")


def count(tree: Tree, case_ids: Iterable[str], tally: Tally) -> None:
    """Lost and doubled cases as the hub, its window queue and the village show them (a
    case the village sees routed twice is doubled: a restored hub that routed it again)."""
    hub = signed_in(tree.hub, "ga-1")
    queue = hub.get(f"{tree.hub.url}/api/v1/windows/{WINDOW}/cases", timeout=30)
    if queue.status_code != 200:
        tally.flag(f"window queue: HTTP {queue.status_code}")
        return
    listed = Counter(c["case_id"] for c in queue.json()["cases"])
    agent = tree.agent()
    for case_id in case_ids:
        at_hub = hub.get(f"{tree.hub.url}/api/v1/cases/{case_id}", timeout=30)
        registered = 0 if at_hub.status_code == 404 else _types(at_hub).count("registered")
        at_village = agent.get(f"{tree.village.url}/api/v1/cases/{case_id}", timeout=30)
        routed = 0 if at_village.status_code == 404 else _types(at_village).count("routed")
        shown = (registered, listed[case_id], routed)
        if 0 in shown:
            tally.lost += 1
            tally.notes.append(f"{case_id} lost (hub, queue, village): {shown}")
        elif max(shown) > 1:
            tally.duplicated += 1
            tally.notes.append(f"{case_id} doubled (hub, queue, village): {shown}")
    for name in ("hub", "township", "village"):
        audit = subprocess.run([sys.executable, "-m", "sanji_cli", "audit", "verify",
                                "--data-dir", str(tree.dirs[name])],
                               capture_output=True, text=True, timeout=SYNC_SECONDS)
        if audit.returncode != 0:
            tally.flag(f"audit at {name}: {audit.stdout[-300:]}{audit.stderr[-300:]}")


def _types(response: requests.Response) -> list[str]:
    if response.status_code != 200:
        return []
    return [str(e["type"]) for e in response.json()["events"]]


def wait_until(condition: object, seconds: float, what: str) -> None:
    """Poll ``condition()`` until true; an assertion naming ``what`` after ``seconds``."""
    assert callable(condition)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")

