"""A joint case (联办件, 企业设立登记 SJ-0101: market regulation, taxation and public security
co-approve) shows in the queue of every co-approving department's window until that
department has answered, marked as theirs to co-approve, and opens for them (PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.hub.conftest import Hub, hub_maker, register_at_hub
from tests.hub.test_live_deadlines import _act, cst

LEAD, TAX, POLICE, OTHER = "sj-desk", "sw-desk", "ga-desk", "mz-desk"


@pytest.fixture
def hub(tmp_path: Path, pg_schema_url: str) -> Hub:
    return hub_maker(tmp_path, pg_schema_url)(cst(28, 4), [
        (LEAD, "window_operator", "W-SJ-01"), (TAX, "window_operator", "W-SW-01"),
        (POLICE, "window_operator", "W-GA-01"), (OTHER, "window_operator", "W-MZ-01")])


def _queue(hub: Hub, who: str, window: str) -> list[dict[str, Any]]:
    response = hub.app.test_client().get(f"/api/v1/windows/{window}/cases",
                                         headers=hub.bearer(who))
    assert response.status_code == 200, response.get_json()
    cases: list[dict[str, Any]] = response.get_json()["cases"]
    return cases


@pytest.mark.postgres
def test_each_co_approving_window_sees_the_joint_case_until_it_has_answered(hub: Hub) -> None:
    case_id, _ = register_at_hub(hub, 1, item_code="SJ-0101", window="W-SJ-01", kind="joint")
    assert _queue(hub, TAX, "W-SW-01") == []
    _act(hub, LEAD, case_id, action="claim")
    _act(hub, LEAD, case_id, action="accept")  # copies go to SJ, SW and GA
    for who, window in ((TAX, "W-SW-01"), (POLICE, "W-GA-01")):
        listed = [(c["case_id"], c["co_approval"], c["state"]) for c in _queue(hub, who, window)]
        assert listed == [(str(case_id), True, "joint_approval")]
    lead = [(c["case_id"], c["co_approval"]) for c in _queue(hub, LEAD, "W-SJ-01")]
    assert lead == [(str(case_id), False)]  # the lead window's own case
    page = hub.login(TAX).get(f"/windows/cases/{case_id}").get_data(as_text=True)
    assert "会签同意" in page  # the form of the tax department's answer
    queue_page = hub.login(TAX).get("/windows/W-SW-01").get_data(as_text=True)
    assert "待会签" in queue_page
    _act(hub, TAX, case_id, action="co_approve")
    assert _queue(hub, TAX, "W-SW-01") == []  # answered: gone from its queue
    assert [c["case_id"] for c in _queue(hub, POLICE, "W-GA-01")] == [str(case_id)]


@pytest.mark.postgres
def test_a_window_of_another_department_neither_lists_nor_opens_it(hub: Hub) -> None:
    case_id, _ = register_at_hub(hub, 1, item_code="SJ-0101", window="W-SJ-01", kind="joint")
    _act(hub, LEAD, case_id, action="claim")
    _act(hub, LEAD, case_id, action="accept")
    assert _queue(hub, OTHER, "W-MZ-01") == []
    page = hub.login(OTHER).get(f"/windows/cases/{case_id}")
    assert page.status_code == 404


@pytest.mark.postgres
def test_a_joint_case_has_one_deadline_the_leads_head_extends(tmp_path: Path,
                                                               pg_schema_url: str) -> None:
    from tests.hub.test_live_deadlines import _row

    def deadline() -> str:
        body = hub.app.test_client().get(f"/api/v1/cases/{case_id}",
                                         headers=hub.bearer(LEAD)).get_json()
        found: str = body["deadline"]
        return found

    hub = hub_maker(tmp_path, pg_schema_url)(cst(28, 4), [
        (LEAD, "window_operator", "W-SJ-01"), (TAX, "window_operator", "W-SW-01"),
        ("sj-head", "department_head", "SJ"), ("sw-head", "department_head", "SW")])
    case_id, _ = register_at_hub(hub, 1, item_code="SJ-0101", window="W-SJ-01", kind="joint")
    _act(hub, LEAD, case_id, action="claim")
    _act(hub, LEAD, case_id, action="accept")
    before = deadline()
    _act(hub, LEAD, case_id, action="request_extension", days=5,
         reason="联办部门需现场核查，承诺时限内无法办结")
    client = hub.app.test_client()
    refused = client.post(f"/api/v1/cases/{case_id}/actions", headers=hub.bearer("sw-head"),
                          json={"action": "decide_extension", "approved": True})
    assert refused.status_code == 403, refused.get_json()  # the co-approver's head: not theirs
    _act(hub, "sj-head", case_id, action="decide_extension", approved=True)
    after = deadline()
    assert after > before
    # one case, one deadline: the co-approving window's queue and the 缺席默许 timer read it
    listed = [c["deadline"] for c in _queue(hub, TAX, "W-SW-01")]
    assert listed == [after]
    row = _row(hub, case_id)
    assert row.timer_ms == row.due_ms
