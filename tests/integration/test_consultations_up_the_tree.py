"""咨询投诉 across the tree, real processes: the village agent records a complaint about a case
registered there (MZ-0520, decided at the city window W-MZ-01) and a question for a
department about no case, offline; both travel up the signed exchange through the township.
At the hub the complaint is assigned to the case's department, answered by its window (and
by no other department's), counted in the month's report, and shown in the case's history
to the supervisor; the question counts for its department, unanswered."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import requests

from tests.integration.city import AGENT, HUB, VILLAGE, city, signed_in
from tests.integration.test_depth_four import APPLICANT
from tests.integration.test_rectification_up_the_tree import requests_json
from tests.integration.test_three_tiers import FORM, _token, supervisor_token

PERSON = {"name": "王小明", "phone": "13800138000"}


def test_a_complaint_recorded_at_the_village_is_answered_and_counted_at_the_hub(
        tmp_path: Path) -> None:
    operators = {HUB: [("mz-1", "W-MZ-01"), ("sj-1", "W-SJ-01")]}
    with city(tmp_path, operators, depth=3) as tree:
        agent = signed_in(tree.village, AGENT)
        made = agent.post(f"{tree.village.url}/api/v1/cases", timeout=10,
                          json={"item_code": "MZ-0520", "applicant": APPLICANT, "form": FORM,
                                "delivery": "village"}, headers={"Idempotency-Key": "c-1"})
        assert made.status_code == 201, made.text
        case_id, number = made.json()["case_id"], made.json()["acceptance_no"]
        # recorded offline at the village: nothing has gone up yet
        complaint = agent.post(f"{tree.village.url}/api/v1/consultations", timeout=10, json={
            "channel": "window", "kind": "complaint", **PERSON, "acceptance_no": number,
            "text": "材料交了三次还说不齐"})
        assert complaint.status_code == 201, complaint.text
        recorded = complaint.json()
        assert (recorded["case_id"], recorded["department"]) == (case_id, "MZ")
        # a phone call about no case, on the station's page (server-rendered, no script)
        page = agent.get(f"{tree.village.url}/consultations/new", timeout=10)
        assert page.status_code == 200 and len(page.content) < 60_000
        assert b"<script" not in page.content
        question = agent.post(f"{tree.village.url}/consultations/new", timeout=10, data={
            "channel": "phone", "kind": "consultation", **PERSON, "department": "SJ",
            "text": "摆摊卖米粉要办什么证?", "acceptance_no": "", "item_code": ""})
        assert question.status_code == 200 and 'id="cons-done"' in question.text
        bad = agent.post(f"{tree.village.url}/api/v1/consultations", timeout=10, json={
            "channel": "window", "kind": "complaint", "name": "王小明", "phone": "110",
            "text": "投诉", "acceptance_no": "NO-SUCH"})
        assert bad.status_code == 400
        assert set(bad.json()["error"]["fields"]) >= {"phone", "acceptance_no"}

        tree.settle()

        mz = _token(tree.hub, "mz-1")
        listed = requests_json(tree.hub.url, "/api/v1/consultations", mz)["consultations"]
        assert [(c["id"], c["kind"], c["origin"], c["case_id"], c["acceptance_no"])
                for c in listed] == [(recorded["id"], "complaint", VILLAGE,
                                      case_id, number)]
        # another department's window neither sees nor answers it
        sj = _token(tree.hub, "sj-1")
        refused = requests.post(f"{tree.hub.url}/api/v1/consultations/{recorded['id']}/answer",
                                json={"answer": "不是我们部门的事"}, headers=sj, timeout=10)
        assert refused.status_code == 404
        answered = requests.post(
            f"{tree.hub.url}/api/v1/consultations/{recorded['id']}/answer", timeout=10,
            json={"answer": "已核实,窗口将一次性告知所需材料"}, headers=mz)
        assert answered.status_code == 200, answered.text

        # the answer comes down to the station, in the case's history there
        tree.settle()
        at_village = agent.get(f"{tree.village.url}/api/v1/cases/{case_id}", timeout=10).json()
        assert [e["type"] for e in at_village["events"] if e["type"].startswith("consult")
                ] == ["consultation_recorded", "consultation_answered"]

        lead = supervisor_token(tree)
        events = requests_json(tree.hub.url, f"/api/v1/cases/{case_id}", lead)["events"]
        mine = [(e["type"], e["origin"]) for e in events if e["type"].startswith("consult")]
        assert mine == [("consultation_recorded", VILLAGE),
                        ("consultation_answered", HUB)]
        today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
        # today's report: both received today, the question due days from now
        report = requests_json(tree.hub.url, "/api/v1/reports/day", lead, date=today)
        figures = {r["department"]: r for r in report["consultations"]}
        assert figures["MZ"]["complaints"] == {"received": 1, "answered": 1,
                                               "answered_on_time": 1, "overdue": 0}
        assert figures["SJ"]["consultations"] == {"received": 1, "answered": 0,
                                                  "answered_on_time": 0, "overdue": 0}
