"""Users managed at the hub reach their village through the exchange, on real processes.

The hub, a township and two villages run as separate ``sanji`` processes on 127.0.0.1, enrolled
through the real path. A village agent added at the hub after the villages enrolled signs in at
their village once the exchange has carried the account down (and keeps signing in after the
village PC loses power); disabled at the hub, they are refused at the village after the next
exchange, their earlier token included. The other village under the same township never
receives the account, and the township relays it without taking it in.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.integration.city import PASSWORD, VILLAGE, Tree, city
from tests.integration.processes import Site, sanji
from tests.integration.test_three_tiers import CITY_ITEM, FORM

OTHER_VILLAGE = "431002001202"
NEW_AGENT = "new-village-agent"


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Tree]:
    with city(tmp_path, {}, other_villages=(OTHER_VILLAGE,)) as built:
        yield built


def _sign_in(site: Site) -> requests.Response:
    return requests.post(f"{site.url}/api/v1/auth/token", timeout=10,
                         json={"username": NEW_AGENT, "password": PASSWORD})


def _held(data_dir: Path, query: str) -> int:
    with sqlite3.connect(data_dir / "node.sqlite") as db:
        count: int = db.execute(query, (NEW_AGENT,) if "?" in query else ()).fetchone()[0]
    return count


ACCOUNTS = "SELECT count(*) FROM acct_users WHERE username = ?"
ACCOUNT_EVENTS = "SELECT count(*) FROM sync_events WHERE type = 'account_state'"


def test_an_agent_added_at_the_hub_signs_in_at_their_village_until_disabled(
    tree: Tree,
) -> None:
    hub_dir = str(tree.dirs["hub"])
    added = sanji("hub", "add-user", "--data-dir", hub_dir, "--username", NEW_AGENT,
                  "--password", PASSWORD, "--role", "agent", "--site", VILLAGE)
    assert f"on its way to {VILLAGE}" in added
    assert _sign_in(tree.village).status_code == 401  # not there before the exchange

    tree.sync("township", "village", OTHER_VILLAGE)
    token = _sign_in(tree.village)
    assert token.status_code == 200, token.text
    agent = {"Authorization": f"Bearer {token.json()['access_token']}"}
    case = requests.post(f"{tree.village.url}/api/v1/cases", headers={
        **agent, "Idempotency-Key": "new-agent-1"}, timeout=10, json={
        "item_code": CITY_ITEM, "form": FORM, "delivery": "village",
        "applicant": {"name": "李四", "id_number": "11010519491231002X",
                      "phone": "13800138000"}})
    assert case.status_code == 201, case.text
    shown = requests.get(f"{tree.village.url}/api/v1/cases/{case.json()['case_id']}",
                         headers=agent, timeout=10).json()
    assert shown["events"][0]["actor"] == f"agent:{NEW_AGENT}"

    # the other village never holds it; the township relays it without taking it in
    assert _sign_in(tree.others[OTHER_VILLAGE]).status_code == 401
    assert _held(tree.dirs[OTHER_VILLAGE], ACCOUNTS) == 0
    assert _held(tree.dirs[OTHER_VILLAGE], ACCOUNT_EVENTS) == 0
    assert _held(tree.dirs["township"], ACCOUNTS) == 0
    assert _held(tree.dirs["township"], ACCOUNT_EVENTS) == 1
    assert _sign_in(tree.township).status_code == 401

    # a power cut at the village: the account stays, held once
    tree.village.kill()
    tree.village.start()
    assert _sign_in(tree.village).status_code == 200
    assert _held(tree.dirs["village"], ACCOUNTS) == 1

    disabled = sanji("hub", "update-user", "--data-dir", hub_dir, "--username", NEW_AGENT,
                     "--disable")
    assert "disabled" in disabled and f"on its way to {VILLAGE}" in disabled
    assert _sign_in(tree.village).status_code == 200  # offline until the next exchange
    tree.sync("township", "village", "township", "village")
    assert _sign_in(tree.village).status_code == 401
    earlier = requests.get(f"{tree.village.url}/api/v1/cases/{case.json()['case_id']}",
                           headers=agent, timeout=10)
    assert earlier.status_code == 401  # the token issued before ends with the account
    assert _held(tree.dirs["village"], ACCOUNT_EVENTS) == 2  # each change once
    assert _held(tree.dirs["village"], ACCOUNTS) == 1
    assert _held(tree.dirs[OTHER_VILLAGE], ACCOUNTS) == 0
