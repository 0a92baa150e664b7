"""The city window operators' pages at the hub: the queue, the case page and its action forms.

Fast tests drive a hub app built in-process on a data directory made by the real ``sanji hub
init``; the case enters the hub's event store as a registration the hub itself signs (the
city centre's front desk), handed to the same sync hook the exchange calls, so it is routed
to its window exactly as a case from a village is. The browser test instead runs the real
tree (hub, township and village as processes, from the three-tier integration test), and
two operators decide the village's case in Debian's chromium.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser, Page, expect, sync_playwright
from werkzeug.test import TestResponse

from shared.web.pages import CSRF_SESSION_KEY
from tests.hub.conftest import ID_NUMBER, WINDOW, Clock, User, register_at_hub
from tests.hub.conftest import Hub as CityHub
from tests.integration.test_three_tiers import (
    PASSWORD as TREE_PASSWORD,
)
from tests.integration.test_three_tiers import (
    Tree,
    _register,
    tree,  # noqa: F401 - a fixture: the real city as processes
)
from tests.node.test_browser_intake import CHROMIUM, CHROMIUM_ARGS

MAX_PAGE_BYTES = 60 * 1024
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"  # git-ignored
DOCS_SHOTS = REPO / "docs" / "screenshots"
NOW = datetime(2025, 3, 3, 2, 30, tzinfo=UTC)  # Monday 10:30 in Shanghai
USERS: list[User] = [("mz-review", "window_operator", WINDOW),
                     ("mz-check", "window_operator", WINDOW),
                     ("ny-desk", "window_operator", "W-NY-01"),
                     ("mz-cashier", "finance", WINDOW)]


@dataclass
class Hub:
    """The hub with one registered case waiting at its window."""

    city: CityHub
    case_id: uuid.UUID
    acceptance_no: str

    @property
    def app(self) -> Flask:
        return self.city.app

    @property
    def clock(self) -> Clock:
        return self.city.clock

    @property
    def case_url(self) -> str:
        return f"/windows/cases/{self.case_id}"


@pytest.fixture
def hub(make_hub: Callable[[datetime, list[User]], CityHub]) -> Hub:
    city = make_hub(NOW, USERS)
    case_id, acceptance_no = register_at_hub(city)
    return Hub(city, case_id, acceptance_no)


def _login(hub: Hub, username: str) -> FlaskClient:
    return hub.city.login(username)


def _token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has no form token"
    return found.group(1)


def _act(client: FlaskClient, hub: Hub, action: str, **fields: Any) -> TestResponse:
    """Submit the case page's form for ``action`` the way the browser does."""
    page = client.get(hub.case_url).get_data(as_text=True)
    data = {"csrf_token": _token(page), "action": action, **fields}
    return client.post(f"{hub.case_url}/act", data=data)


def _actions(page: str) -> set[str]:
    return set(re.findall(r'id="act-([a-z_]+)"', page))


def _done(client: FlaskClient, hub: Hub, action: str, **fields: Any) -> None:
    response = _act(client, hub, action, **fields)
    assert response.status_code == 303, response.get_data(as_text=True)
    assert response.headers["Location"] == f"{hub.case_url}?done={action}"


def test_pages_need_a_login(hub: Hub) -> None:
    client = hub.app.test_client()
    for path in ("/windows", f"/windows/{WINDOW}", hub.case_url):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=")
    refused = client.post(f"{hub.case_url}/act", data={"action": "claim"})
    assert refused.status_code == 302
    reviewer = _login(hub, "mz-review")
    assert "认领人" in reviewer.get(hub.case_url).get_data(as_text=True)
    assert 'id="claimed-by">—<' in reviewer.get(hub.case_url).get_data(as_text=True)


