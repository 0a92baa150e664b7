"""A supervisor moves an absent operator's cases at a window to a colleague in one step.

Three cases wait at W-MZ-01: mz-review (off sick) holds two, mz-check one. The supervisor
city-lead moves mz-review's cases to mz-third from the queue page, or through the API; each
case must get its own ``reassigned`` event and nothing else may change. Refusals (a role
that may not, people who are not operators of the window, a bad form) must move nothing.
The browser check at the end does the same in Debian's chromium, on the English page.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from playwright.sync_api import expect, sync_playwright
from waitress.server import create_server

from shared.web.pages import CSRF_SESSION_KEY
from tests.hub.conftest import PASSWORD, WINDOW, Hub, User, register_at_hub
from tests.node.test_browser_intake import CHROMIUM, CHROMIUM_ARGS

NOW = datetime(2025, 3, 3, 2, 30, tzinfo=UTC)  # Monday 10:30 in Shanghai
ABSENT, PRESENT, COLLEAGUE, ELSEWHERE = "mz-review", "mz-third", "mz-check", "ny-desk"
LEAD, ADMIN = "city-lead", "city-admin"
USERS: list[User] = [(ABSENT, "window_operator", WINDOW), (PRESENT, "window_operator", WINDOW),
                     (COLLEAGUE, "window_operator", WINDOW),
                     (ELSEWHERE, "window_operator", "W-NY-01"),
                     ("mz-cashier", "finance", WINDOW),
                     (LEAD, "supervisor", None), (ADMIN, "admin", None)]


class Desk:
    """The hub with three claimed cases at W-MZ-01."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._reader: FlaskClient | None = None
        self.absent_cases = [register_at_hub(hub, n)[0] for n in (1, 2)]
        self.other_case = register_at_hub(hub, 3)[0]
        for case_id in self.absent_cases:
            _claim(hub.login(ABSENT), case_id)
        _claim(hub.login(COLLEAGUE), self.other_case)

    def case(self, case_id: uuid.UUID) -> dict[str, Any]:
        if self._reader is None:
            self._reader = self.hub.login(LEAD)
        body: dict[str, Any] = self._reader.get(f"/api/v1/cases/{case_id}").get_json()
        return body

    def holders(self) -> dict[uuid.UUID, str | None]:
        return {c: self.case(c)["claimed_by"] for c in [*self.absent_cases, self.other_case]}

    def untouched(self) -> bool:
        return self.holders() == {self.absent_cases[0]: ABSENT, self.absent_cases[1]: ABSENT,
                                  self.other_case: COLLEAGUE}


def _claim(client: FlaskClient, case_id: uuid.UUID) -> None:
    response = client.post(f"/api/v1/cases/{case_id}/actions", json={"action": "claim"})
    assert response.status_code == 200, response.get_json()


@pytest.fixture
def desk(make_hub: Callable[[datetime, list[User]], Hub]) -> Desk:
    return Desk(make_hub(NOW, USERS))


def _token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has no form token"
    return found.group(1)


def _reassign(client: FlaskClient, *, window: str = WINDOW, **fields: str) -> Any:
    """Submit the queue page's reassignment form the way the browser does."""
    page = client.get(f"/windows/{WINDOW}").get_data(as_text=True)
    return client.post(f"/windows/{window}/reassign",
                       data={"csrf_token": _token(page), **fields})


# -- the queue page -------------------------------------------------------------------------


