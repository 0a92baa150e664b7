"""A full disk at a village: its data directory sits on a tiny tmpfs, so the kernel answers
ENOSPC to the node's own writes (SQLite and scans). Cases are registered until one is
refused: that one is answered 507 ``disk_full`` with a clear message and no numbers (no
receipt can be printed), a scan too large for what is left is refused the same way, and
nothing of either is kept. Once the mount grows (the space comes back) the same node process
registers the refused case under its idempotency key, the store holds no half case,
``sanji audit verify`` passes, and every case reaches the hub once."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest
import requests

from tests.ci import unavailable
from tests.integration.city import Tree, city
from tests.integration.fault_city import (
    APPLICANT,
    FORM,
    ITEM,
    OPERATORS,
    Tally,
    count,
    register,
    settle,
)
from tests.integration.small_disk import mount_refused, small_disk

MAX_CASES = 400  # a bound: the disk is full long before
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def _post(tree: Tree, key: str) -> requests.Response:
    return tree.agent().post(f"{tree.village.url}/api/v1/cases", timeout=30,
                             json={"item_code": ITEM, "applicant": APPLICANT, "form": FORM,
                                   "delivery": "village"}, headers={"Idempotency-Key": key})


def _refusal_is_clear(response: requests.Response, tally: Tally, what: str) -> None:
    body = response.json() if response.headers.get("Content-Type", "").startswith(
        "application/json") else {}
    error = body.get("error", {})
    if response.status_code != 507 or error.get("code") != "disk_full" \
            or "disk is full" not in error.get("message", "") or "acceptance_no" in body:
        tally.flag(f"{what} refused with {response.status_code}: {response.text[:300]}")


def _stored(tree: Tree) -> tuple[set[str], int]:
    """The village's case list and its registered events, read from its database file."""
    with sqlite3.connect(tree.dirs["village"] / "node.sqlite") as db:
        cases = {str(row[0]) for row in db.execute("SELECT case_id FROM node_cases")}
        events = db.execute("SELECT COUNT(*) FROM sync_events WHERE type = 'registered'"
                            ).fetchone()[0]
    return {c if "-" in c else f"{c[:8]}-{c[8:12]}-{c[12:16]}-{c[16:20]}-{c[20:]}"
            for c in cases}, int(events)


def disk_full_once(tmp_path: Path, rng: random.Random) -> Tally:
    """One run: the village's disk with a random few hundred KiB free."""
    tally = Tally(runs=1)
    with city(tmp_path, OPERATORS) as tree:
        case_ids = [register(tree, "before")]
        tree.village.stop()
        with small_disk(tree.dirs["village"], free=rng.randint(96, 640) << 10) as disk:
            tree.village.start()
            refused_key = None
            for n in range(MAX_CASES):
                response = _post(tree, f"full-{n}")
                if response.status_code == 201:
                    case_ids.append(response.json()["case_id"])
                    continue
                _refusal_is_clear(response, tally, "a case")
                refused_key = f"full-{n}"
                break
            if refused_key is None:
                tally.flag(f"{MAX_CASES} cases and the disk never filled")
            else:
                scan = tree.agent().post(
                    f"{tree.village.url}/api/v1/cases/{case_ids[0]}/materials", timeout=30,
                    data={"material_code": "BUSINESS_LICENCE"},
                    files={"file": ("scan.png", PNG * 400, "image/png")})
                _refusal_is_clear(scan, tally, "a scan")
            disk.grow()
            if refused_key is not None:
                again = _post(tree, refused_key)
                if again.status_code != 201:  # 200 would mean a half case had been kept
                    tally.flag(f"the refused case after space returned: {again.status_code}")
                else:
                    case_ids.append(again.json()["case_id"])
            case_ids.append(register(tree, "after-space-returned"))
            tree.village.stop()
        tree.village.start()
        tree._agent = None
        cases, registered = _stored(tree)
        if cases != set(case_ids) or registered != len(case_ids):
            tally.flag(f"the village holds {len(cases)} cases and {registered} registrations "
                       f"for {len(case_ids)} accepted")
        settle(tree, tally)
        count(tree, case_ids, tally)
    return tally


@pytest.mark.timeout(600)
def test_a_full_disk_refuses_a_case_whole_and_the_node_recovers(tmp_path: Path) -> None:
    reason = mount_refused()
    if reason is not None:
        unavailable(reason)
    tally = disk_full_once(tmp_path, random.Random(17))
    assert tally.clean, tally.notes
