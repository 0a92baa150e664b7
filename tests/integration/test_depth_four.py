"""A depth-4 tree (hub, county, township, village) with real processes: a county item is
decided at the county centre, a city item travels through the county to the hub and back,
and the hub sees both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from tests.integration.city import COUNTY, HUB, PASSWORD, TOWNSHIP, VILLAGE, Tree, city
from tests.integration.test_three_tiers import supervisor_token

APPLICANT = {"name": "王小明", "id_number": "431002198001010017", "phone": "13800138000"}
COUNTY_ITEM = ("MZ-0101", {"household_size": 3, "monthly_income": 800,
                           "residence_type": "rural", "bank_account": "6222020200112233"})
CITY_ITEM = ("GA-5601", {"enterprise_name": "郴州市良田米业有限公司",
                         "uscc": "91110000710925462X", "seal_count": 2})


def _register(tree: Tree, key: str, item: tuple[str, dict[str, Any]]) -> str:
    response = tree.agent().post(f"{tree.village.url}/api/v1/cases", timeout=10,
                             json={"item_code": item[0], "applicant": APPLICANT,
                                   "form": item[1], "delivery": "village"},
                             headers={"Idempotency-Key": key})
    assert response.status_code == 201, response.text
    case_id: str = response.json()["case_id"]
    return case_id


def _work(url: str, window: str, case_id: str, users: tuple[str, str]) -> dict[str, Any]:
    tokens = []
    for username in users:
        login = requests.post(f"{url}/api/v1/auth/token", timeout=10,
                              json={"username": username, "password": PASSWORD})
        assert login.status_code == 200, login.text
        tokens.append({"Authorization": f"Bearer {login.json()['access_token']}"})
    queue = requests.get(f"{url}/api/v1/windows/{window}/cases", headers=tokens[0],
                         timeout=10).json()["cases"]
    assert case_id in [c["case_id"] for c in queue]
    body: dict[str, Any] = {}
    for who, action in ((0, "claim"), (0, "accept"), (0, "approve"), (1, "claim"),
                        (1, "check"), (1, "issue_result")):
        response = requests.post(f"{url}/api/v1/cases/{case_id}/actions", timeout=10,
                                 json={"action": action}, headers=tokens[who])
        assert response.status_code == 200, response.text
        body = response.json()
    return body


def test_a_county_sits_between_the_hub_and_the_township(tmp_path: Path) -> None:
    operators = {HUB: [("ga-1", "W-GA-01"), ("ga-2", "W-GA-01")],
                 COUNTY: [("c-mz-1", "W-MZ-02"), ("c-mz-2", "W-MZ-02")]}
    with city(tmp_path, operators, depth=4) as tree:
        assert tree.county is not None
        county_case = _register(tree, "county", COUNTY_ITEM)
        city_case = _register(tree, "city", CITY_ITEM)
        tree.sync("village", "township", "county")
        decided = _work(tree.county.url, "W-MZ-02", county_case, ("c-mz-1", "c-mz-2"))
        assert decided["outcome"] == "approved"
        decided = _work(tree.hub.url, "W-GA-01", city_case, ("ga-1", "ga-2"))
        assert decided["outcome"] == "approved"
        tree.settle()
        for case_id in (county_case, city_case):
            shown = tree.agent().get(f"{tree.village.url}/api/v1/cases/{case_id}",
                                 timeout=10).json()
            assert shown["stage"] == "decided"
            assert [e["type"] for e in shown["events"]].count("result_issued") == 1
        status = tree.agent().get(f"{tree.village.url}/api/v1/sync/status", timeout=10).json()
        assert status["rejected_down"] == 0  # every event came with its author's certificate
        headers = supervisor_token(tree)  # the hub supervises the county's case
        at_hub = requests.get(f"{tree.hub.url}/api/v1/cases/{county_case}", timeout=10,
                              headers=headers).json()
        assert {e["origin"] for e in at_hub["events"]} == {VILLAGE, COUNTY}
        assert at_hub["outcome"] == "approved"
        assert TOWNSHIP not in {e["origin"] for e in at_hub["events"]}  # a relay only
