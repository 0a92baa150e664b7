"""A township decides its own item through the window pages, over real HTTP.

The hub, the township and the village run as their own processes (``tests.integration.city``),
built as an operator builds them; the township's operators arrived with its enrolment. A
case for MZ-0305 (临时救助申请, decided at township window W-MZ-11) is registered at the
village and synced up; two operators then log in at the township's ``/login`` with a browser's
cookie session (``requests.Session``), find it in their queue and decide it with the case
page's forms, each form carrying the token parsed from the page, exactly as a browser posts
it. The decision reaches the village with the next exchanges.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.integration.city import PASSWORD, TOWNSHIP, Tree, city
from tests.integration.test_three_tiers import TOWNSHIP_FORM, TOWNSHIP_ITEM, _register

WINDOW = "W-MZ-11"
TIMEOUT = 10
MAX_PAGE_BYTES = 60 * 1024


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Tree]:
    with city(tmp_path, {TOWNSHIP: [("t-review", WINDOW), ("t-check", WINDOW)]}) as built:
        yield built


def _log_in(base: str, username: str) -> tuple[requests.Session, requests.Response]:
    """Open the window desk as a stranger, get sent to the login form, log in there."""
    browser = requests.Session()
    sent_away = browser.get(f"{base}/windows", allow_redirects=False, timeout=TIMEOUT)
    assert sent_away.status_code == 302
    login_url = base + sent_away.headers["Location"]
    assert login_url == f"{base}/login?next=/windows"
    form = browser.get(login_url, timeout=TIMEOUT)
    assert 'name="password"' in form.text
    landed = browser.post(login_url, data={"username": username, "password": PASSWORD,
                                           "csrf_token": _token(form.text)}, timeout=TIMEOUT)
    assert landed.status_code == 200, landed.text
    return browser, landed


def _token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has no form token"
    return found.group(1)


def _actions(page: str) -> set[str]:
    return set(re.findall(r'id="act-([a-z_]+)"', page))


def _do(browser: requests.Session, case_url: str, action: str) -> str:
    """Press the case page's button for ``action``; the page the redirect lands on."""
    page = browser.get(case_url, timeout=TIMEOUT)
    assert page.status_code == 200
    assert action in _actions(page.text), f"{action} is not offered: {_actions(page.text)}"
    done = browser.post(f"{case_url}/act", data={"csrf_token": _token(page.text),
                                                  "action": action}, timeout=TIMEOUT)
    assert done.status_code == 200, done.text
    assert done.url == f"{case_url}?done={action}"
    assert 'role="status">已完成' in done.text
    return done.text


@pytest.mark.integration
def test_two_township_operators_decide_a_township_item_through_the_pages(tree: Tree) -> None:
    case = _register(tree.village, "township-pages", TOWNSHIP_ITEM, TOWNSHIP_FORM)
    tree.sync("village")
    base = tree.township.url

    review, queue = _log_in(base, "t-review")
    assert queue.url == f"{base}/windows/{WINDOW}"  # an operator lands on their own window
    assert len(queue.content) < MAX_PAGE_BYTES
    row = re.search(r"<tr>.*?</tr>", queue.text.split("<tbody>")[1], re.S)
    assert row is not None
    link = re.search(r'href="(/windows/cases/[0-9a-f-]+)">([^<]+)</a>', row.group(0))
    assert link is not None and link.group(2) == case["acceptance_no"]
    assert "临时救助" in row.group(0) and "待受理" in row.group(0)
    # the township's own sync badge is in the desk's header too
    assert re.search(r'id="sync-indicator" class="sync sync-(green|amber)"', queue.text)
    case_url = base + link.group(1)
    assert case_url == f"{base}/windows/cases/{case['case_id']}"

    opened = review.get(case_url, timeout=TIMEOUT).text
    assert "李四" in opened and "11010519491231002X" in opened  # the operator of its window
    assert _actions(opened) == {"claim", "withdraw"}
    forged = review.post(f"{case_url}/act", data={"action": "claim"}, timeout=TIMEOUT)
    assert forged.status_code == 400  # no token, nothing done
    assert 'id="claimed-by">—<' in review.get(case_url, timeout=TIMEOUT).text

    _do(review, case_url, "claim")
    accepted = _do(review, case_url, "accept")
    assert 'id="state">已受理' in accepted
    reviewed = _do(review, case_url, "approve")
    assert "check" not in _actions(reviewed)  # 一审一核: the reviewer does not check

    check, check_queue = _log_in(base, "t-check")
    assert case["acceptance_no"] in check_queue.text and "已审核待核准" in check_queue.text
    _do(check, case_url, "claim")
    _do(check, case_url, "check")
    decided = _do(check, case_url, "issue_result")
    assert 'id="outcome"><b>准予<' in decided
    assert 'id="state">已出具结果' in decided
    history = re.findall(r'class="ev-([a-z_]+)"', decided)
    assert history[0] == "registered" and history[-3:] == ["claimed", "checked", "result_issued"]
    assert history.count("claimed") == 2 and "reviewed" in history
    assert "没有待办案件" in check.get(f"{base}/windows/{WINDOW}", timeout=TIMEOUT).text

    tree.sync("township", "village")
    shown = tree.agent().get(f"{tree.village.url}/api/v1/cases/{case['case_id']}",
                         timeout=TIMEOUT).json()
    assert shown["stage"] == "decided"
