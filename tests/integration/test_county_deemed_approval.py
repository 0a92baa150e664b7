"""超时许可 at a county, run by the county's own job in its process: a case of NY-4102
(兽药经营许可证核发, decided at the county window W-NY-02, approved by the rule when undecided at
its legal limit of 20 working days) is accepted at the county; the county is started again
with its clock sixty days on (the nodes' test-only clock offset) and ``--timer-interval 1``;
its job approves the case by the rule, once, and the decision travels down: the village shows
it as approved by the rule and prints the decision document, which says so."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

from shared.pdf.result_document import DEEMED_TEXT
from tests.integration.city import AGENT, COUNTY, city, signed_in
from tests.integration.deciding_clock import restart_ahead, wait_for_more_runs, wait_for_state
from tests.integration.test_depth_four import _register
from tests.integration.test_three_tiers import _act, _token

ITEM = ("NY-4102", {"shop_name": "苏仙区良田兽药店", "business_area_m2": 45})
WINDOW = "W-NY-02"
AHEAD = timedelta(days=60)


def test_the_county_job_approves_an_overdue_case_by_the_rule_and_the_village_prints_it(
        tmp_path: Path) -> None:
    with city(tmp_path, {COUNTY: [("c-ny-1", WINDOW)]}, depth=4) as tree:
        assert tree.county is not None
        agent = signed_in(tree.village, AGENT)
        case_id = _register(tree, "deemed-1", ITEM)
        tree.sync("village", "township", "county")
        desk = _token(tree.county, "c-ny-1")
        for action in ("claim", "accept"):
            assert _act(tree.county, desk, case_id, action).status_code == 200

        county = tree.county
        restart_ahead(county, AHEAD)
        desk = _token(county, "c-ny-1")
        assert wait_for_state(county, desk, WINDOW, case_id, "decided") == "decided"
        wait_for_more_runs(county)  # later runs of the job: nothing applied twice

        tree.settle()
        at_village = agent.get(f"{tree.village.url}/api/v1/cases/{case_id}", timeout=10).json()
        assert at_village["stage"] == "decided", at_village
        types = [e["type"] for e in at_village["events"]]
        assert types.count("deemed_approved") == 1 and "checked" not in types
        page = agent.get(f"{tree.village.url}/cases/{case_id}", timeout=10)
        assert page.status_code == 200 and 'id="deemed"' in page.text
        pdf = agent.get(f"{tree.village.url}/cases/{case_id}/result.pdf", timeout=30)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    path = tmp_path / "result.pdf"
    path.write_bytes(pdf.content)
    text = subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout
    assert DEEMED_TEXT[:12] in "".join(text.split()), text
    assert "农业农村局" in text
