"""The tree when links and sites fail, with real processes over real HTTP: the hub stopped for
a while, a village that comes back with thousands of queued cases, a catalogue release that
withdraws an item on its way down to every village."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.integration.city import (
    HUB,
    PASSWORD,
    TOWNSHIP_AGENT,
    VILLAGE,
    Tree,
    city,
    signed_in,
)
from tests.integration.processes import sanji

ITEM = "GA-5601"  # 公章刻制备案, decided at the city window W-GA-01
FORM = {"enterprise_name": "郴州市良田米业有限公司", "uscc": "91110000710925462X",
        "seal_count": 2}
APPLICANT = {"name": "王小明", "id_number": "431002198001010017", "phone": "13800138000"}


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Tree]:
    with city(tmp_path, {HUB: [("ga-1", "W-GA-01"), ("ga-2", "W-GA-01")]}) as built:
        yield built


def _register(tree: Tree, key: str, item: str = ITEM) -> requests.Response:
    return tree.agent().post(f"{tree.village.url}/api/v1/cases", timeout=10,
                         json={"item_code": item, "applicant": APPLICANT, "form": FORM,
                               "delivery": "village"},
                         headers={"Idempotency-Key": key})


def _sync_may_fail(tree: Tree, name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sanji_cli", "node", "sync-now",
                           "--data-dir", str(tree.dirs[name])],
                          capture_output=True, text=True, timeout=300)


def _hub_cases(tree: Tree) -> list[tuple[Any, ...]]:
    with sqlite3.connect(tree.dirs["hub"] / "hub.sqlite") as db:
        return db.execute("SELECT case_id, origin, state FROM hub_cases").fetchall()


def _village_stages(tree: Tree) -> dict[str, int]:
    with sqlite3.connect(tree.dirs["village"] / "node.sqlite") as db:
        return dict(db.execute("SELECT stage, COUNT(*) FROM node_cases GROUP BY stage"))


def _status(tree: Tree, site: str) -> dict[str, Any]:
    url = tree.village.url if site == "village" else tree.township.url
    session = (tree.agent() if site == "village"
               else signed_in(tree.township, TOWNSHIP_AGENT))
    body: dict[str, Any] = session.get(f"{url}/api/v1/sync/status", timeout=10).json()
    return body


def test_cases_queue_while_the_hub_is_down_and_all_arrive_after_it_restarts(
    tree: Tree,
) -> None:
    tree.hub.stop()
    keys = [f"outage-{n}" for n in range(3)]
    for key in keys:
        assert _register(tree, key).status_code == 201
    tree.sync("village")  # the township is up: the village's cases move one hop
    assert _status(tree, "village")["pending_up"] == 0
    failed = _sync_may_fail(tree, "township")
    assert failed.returncode == 1 and "sync failed" in failed.stderr
    township = _status(tree, "township")
    assert township["pending_up"] == 3
    assert township["parent_reachable"] is False and township["last_error"]
    tree.hub.start()
    tree.sync("township", "village")
    cases = _hub_cases(tree)
    assert len(cases) == 3 and {c[1] for c in cases} == {VILLAGE}
    assert {c[2] for c in cases} == {"routed"}
    assert _status(tree, "township")["pending_up"] == 0
    assert _village_stages(tree) == {"at_window": 3}


@pytest.mark.timeout(900)  # 2,000 intakes over HTTP and their way to the hub: minutes
def test_a_village_offline_for_a_month_catches_up_with_two_thousand_cases(tree: Tree) -> None:
    tree.township.stop()  # the village's only link is down
    for n in range(2000):
        response = _register(tree, f"month-{n}")
        assert response.status_code == 201, response.text
    assert _sync_may_fail(tree, "village").returncode == 1
    assert _status(tree, "village")["pending_up"] == 2000
    tree.township.start()
    tree.sync("village", "township")
    cases = _hub_cases(tree)
    assert len(cases) == 2000
    assert len({c[0] for c in cases}) == 2000
    tree.sync("township", "village")
    village = _status(tree, "village")
    assert village["pending_up"] == 0 and village["last_error"] is None
    assert _village_stages(tree) == {"at_window": 2000}


def test_a_catalogue_release_reaches_the_village_and_a_withdrawn_item_is_refused(
    tree: Tree, tmp_path: Path,
) -> None:
    sample = Path(__file__).parents[2] / "shared" / "domain" / "data" / "sample_catalogue.yaml"
    data = yaml.safe_load(sample.read_text(encoding="utf-8"))
    data["version"] = int(data["version"]) + 1
    data["items"] = [i for i in data["items"] if i["code"] != ITEM]
    for window in data["windows"]:
        window["grants"] = [g for g in window.get("grants", []) if g["item"] != ITEM]
    newer = tmp_path / "catalogue-next.yaml"
    newer.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    out = sanji("hub", "import-catalog", str(newer), "--data-dir", str(tree.dirs["hub"]))
    assert f"catalogue version {data['version']} published" in out
    tree.sync("township", "village")
    items = tree.agent().get(f"{tree.village.url}/api/v1/catalog/items", timeout=10).json()
    assert items["version"] == data["version"]
    assert ITEM not in {i["code"] for i in items["items"]}
    refused = _register(tree, "withdrawn")
    assert refused.status_code in (400, 404, 409)
    error = refused.json()["error"]
    assert "item_code" in error["fields"] or ITEM in error["message"]
    town = requests.get(f"{tree.township.url}/api/v1/catalog/items", timeout=10).json()
    assert town["version"] == data["version"]
    # the operators of the fixture still sign in after the release
    login = requests.post(f"{tree.hub.url}/api/v1/auth/token", timeout=10,
                          json={"username": "ga-1", "password": PASSWORD})
    assert login.status_code == 200


def test_a_replaced_village_pc_enrols_again_and_the_old_key_is_revoked(
    tree: Tree, tmp_path: Path,
) -> None:
    import shutil

    for n in range(2):
        assert _register(tree, f"old-pc-{n}").status_code == 201
    tree.settle()
    tree.village.kill()  # the PC dies; a copy of its disk turns up later
    old_disk = tmp_path / "old-village"
    shutil.copytree(tree.dirs["village"], old_disk)
    shutil.rmtree(tree.dirs["village"])
    out = sanji("hub", "reenrol-site", "--data-dir", str(tree.dirs["hub"]), "--code", VILLAGE,
                "--json")
    code = json.loads(out.strip().splitlines()[-1])["code"]
    sanji("node", "init", "--data-dir", str(tree.dirs["village"]), "--parent-url",
          tree.township.url, "--enroll-code", code)
    tree.village.start()
    created = _register(tree, "new-pc-1")
    assert created.status_code == 201
    assert "-E2-" in created.json()["acceptance_no"]  # the new PC's chain is a new epoch
    tree.settle()
    cases = _hub_cases(tree)
    assert len(cases) == 3 and {c[1] for c in cases} == {VILLAGE}
    assert "every chain verifies" in sanji("audit", "verify", "--data-dir",
                                           str(tree.dirs["hub"]))
    # the old disk, brought back to life, is refused by its township: its key is revoked
    old = _sync_dir_may_fail(old_disk)
    assert old.returncode == 1 and "key_revoked" in old.stderr


def _sync_dir_may_fail(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sanji_cli", "node", "sync-now",
                           "--data-dir", str(data_dir)], capture_output=True, text=True,
                          timeout=300)