def test_an_operator_of_another_window_is_refused(hub: Hub) -> None:
    other = _login(hub, "ny-desk")
    assert other.get("/windows").headers["Location"] == "/windows/W-NY-01"
    assert other.get(f"/windows/{WINDOW}").status_code == 403
    # another window's case is answered exactly as a case id nobody holds
    page = other.get(hub.case_url)
    nobody = uuid.uuid4()
    unknown = other.get(f"/windows/cases/{nobody}")
    assert (page.status_code, unknown.status_code) == (404, 404)
    case_id = hub.case_url.rsplit("/", 1)[-1]
    assert page.get_data(as_text=True) == unknown.get_data(as_text=True).replace(
        str(nobody), case_id)  # the same page, bar the address it links to in English
    assert "李四" not in page.get_data(as_text=True)
    assert other.get(f"{hub.case_url}/result.pdf").status_code == 404
    with other.session_transaction() as session:
        session[CSRF_SESSION_KEY] = "known-token"
    claim = other.post(f"{hub.case_url}/act",
                       data={"csrf_token": "known-token", "action": "claim"})
    assert claim.status_code == 404
    reviewer = _login(hub, "mz-review")
    assert _actions(reviewer.get(hub.case_url).get_data(as_text=True)) == {"claim", "withdraw"}


def test_the_queue_lists_the_case_and_links_to_it(hub: Hub) -> None:
    client = _login(hub, "mz-review")
    assert client.get("/windows").headers["Location"] == f"/windows/{WINDOW}"
    response = client.get(f"/windows/{WINDOW}")
    assert response.status_code == 200
    assert len(response.data) < MAX_PAGE_BYTES
    page = response.get_data(as_text=True)
    row = re.search(r"<tr>.*?</tr>", page.split("<tbody>")[1], re.S)
    assert row is not None
    assert f'href="{hub.case_url}">{hub.acceptance_no}</a>' in row.group(0)
    assert "社会团体成立登记" in row.group(0) and "待受理" in row.group(0)
    assert 'id="count">1<' in page


def test_the_case_page_shows_the_registration_and_only_the_allowed_actions(hub: Hub) -> None:
    reviewer = _login(hub, "mz-review")
    response = reviewer.get(hub.case_url)
    assert response.status_code == 200
    assert len(response.data) < MAX_PAGE_BYTES
    assert response.headers["Cache-Control"] == "private, no-store"
    page = response.get_data(as_text=True)
    for shown in (hub.acceptance_no, "MZ-0520 社会团体成立登记", "承办件", "李四", ID_NUMBER,
                  "13800138000", "郴州市摄影家协会", "APPLICATION", "成立登记申请书",
                  "application/pdf", "240 KB", "front-desk (window_operator)"):
        assert shown in page, shown
    assert "2025-03-03 10:30" in page  # history in Asia/Shanghai time
    assert _actions(page) == {"claim", "withdraw"}  # 撤件 may be recorded at the window

    _done(reviewer, hub, "claim")
    claimed = reviewer.get(f"{hub.case_url}?done=claim").get_data(as_text=True)
    assert "已完成" in claimed and 'id="claimed-by">mz-review<' in claimed
    assert {"accept", "request_supplement", "reject", "transfer", "release_claim"} <= (
        _actions(claimed))
    assert not {"claim", "approve", "check", "issue_result"} & _actions(claimed)
    colleague = _login(hub, "mz-check")
    assert "claim" not in _actions(colleague.get(hub.case_url).get_data(as_text=True))

    cashier = _login(hub, "mz-cashier")
    masked = cashier.get(hub.case_url).get_data(as_text=True)
    assert ID_NUMBER not in masked and "1101**********002X" in masked
    assert _actions(masked) == set() and 'id="no-actions"' in masked


def test_a_form_without_the_session_token_is_refused(hub: Hub) -> None:
    client = _login(hub, "mz-review")
    client.get(hub.case_url)  # the session now holds a token
    missing = client.post(f"{hub.case_url}/act", data={"action": "claim"}, token=False)
    wrong = client.post(f"{hub.case_url}/act", data={"action": "claim", "csrf_token": "x"})
    assert missing.status_code == 400 and wrong.status_code == 400
    assert 'id="claimed-by">—<' in client.get(hub.case_url).get_data(as_text=True)


