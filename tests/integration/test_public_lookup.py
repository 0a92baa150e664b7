"""The public status lookup across the tree, on real processes over HTTP.

A village answers for its own cases from its copy, with ``as_of`` the time of its last
exchange (not of the request), and keeps answering with the parent gone. For a case it does
not hold it asks its township once, which asks the hub in turn: a case registered at the
township's front desk, and one registered at the city's. Wrong pairs relayed from the
village count against that client at every site above it, not against the village's
address: the hub still answers a citizen at the same address who asks it directly; a relay
header the hub cannot verify counts against the address that sent it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.city import (
    AGENT,
    HUB,
    PASSWORD,
    TOWNSHIP,
    TOWNSHIP_AGENT,
    VILLAGE,
    Tree,
    city,
    signed_in,
)
from tests.integration.processes import Site, sanji
from tests.integration.test_three_tiers import CITY_ITEM, FORM

APPLICANT = {"name": "赵六", "id_number": "11010519491231002X", "phone": "13800138000"}
CITY_AGENT = "city-front-desk"


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Tree]:
    with city(tmp_path, {}) as built:
        yield built


def _register(session: requests.Session, site: Site, key: str) -> dict[str, Any]:
    response = session.post(f"{site.url}/api/v1/cases", timeout=10,
                            headers={"Idempotency-Key": key},
                            json={"item_code": CITY_ITEM, "applicant": APPLICANT, "form": FORM,
                                  "delivery": "window"})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _look_up(site: Site, case: dict[str, Any], code: str | None = None,
             headers: dict[str, str] | None = None) -> requests.Response:
    return requests.get(f"{site.url}/api/v1/public/status", timeout=30, headers=headers,
                        params={"acceptance_no": case["acceptance_no"],
                                "query_code": code or case["query_code"]})


def test_a_village_answers_from_its_copy_and_asks_up_for_the_rest(tree: Tree) -> None:
    own = _register(signed_in(tree.village, AGENT), tree.village, "own")
    at_township = _register(signed_in(tree.township, TOWNSHIP_AGENT), tree.township, "town")
    sanji("hub", "add-user", "--data-dir", str(tree.dirs["hub"]), "--username", CITY_AGENT,
          "--password", PASSWORD, "--role", "agent", "--site", HUB)
    at_city = _register(signed_in(tree.hub, CITY_AGENT), tree.hub, "city")
    tree.settle()
    settled = datetime.now(UTC)

    mine = _look_up(tree.village, own)
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert body["acceptance_no"] == own["acceptance_no"] and body["item_name"]
    assert "赵" not in mine.text  # nothing personal
    assert datetime.fromisoformat(body["as_of"]) <= settled  # the copy's age, not the request's

    # the township's copy is as old as its last exchange; the hub's is the live one
    for case, live in ((at_township, False), (at_city, True)):
        relayed = _look_up(tree.village, case)
        assert relayed.status_code == 200, relayed.text
        answer = relayed.json()
        assert (answer["acceptance_no"], answer["stage"]) == (case["acceptance_no"],
                                                              "at_window")
        assert (datetime.fromisoformat(answer["as_of"]) > settled) is live, answer
    page = requests.get(f"{tree.hub.url}/status", timeout=10,
                        params={"acceptance_no": at_city["acceptance_no"],
                                "query_code": at_city["query_code"]})
    assert page.status_code == 200 and at_city["acceptance_no"] in page.text

    # ten wrong pairs through the village: the village and every site above count them
    # against this client, so the village refuses the eleventh ...
    for _ in range(10):
        assert _look_up(tree.village, at_city, "ZZZZZZZZ").status_code == 404
    refused = _look_up(tree.village, at_city)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    # ... while the hub, asked directly from the same address, still answers
    assert _look_up(tree.hub, at_city).status_code == 200
    with sqlite3.connect(tree.dirs["hub"] / "hub.sqlite") as db:
        counted = {row[0] for row in db.execute(
            "SELECT DISTINCT address FROM acct_failures WHERE kind = 'status'")}
    assert counted == {f"{TOWNSHIP}/{VILLAGE}/127.0.0.1"}, counted

    # a relay header nobody below signed counts against the address that sent it
    forged = {"X-Sanji-Relay": f"{TOWNSHIP};someone-else;{int(settled.timestamp() * 1000)};"
                               f"{'00' * 8};{'00' * 64}"}
    for _ in range(10):
        assert _look_up(tree.hub, at_city, "ZZZZZZZZ", forged).status_code == 404
    assert _look_up(tree.hub, at_city).status_code == 429


def test_without_its_parent_a_village_answers_its_own_and_says_it_cannot_ask(
        tree: Tree) -> None:
    own = _register(signed_in(tree.village, AGENT), tree.village, "own")
    at_township = _register(signed_in(tree.township, TOWNSHIP_AGENT), tree.township, "town")
    tree.settle()
    tree.township.stop()
    offline = _look_up(tree.village, own)
    assert offline.status_code == 200 and offline.json()["stage"] == "at_window"
    cut_off = _look_up(tree.village, at_township)
    assert cut_off.status_code == 503 and cut_off.headers["Retry-After"]
    assert cut_off.json()["error"]["code"] == "unavailable"
    # a pair the village cannot check is not counted as a wrong guess
    for _ in range(12):
        assert _look_up(tree.village, at_township).status_code == 503
