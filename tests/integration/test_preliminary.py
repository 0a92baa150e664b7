"""A preliminary window (初审及组织办理权) organises a case and hands it on; the deciding window
decides. Real processes, public HTTP API only: the case is registered at a village, reaches
the city window authorised at preliminary level, which reviews it and may not decide it, is
handed on to the department's deciding window, decided there by two different operators
(一审一核), and the result comes back down to the village exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from tests.integration.city import HUB, PASSWORD, Tree, city

ITEM = "ZJ-1201"  # 商品房预售许可: W-ZJ-01 holds preliminary authority for it
PRELIMINARY = "W-ZJ-01"
DECIDING = "W-ZJ-04"
FORM = {"project_name": "郴州市良田镇安置小区二期", "developer_uscc": "91110000710925462X",
        "presale_area_m2": "12800.50"}
APPLICANT = {"name": "王小明", "id_number": "431002198001010017", "phone": "13800138000"}


def _headers(tree: Tree, username: str) -> dict[str, str]:
    login = requests.post(f"{tree.hub.url}/api/v1/auth/token", timeout=10,
                          json={"username": username, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def _act(tree: Tree, headers: dict[str, str], case_id: str, action: str,
         **extra: object) -> requests.Response:
    return requests.post(f"{tree.hub.url}/api/v1/cases/{case_id}/actions", timeout=10,
                         json={"action": action, **extra}, headers=headers)


def _done(tree: Tree, headers: dict[str, str], case_id: str, action: str,
          **extra: object) -> dict[str, Any]:
    response = _act(tree, headers, case_id, action, **extra)
    assert response.status_code == 200, (action, response.text)
    body: dict[str, Any] = response.json()
    return body


def _queue(tree: Tree, headers: dict[str, str], window: str) -> list[str]:
    response = requests.get(f"{tree.hub.url}/api/v1/windows/{window}/cases", timeout=10,
                            headers=headers)
    assert response.status_code == 200, response.text
    return [c["case_id"] for c in response.json()["cases"]]


def test_a_preliminary_window_hands_the_case_on_and_the_deciding_window_decides(
    tmp_path: Path,
) -> None:
    operators = {HUB: [("zj-pre-1", PRELIMINARY), ("zj-pre-2", PRELIMINARY),
                       ("zj-dec-1", DECIDING), ("zj-dec-2", DECIDING)]}
    with city(tmp_path, operators) as tree:
        registered = tree.agent().post(
            f"{tree.village.url}/api/v1/cases", timeout=10,
            json={"item_code": ITEM, "applicant": APPLICANT, "form": FORM,
                  "delivery": "village"},
            headers={"Idempotency-Key": "presale-1"})
        assert registered.status_code == 201, registered.text
        case_id = registered.json()["case_id"]
        tree.sync("village", "township")

        pre_1, pre_2 = _headers(tree, "zj-pre-1"), _headers(tree, "zj-pre-2")
        dec_1, dec_2 = _headers(tree, "zj-dec-1"), _headers(tree, "zj-dec-2")
        assert _queue(tree, pre_1, PRELIMINARY) == [case_id]
        assert _queue(tree, dec_1, DECIDING) == []

        # the preliminary window organises: it accepts and reviews, but does not decide
        _done(tree, pre_1, case_id, "claim")
        accepted = _done(tree, pre_1, case_id, "accept")
        promised = accepted["deadline"]
        assert promised is not None
        _done(tree, pre_1, case_id, "approve")
        _done(tree, pre_2, case_id, "claim")
        for action in ("check", "reject"):
            refused = _act(tree, pre_2, case_id, action, reason="初审意见不能代替审批决定")
            assert refused.status_code == 403, refused.text
            assert "authority" in refused.json()["error"]["fields"]
        handed = _done(tree, pre_2, case_id, "transfer", to_window=DECIDING,
                       reason="初审完成，现场核查合格，转审批窗口作出决定")
        assert (handed["state"], handed["window"]) == ("routed", DECIDING)
        assert _queue(tree, pre_1, PRELIMINARY) == []
        assert _queue(tree, dec_1, DECIDING) == [case_id]

        # the deciding window decides, a reviewer and a different checker (一审一核)
        for action in ("claim", "accept", "approve"):
            body = _done(tree, dec_1, case_id, action)
        assert body["deadline"] == promised  # the hand-on does not restart the clock
        _done(tree, dec_2, case_id, "claim")
        _done(tree, dec_2, case_id, "check")
        issued = _done(tree, dec_2, case_id, "issue_result")
        assert issued["outcome"] == "approved"

        tree.settle()
        tree.settle()  # a second round brings nothing more
        shown = tree.agent().get(f"{tree.village.url}/api/v1/cases/{case_id}", timeout=10)
        assert shown.status_code == 200, shown.text
        case = shown.json()
        assert case["stage"] == "decided"
        types = [e["type"] for e in case["events"]]
        for once in ("registered", "transferred", "checked", "result_issued"):
            assert types.count(once) == 1, (once, types)
        assert types.count("reviewed") == 2  # the preliminary review, then the decision's
        assert len({(e["origin"], e["epoch"], e["seq"]) for e in case["events"]}) == len(types)
        assert [e["actor"] for e in case["events"] if e["type"] == "checked"] == [
            "window_operator:zj-dec-2"]
