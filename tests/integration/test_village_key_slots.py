"""A village keeps its data key only in its agents' key slots: once an agent has signed in,
a powered-off village PC holds no usable key and no ID number, and after a restart the
village stays locked (no intake, no sync) until an agent who has a slot signs in. Real
``sanji`` processes: the hub, a township and the village."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from sqlalchemy.orm import Session

from node.settings import NodeSettings
from shared.storage.accounts import add_user
from shared.storage.db import make_engine
from shared.storage.key_slots import SLOTS_FILE, SlotError, read_slots, unwrap_keys
from shared.storage.sealing import load_data_keys
from tests.integration.city import AGENT, HUB, PASSWORD, VILLAGE, city, signed_in
from tests.integration.test_id_number_at_rest import (
    APPLICANT,
    FORM,
    ID_NUMBER,
    register_with_scan,
)

NEWCOMER = "village-agent-2"
NEWCOMER_PASSWORD = "newcomer-pass-2026"


def _hits(root: Path, needles: dict[str, bytes]) -> list[str]:
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        found += [f"{path}: {name}" for name, needle in needles.items() if needle in data]
    return found


def _sync_now(data_dir: Path, password: str | None = None
              ) -> subprocess.CompletedProcess[str]:
    """``sanji node sync-now``: with no agent given it asks the running village; with the
    agent's password it opens the agent's slot itself."""
    env = {k: v for k, v in os.environ.items() if k not in {"SANJI_USERNAME", "SANJI_PASSWORD"}}
    if password is not None:
        env.update(SANJI_USERNAME=AGENT, SANJI_PASSWORD=password)
    return subprocess.run([sys.executable, "-m", "sanji_cli", "node", "sync-now",
                           "--data-dir", str(data_dir)], capture_output=True, text=True,
                          timeout=300, check=False, env=env)


def _add_village_agent(village_dir: Path) -> None:
    """An agent who never signed in on this PC (added as the hub's copy would arrive)."""
    engine = make_engine(NodeSettings.load(village_dir).database_url)
    with Session(engine) as session:
        add_user(session, username=NEWCOMER, password=NEWCOMER_PASSWORD, role="agent",
                 site=VILLAGE, now=datetime.now(UTC))
        session.commit()
    engine.dispose()


@pytest.mark.timeout(600)
def test_a_stolen_village_pc_reveals_nothing_and_a_restarted_one_waits_for_an_agent(
        tmp_path: Path) -> None:
    with city(tmp_path, {HUB: [("mz-review", "W-MZ-01")]}) as tree:
        keys = tree.dirs["village"] / "keys"
        assert NodeSettings.load(tree.dirs["village"]).data_key_protection == "password"
        data_key = (keys / "data.key").read_bytes()  # made by init: no personal data yet
        agent = signed_in(tree.village, AGENT)
        assert not (keys / "data.key").exists() and (keys / SLOTS_FILE).exists()
        case_id = register_with_scan(agent, tree.village.url, "slots-1")
        asked = _sync_now(tree.dirs["village"])  # asks the running village (holding the key)
        assert asked.returncode == 0 and "2 event(s) up" in asked.stdout, asked.stderr
        tree.settle()  # sync-now with the agent's password (the integration tests' default)

        tree.village.stop()  # powered off and carried away
        assert sorted(p.name for p in keys.glob("data*.key")) == []
        with pytest.raises(FileNotFoundError):
            load_data_keys(keys)
        slot = read_slots(keys, VILLAGE)[AGENT]
        with pytest.raises(SlotError):
            unwrap_keys(slot, site=VILLAGE, username=AGENT, password=PASSWORD + "x")
        needles = {"ID number": ID_NUMBER[:17].encode(),
                   "ID number UTF-16": ID_NUMBER[:17].encode("utf-16-le"),
                   "data key": data_key, "data key hex": data_key.hex().encode()}
        hits = _hits(tree.dirs["village"], needles)
        print(f"hits under the village's data directory: {len(hits)}")
        assert hits == []
        # with the right password the slot holds the very key the data was sealed under
        assert unwrap_keys(slot, site=VILLAGE, username=AGENT,
                           password=PASSWORD).current == data_key

        _add_village_agent(tree.dirs["village"])
        tree.village.start()  # restarted: locked
        status = requests.get(f"{tree.village.url}/api/v1/sync/status", timeout=10).json()
        assert "locked" in str(status["last_error"])
        assert requests.get(f"{tree.village.url}/healthz", timeout=10).status_code == 200
        refused = agent.post(f"{tree.village.url}/api/v1/cases", timeout=10,
                             headers={"Idempotency-Key": "slots-2"},
                             json={"item_code": "MZ-0520", "applicant": APPLICANT,
                                   "form": FORM, "delivery": "village"})
        assert refused.status_code == 503, refused.text  # the token from before the restart
        assert refused.json()["error"]["code"] == "data_locked"
        locked_sync = _sync_now(tree.dirs["village"])
        assert locked_sync.returncode == 1 and "locked" in locked_sync.stderr
        wrong = _sync_now(tree.dirs["village"], password=PASSWORD + "x")
        assert wrong.returncode == 1 and "does not open" in wrong.stderr

        newcomer = requests.post(f"{tree.village.url}/api/v1/auth/token", timeout=10,
                                 json={"username": NEWCOMER, "password": NEWCOMER_PASSWORD})
        assert newcomer.status_code == 200  # signed in, but holds no slot: still locked
        token = {"Authorization": f"Bearer {newcomer.json()['access_token']}"}
        still = requests.get(f"{tree.village.url}/api/v1/cases/{case_id}", headers=token,
                             timeout=10)
        assert still.status_code == 503 and still.json()["error"]["code"] == "data_locked"
        page = requests.get(f"{tree.village.url}/?lang=en", headers=token, timeout=10)
        assert page.status_code == 503 and 'id="data-locked"' in page.text
        assert "an agent who has signed in on this PC before must sign in" in page.text
        assert set(read_slots(keys, VILLAGE)) == {AGENT}

        unlocking = signed_in(tree.village, AGENT)
        case = unlocking.get(f"{tree.village.url}/api/v1/cases/{case_id}", timeout=10)
        assert case.status_code == 200 and case.json()["case_id"] == case_id
        synced = _sync_now(tree.dirs["village"])
        assert synced.returncode == 0, synced.stderr
        status = requests.get(f"{tree.village.url}/api/v1/sync/status", timeout=10).json()
        assert status["last_error"] is None and status["last_success"] is not None
        again = requests.post(f"{tree.village.url}/api/v1/auth/token", timeout=10,
                              json={"username": NEWCOMER, "password": NEWCOMER_PASSWORD})
        assert again.status_code == 200  # unlocked now: the newcomer's slot is made
        assert set(read_slots(keys, VILLAGE)) == {AGENT, NEWCOMER}
        assert sorted(p.name for p in keys.glob("data*.key")) == []
