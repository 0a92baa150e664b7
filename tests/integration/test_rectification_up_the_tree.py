"""差评整改 across the tree, real processes: a township decides SJ-0312 食品摊贩登记, the
village hands the result over and the applicant rates it 非常不满意 there. The rating travels
up; the township, which decided the case, opens the rectification for its department; its
window answers and records the call-back; every event travels up to the hub, whose monthly
report counts the township's loop, and down to the village."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests

from tests.integration.city import AGENT, TOWNSHIP, city, signed_in
from tests.integration.test_depth_four import _register, _work
from tests.integration.test_three_tiers import _act, _token, supervisor_token

ITEM = ("SJ-0312", {"stall_site": "良田镇中心市场东侧", "food_kinds": "米粉、凉菜"})
WINDOW = "W-SJ-11"


def test_a_bad_rating_at_the_village_is_rectified_at_the_township_and_counted_at_the_hub(
        tmp_path: Path) -> None:
    with city(tmp_path, {TOWNSHIP: [("sj-1", WINDOW), ("sj-2", WINDOW)]}, depth=3) as tree:
        agent = signed_in(tree.village, AGENT)
        case_id = _register(tree, "rect-1", ITEM)
        tree.settle()
        _work(tree.township.url, WINDOW, case_id, ("sj-1", "sj-2"))
        tree.settle()

        page = f"{tree.village.url}/cases/{case_id}"
        handed = agent.post(f"{page}/handover", timeout=10, allow_redirects=False,
                            data={"method": "in_person", "receiver_name": "王𠮷祥"})
        assert handed.status_code == 303, handed.text
        rated = agent.post(f"{page}/rating", timeout=10, allow_redirects=False,
                           data={"rating": "very_dissatisfied", "attitude": "1",
                                 "comment": "窗口态度差"})
        assert rated.status_code == 303, rated.text
        tree.settle()

        desk = _token(tree.township, "sj-1")
        answered = _act(tree.township, desk, case_id, "answer_rectification",
                        reason="已约谈窗口人员并整改服务态度")
        assert answered.status_code == 200, answered.text
        called = _act(tree.township, desk, case_id, "record_callback", callback="satisfied",
                      comment="回访申请人，表示满意")
        assert called.status_code == 200, called.text
        tree.settle()

        at_village = agent.get(f"{tree.village.url}/api/v1/cases/{case_id}", timeout=10).json()
        loop = [e for e in at_village["events"] if e["type"] in (
            "rated", "rectification_opened", "rectification_answered", "callback_recorded")]
        assert [e["type"] for e in loop] == ["rated", "rectification_opened",
                                              "rectification_answered", "callback_recorded"]
        opened = next(e for e in loop if e["type"] == "rectification_opened")
        assert opened["origin"] == TOWNSHIP  # opened by the site that decided the case

        lead = supervisor_token(tree)
        hub_case = requests_json(tree.hub.url, f"/api/v1/cases/{case_id}", lead)
        assert [e["type"] for e in hub_case["events"]].count("rectification_opened") == 1

        # counted in the year its answer falls due: 15 working days on, this year or next
        today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
        years = sorted({today, today + timedelta(days=45)}, key=lambda d: d.year)
        rows = [r for day in {d.year: d for d in years}.values()
                for r in requests_json(tree.hub.url, "/api/v1/reports/year",
                                       lead, date=day.isoformat()
                                       )["rectifications_by_site"] if r["site"] == TOWNSHIP]
        assert rows == [{"site": TOWNSHIP, "rectifications": 1, "rectified_on_time": 1,
                         "rectifications_overdue": 0, "callbacks_satisfied": 1}]


def requests_json(base: str, path: str, headers: dict[str, str], **query: str
                  ) -> dict[str, Any]:
    response = requests.get(f"{base}{path}", headers=headers, params=query, timeout=20)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
