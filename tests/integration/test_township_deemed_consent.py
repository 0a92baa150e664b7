"""缺席默许 at a township, run by the township's own job in its process: a joint case of
NY-2101 (农村村民宅基地审批, led by the township window W-NY-11, copied to the agriculture and
the natural-resources departments, whose silence at the shared deadline counts as consent) is
accepted at the township; the township is started again with its clock sixty days on (the
nodes' test-only clock offset) and ``--timer-interval 1``; its job records each silent
department's consent once, the case is decided, the lead window issues the result and it
travels down to the village."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.integration.city import AGENT, TOWNSHIP, city, signed_in
from tests.integration.deciding_clock import (
    queue_state,
    restart_ahead,
    wait_for_more_runs,
    wait_for_state,
)
from tests.integration.test_depth_four import _register
from tests.integration.test_three_tiers import _act, _token

ITEM = ("NY-2101", {"homestead_area_m2": 120, "build_type": "new", "household_size": 4,
                    "uses_farmland": False})
WINDOW = "W-NY-11"
AHEAD = timedelta(days=60)


def test_the_township_job_records_the_silent_departments_consent(tmp_path: Path) -> None:
    with city(tmp_path, {TOWNSHIP: [("t-ny-1", WINDOW)]}) as tree:
        agent = signed_in(tree.village, AGENT)
        case_id = _register(tree, "consent-1", ITEM)
        tree.sync("village")
        desk = _token(tree.township, "t-ny-1")
        for action in ("claim", "accept"):
            assert _act(tree.township, desk, case_id, action).status_code == 200
        assert queue_state(tree.township, desk, WINDOW, case_id) == "joint_approval"

        township = tree.township
        restart_ahead(township, AHEAD)
        desk = _token(township, "t-ny-1")
        assert wait_for_state(township, desk, WINDOW, case_id, "decided") == "decided"
        wait_for_more_runs(township)  # later runs of the job: nothing applied twice
        # the lead window issues the result, which the village hands over
        for action in ("claim", "issue_result"):
            done = _act(township, desk, case_id, action)
            assert done.status_code == 200, done.text

        tree.settle()
        at_village = agent.get(f"{tree.village.url}/api/v1/cases/{case_id}", timeout=10).json()
        assert at_village["stage"] == "decided", at_village["stage"]
        types = [e["type"] for e in at_village["events"]]
        assert types.count("deemed_consent") == 2, types  # NY and ZR, once each
        assert "objected" not in types
        page = agent.get(f"{tree.village.url}/cases/{case_id}", timeout=10)
        assert page.status_code == 200 and "准予" in page.text
