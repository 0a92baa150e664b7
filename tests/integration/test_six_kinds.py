"""The six kinds of case (六件), each from the village to its deciding window at the city and
back, through the public HTTP API of real processes: the scenario ``sanji demo --scenario``
runs, driven here with ``sanji node sync-now`` so every step is exact."""

from __future__ import annotations

from pathlib import Path

from hub.demo_scenario import STORIES, Login, Scenario
from tests.integration.city import AGENT, HUB, PASSWORD, city

WINDOWS = ("W-GA-01", "W-MZ-01", "W-SJ-01", "W-SW-01", "W-ZR-01")


def test_each_kind_reaches_its_window_and_the_outcome_returns_to_the_village_once(
    tmp_path: Path,
) -> None:
    operators = {HUB: [(f"{w.lower()}-{n}", w) for w in WINDOWS for n in (1, 2)]}
    logins = {w: (Login(f"{w.lower()}-1", PASSWORD), Login(f"{w.lower()}-2", PASSWORD))
              for w in WINDOWS}
    with city(tmp_path, operators) as tree:
        scenario = Scenario(tree.hub.url, tree.village.url, logins, tree.settle,
                            Login(AGENT, PASSWORD), say=lambda _line: None)
        finished = scenario.run()
    assert set(finished) == {s.kind for s in STORIES}
    for story in STORIES:
        case = finished[story.kind]
        types = [e["type"] for e in case["events"]]
        assert case["stage"] == "decided", (story.kind, types)
        assert types.count("result_issued") == 1, (story.kind, types)
        assert types.count("registered") == 1
        assert len({(e["origin"], e["epoch"], e["seq"]) for e in case["events"]}) == len(types)
    joint = [e["type"] for e in finished["joint"]["events"]]
    assert joint.count("co_approved") == 3 and "copies_sent" in joint
    reported = [e["type"] for e in finished["report_up"]["events"]]
    assert "reported_up" in reported and "external_decision_recorded" in reported
    supplement = [e["type"] for e in finished["supplement"]["events"]]
    assert supplement.index("supplement_requested") < supplement.index("supplement_provided")
    assert "rejected" in [e["type"] for e in finished["returned"]["events"]]
