"""An extension (延期) at a township, over real processes: a case of MZ-0305 (临时救助申请,
decided at the township window W-MZ-11) is accepted there; the window asks for ten more
working days with a reason; the township's civil-affairs head (``department_head`` of MZ,
added with ``sanji hub add-user`` and sent down to the township like any account) approves;
the township appends ``deadline_set`` and the village that registered the case, which keeps
no calendar, shows the moved deadline once the events came down."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.city import PASSWORD, TOWNSHIP, Tree, city, signed_in
from tests.integration.processes import sanji
from tests.integration.test_three_tiers import TOWNSHIP_FORM, TOWNSHIP_ITEM, _act, _register, _token

WINDOW = "W-MZ-11"
HEAD = "t-mz-head"


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Tree]:
    with city(tmp_path, {TOWNSHIP: [("t-desk", WINDOW)]}) as built:
        yield built


def _village_deadline(tree: Tree, case_id: str) -> str | None:
    body = tree.agent().get(f"{tree.village.url}/api/v1/cases/{case_id}", timeout=10).json()
    deadline: str | None = body["deadline"]
    return deadline


@pytest.mark.integration
def test_the_heads_extension_at_the_township_moves_the_deadline_the_village_shows(
        tree: Tree) -> None:
    sanji("hub", "add-user", "--data-dir", str(tree.dirs["hub"]), "--username", HEAD,
          "--password", PASSWORD, "--role", "department_head", "--site", TOWNSHIP,
          "--department", "MZ")
    case = _register(tree.village, "to-be-extended", TOWNSHIP_ITEM, TOWNSHIP_FORM)
    case_id = case["case_id"]
    tree.sync("village", "township")  # the case goes up, the head's account comes down
    desk = _token(tree.township, "t-desk")
    assert _act(tree.township, desk, case_id, "claim").status_code == 200
    done = _act(tree.township, desk, case_id, "accept")
    assert done.status_code == 200, done.text
    accepted = done.json()["deadline"]
    assert accepted is not None
    tree.sync("township", "village")
    assert _village_deadline(tree, case_id) == accepted

    asked = _act(tree.township, desk, case_id, "request_extension", days=10,
                 reason="需入户核查家庭经济状况，承诺时限内无法办结")
    assert asked.status_code == 200, asked.text
    head = signed_in(tree.township, HEAD)
    refused = head.post(f"{tree.township.url}/api/v1/cases/{case_id}/actions",
                        json={"action": "decide_extension", "approved": False}, timeout=10)
    assert refused.status_code == 400, refused.text  # a refusal needs a reason
    assert "reason" in refused.json()["error"]["fields"]
    granted = head.post(f"{tree.township.url}/api/v1/cases/{case_id}/actions",
                        json={"action": "decide_extension", "approved": True}, timeout=10)
    assert granted.status_code == 200, granted.text
    moved = granted.json()
    assert moved["deadline"] > accepted, (moved["deadline"], accepted)
    assert [e["type"] for e in moved["events"]][-2:] == ["extension_decided", "deadline_set"]

    tree.sync("township", "village")
    assert _village_deadline(tree, case_id) == moved["deadline"]
