"""A township's own desk, real processes: an agent of the township registers SJ-0312 食品摊贩登记
there (an item the township decides). The township routes it to its own window at once, with
no exchange in between; its operators decide it; the applicant, at the same desk, rates it
不满意, and the township opens the rectification for its department."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.city import PASSWORD, TOWNSHIP, city, signed_in
from tests.integration.processes import sanji
from tests.integration.test_depth_four import APPLICANT, _work

WINDOW = "W-SJ-11"
DESK = "t-agent"


@pytest.mark.integration
def test_a_case_registered_at_the_townships_own_desk_is_decided_and_rated_there(
        tmp_path: Path) -> None:
    with city(tmp_path, {TOWNSHIP: [("sj-1", WINDOW), ("sj-2", WINDOW)]}, depth=3) as tree:
        sanji("hub", "add-user", "--data-dir", str(tree.dirs["hub"]), "--username", DESK,
              "--password", PASSWORD, "--role", "agent", "--site", TOWNSHIP)
        tree.sync("township")  # the desk's account comes down
        desk = signed_in(tree.township, DESK)
        created = desk.post(f"{tree.township.url}/api/v1/cases", timeout=10,
                            headers={"Idempotency-Key": "desk-1"},
                            json={"item_code": "SJ-0312", "applicant": APPLICANT,
                                  "form": {"stall_site": "良田镇中心市场东侧",
                                           "food_kinds": "米粉、凉菜"},
                                  "delivery": "window"})
        assert created.status_code == 201, created.text
        case_id = created.json()["case_id"]

        _work(tree.township.url, WINDOW, case_id, ("sj-1", "sj-2"))  # in the queue already
        page = f"{tree.township.url}/cases/{case_id}"
        handed = desk.post(f"{page}/handover", timeout=10, allow_redirects=False,
                           data={"method": "in_person", "receiver_name": "王小明"})
        assert handed.status_code == 303, handed.text
        rated = desk.post(f"{page}/rating", timeout=10, allow_redirects=False,
                          data={"rating": "dissatisfied", "comment": "排队时间太长"})
        assert rated.status_code == 303, rated.text

        body = desk.get(f"{tree.township.url}/api/v1/cases/{case_id}", timeout=10).json()
        types = [e["type"] for e in body["events"]]
        assert types.count("routed") == 1 and types.count("rectification_opened") == 1, types
        opened = next(e for e in body["events"] if e["type"] == "rectification_opened")
        assert opened["origin"] == TOWNSHIP
