"""Scans travel up after their events, on the real three-process tree over HTTP.

Decision 5: metadata first, scans after. A case registered at the village with two scans is
routed at the hub before its scans are there; the scans follow in chunks within a byte
budget per exchange, each asked for before it is sent, and reach the hub byte-identical. A
scan the parent holds is never sent again. A transfer cut in the middle (the hub killed)
resumes from what the hub kept, not from zero.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from shared.storage.blob_store import BlobStore
from shared.storage.sealing import ScanSealer, load_data_keys
from tests.integration.city import AGENT, HUB, PASSWORD, Tree, city, signed_in
from tests.integration.processes import Site

CITY_ITEM = "MZ-0520"  # decided at the city window W-MZ-01
FORM = {"org_name": "郴州市摄影家协会", "registered_funds": 30000, "member_count": 60,
        "business_scope": "摄影交流与培训"}
APPLICANT = {"name": "李四", "id_number": "11010519491231002X", "phone": "13800138000"}
SCAN_A = b"\xff\xd8\xff\xe0" + os.urandom(300_000)  # a JPEG-sized photo of the application
SCAN_B = b"%PDF-1.4\n" + os.urandom(200_000)  # the charter as a PDF
SMALL_BUDGET = 65_536


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Tree]:
    with city(tmp_path, {HUB: [("mz-review", "W-MZ-01")]}) as built:
        yield built


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _register(village: Site, key: str) -> str:
    body = {"item_code": CITY_ITEM, "applicant": APPLICANT, "form": FORM,
            "delivery": "village"}
    response = signed_in(village, AGENT).post(f"{village.url}/api/v1/cases", json=body,
                             headers={"Idempotency-Key": key}, timeout=10)
    assert response.status_code == 201, response.text
    case_id: str = response.json()["case_id"]
    return case_id


def _add_scan(village: Site, case_id: str, code: str, data: bytes, name: str) -> None:
    response = signed_in(village, AGENT).post(f"{village.url}/api/v1/cases/{case_id}/materials",
                             data={"material_code": code}, files={"file": (name, data)},
                             timeout=30)
    assert response.status_code == 201, response.text
    assert response.json()["sha256"] == sha(data)


def _case_with_two_scans(village: Site, key: str) -> str:
    case_id = _register(village, key)
    _add_scan(village, case_id, "APPLICATION", SCAN_A, "application.jpg")
    _add_scan(village, case_id, "CHARTER", SCAN_B, "charter.pdf")
    return case_id


def _token(site: Site, username: str) -> dict[str, str]:
    response = requests.post(f"{site.url}/api/v1/auth/token",
                             json={"username": username, "password": PASSWORD}, timeout=10)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _status(site: Site) -> dict[str, Any]:
    status: dict[str, Any] = requests.get(f"{site.url}/api/v1/sync/status", timeout=10).json()
    return status


def _held_file(tree: Tree, name: str, digest: str) -> bytes | None:
    """The scan as the site holds it, opened with the site's data key (sealed on disk)."""
    blobs = BlobStore(tree.dirs[name] / "blobs",
                      ScanSealer(load_data_keys(tree.dirs[name] / "keys")))
    if not blobs.has(digest):
        return None
    assert blobs.is_sealed(digest), f"{name} holds {digest} in clear"
    return blobs.get(digest)


def _queue(tree: Tree, headers: dict[str, str]) -> list[str]:
    cases = requests.get(f"{tree.hub.url}/api/v1/windows/W-MZ-01/cases", headers=headers,
                         timeout=10).json()["cases"]
    return [c["case_id"] for c in cases]


def test_two_scans_reach_the_hub_byte_identical_and_are_never_sent_twice(tree: Tree) -> None:
    case_id = _case_with_two_scans(tree.village, "two-scans")
    headers = _token(tree.hub, "mz-review")
    unknown = requests.get(f"{tree.hub.url}/api/v1/materials/{sha(SCAN_A)}", headers=headers,
                           timeout=10)
    assert unknown.status_code == 404  # no event at the hub names it yet

    tree.settle()
    assert _queue(tree, headers) == [case_id]
    for data, media_type in ((SCAN_A, "image/jpeg"), (SCAN_B, "application/pdf")):
        for name in ("township", "hub"):
            held = _held_file(tree, name, sha(data))
            assert held is not None and sha(held) == sha(data), name
        served = requests.get(f"{tree.hub.url}/api/v1/materials/{sha(data)}", headers=headers,
                              timeout=10)
        assert served.status_code == 200
        assert served.headers["Content-Type"] == media_type
        assert served.headers["X-Content-Type-Options"] == "nosniff"
        assert sha(served.content) == sha(data)
    assert not list((tree.dirs["hub"] / "blobs").rglob("*.part"))
    page = requests.get(f"{tree.hub.url}/materials/{sha(SCAN_A)}", headers=headers, timeout=10)
    assert page.status_code == 200 and page.content == SCAN_A
    stranger = requests.get(f"{tree.hub.url}/api/v1/materials/{sha(SCAN_A)}", timeout=10)
    assert stranger.status_code == 401
    village, township = _status(tree.village), _status(tree.township)
    assert village["blob_bytes_up"] == township["blob_bytes_up"] == len(SCAN_A) + len(SCAN_B)
    assert village["blobs_pending_up"] == township["blobs_pending_up"] == 0
    # per scan: frames (signatures, chunk headers, the offer/want round) beyond the raw bytes
    overhead = village["bytes_up"] - village["blob_bytes_up"]
    print(f"village: {village['bytes_up']} bytes up for {len(SCAN_A) + len(SCAN_B)} bytes "
          f"of scans and their events; {township['bytes_up']} from the township")

    # The same photo attached to a second case, and registered with a third through the
    # village's intake form: each time the village asks, the township holds it, nothing is
    # sent again; the hub lists it on the third case's page and serves it from there.
    second = _register(tree.village, "same-scan")
    _add_scan(tree.village, second, "APPLICATION", SCAN_A, "again.jpg")
    third = _register_with_form(tree.village, SCAN_A)
    tree.settle()
    village2, township2 = _status(tree.village), _status(tree.township)
    print(f"the same photo on two more cases: {village2['bytes_up'] - village['bytes_up']} "
          f"bytes up from the village, {township2['bytes_up'] - township['bytes_up']} from "
          "the township")
    assert village2["blob_bytes_up"] == village["blob_bytes_up"]
    assert township2["blob_bytes_up"] == township["blob_bytes_up"]
    assert village2["bytes_up"] - village["bytes_up"] < 5_000  # three events and the offers
    assert township2["bytes_up"] - township["bytes_up"] < 5_000
    assert set(_queue(tree, headers)) == {case_id, second, third}
    case_page = requests.get(f"{tree.hub.url}/windows/cases/{third}", headers=headers,
                             timeout=10)
    assert case_page.status_code == 200
    link = re.search(r'href="(/materials/case/[^"]+)"', case_page.text)
    assert link is not None, case_page.text
    shown = requests.get(f"{tree.hub.url}{link.group(1)}", headers=headers, timeout=10)
    assert shown.status_code == 200 and shown.content == SCAN_A
    assert overhead > 0