def test_a_rejection_without_a_reason_is_shown_again_with_the_error(hub: Hub) -> None:
    client = _login(hub, "mz-review")
    _done(client, hub, "claim")
    response = _act(client, hub, "reject", reason="  ")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="refusal"' in page and "reason" in page
    assert 'id="act-reject"' in page  # the form is there to try again
    assert 'id="state">待受理' in page
    assert "ev-rejected" not in client.get(hub.case_url).get_data(as_text=True)

    _done(client, hub, "reject", reason="章程草案与业务主管单位批准文件不一致")
    rejected = client.get(hub.case_url).get_data(as_text=True)
    assert 'id="outcome"><b>不予' in rejected and "章程草案与业务主管单位批准文件不一致" in rejected


def test_a_supplement_request_lists_every_missing_material_at_once(hub: Hub) -> None:
    client = _login(hub, "mz-review")
    _done(client, hub, "claim")
    page = client.get(hub.case_url).get_data(as_text=True)
    # every required material not uploaded is ticked in the notice's checkbox list
    for code in ("CHARTER", "SPONSOR_APPROVAL", "FUNDS_PROOF", "PREMISES_PROOF"):
        assert f'name="missing" value="{code}" checked' in page
    assert 'name="missing" value="APPLICATION">' in page
    nothing = _act(client, hub, "request_supplement")
    assert nothing.status_code == 400 and "一次性告知" in nothing.get_data(as_text=True)
    response = client.post(f"{hub.case_url}/act", data={
        "csrf_token": _token(page), "action": "request_supplement",
        "missing": ["CHARTER", "FUNDS_PROOF"], "reason": "请补齐后再次提交"})
    assert response.status_code == 303
    after = client.get(hub.case_url).get_data(as_text=True)
    assert re.search(r'id="missing">.*章程草案.*验资报告', after)
    assert 'id="state">待补正' in after
    assert "缺 章程草案、验资报告" in after


def test_two_operators_decide_the_case_through_the_forms(hub: Hub) -> None:
    review, check = _login(hub, "mz-review"), _login(hub, "mz-check")
    for action in ("claim", "accept", "approve"):
        _done(review, hub, action)
    accepted = review.get(hub.case_url).get_data(as_text=True)
    assert "2025-03-31(剩余 20 个工作日" in accepted
    assert "check" not in _actions(accepted)  # 一审一核: the reviewer does not check
    same_person = _act(review, hub, "check")
    assert same_person.status_code in (403, 409)
    assert 'id="refusal"' in same_person.get_data(as_text=True)

    queue = check.get(f"/windows/{WINDOW}").get_data(as_text=True)
    assert "已审核待核准" in queue  # the review ended the reviewer's claim
    for action in ("claim", "check", "issue_result"):
        _done(check, hub, action)
    decided = check.get(f"{hub.case_url}?done=issue_result").get_data(as_text=True)
    assert 'id="outcome"><b>准予<' in decided
    assert 'id="state">已出具结果' in decided
    history = re.findall(r'class="ev-([a-z_]+)"', decided)
    assert history == ["registered", "received", "routed", "claimed", "accepted", "reviewed",
                       "claimed", "checked", "result_issued"]
    assert "没有待办案件" in check.get(f"/windows/{WINDOW}").get_data(as_text=True)


def test_an_overdue_case_is_shown_in_red(hub: Hub) -> None:
    client = _login(hub, "mz-review")
    for action in ("claim", "accept"):
        _done(client, hub, action)
    on_time = client.get(f"/windows/{WINDOW}").get_data(as_text=True)
    assert 'class="late"' not in on_time and '<td class="left">20</td>' in on_time
    hub.clock.now += timedelta(days=35)  # 2025-04-07: past the due day, 2025-03-31
    client = _login(hub, "mz-review")  # the old login has expired meanwhile
    late = client.get(f"/windows/{WINDOW}").get_data(as_text=True)
    assert '<tr class="late">' in late and "超期" in late
    assert "超期" in client.get(hub.case_url).get_data(as_text=True)


