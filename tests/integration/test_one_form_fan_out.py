"""One form, one thing (一表制), real processes in a depth-4 tree: a village registers the
composite YJS-0003 (residence permit and employment certificate) once; it fans out into a
case per department, each routed to its own county window and decided there in parallel by
two operators (一审一核). The household registration window refuses its part, the employment
window approves its own; both results come back down once, and the parent is complete (one
approved, one refused) at the village and at the hub, whose month report counts the parent
once with the fields and materials its one form spared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.city import COUNTY, PASSWORD, city
from tests.integration.test_depth_four import APPLICANT, _work
from tests.integration.test_three_tiers import supervisor_token

GA, RS = "W-GA-02", "W-RS-02"
FORM = {"residence_address": "北湖区人民路 18 号", "residence_since": "2024-06-01",
        "employer": "郴州市良田米业有限公司", "employment_status": "flexible",
        "education": "secondary"}


def _token(url: str, username: str) -> dict[str, str]:
    login = requests.post(f"{url}/api/v1/auth/token", timeout=10,
                          json={"username": username, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def _refuse(url: str, case_id: str, users: tuple[str, str]) -> dict[str, Any]:
    reviewer, checker = (_token(url, u) for u in users)
    body: dict[str, Any] = {}
    for headers, action, extra in (
            (reviewer, "claim", {}), (reviewer, "accept", {}), (reviewer, "approve", {}),
            (checker, "claim", {}),
            (checker, "reject", {"reason": "居住证明的租赁合同已过期,不符合申领条件"}),
            (checker, "issue_result", {})):
        answer = requests.post(f"{url}/api/v1/cases/{case_id}/actions", timeout=10,
                               headers=headers, json={"action": action, **extra})
        assert answer.status_code == 200, (action, answer.text)
        body = answer.json()
    return body


@pytest.mark.integration
def test_one_form_fans_out_to_two_departments_and_joins_with_one_refusal(
        tmp_path: Path) -> None:
    operators = {COUNTY: [("ga-1", GA), ("ga-2", GA), ("rs-1", RS), ("rs-2", RS)]}
    with city(tmp_path, operators, depth=4) as tree:
        assert tree.county is not None
        agent = tree.agent()
        created = agent.post(f"{tree.village.url}/api/v1/bundles", timeout=30,
                             headers={"Idempotency-Key": "one-form-1"},
                             json={"composite": "YJS-0003", "applicant": APPLICANT,
                                   "form": FORM, "delivery": "village"})
        assert created.status_code == 201, created.text
        parent = created.json()
        by_item = {}
        for part in parent["cases"]:
            shown = agent.get(f"{tree.village.url}/api/v1/cases/{part['case_id']}",
                              timeout=10).json()
            by_item[shown["item_code"]] = part["case_id"]
        assert set(by_item) == {"GA-4410", "RS-2205"}

        tree.sync("village", "township", "county")
        refused = _refuse(tree.county.url, by_item["GA-4410"], ("ga-1", "ga-2"))
        assert refused["outcome"] == "rejected"
        approved = _work(tree.county.url, RS, by_item["RS-2205"], ("rs-1", "rs-2"))
        assert approved["outcome"] == "approved"
        tree.settle()
        tree.settle()  # a second round brings nothing more

        at_village = agent.get(f"{tree.village.url}/api/v1/bundles/{parent['bundle_id']}",
                               timeout=10).json()
        assert at_village["state"] == "complete"
        assert (at_village["approved"], at_village["refused"]) == (1, 1)
        assert at_village["acceptance_no"] == parent["acceptance_no"]
        assert sorted(p["outcome"] for p in at_village["parts"]) == ["approved", "rejected"]
        for case_id in by_item.values():
            shown = agent.get(f"{tree.village.url}/api/v1/cases/{case_id}", timeout=10).json()
            assert [e["type"] for e in shown["events"]].count("result_issued") == 1

        headers = supervisor_token(tree)
        at_hub = requests.get(f"{tree.hub.url}/api/v1/bundles/{parent['bundle_id']}",
                              headers=headers, timeout=10).json()
        assert at_hub["state"] == "complete", at_hub
        assert len(at_hub["parts"]) == 2 and at_hub["parts_expected"] == 2
        assert {p["item_code"] for p in at_hub["parts"]} == {"GA-4410", "RS-2205"}
        assert at_hub["acceptance_no"] == parent["acceptance_no"]

        # the month's report counts the parent once, with what its one form spared
        day = parent["acceptance_no"].split("-")[1]
        report = requests.get(f"{tree.hub.url}/api/v1/reports/month", headers=headers,
                              params={"date": f"{day[:4]}-{day[4:6]}-{day[6:]}"},
                              timeout=10).json()
        rows = {r["composite"]: r for r in report["one_forms"]}
        assert (rows["YJS-0003"]["applications"], rows["YJS-0003"]["complete"]) == (1, 1)
        assert rows["YJS-0003"]["fields_spared"] == 3  # 11 fields item by item, 8 on one form
        assert rows["YJS-0003"]["materials_spared"] == 2  # ID card and photo handed in once
        assert rows["YJS-0001"]["applications"] == 0