def _register_with_form(village: Site, scan: bytes) -> str:
    """A case registered at the village desk's HTML form with one scan."""
    fields = {"applicant.kind": "person", "applicant.name": APPLICANT["name"],
              "applicant.id_number": APPLICANT["id_number"],
              "applicant.phone": APPLICANT["phone"], "delivery": "village",
              "idempotency_key": uuid.uuid4().hex,
              **{f"form.{k}": str(v) for k, v in FORM.items()}}
    response = signed_in(village, AGENT).post(f"{village.url}/intake/{CITY_ITEM}", data=fields,
                             files={"file.APPLICATION": ("desk.jpg", scan, "image/jpeg")},
                             allow_redirects=False, timeout=30)
    assert response.status_code == 303, response.text
    found = re.search(r"/cases/([0-9a-f-]{36})", response.headers["Location"])
    assert found is not None
    return found.group(1)


def test_a_case_is_worked_on_while_its_scans_arrive_and_a_cut_transfer_resumes(
    tree: Tree, monkeypatch: pytest.MonkeyPatch,
) -> None:
    case_id = _case_with_two_scans(tree.village, "cut")
    tree.sync("village")  # events and both scans to the township
    for data in (SCAN_A, SCAN_B):
        assert _held_file(tree, "township", sha(data)) == data

    # The township's side, in this process, with a budget of one chunk per exchange; stop
    # after the first exchange that carries scan bytes.
    from node.app import create_app
    from node.db_session import app_session
    from node.services import services_of
    from node.settings import NodeSettings
    from shared.exchange.child import sync_with_parent
    from shared.exchange.site import BLOB_BUDGET_ENV
    from shared.exchange.transport import http_transport

    app = create_app(NodeSettings.load(tree.dirs["township"]))
    with monkeypatch.context() as patched:
        patched.setenv(BLOB_BUDGET_ENV, str(SMALL_BUDGET))
        site = services_of(app).sync_site  # built now: it reads the budget
    assert site.blob_settings.budget == SMALL_BUDGET
    carried = []
    with app_session(app) as session:
        for _ in range(6):
            outcome = sync_with_parent(session, site, http_transport(30),
                                       lambda: datetime.now(UTC))
            assert outcome.ok, outcome.error
            carried.append(outcome.blob_bytes)
            if outcome.blob_bytes:
                break
    assert carried[-1] == SMALL_BUDGET and sum(carried) == SMALL_BUDGET, carried

    # The hub routed the case at once; an operator opens its scans: not here yet (202)
    headers = _token(tree.hub, "mz-review")
    assert _queue(tree, headers) == [case_id]
    arrived = 0
    for data in (SCAN_A, SCAN_B):
        waiting = requests.get(f"{tree.hub.url}/api/v1/materials/{sha(data)}",
                               headers=headers, timeout=10)
        assert waiting.status_code == 202, waiting.text
        body = waiting.json()
        assert body["status"] == "on_its_way" and body["size"] == len(data)
        arrived += body["received"]
        page = requests.get(f"{tree.hub.url}/materials/{sha(data)}", headers=headers,
                            timeout=10)
        assert page.status_code == 202 and "On its way" in page.text
    assert arrived == SMALL_BUDGET
    accepted = requests.post(f"{tree.hub.url}/api/v1/cases/{case_id}/actions",
                             json={"action": "claim"}, headers=headers, timeout=10)
    assert accepted.status_code == 200, accepted.text  # worked on while the scans arrive

    # Power cut at the hub; after the restart the township resumes where the hub's part ends
    tree.hub.kill()
    tree.hub.start()
    before = _status(tree.township)["blob_bytes_up"]
    tree.sync("township")
    after = _status(tree.township)["blob_bytes_up"]
    assert after - before == len(SCAN_A) + len(SCAN_B) - SMALL_BUDGET
    headers = _token(tree.hub, "mz-review")
    for data in (SCAN_A, SCAN_B):
        assert _held_file(tree, "hub", sha(data)) == data
        served = requests.get(f"{tree.hub.url}/api/v1/materials/{sha(data)}",
                              headers=headers, timeout=10)
        assert served.status_code == 200 and sha(served.content) == sha(data)
    assert _status(tree.township)["blobs_pending_up"] == 0
