"""超时许可 at a county and at a township, each run by the deciding site's own job in its
process. A case of an item the catalogue approves by the rule when undecided at its legal
limit is accepted there: NY-4102 兽药经营许可证核发 at the county window W-NY-02 (20 working
days), SJ-0312 食品摊贩登记 at the township window W-SJ-11 (10 working days). The site is
started again with its clock sixty days on (the nodes' test-only clock offset) and
``--timer-interval 1``; its job approves the case by the rule, once, and the decision
travels down: the village shows it as approved by the rule and prints the decision
document, which says so."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.pdf.result_document import DEEMED_TEXT
from tests.integration.city import AGENT, COUNTY, TOWNSHIP, city, signed_in
from tests.integration.deciding_clock import restart_ahead, wait_for_more_runs, wait_for_state
from tests.integration.test_depth_four import _register
from tests.integration.test_three_tiers import _act, _token

AHEAD = timedelta(days=60)


@dataclass(frozen=True)
class Deciding:
    tier: str  # the Tree attribute of the deciding site
    site_code: str
    depth: int
    item: tuple[str, dict[str, Any]]
    window: str
    department_name: str  # printed on the result document


COUNTY_CASE = Deciding("county", COUNTY, 4,
                       ("NY-4102", {"shop_name": "苏仙区良田兽药店", "business_area_m2": 45}),
                       "W-NY-02", "农业农村局")
TOWNSHIP_CASE = Deciding("township", TOWNSHIP, 3,
                         ("SJ-0312", {"stall_site": "良田镇中心市场东侧",
                                      "food_kinds": "米粉、凉菜"}),
                         "W-SJ-11", "市场监督管理局")


@pytest.mark.parametrize("deciding", [COUNTY_CASE, TOWNSHIP_CASE], ids=lambda d: d.tier)
def test_the_deciding_sites_job_approves_an_overdue_case_by_the_rule_and_the_village_prints_it(
        tmp_path: Path, deciding: Deciding) -> None:
    with city(tmp_path, {deciding.site_code: [("desk-1", deciding.window)]},
              depth=deciding.depth) as tree:
        agent = signed_in(tree.village, AGENT)
        case_id = _register(tree, "deemed-1", deciding.item)
        tree.settle()
        site = getattr(tree, deciding.tier)
        desk = _token(site, "desk-1")
        for action in ("claim", "accept"):
            assert _act(site, desk, case_id, action).status_code == 200

        restart_ahead(site, AHEAD)
        desk = _token(site, "desk-1")
        assert wait_for_state(site, desk, deciding.window, case_id, "decided") == "decided"
        wait_for_more_runs(site)  # later runs of the job: nothing applied twice

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
    assert deciding.department_name in text
