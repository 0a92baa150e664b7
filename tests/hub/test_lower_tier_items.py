"""A city without county centres: the hub decides the county items of its villages itself
(the owner rule), so its operators of those items' windows must be able to work them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from flask import Flask

from tests.hub.conftest import Hub, User
from tests.hub.test_front_desk import HUB, PASSWORD, _headers, app  # noqa: F401

COUNTY_ITEM = {
    "item_code": "MZ-0101",  # 城乡居民最低生活保障申请: a county item, window W-MZ-02
    "applicant": {"name": "李四", "id_number": "11010519491231002X", "phone": "13800138000"},
    "form": {"household_size": 3, "monthly_income": 800, "residence_type": "rural",
             "bank_account": "6222020200112233445"},
    "delivery": "window",
}


def test_the_hub_decides_a_county_item_where_no_county_centre_stands_between(
        app: Flask) -> None:  # noqa: F811
    from hub.db_session import app_session
    from hub.services import HubServices
    from shared.storage.accounts import add_user

    hub: HubServices = app.extensions["sanji_hub"]
    with app_session(app) as session:
        for name in ("mz02-a", "mz02-b"):
            add_user(session, username=name, password=PASSWORD, role="window_operator",
                     site=HUB, window="W-MZ-02", now=hub.clock())
        session.commit()
    client = app.test_client()
    registered = client.post("/api/v1/cases", json=COUNTY_ITEM,
                             headers=_headers(client, "desk", "county-1"))
    assert registered.status_code == 201, registered.get_data(as_text=True)
    case_id = registered.get_json()["case_id"]
    first, second = _headers(client, "mz02-a"), _headers(client, "mz02-b")
    queue = client.get("/api/v1/windows/W-MZ-02/cases", headers=first).get_json()["cases"]
    assert [c["case_id"] for c in queue] == [case_id]
    for headers, action in ((first, "claim"), (first, "accept"), (first, "approve"),
                            (second, "claim"), (second, "check")):
        response = client.post(f"/api/v1/cases/{case_id}/actions", json={"action": action},
                               headers=headers)
        assert response.status_code == 200, (action, response.get_data(as_text=True))
    shown = client.get(f"/api/v1/cases/{case_id}", headers=first).get_json()
    assert (shown["state"], shown["outcome"]) == ("decided", "approved"), shown
    # one review and one check by two people still holds (一审一核)
    same = client.post(f"/api/v1/cases/{case_id}/actions", json={"action": "check"},
                       headers=first)
    assert same.status_code in (403, 409)


def test_a_supervisor_finds_the_lower_tier_windows_the_hub_staffs(
        make_hub: Callable[[datetime, list[User]], Hub]) -> None:
    hub = make_hub(datetime(2026, 3, 2, 2, 0, tzinfo=UTC),
                   [("boss", "supervisor", None), ("mz02-a", "window_operator", "W-MZ-02")])
    page = hub.login("boss").get("/windows").get_data(as_text=True)
    assert 'href="/windows/W-MZ-01"' in page  # a city window, as before
    assert 'href="/windows/W-MZ-02"' in page  # a county window the hub staffs
    assert 'href="/windows/W-MZ-03"' not in page  # a county window it does not