def test_a_case_accepted_again_after_a_transfer_keeps_its_first_deadline(hub: Hub) -> None:
    review, elsewhere = _login(hub, "mz-review"), _login(hub, "ny-desk")
    for action in ("claim", "accept"):
        _done(review, hub, action)
    moved = _act(review, hub, "transfer", to_window="W-NY-01", reason="误转农业窗口")
    assert moved.status_code == 303, moved.get_data(as_text=True)
    _done(elsewhere, hub, "claim")
    back = _act(elsewhere, hub, "transfer", reason="退回民政窗口办理")
    assert back.status_code == 303, back.get_data(as_text=True)
    hub.clock.now += timedelta(days=7)  # accepted again a week later
    review = _login(hub, "mz-review")
    for action in ("claim", "accept"):
        _done(review, hub, action)
    page = review.get(hub.case_url).get_data(as_text=True)
    assert "2025-03-31(剩余 15 个工作日" in page  # the day the first acceptance promised


# -- the browser, against the real tree -----------------------------------------------------


def _shoot(page: Page, name: str, docs_name: str | None = None) -> None:
    """Keep a screenshot with the test artefacts; the documentation's copy is written when
    missing or when SANJI_UPDATE_SCREENSHOTS=1, so a test run leaves the tree clean."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)
    if docs_name is not None:
        target = DOCS_SHOTS / docs_name
        if not target.exists() or os.environ.get("SANJI_UPDATE_SCREENSHOTS") == "1":
            DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(target), full_page=True)


def _log_in(browser: Browser, base: str, username: str) -> Page:
    page = browser.new_context(viewport={"width": 1100, "height": 800}, locale="zh-CN").new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{base}/windows")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill("#username", username)
    page.fill("#password", TREE_PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/windows/{WINDOW}")
    return page


def _bytes(page: Page, url: str) -> int:
    response = page.request.get(url)
    assert response.status == 200
    return len(response.body())


@pytest.mark.browser
@pytest.mark.integration
def test_two_operators_decide_a_village_case_in_the_browser(
    tree: Tree,  # noqa: F811 - the fixture imported above
) -> None:
    case = _register(tree.village, "browser")
    tree.sync("village", "township")
    base = tree.hub.url
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        review = _log_in(browser, base, "mz-review")
        row = review.locator("#queue tr", has_text=case["acceptance_no"])
        expect(row).to_have_count(1)
        expect(row).to_contain_text("社会团体成立登记")
        assert _bytes(review, review.url) < MAX_PAGE_BYTES
        row.locator("a").click()
        case_url = f"{base}/windows/cases/{case['case_id']}"
        expect(review).to_have_url(case_url)
        expect(review.locator("#applicant")).to_contain_text("11010519491231002X")
        # the release the village accepted it under (the sample: nothing published yet)
        expect(review.locator("#catalogue-version")).to_have_text("v1")
        for action in ("claim", "accept", "approve"):
            review.click(f"#do-{action}")
            expect(review.locator(".ok")).to_be_visible()
        expect(review.locator("#act-check")).to_have_count(0)
        review.click("header >> text=队列")
        expect(review.locator("#queue tr", has_text=case["acceptance_no"])).to_contain_text(
            "已审核待核准")
        _shoot(review, "hub-window-queue.png", "hub-window-queue.png")

        check = _log_in(browser, base, "mz-check")
        check.locator("#queue a", has_text=case["acceptance_no"]).click()
        for action in ("claim", "check", "issue_result"):
            check.click(f"#do-{action}")
            expect(check.locator(".ok")).to_be_visible()
        expect(check.locator("#outcome")).to_contain_text("准予")
        expect(check.locator("#state")).to_contain_text("已出具结果")
        assert _bytes(check, case_url) < MAX_PAGE_BYTES
        _shoot(check, "hub-window-case.png", "hub-window-case.png")
        browser.close()