def test_the_supervisor_moves_every_case_the_absent_operator_holds(desk: Desk) -> None:
    lead = desk.hub.login(LEAD)
    queue = lead.get(f"/windows/{WINDOW}").get_data(as_text=True)
    form = re.search(r'<form[^>]*id="form-reassign".*?</form>', queue, re.S)
    assert form is not None
    # the choices are the window's operators, nobody else's
    assert set(re.findall(r"<option>([^<]+)</option>", form.group(0))) == {
        ABSENT, PRESENT, COLLEAGUE}

    response = _reassign(lead, **{"from": ABSENT, "to": PRESENT, "reason": "病假 sick leave"})
    assert response.status_code == 303
    shown = lead.get(response.headers["Location"]).get_data(as_text=True)
    assert f"已将 2 件由 {ABSENT} 改派给 {PRESENT}" in shown

    assert desk.holders() == {desk.absent_cases[0]: PRESENT, desk.absent_cases[1]: PRESENT,
                              desk.other_case: COLLEAGUE}
    for case_id in desk.absent_cases:
        events = desk.case(case_id)["events"]
        assert [e["type"] for e in events][-2:] == ["claimed", "reassigned"]
        assert events[-1]["actor"] == f"supervisor:{LEAD}"
        page = lead.get(f"/windows/cases/{case_id}").get_data(as_text=True)
        assert "病假 sick leave" in page  # the reason is in the case's own history
    assert desk.case(desk.other_case)["events"][-1]["type"] == "claimed"

    # the colleague now holds the cases and can work them at once
    present = desk.hub.login(PRESENT)
    accepted = present.post(f"/api/v1/cases/{desk.absent_cases[0]}/actions",
                            json={"action": "accept"})
    assert accepted.status_code == 200 and accepted.get_json()["state"] == "accepted"

    again = _reassign(lead, **{"from": ABSENT, "to": PRESENT})
    assert again.status_code == 303
    assert "已将 0 件" in lead.get(again.headers["Location"]).get_data(as_text=True)


@pytest.mark.parametrize("username", [ABSENT, "mz-cashier", ADMIN])
def test_only_a_supervisor_gets_the_form_and_may_use_it(desk: Desk, username: str) -> None:
    client = desk.hub.login(username)
    queue = client.get(f"/windows/{WINDOW}").get_data(as_text=True)
    assert 'id="form-reassign"' not in queue
    with client.session_transaction() as session:
        session[CSRF_SESSION_KEY] = "known-token"
    response = client.post(f"/windows/{WINDOW}/reassign", data={
        "csrf_token": "known-token", "from": ABSENT, "to": PRESENT})
    assert response.status_code == 403
    assert desk.untouched()


@pytest.mark.parametrize(("fields", "field", "reason"), [
    ({"from": "nobody", "to": PRESENT}, "from", "no user nobody at this site"),
    ({"from": ABSENT, "to": "nobody"}, "to", "no user nobody at this site"),
    ({"from": ABSENT, "to": ELSEWHERE}, "to", f"{ELSEWHERE} is not an operator of window"),
    ({"from": ABSENT, "to": LEAD}, "to", f"{LEAD} is not an operator of window"),
    ({"from": ABSENT, "to": ABSENT}, "to", "the same operator"),
    ({"from": ABSENT, "to": ""}, "to", ""),
])
def test_a_bad_reassignment_names_the_field_and_moves_nothing(
        desk: Desk, fields: dict[str, str], field: str, reason: str) -> None:
    lead = desk.hub.login(LEAD)
    response = _reassign(lead, **fields)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    problems = re.search(r'id="problems">(.*?)</div>', page, re.S)
    assert problems is not None and f"<b>{field}</b>" in problems.group(1)
    assert reason in problems.group(1)
    assert 'id="form-reassign"' in page and 'id="queue"' in page  # try again from here
    assert desk.untouched()


def test_an_unknown_window_or_an_expired_form_moves_nothing(desk: Desk) -> None:
    lead = desk.hub.login(LEAD)
    assert _reassign(lead, window="W-NOPE", **{"from": ABSENT, "to": PRESENT}
                     ).status_code == 404
    expired = lead.post(f"/windows/{WINDOW}/reassign", data={"from": ABSENT, "to": PRESENT},
                        token=False)
    assert expired.status_code == 400
    assert desk.untouched()


# -- the API --------------------------------------------------------------------------------


def test_the_api_moves_the_cases_and_says_which(desk: Desk) -> None:
    client = desk.hub.app.test_client()
    response = client.post(f"/api/v1/windows/{WINDOW}/reassign",
                           json={"from": ABSENT, "to": PRESENT, "reason": "sick leave"},
                           headers=desk.hub.bearer(LEAD))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["window"] == WINDOW and body["from"] == ABSENT and body["to"] == PRESENT
    assert body["remaining"] == 0
    assert {m["case_id"] for m in body["moved"]} == {str(c) for c in desk.absent_cases}
    assert all(re.fullmatch(r"431000-20250303-000[12]", m["acceptance_no"])
               for m in body["moved"])
    assert set(desk.holders().values()) == {PRESENT, COLLEAGUE}


