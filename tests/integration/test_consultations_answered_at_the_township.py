"""咨询投诉 answered at the township, real processes: the village agent records a complaint
and a question about MZ-0305 (临时救助, a civil affairs item; civil affairs has window W-MZ-11
at every township). Both reach the township with the village's exchange, where its civil
affairs operator sees them with their deadlines (another department's operator does not) and
answers them; the answer goes up to the hub and down to the village.

The question is answered at the hub too while the two are apart: the log keeps both answers,
the hub's ledger and report count it once (the first answer in the hub's order), and the
complaint's answer from the township counts as answered once as well.

A complaint recorded at the hub about a case the township decides comes down to the township
with the case's events; the township answers it there, and the village that registered the
case holds both in the case's history."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.integration.city import HUB, TOWNSHIP, VILLAGE, city, signed_in
from tests.integration.test_consultations_up_the_tree import PERSON
from tests.integration.test_rectification_up_the_tree import requests_json
from tests.integration.test_three_tiers import (
    TOWNSHIP_FORM,
    TOWNSHIP_ITEM,
    _register,
    _token,
    supervisor_token,
)

ITEM = TOWNSHIP_ITEM  # 临时救助申请, decided at the township window W-MZ-11


@pytest.mark.integration
def test_a_complaint_recorded_at_the_village_is_answered_at_the_township_and_counted_once(
        tmp_path: Path) -> None:
    operators = {HUB: [("mz-1", "W-MZ-01")],
                 TOWNSHIP: [("t-mz", "W-MZ-11"), ("t-sj", "W-SJ-11")]}
    with city(tmp_path, operators, depth=3) as tree:
        agent = tree.agent()
        ids = {}
        for kind, text in (("complaint", "救助申请交了一个月没消息"),
                           ("consultation", "临时救助要带哪些材料")):
            made = agent.post(f"{tree.village.url}/api/v1/consultations", timeout=10, json={
                "channel": "window", "kind": kind, **PERSON, "item_code": ITEM, "text": text})
            assert made.status_code == 201, made.text
            assert made.json()["department"] == "MZ"
            ids[kind] = made.json()["id"]
        complaint, question = ids["complaint"], ids["consultation"]
        case = _register(tree.village, "relief-1", TOWNSHIP_ITEM, TOWNSHIP_FORM)

        tree.sync("village")  # up to the township, which holds them now
        town = tree.township.url
        t_mz = signed_in(tree.township, "t-mz")
        listed = t_mz.get(f"{town}/api/v1/consultations", timeout=10).json()["consultations"]
        assert {(c["id"], c["origin"], c["status"]) for c in listed} == {
            (complaint, VILLAGE, "open"), (question, VILLAGE, "open")}
        assert all(c["due"] for c in listed)
        page = t_mz.get(f"{town}/consultations", timeout=10)
        assert page.status_code == 200 and f'id="answer-{complaint}"' in page.text
        t_sj = signed_in(tree.township, "t-sj")
        assert t_sj.get(f"{town}/api/v1/consultations", timeout=10).json() == {
            "consultations": []}
        refused = t_sj.post(f"{town}/api/v1/consultations/{complaint}/answer", timeout=10,
                            json={"answer": "不是我们部门的事"})
        assert refused.status_code == 404

        tree.sync("township")  # on to the hub
        hub_mz = _token(tree.hub, "mz-1")
        # the question is answered at the hub while the township has not heard of it
        at_hub = requests.post(f"{tree.hub.url}/api/v1/consultations/{question}/answer",
                               json={"answer": "带身份证和户口本到乡镇民政窗口"}, headers=hub_mz,
                               timeout=10)
        assert at_hub.status_code == 200, at_hub.text
        # and a 9618 call about the case the township decides is recorded at the hub
        about_case = requests.post(f"{tree.hub.url}/api/v1/consultations", headers=hub_mz,
                                   timeout=10, json={
                                       "channel": "phone", "kind": "complaint", **PERSON,
                                       "acceptance_no": case["acceptance_no"],
                                       "text": "临时救助审批太慢"})
        assert about_case.status_code == 201, about_case.text
        on_case = about_case.json()["id"]

        for consultation, words in ((complaint, "已核实,本周内办结并电话告知"),
                                    (question, "身份证、户口本和收入证明")):
            answered = t_mz.post(f"{town}/api/v1/consultations/{consultation}/answer",
                                 timeout=10, json={"answer": words})
            assert answered.status_code == 200, answered.text
            assert answered.json()["status"] == "answered"
        again = t_mz.post(f"{town}/api/v1/consultations/{complaint}/answer", timeout=10,
                          json={"answer": "再答复一次"})
        assert again.status_code == 409

        # the answers go up; the hub's answer and the complaint about the case come down
        tree.sync("township")
        held = t_mz.get(f"{town}/api/v1/consultations?status=open", timeout=10).json()
        assert [(c["id"], c["origin"], c["case_id"]) for c in held["consultations"]] == [
            (on_case, HUB, case["case_id"])]
        done = t_mz.post(f"{town}/api/v1/consultations/{on_case}/answer", timeout=10,
                         json={"answer": "已加快审核,三日内办结"})
        assert done.status_code == 200, done.text

        tree.settle()  # the answers up to the hub, all down to the village

        ledger = {c["id"]: c for c in requests_json(
            tree.hub.url, "/api/v1/consultations", hub_mz)["consultations"]}
        assert (ledger[complaint]["status"], ledger[complaint]["answered_by"]) == (
            "answered", "window_operator:t-mz")
        # the hub's own answer came first in the hub's order: it counts, the other is kept
        assert ledger[question]["answered_by"] == "window_operator:mz-1"
        assert ledger[on_case]["answered_by"] == "window_operator:t-mz"
        shown = requests_json(tree.hub.url, f"/api/v1/consultations/{complaint}", hub_mz)
        assert shown["answer"] == "已核实,本周内办结并电话告知"
        lead = supervisor_token(tree)
        today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
        report = requests_json(tree.hub.url, "/api/v1/reports/day", lead, date=today)
        figures = {r["department"]: r for r in report["consultations"]}
        assert figures["MZ"]["complaints"] == {"received": 2, "answered": 2,
                                               "answered_on_time": 2, "overdue": 0}
        assert figures["MZ"]["consultations"] == {"received": 1, "answered": 1,
                                                  "answered_on_time": 1, "overdue": 0}

        # the station that recorded them sees them answered (to tell the person)
        at_village = agent.get(f"{tree.village.url}/api/v1/consultations/{complaint}",
                               timeout=10).json()
        assert (at_village["status"], at_village["answer"]) == (
            "answered", "已核实,本周内办结并电话告知")
        assert agent.get(f"{tree.village.url}/api/v1/consultations/{question}",
                         timeout=10).json()["status"] == "answered"
        history = agent.get(f"{tree.village.url}/api/v1/cases/{case['case_id']}",
                            timeout=10).json()["events"]
        assert [(e["type"], e["origin"]) for e in history if e["type"].startswith("consult")
                ] == [("consultation_recorded", HUB), ("consultation_answered", TOWNSHIP)]
        # and the township holds the hub's answer to the question beside its own
        assert t_mz.get(f"{town}/api/v1/consultations?status=open", timeout=10).json() == {
            "consultations": []}
