"""Handle anywhere (全城通办), real processes in a depth-4 tree: the county 431002 has two
townships, 431002001 (B, with the village 431002001201) and 431002002 (A, no villages).

- A villager whose household is registered in township A applies for temporary assistance
  (MZ-0305, decided by the township of 户籍地) at the B village while the hub is down. The
  county, where the two branches meet, refers the case to A; A's window decides it; the
  result comes back down to the B village, which hands it over; each site holds every event
  once. The registering village and A both answer the public lookup. Then the hub comes
  back and sees the case owned by A, with exactly one referral.
- An applicant of a township that has no centre (431002009) has the case decided one tier
  up, at the county, with that reason recorded.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests

from hub.demo_scenario import Login, Office, Scenario
from tests.integration.city import (
    AGENT,
    COUNTY,
    HUB,
    PASSWORD,
    TOWNSHIP,
    Tree,
    agent_of,
    city,
    signed_in,
)
from tests.integration.test_depth_four import APPLICANT, _work
from tests.integration.test_three_tiers import supervisor_token

TOWNSHIP_A = "431002002"
A_VILLAGE = "431002002201"
NO_CENTRE = "431002009"
WINDOW = "W-MZ-11"
FORM = {"hardship_type": "emergency", "hardship_date": "2025-02-20",
        "amount_requested": "3000.00", "description": "家中房屋因暴雨受损,急需修缮资金。",
        "bank_account": "6217001234567890123"}


def _register(tree: Tree, key: str, area: str, **more: str) -> dict[str, Any]:
    answer = tree.agent().post(f"{tree.village.url}/api/v1/cases", timeout=30,
                               headers={"Idempotency-Key": key},
                               json={"item_code": "MZ-0305", "applicant": APPLICANT,
                                     "form": {**FORM, "residence_area": area},
                                     "delivery": "village", **more})
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _events(site_url: str, session: requests.Session, case_id: str) -> list[dict[str, Any]]:
    answer = session.get(f"{site_url}/api/v1/cases/{case_id}", timeout=10)
    assert answer.status_code == 200, answer.text
    events: list[dict[str, Any]] = answer.json()["events"]
    return events


def _once_each(events: list[dict[str, Any]]) -> None:
    keys = Counter((e["origin"], e["epoch"], e["seq"]) for e in events)
    assert max(keys.values()) == 1, keys.most_common(3)


@pytest.mark.integration
def test_a_case_registered_in_one_branch_is_decided_by_the_applicants_township(
        tmp_path: Path) -> None:
    operators = {TOWNSHIP_A: [("a-mz-1", WINDOW), ("a-mz-2", WINDOW)],
                 TOWNSHIP: [("b-mz-1", WINDOW), ("b-mz-2", WINDOW)],
                 COUNTY: [("c-mz-1", WINDOW), ("c-mz-2", WINDOW)]}
    with city(tmp_path, operators, depth=4, other_townships=(TOWNSHIP_A,)) as tree:
        assert tree.county is not None
        township_a = tree.others[TOWNSHIP_A]
        tree.sync(TOWNSHIP_A)  # A's operators' accounts come down
        tree.hub.stop()  # the detour never needs the hub
        case = _register(tree, "anywhere-1", TOWNSHIP_A)
        case_id = case["case_id"]
        tree.sync("village", "township")  # up to the county, whose own link is down
        b_queue = signed_in(tree.township, "b-mz-1").get(
            f"{tree.township.url}/api/v1/windows/{WINDOW}/cases", timeout=10)
        assert case_id not in [c["case_id"] for c in b_queue.json()["cases"]]
        tree.sync(TOWNSHIP_A)  # the county's down stream brings the case to A
        decided = _work(township_a.url, WINDOW, case_id, ("a-mz-1", "a-mz-2"))
        assert decided["outcome"] == "approved"
        tree.sync(TOWNSHIP_A, "township", "village")  # A up to the county, down to B

        agent = tree.agent()
        at_village = _events(tree.village.url, agent, case_id)
        _once_each(at_village)
        types = Counter(e["type"] for e in at_village)
        assert types["referred"] == 1 and types["routed"] == 1 and types["result_issued"] == 1
        referral = next(e for e in at_village if e["type"] == "referred")
        assert referral["origin"] == COUNTY
        shown = agent.get(f"{tree.village.url}/api/v1/cases/{case_id}", timeout=10).json()
        assert shown["referred"]["to"] == TOWNSHIP_A
        assert "户籍地" in shown["referred"]["reason"]
        routed = next(e for e in at_village if e["type"] == "routed")
        assert routed["origin"] == TOWNSHIP_A
        page = f"{tree.village.url}/cases/{case_id}"
        handed = agent.post(f"{page}/handover", timeout=10, allow_redirects=False,
                            data={"method": "in_person", "receiver_name": "王小明"})
        assert handed.status_code == 303, handed.text

        for site in (tree.village, township_a):  # both answer the citizen
            status = requests.get(f"{site.url}/api/v1/public/status", timeout=10, params={
                "acceptance_no": case["acceptance_no"], "query_code": case["query_code"]})
            assert status.status_code == 200, (site.name, status.text)

        tree.hub.start()
        tree.sync("village", "township", "county", TOWNSHIP_A)
        at_hub = _events(tree.hub.url, _session(supervisor_token(tree)), case_id)
        _once_each(at_hub)
        hub_types = Counter(e["type"] for e in at_hub)
        assert hub_types["referred"] == 1 and hub_types["result_handed_over"] == 1
        # A, which decided it, follows it to the hand-over at the B village
        status = requests.get(f"{township_a.url}/api/v1/public/status", timeout=10, params={
            "acceptance_no": case["acceptance_no"], "query_code": case["query_code"]}).json()
        assert (status["state"], status["outcome"]) == ("handed_over", "approved")


@pytest.mark.integration
def test_an_area_without_a_township_centre_is_decided_one_tier_up(tmp_path: Path) -> None:
    operators = {COUNTY: [("c-mz-1", WINDOW), ("c-mz-2", WINDOW)],
                 TOWNSHIP: [("b-mz-1", WINDOW), ("b-mz-2", WINDOW)]}
    with city(tmp_path, operators, depth=4) as tree:
        assert tree.county is not None
        case_id = _register(tree, "anywhere-2", NO_CENTRE)["case_id"]
        tree.sync("village", "township", "county")
        decided = _work(tree.county.url, WINDOW, case_id, ("c-mz-1", "c-mz-2"))
        assert decided["outcome"] == "approved"
        tree.settle()
        at_village = _events(tree.village.url, tree.agent(), case_id)
        _once_each(at_village)
        shown = tree.agent().get(f"{tree.village.url}/api/v1/cases/{case_id}",
                                 timeout=10).json()
        assert shown["referred"]["to"] == COUNTY
        assert "上一级" in shown["referred"]["reason"]
        assert Counter(e["type"] for e in at_village)["result_issued"] == 1


def _session(headers: dict[str, str]) -> requests.Session:
    session = requests.Session()
    session.headers.update(headers)
    return session


@pytest.mark.integration
def test_the_demos_case_crosses_at_the_hub_where_two_townships_meet(tmp_path: Path) -> None:
    """``sanji demo --scenario``'s handle-anywhere case, in a depth-3 tree where the two
    townships meet only at the hub: the hub refers the case, the other township decides."""
    operators = {TOWNSHIP_A: [("a-mz-1", WINDOW), ("a-mz-2", WINDOW)]}
    with city(tmp_path, operators, other_townships=(TOWNSHIP_A,)) as tree:
        township_a = tree.others[TOWNSHIP_A]
        tree.sync(TOWNSHIP_A)  # its operators' accounts come down

        def settle() -> None:  # up to the hub, down to A; back up, down to the village
            tree.sync("village", "township", TOWNSHIP_A, "township", "village")

        driver = Scenario(tree.hub.url, tree.village.url, {}, settle,
                          Login(AGENT, PASSWORD), say=lambda _line: None)
        office = Office(TOWNSHIP_A, township_a.url, {WINDOW: (
            Login("a-mz-1", PASSWORD), Login("a-mz-2", PASSWORD))})
        case = driver.run_anywhere(office)
    _once_each(case["events"])
    types = Counter(e["type"] for e in case["events"])
    assert (types["referred"], types["routed"], types["result_issued"]) == (1, 1, 1)
    assert next(e for e in case["events"] if e["type"] == "referred")["origin"] == HUB
    assert case["referred"]["to"] == TOWNSHIP_A
    assert case["stage"] == "decided"


@pytest.mark.integration
def test_the_applicant_collects_the_result_at_a_station_of_their_home_area(
        tmp_path: Path) -> None:
    """Registered at the B village, decided at A, handed over at A's own village, which the
    applicant chose: that station holds the case from its registration on, hands the result
    over and answers the lookup; the B village shows where it went and cannot hand it over
    too; every site holds each event once."""
    operators = {TOWNSHIP_A: [("a-mz-1", WINDOW), ("a-mz-2", WINDOW)]}
    with city(tmp_path, operators, depth=4, other_townships=(TOWNSHIP_A,),
              their_villages=(A_VILLAGE,)) as tree:
        assert tree.county is not None
        township_a, a_village = tree.others[TOWNSHIP_A], tree.others[A_VILLAGE]
        # accounts come down; A's village introduces itself, and A tells the county of it
        tree.sync(TOWNSHIP_A, A_VILLAGE, TOWNSHIP_A)
        refused = tree.agent().post(
            f"{tree.village.url}/api/v1/cases", timeout=30,
            headers={"Idempotency-Key": "anywhere-stray"},
            json={"item_code": "MZ-0305", "applicant": APPLICANT, "delivery": "village",
                  "form": {**FORM, "residence_area": TOWNSHIP_A},
                  "handover_station": "431002003201"})
        assert refused.status_code == 400, refused.text
        assert "handover_station" in refused.json()["error"]["fields"]
        case = _register(tree, "anywhere-3", TOWNSHIP_A, handover_station=A_VILLAGE)
        case_id = case["case_id"]
        tree.sync("village", "township", TOWNSHIP_A, A_VILLAGE)
        decided = _work(township_a.url, WINDOW, case_id, ("a-mz-1", "a-mz-2"))
        assert decided["outcome"] == "approved"
        tree.sync(TOWNSHIP_A, A_VILLAGE, "township", "village")

        a_agent = signed_in(a_village, agent_of(A_VILLAGE))
        held = a_agent.get(f"{a_village.url}/api/v1/cases/{case_id}", timeout=10)
        assert held.status_code == 200, held.text
        assert held.json()["acceptance_no"] == case["acceptance_no"]
        assert held.json()["referred"]["handover"] == A_VILLAGE
        assert Counter(e["type"] for e in held.json()["events"])["registered"] == 1
        receipt = a_agent.get(f"{a_village.url}/cases/{case_id}/receipt.pdf", timeout=10)
        assert receipt.status_code == 409  # the query code stays where it was registered

        b_page = f"{tree.village.url}/cases/{case_id}"
        at_b = tree.agent().post(f"{b_page}/handover", timeout=10, allow_redirects=False,
                                 data={"method": "in_person", "receiver_name": "王小明"})
        assert at_b.status_code == 409, at_b.text
        assert A_VILLAGE in at_b.text
        handed = a_agent.post(f"{a_village.url}/cases/{case_id}/handover", timeout=10,
                              allow_redirects=False,
                              data={"method": "in_person", "receiver_name": "王小明"})
        assert handed.status_code == 303, handed.text
        status = requests.get(f"{a_village.url}/api/v1/public/status", timeout=10, params={
            "acceptance_no": case["acceptance_no"], "query_code": case["query_code"]})
        assert status.status_code == 200, status.text

        tree.sync(A_VILLAGE, TOWNSHIP_A, "county", "township", "village")
        for site, session in ((tree.village, tree.agent()), (a_village, a_agent)):
            events = _events(site.url, session, case_id)
            _once_each(events)
            kinds = Counter(e["type"] for e in events)
            assert (kinds["referred"], kinds["result_issued"],
                    kinds["result_handed_over"]) == (1, 1, 1), site.name
        b_case = tree.agent().get(f"{tree.village.url}/api/v1/cases/{case_id}",
                                  timeout=10).json()
        assert b_case["stage"] == "handed_over"
        tree.sync("county")
        at_hub = _events(tree.hub.url, _session(supervisor_token(tree)), case_id)
        _once_each(at_hub)
        assert Counter(e["type"] for e in at_hub)["result_handed_over"] == 1


@pytest.mark.integration
def test_a_case_applied_for_at_the_citys_desk_goes_down_to_the_applicants_township(
        tmp_path: Path) -> None:
    """Registered at the hub itself (its desk; the online hall writes the same way) for an
    applicant of township A: the hub records the referral and sends the case down, A's
    window decides it, and the hub sees the decision."""
    operators = {TOWNSHIP_A: [("a-mz-1", WINDOW), ("a-mz-2", WINDOW)]}
    with city(tmp_path, operators, other_townships=(TOWNSHIP_A,),
              hub_agents={"city-desk": HUB}) as tree:
        township_a = tree.others[TOWNSHIP_A]
        tree.sync(TOWNSHIP_A)  # its operators' accounts come down
        desk = signed_in(tree.hub, "city-desk")
        answer = desk.post(f"{tree.hub.url}/api/v1/cases", timeout=30,
                           headers={"Idempotency-Key": "city-desk-1"},
                           json={"item_code": "MZ-0305", "applicant": APPLICANT,
                                 "form": {**FORM, "residence_area": TOWNSHIP_A},
                                 "delivery": "window"})
        assert answer.status_code == 201, answer.text
        case_id = answer.json()["case_id"]
        tree.sync(TOWNSHIP_A)  # the hub's down stream brings it to A
        decided = _work(township_a.url, WINDOW, case_id, ("a-mz-1", "a-mz-2"))
        assert decided["outcome"] == "approved"
        tree.sync(TOWNSHIP_A)
        at_hub = _events(tree.hub.url, _session(supervisor_token(tree)), case_id)
        _once_each(at_hub)
        kinds = Counter(e["type"] for e in at_hub)
        assert (kinds["referred"], kinds["routed"], kinds["result_issued"]) == (1, 1, 1)
        assert next(e for e in at_hub if e["type"] == "referred")["origin"] == HUB
        assert next(e for e in at_hub if e["type"] == "routed")["origin"] == TOWNSHIP_A