@pytest.mark.parametrize(("username", "body", "status", "fields"), [
    (ABSENT, {"from": ABSENT, "to": PRESENT}, 403, {"role": "only a supervisor"}),
    (LEAD, {"from": ABSENT, "to": ELSEWHERE}, 400, {"to": "not an operator of window"}),
    (LEAD, {"from": "nobody", "to": "nobody-else"}, 400,
     {"from": "no user nobody", "to": "no user nobody-else"}),
    (LEAD, {"from": ABSENT}, 400, {"to": "Missing data"}),
    (LEAD, {"from": ABSENT, "to": PRESENT, "extra": 1}, 400, {"extra": "Unknown field"}),
])
def test_the_api_refuses_in_the_contract_shape(desk: Desk, username: str, body: dict[str, Any],
                                               status: int, fields: dict[str, str]) -> None:
    client = desk.hub.app.test_client()
    response = client.post(f"/api/v1/windows/{WINDOW}/reassign", json=body,
                           headers=desk.hub.bearer(username))
    assert response.status_code == status
    error = response.get_json()["error"]
    assert set(error) == {"code", "message", "fields"}
    if status == 403:
        assert fields["role"] in error["message"]
    else:
        assert set(error["fields"]) == set(fields)
        for name, text in fields.items():
            assert text in error["fields"][name], error
    assert desk.untouched()


@pytest.mark.parametrize(("assignee", "problem"), [
    ("nobody", "no user nobody"),
    (ELSEWHERE, "not an operator of window"),
    ("mz-cashier", "not an operator of window"),
])
def test_one_case_goes_only_to_an_operator_of_its_window(desk: Desk, assignee: str,
                                                        problem: str) -> None:
    lead = desk.hub.login(LEAD)
    case_id = desk.absent_cases[0]
    refused = lead.post(f"/api/v1/cases/{case_id}/actions",
                        json={"action": "reassign", "assignee": assignee})
    assert refused.status_code == 400
    assert problem in refused.get_json()["error"]["fields"]["assignee"]
    assert desk.untouched()
    moved = lead.post(f"/api/v1/cases/{case_id}/actions",
                      json={"action": "reassign", "assignee": PRESENT})
    assert moved.status_code == 200 and moved.get_json()["claimed_by"] == PRESENT


def test_the_api_knows_no_such_window(desk: Desk) -> None:
    client = desk.hub.app.test_client()
    response = client.post("/api/v1/windows/W-NOPE/reassign",
                           json={"from": ABSENT, "to": PRESENT}, headers=desk.hub.bearer(LEAD))
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_the_api_document_describes_it(make_hub: Callable[[datetime, list[User]], Hub]) -> None:
    hub = make_hub(NOW, [])
    paths = hub.app.test_client().get("/api/openapi.json").get_json()["paths"]
    operation = paths["/api/v1/windows/{code}/reassign"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["from", "to"]


# -- the browser ----------------------------------------------------------------------------


@pytest.fixture
def served(desk: Desk) -> Iterator[str]:
    server = create_server(desk.hub.app, host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"  # type: ignore[union-attr]
    server.close()
    thread.join(timeout=10)


@pytest.mark.browser
def test_the_supervisor_switches_to_english_and_reassigns_in_the_browser(
        desk: Desk, served: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(locale="zh-CN").new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{served}/windows/{WINDOW}")
        expect(page).to_have_url(re.compile(r"/login\?next="))
        page.fill("#username", LEAD)
        page.fill("#password", PASSWORD)
        page.fill("#otp", desk.hub.one_time_code(LEAD))
        page.click("button[type=submit]")
        expect(page).to_have_url(f"{served}/windows/{WINDOW}")
        expect(page.locator("h1")).to_contain_text("市民政局审批窗口")  # Chinese by default

        page.click("#lang-switch")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.locator("h1")).to_contain_text("City Civil Affairs approval window")
        expect(page.locator("#form-reassign legend")).to_have_text(
            "Reassign an absent operator's cases")
        page.select_option("#reassign-from", ABSENT)
        page.select_option("#reassign-to", PRESENT)
        page.fill("#form-reassign textarea", "sick leave")
        page.click("#do-reassign")
        expect(page.locator("#moved")).to_have_text(f"2 cases moved from {ABSENT} to {PRESENT}")
        rows = page.locator("#queue tbody tr", has_text=PRESENT)
        expect(rows).to_have_count(2)
        expect(page.locator("#queue tbody")).to_contain_text("Routed")  # still English
        browser.close()
    assert set(desk.holders().values()) == {PRESENT, COLLEAGUE}
