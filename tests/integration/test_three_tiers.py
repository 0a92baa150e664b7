"""A village, a township and the hub as separate processes over real HTTP on 127.0.0.1.

The tree is built the way an operator builds it: ``sanji hub add-site`` issues one-time codes,
``sanji node init --parent-url --enroll-code`` enrols each node through its parent. A case
registered at the village travels up through the township, is routed to the hub window
authorised for its item, is decided there by two different operators (一审一核), and the
decision comes back down to the village exactly once. A village killed with SIGKILL after the
township stored its case and before the ack reached it sends the case again after restart,
and the hub holds it once.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyotp
import pytest
import requests
from sqlalchemy.orm import Session

from hub.identity import HUB_KEY_FILE
from hub.settings import HubSettings
from shared.storage.accounts import add_user
from shared.storage.db import make_engine
from sync_protocol import load_key
from sync_protocol.statements import receipt_statement
from tests.integration.city import (
    AGENT,
    HUB,
    PASSWORD,
    TOWNSHIP,
    VILLAGE,
    Tree,
    city,
    signed_in,
)
from tests.integration.fault_city import (
    pending_up,
    point_parent,
    set_sync_interval,
    wait_until,
)
from tests.integration.processes import Site, sanji
from tests.integration.tcp_proxy import Fault, TcpProxy

CITY_ITEM = "MZ-0520"  # 社会团体成立登记: decided at the city window W-MZ-01
TOWNSHIP_ITEM = "MZ-0305"  # 临时救助申请: decided at the township window W-MZ-11
TOWNSHIP_FORM = {"hardship_type": "emergency", "hardship_date": "2026-11-20",
                 "amount_requested": 2000, "description": "房屋失火，衣物家具全部烧毁",
                 "bank_account": "6222020200112233"}
FORM = {"org_name": "郴州市摄影家协会", "registered_funds": 30000, "member_count": 60,
        "business_scope": "摄影交流与培训"}


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Tree]:
    operators = {HUB: [("mz-review", "W-MZ-01"), ("mz-check", "W-MZ-01")],
                 TOWNSHIP: [("t-review", "W-MZ-11"), ("t-check", "W-MZ-11")]}
    with city(tmp_path, operators) as built:
        yield built


def _register(village: Site, key: str, item: str = CITY_ITEM,
              form: dict[str, object] | None = None) -> dict[str, Any]:
    body = {
        "item_code": item,
        "applicant": {"name": "李四", "id_number": "11010519491231002X", "phone": "13800138000"},
        "form": FORM if form is None else form,
        "delivery": "village",
    }
    response = signed_in(village, AGENT).post(f"{village.url}/api/v1/cases", json=body,
                             headers={"Idempotency-Key": key}, timeout=10)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _token(site: Site, username: str) -> dict[str, str]:
    response = requests.post(f"{site.url}/api/v1/auth/token",
                             json={"username": username, "password": PASSWORD}, timeout=10)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def supervisor_token(tree: Tree) -> dict[str, str]:
    """A bearer token of a supervisor of the hub, added to its database with a one-time-code
    secret and signed in with the current code."""
    engine = make_engine(HubSettings.load(tree.dirs["hub"]).database_url)
    with Session(engine) as session:
        user = add_user(session, username="city-lead", password=PASSWORD, role="supervisor",
                        site=HUB, now=datetime.now(UTC))
        secret = user.totp_secret
        session.commit()
    engine.dispose()
    assert secret is not None
    response = requests.post(f"{tree.hub.url}/api/v1/auth/token",
                             json={"username": "city-lead", "password": PASSWORD,
                                   "otp": pyotp.TOTP(secret).now()}, timeout=10)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _act(hub: Site, headers: dict[str, str], case_id: str, action: str,
         **extra: object) -> requests.Response:
    return requests.post(f"{hub.url}/api/v1/cases/{case_id}/actions",
                         json={"action": action, **extra}, headers=headers, timeout=10)


def test_a_village_case_is_decided_at_the_city_and_the_outcome_returns_once(
    tree: Tree,
) -> None:
    case = _register(tree.village, "first")
    case_id = case["case_id"]
    tree.sync("village", "township")
    review, check = _token(tree.hub, "mz-review"), _token(tree.hub, "mz-check")
    queue = requests.get(f"{tree.hub.url}/api/v1/windows/W-MZ-01/cases", headers=review,
                         timeout=10).json()["cases"]
    assert [c["case_id"] for c in queue] == [case_id]
    assert queue[0]["acceptance_no"] == case["acceptance_no"]
    assert queue[0]["state"] == "routed"

    for action in ("claim", "accept", "approve"):
        response = _act(tree.hub, review, case_id, action)
        assert response.status_code == 200, response.text
    same_person = _act(tree.hub, review, case_id, "check")
    assert same_person.status_code in (403, 409), same_person.text  # 一审一核
    for action in ("claim", "check"):
        response = _act(tree.hub, check, case_id, action)
        assert response.status_code == 200, response.text
    issued = _act(tree.hub, check, case_id, "issue_result")
    assert issued.status_code == 200, issued.text
    assert issued.json()["outcome"] == "approved"

    tree.sync("township", "village")
    tree.sync("township", "village")  # a second round changes nothing
    shown = tree.agent().get(f"{tree.village.url}/api/v1/cases/{case_id}", timeout=10).json()
    assert shown["stage"] == "decided"
    types = [e["type"] for e in shown["events"]]
    assert types.count("checked") == 1 and types.count("result_issued") == 1
    assert types[0] == "registered" and "routed" in types
    status = tree.agent().get(f"{tree.village.url}/api/v1/sync/status", timeout=10).json()
    assert status["pending_up"] == 0 and status["parent_reachable"] is True
    assert status["last_error"] is None

    # every chain each site holds whole verifies; an edited event is named
    for name in ("hub", "township", "village"):
        assert "every chain verifies" in sanji("audit", "verify", "--data-dir",
                                               str(tree.dirs[name]))
    with sqlite3.connect(tree.dirs["hub"] / "hub.sqlite") as db:
        db.execute("UPDATE sync_events SET actor = 'agent:forger' WHERE origin = ? AND seq = 1",
                   (VILLAGE,))
    tampered = subprocess.run([sys.executable, "-m", "sanji_cli", "audit", "verify",
                               "--data-dir", str(tree.dirs["hub"])],
                              capture_output=True, text=True, timeout=120)
    assert tampered.returncode == 1
    assert f"case {case_id} event {VILLAGE}/1/1" in tampered.stdout
    _the_village_keeps_the_hubs_signed_receipt(tree, shown)


def _the_village_keeps_the_hubs_signed_receipt(tree: Tree, shown: dict[str, Any]) -> None:
    """The proof of arrival: the village shows the hub's receipt for the case, whose
    signature verifies under the hub's public key (read from the hub's own key file), and
    ``sanji audit verify`` checks it again; a receipt whose time was moved is named."""
    receipt = shown["hub_receipt"]
    registered = shown["events"][0]
    assert (receipt["origin"], receipt["epoch"]) == (registered["origin"], registered["epoch"])
    assert receipt["through_seq"] >= registered["seq"]
    at = datetime.fromisoformat(receipt["at"])
    assert datetime.fromisoformat(registered["at"]) <= at <= datetime.now(UTC)
    hub = HubSettings.load(tree.dirs["hub"])
    hub_public = load_key(HUB, (hub.key_dir / HUB_KEY_FILE).read_bytes()).private.public_key()
    statement = receipt_statement(receipt["origin"], receipt["epoch"], receipt["through_seq"],
                                  round(at.timestamp() * 1000))
    hub_public.verify(bytes.fromhex(receipt["signature"]), statement)  # raises if forged
    page = tree.agent().get(f"{tree.village.url}/cases/{shown['case_id']}", timeout=10)
    assert 'id="hub-receipt"' in page.text and receipt["key_id"] in page.text

    village = str(tree.dirs["village"])
    assert "receipts of the hub (proofs of arrival) verify" in sanji(
        "audit", "verify", "--data-dir", village)
    with sqlite3.connect(tree.dirs["village"] / "node.sqlite") as db:
        db.execute("UPDATE node_hub_receipts SET at_ms = at_ms - 86400000")
    moved = subprocess.run([sys.executable, "-m", "sanji_cli", "audit", "verify",
                            "--data-dir", village], capture_output=True, text=True, timeout=120)
    assert moved.returncode == 1 and "bad receipt" in moved.stdout, moved.stdout


def test_a_case_killed_before_its_ack_arrives_once_after_restart(tree: Tree) -> None:
    # The village's exchanges go through a proxy that holds the township's answer: the
    # township has stored the batch, the village has not recorded the ack when it dies.
    proxy = TcpProxy(tree.township.port)
    try:
        case = _register(tree.village, "power-cut")
        point_parent(tree.dirs["village"], proxy.url)
        tree.village.stop()
        set_sync_interval(tree.village, 1)  # the running node exchanges by itself
        proxy.arm(Fault(hold=True))
        tree.village.start()
        tree.agent()  # restarted, the village syncs once an agent has signed in
        assert proxy.wait_answer_held(120), "the village never exchanged"
        tree.village.kill()
        proxy.release(forward=False)
        wait_until(lambda: proxy.fired == ["answer_dropped"], 30, "the answer dropped")
        assert pending_up(tree.township) == 1  # the township stored the case before answering
        set_sync_interval(tree.village, 0)
        tree.village.start()
        assert pending_up(tree.village) == 1  # the ack never arrived: the case is still owed
        again = tree.agent().post(
            f"{tree.village.url}/api/v1/cases",
            json={"item_code": CITY_ITEM,
                  "applicant": {"name": "李四", "id_number": "11010519491231002X",
                                "phone": "13800138000"},
                  "form": FORM, "delivery": "village"},
            headers={"Idempotency-Key": "power-cut"}, timeout=10)
        assert again.status_code == 200 and again.json()["case_id"] == case["case_id"]
        tree.sync("village", "township", "village", "township")
    finally:
        proxy.close()
    assert pending_up(tree.village) == 0 and pending_up(tree.township) == 0
    headers = _token(tree.hub, "mz-review")
    queue = requests.get(f"{tree.hub.url}/api/v1/windows/W-MZ-01/cases", headers=headers,
                         timeout=10).json()["cases"]
    assert [c["case_id"] for c in queue] == [case["case_id"]]
    hub_case = requests.get(f"{tree.hub.url}/api/v1/cases/{case['case_id']}",
                            headers=headers, timeout=10).json()
    assert [e["type"] for e in hub_case["events"]].count("registered") == 1
    assert uuid.UUID(hub_case["case_id"])
    shown = tree.agent().get(f"{tree.village.url}/api/v1/cases/{case['case_id']}",
                             timeout=10).json()
    assert [e["type"] for e in shown["events"]].count("registered") == 1
    assert [e["type"] for e in shown["events"]].count("routed") == 1


def test_a_township_item_is_decided_at_the_township_and_the_hub_still_sees_it(
    tree: Tree,
) -> None:
    case = _register(tree.village, "township-item", TOWNSHIP_ITEM, TOWNSHIP_FORM)
    case_id = case["case_id"]
    tree.sync("village")
    review, check = _token(tree.township, "t-review"), _token(tree.township, "t-check")
    queue = requests.get(f"{tree.township.url}/api/v1/windows/W-MZ-11/cases",
                         headers=review, timeout=10).json()["cases"]
    assert [c["case_id"] for c in queue] == [case_id]
    for headers, action in ((review, "claim"), (review, "accept"), (review, "approve"),
                            (check, "claim"), (check, "check"), (check, "issue_result")):
        response = _act(tree.township, headers, case_id, action)
        assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "approved"
    tree.sync("village", "township")
    shown = tree.agent().get(f"{tree.village.url}/api/v1/cases/{case_id}", timeout=10).json()
    assert shown["stage"] == "decided"
    # the hub supervises: it holds every event of the case, but no city window queues it
    # (and a city window's operator is answered as for an unknown case)
    city_operator = _token(tree.hub, "mz-review")
    assert requests.get(f"{tree.hub.url}/api/v1/cases/{case_id}", headers=city_operator,
                        timeout=10).status_code == 404
    hub_headers = supervisor_token(tree)
    at_hub = requests.get(f"{tree.hub.url}/api/v1/cases/{case_id}", headers=hub_headers,
                          timeout=10).json()
    types = [e["type"] for e in at_hub["events"]]
    assert types[0] == "registered" and types[-1] == "result_issued"
    assert {e["origin"] for e in at_hub["events"]} == {VILLAGE, TOWNSHIP}
    assert at_hub["outcome"] == "approved"
    city_queue = requests.get(f"{tree.hub.url}/api/v1/windows/W-MZ-01/cases",
                              headers=hub_headers, timeout=10).json()["cases"]
    assert city_queue == []


def test_an_enrolled_village_asks_its_agents_to_sign_in(tree: Tree) -> None:
    base = tree.village.url
    anonymous = requests.post(f"{base}/api/v1/cases", json={}, timeout=10,
                              headers={"Idempotency-Key": "x"})
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    page = requests.get(f"{base}/intake", allow_redirects=False, timeout=10)
    assert page.status_code == 302 and page.headers["Location"].startswith("/login?next=")
    assert tree.agent().get(f"{base}/intake", timeout=10).status_code == 200
    # what must stay open: the citizen's lookup, the catalogue, the probes
    for path in ("/status", "/api/v1/catalog/items", "/healthz", "/api/v1/sync/status"):
        assert requests.get(f"{base}{path}", timeout=10).status_code == 200, path
    # a token of another site means nothing here
    elsewhere = signed_in(tree.township, "t-review")
    assert elsewhere.get(f"{base}/intake", allow_redirects=False,
                         timeout=10).status_code == 302
    # the agent's name is on the events it registers
    case = _register(tree.village, "signed")
    shown = tree.agent().get(f"{base}/api/v1/cases/{case['case_id']}", timeout=10).json()
    assert shown["events"][0]["actor"] == f"agent:{AGENT}"
