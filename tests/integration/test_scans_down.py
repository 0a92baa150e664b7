"""A scan fetched down the tree for the office that decides a case registered elsewhere.

Real processes in a depth-4 tree (the county 431002 over the townships B 431002001, with the
village, A 431002002 and C 431002003): a case of a township-A applicant registered with a
scan at the B village is referred to A by the county. A's window operator opens the scan:
A asks the county once, checks the bytes and keeps them, so the second view needs no
parent. The county gives the scan to nobody else: township C, outside the case's way, and a
request no child vouched for both get 404.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from node.enrolment_setup import site_key
from shared.exchange.lookup_relay import HEADER, relay_header
from shared.storage.blob_store import BlobStore
from shared.storage.sealing import ScanSealer, load_data_keys
from shared.web.scan_fetch import relay_pair
from tests.integration.city import TOWNSHIP, Tree, city, signed_in
from tests.integration.test_handle_anywhere import TOWNSHIP_A, WINDOW, _register

TOWNSHIP_C = "431002003"
SCAN = b"\xff\xd8\xff\xe0" + os.urandom(120_000)  # a photo of the hospital bill
SHA = hashlib.sha256(SCAN).hexdigest()


def _held(tree: Tree, name: str) -> bytes | None:
    blobs = BlobStore(tree.dirs[name] / "blobs",
                      ScanSealer(load_data_keys(tree.dirs[name] / "keys")))
    return blobs.get(SHA) if blobs.has(SHA) else None


@pytest.mark.integration
def test_the_deciding_township_fetches_a_referred_cases_scan_once_from_its_parent(
        tmp_path: Path) -> None:
    operators = {TOWNSHIP_A: [("a-mz-1", WINDOW), ("a-mz-2", WINDOW)],
                 TOWNSHIP: [("b-mz-1", WINDOW), ("b-mz-2", WINDOW)],
                 TOWNSHIP_C: [("c3-mz-1", WINDOW)]}
    with city(tmp_path, operators, depth=4,
              other_townships=(TOWNSHIP_A, TOWNSHIP_C)) as tree:
        assert tree.county is not None
        township_a = tree.others[TOWNSHIP_A]
        tree.sync(TOWNSHIP_A)  # A's operators' accounts come down
        case_id = _register(tree, "scan-down-1", TOWNSHIP_A)["case_id"]
        added = tree.agent().post(f"{tree.village.url}/api/v1/cases/{case_id}/materials",
                                  data={"material_code": "HARDSHIP_PROOF"},
                                  files={"file": ("bill.jpg", SCAN)}, timeout=30)
        assert added.status_code == 201, added.text
        for _ in range(10):  # the scan goes up in chunks behind its events
            if _held(tree, "county") is not None:
                break
            tree.sync("village", "township")
        assert _held(tree, "county") == SCAN
        tree.sync(TOWNSHIP_A)  # the county's down stream brings the case to A
        assert _held(tree, TOWNSHIP_A) is None  # no scan ever goes down by itself

        operator = signed_in(township_a, "a-mz-1")
        page = operator.get(f"{township_a.url}/materials/case/{case_id}/0", timeout=30)
        assert page.status_code == 200, page.text
        assert page.content == SCAN
        assert page.headers["Content-Type"] == "image/jpeg"
        assert _held(tree, TOWNSHIP_A) == SCAN  # kept, sealed, in A's own store

        # nobody else gets it from the county, and nobody learns whether it exists
        url = f"{tree.county.url}/api/v1/scans/{SHA}"
        c_key = site_key(tree.dirs[TOWNSHIP_C] / "keys", TOWNSHIP_C)
        header = relay_header(c_key, "window_operator:c3-mz-1",
                              *relay_pair(SHA, uuid.UUID(case_id)), datetime.now(UTC))
        outside = requests.get(url, params={"case": case_id}, headers={HEADER: header},
                               timeout=10)
        assert outside.status_code == 404
        assert SHA not in outside.text
        unsigned = requests.get(url, params={"case": case_id}, timeout=10)
        assert unsigned.status_code == 404
        a_key = site_key(tree.dirs[TOWNSHIP_A] / "keys", TOWNSHIP_A)
        own = relay_header(a_key, "window_operator:a-mz-1", *relay_pair(SHA, uuid.UUID(case_id)),
                           datetime.now(UTC))
        vouched = requests.get(url, params={"case": case_id}, headers={HEADER: own},
                               timeout=10)
        assert vouched.status_code == 200 and vouched.content == SCAN

        tree.county.stop()  # the second view is local
        again = operator.get(f"{township_a.url}/materials/{SHA}", timeout=30)
        assert again.status_code == 200 and again.content == SCAN

