"""Key rotation over the offline channel, between real ``sanji`` processes on 127.0.0.1.

The village rotates its key (``sanji node rotate-key``), then the township, then the hub
its own, twice (``sanji hub rotate-key``). After each, a case registered at the village
reaches the hub, is decided there, and the decision comes back down to the village; every
site's chains verify (``sanji audit verify``). Once the township has adopted the village's
rotation, a request the old village key signs is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from shared.exchange.site import CONTENT_TYPE, EXCHANGE_PATH
from sync_protocol import ChildExchange, KeyRing, ParentLink, generate_key, load_key
from sync_protocol.framing import Kind, peek_frame
from sync_protocol.messages import decode_refusal
from tests.integration.city import HUB, TOWNSHIP, VILLAGE, Tree, city
from tests.integration.processes import sanji
from tests.integration.test_three_tiers import _act, _register, _token


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Tree]:
    with city(tmp_path, {HUB: [("mz-review", "W-MZ-01"), ("mz-check", "W-MZ-01")]}) as built:
        yield built


def _decide_at_hub(tree: Tree, case_id: str) -> None:
    review, check = _token(tree.hub, "mz-review"), _token(tree.hub, "mz-check")
    for headers, action in ((review, "claim"), (review, "accept"), (review, "approve"),
                            (check, "claim"), (check, "check"), (check, "issue_result")):
        response = _act(tree.hub, headers, case_id, action)
        assert response.status_code == 200, response.text


def _round_trip(tree: Tree, key: str) -> str:
    """A case registered at the village now reaches the hub and its decision the village."""
    case_id: str = _register(tree.village, key)["case_id"]
    tree.sync("village", "township")
    _decide_at_hub(tree, case_id)
    tree.sync("township", "village")
    shown = tree.agent().get(f"{tree.village.url}/api/v1/cases/{case_id}", timeout=10).json()
    assert shown["stage"] == "decided", shown
    status = tree.agent().get(f"{tree.village.url}/api/v1/sync/status", timeout=10).json()
    assert status["pending_up"] == 0 and status["last_error"] is None
    return case_id


def _all_verify(tree: Tree) -> None:
    for name in ("hub", "township", "village"):
        out = sanji("audit", "verify", "--data-dir", str(tree.dirs[name]))
        assert "every chain verifies" in out, out


def _refusal_code(data: bytes) -> str:
    frame = peek_frame(data, dictionaries={})
    assert frame.kind is Kind.REFUSAL
    return decode_refusal(frame.open()).code


def test_rotated_village_and_hub_keys_carry_cases_both_ways(tree: Tree) -> None:
    village_key = tree.dirs["village"] / "keys" / "site.key"
    old_village = load_key(VILLAGE, village_key.read_bytes())
    _round_trip(tree, "before")

    tree.village.stop()
    out = sanji("node", "rotate-key", "--data-dir", str(tree.dirs["village"]))
    tree.village.start()
    new_village = load_key(VILLAGE, village_key.read_bytes())
    assert new_village.key_id != old_village.key_id
    assert f"{old_village.key_id.hex()} -> {new_village.key_id.hex()}" in out
    assert "1 credential(s) queued for the parent" in out
    _round_trip(tree, "after-village-rotation")
    _all_verify(tree)

    # the township adopted the rotation: a request the old key signs is refused
    stale = ChildExchange(key=old_village, keyring=KeyRing(HUB, generate_key(HUB).public_raw),
                          link=ParentLink(site=VILLAGE, parent=TOWNSHIP, introduced=True))
    request = stale.request(datetime.now(UTC)).data
    refused = requests.post(f"{tree.township.url}{EXCHANGE_PATH}", data=request, timeout=10,
                            headers={"Content-Type": CONTENT_TYPE})
    assert refused.status_code >= 400
    assert _refusal_code(refused.content) == "key_revoked"

    # a relay rotates: its village meets an answer signed by a key it does not know, asks
    # again at once and learns the rotation from the township's complete answer
    tree.township.stop()
    out = sanji("node", "rotate-key", "--data-dir", str(tree.dirs["township"]))
    tree.township.start()
    assert "(rotation 1)" in out
    _round_trip(tree, "after-township-rotation")

    hub_key = tree.dirs["hub"] / "keys" / "hub.key"
    old_hub = load_key(HUB, hub_key.read_bytes())
    tree.hub.stop()
    out = sanji("hub", "rotate-key", "--data-dir", str(tree.dirs["hub"]))
    middle = load_key(HUB, hub_key.read_bytes())
    assert f"{old_hub.key_id.hex()} -> {middle.key_id.hex()}" in out
    assert "back up" in out
    # twice while the township and the village are away: they follow the chain of two
    out = sanji("hub", "rotate-key", "--data-dir", str(tree.dirs["hub"]))
    tree.hub.start()
    new_hub = load_key(HUB, hub_key.read_bytes())
    assert f"{middle.key_id.hex()} -> {new_hub.key_id.hex()} (rotation 2)" in out
    _round_trip(tree, "after-hub-rotation")
    _all_verify(tree)

