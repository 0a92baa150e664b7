"""The supervision scan at a township, run by the township's own job in its process: a case
of MZ-0305 (临时救助申请, decided at the township window W-MZ-11) is accepted there; the
township is started again with its clock two hundred days on (the nodes' test-only clock
offset) and ``--timer-interval 1``; its job cards the case red by itself, once, and the
card travels up: the city's supervisor reads it in the case's history at the hub."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.city import TOWNSHIP, Tree, city
from tests.integration.deciding_clock import restart_ahead, wait_for_more_runs, wait_until
from tests.integration.test_three_tiers import (
    TOWNSHIP_FORM,
    TOWNSHIP_ITEM,
    _act,
    _register,
    _token,
    supervisor_token,
)

WINDOW = "W-MZ-11"
AHEAD = timedelta(days=200)


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Tree]:
    with city(tmp_path, {TOWNSHIP: [("t-desk", WINDOW)]}) as built:
        yield built


def _signals_at_hub(tree: Tree, headers: dict[str, str], case_id: str
                    ) -> list[dict[str, Any]]:
    body = requests.get(f"{tree.hub.url}/api/v1/cases/{case_id}", headers=headers,
                        timeout=10).json()
    return [e for e in body["events"] if e["type"] == "signalled"]


@pytest.mark.integration
def test_the_township_job_cards_an_overdue_case_by_itself(tree: Tree) -> None:
    case = _register(tree.village, "to-be-late", TOWNSHIP_ITEM, TOWNSHIP_FORM)
    tree.sync("village")
    desk = _token(tree.township, "t-desk")
    for action in ("claim", "accept"):
        assert _act(tree.township, desk, case["case_id"], action).status_code == 200

    township = tree.township
    restart_ahead(township, AHEAD)
    lead = supervisor_token(tree)

    def synced_signals() -> list[dict[str, Any]]:
        tree.sync("township")
        return _signals_at_hub(tree, lead, case["case_id"])

    signals = wait_until(synced_signals, bool)
    assert [(s["origin"], s["actor"]) for s in signals] == [(TOWNSHIP, "system:system")]
    wait_for_more_runs(township)  # later runs of the township's job: nothing raised twice
    tree.sync("township")
    assert len(_signals_at_hub(tree, lead, case["case_id"])) == 1
    board = requests.get(f"{township.url}/board", timeout=10)  # the township hall's board
    assert board.status_code == 200 and 'id="overdue"><b>1</b>' in board.text
    # the city's dashboard counts the township's case under its tier, window and item
    page = requests.get(f"{tree.hub.url}/supervision", headers=lead, timeout=10)
    assert page.status_code == 200, page.text
    tier_rows = page.text.split('id="by-tier"', 1)[1].split("</table>", 1)[0]
    assert '<tr><td>乡镇</td><td class="n">1</td>' in tier_rows, tier_rows
    window_rows = page.text.split('id="by-window"', 1)[1].split("</table>", 1)[0]
    assert f"{TOWNSHIP} {WINDOW}</td>" in window_rows, window_rows
    assert f"{TOWNSHIP} {WINDOW}</td><td class=\"n\">1</td>" in window_rows
    carded = window_rows.split(f"{TOWNSHIP} {WINDOW}</td>", 1)[1].split("</tr>", 1)[0]
    assert carded.endswith('<td class="n">1</td>'), carded  # the red card
