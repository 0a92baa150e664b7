"""The rating page at the window in a real browser (Debian's chromium through Playwright, a
touch tablet's viewport) against a real hub process.

The hub runs as its own ``sanji hub run`` process; a walk-in case is registered at its front
desk and decided by two operators of W-MZ-01 (一审一核) through the action API. The operator
then opens the case page, follows its link to the rating page, turns the tablet to the
citizen, who taps a level and stars in portrait and in landscape and submits; the thank-you
screen shows no case. The hub's event store then holds exactly one ``rated`` event of channel
``window`` with the scores tapped, and a second submit from the browser's history is refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from hub.app import create_app
from hub.services import services_of
from hub.settings import HubSettings
from shared.deciding import case_work
from shared.web.request_db import app_session
from tests.integration.city import HUB, PASSWORD, add_operators, signed_in
from tests.integration.processes import Site, free_port, sanji
from tests.integration.test_three_tiers import FORM
from tests.node.test_browser_intake import CHROMIUM, CHROMIUM_ARGS

WINDOW = "W-MZ-01"
REVIEWER, CHECKER = "mz-review", "mz-check"
DESK = "city-front-desk"
APPLICANT = {"name": "王小明", "id_number": "431002198001010017", "phone": "13800138000"}
PORTRAIT: ViewportSize = {"width": 800, "height": 1280}
LANDSCAPE: ViewportSize = {"width": 1280, "height": 800}
TIMEOUT = 10
MIN_TARGET = 48
"""The least width and height of a touch target, in CSS pixels."""
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"  # git-ignored


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[Site, Path]]:
    """A hub process on SQLite with two operators of the window and a front-desk agent."""
    data_dir = tmp_path / "hub"
    sanji("hub", "init", "--data-dir", str(data_dir))
    add_operators(data_dir, {HUB: [(REVIEWER, WINDOW), (CHECKER, WINDOW)]})
    sanji("hub", "add-user", "--data-dir", str(data_dir), "--username", DESK,
          "--password", PASSWORD, "--role", "agent", "--site", HUB)
    site = Site("hub", ["hub", "run", "--data-dir", str(data_dir)], free_port(),
                tmp_path / "hub.log").start()
    try:
        yield site, data_dir
    finally:
        site.stop()


def _decided_case(hub: Site, key: str) -> dict[str, Any]:
    """A walk-in case registered at the front desk, decided and its result issued."""
    created = signed_in(hub, DESK).post(
        f"{hub.url}/api/v1/cases", timeout=TIMEOUT, headers={"Idempotency-Key": key},
        json={"item_code": "MZ-0520", "applicant": APPLICANT, "form": FORM,
              "delivery": "window"})
    assert created.status_code == 201, created.text
    case: dict[str, Any] = created.json()
    review, check = signed_in(hub, REVIEWER), signed_in(hub, CHECKER)
    for who, action in ((review, "claim"), (review, "accept"), (review, "approve"),
                        (check, "claim"), (check, "check"), (check, "issue_result")):
        done = who.post(f"{hub.url}/api/v1/cases/{case['case_id']}/actions", timeout=TIMEOUT,
                        json={"action": action})
        assert done.status_code == 200, (action, done.text)
    return case


def _rated_payloads(data_dir: Path, case_id: str) -> list[dict[str, Any]]:
    """The ``rated`` events the hub stored for the case, opened with its data key."""
    app = create_app(HubSettings.load(data_dir))
    with app_session(app) as session:
        events = case_work.case_events(session, services_of(app).sync_site, uuid.UUID(case_id))
    return [dict(e.payload) for e in events if e.type.value == "rated"]


def _tablet(browser: Browser, viewport: ViewportSize) -> Page:
    context = browser.new_context(viewport=viewport, has_touch=True, is_mobile=True,
                                  locale="zh-CN")
    context.set_default_timeout(20_000)
    return context.new_page()


def _sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", CHECKER)
    page.fill("#password", PASSWORD)
    page.tap("button[type=submit]")
    expect(page.locator("#username")).to_have_count(0)


def _big_enough(page: Page, selector: str) -> None:
    for box in (page.locator(selector).nth(i).bounding_box()
                for i in range(page.locator(selector).count())):
        assert box is not None and box["width"] >= MIN_TARGET and box["height"] >= MIN_TARGET


@pytest.mark.browser
@pytest.mark.integration
def test_the_citizen_rates_on_the_tablet_once(hub: tuple[Site, Path]) -> None:
    site, data_dir = hub
    first, second = _decided_case(site, "walk-in-1"), _decided_case(site, "walk-in-2")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = _tablet(browser, PORTRAIT)
        _sign_in(page, site.url)
        page.goto(f"{site.url}/windows/cases/{first['case_id']}")
        page.tap("#rate-tablet")
        expect(page).to_have_url(f"{site.url}/windows/rate/{first['case_id']}")
        stale = page.context.new_page()
        stale.goto(page.url)
        expect(page.locator("#acceptance-no")).to_have_text(first["acceptance_no"])
        expect(page.locator("#applicant")).to_have_text("王**")
        expect(page.locator("body")).not_to_contain_text("431002198001010017")
        _big_enough(page, ".lvl span")
        _big_enough(page, ".stars label")
        _big_enough(page, "#submit")
        page.tap(".lvl:has(#level-satisfied) span")
        page.tap("label[for=efficiency-5]")
        page.tap("label[for=attitude-4]")
        page.tap("label[for=service_level-3]")
        page.fill("#comment", "窗口很耐心")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "rating-tablet-portrait.png"), full_page=True)
        page.tap("#submit")
        expect(page.locator("#thanks")).to_contain_text("感谢您的评价")
        expect(page.locator("body")).not_to_contain_text(first["acceptance_no"])
        expect(page.locator("body")).not_to_contain_text("满意")  # the level given is not shown
        assert _rated_payloads(data_dir, first["case_id"]) == [{
            "rating": "satisfied", "channel": "window",
            "indicators": {"efficiency": 5, "attitude": 4, "service_level": 3},
            "comment": "窗口很耐心"}]

        # the form left open on a second tab is submitted after it: refused, nothing stored
        stale.tap(".lvl:has(#level-very_dissatisfied) span")
        stale.tap("#submit")
        expect(stale.locator("#problem")).to_contain_text("本件已评价,每件只能评价一次")
        expect(stale.locator("body")).not_to_contain_text(first["acceptance_no"])
        assert len(_rated_payloads(data_dir, first["case_id"])) == 1
        page.go_back()  # the browser's history: the page now says so too, without a form
        expect(page.locator("#problem")).to_contain_text("本件已评价")
        expect(page.locator("#submit")).to_have_count(0)
        page.tap("#back")
        expect(page).to_have_url(f"{site.url}/windows/{WINDOW}")

        # landscape, in English, with a level only (the indicators are optional); the whole
        # form, submit included, fits the screen without scrolling
        landscape = _tablet(browser, LANDSCAPE)
        _sign_in(landscape, site.url)
        landscape.goto(f"{site.url}/windows/rate/{second['case_id']}?lang=en")
        expect(landscape.locator(".lvl").first).to_contain_text("Very satisfied")
        _big_enough(landscape, ".lvl span")
        submit = landscape.locator("#submit").bounding_box()
        assert submit is not None and submit["y"] + submit["height"] <= LANDSCAPE["height"]
        landscape.tap(".lvl:has(#level-very_satisfied) span")
        landscape.screenshot(path=str(ARTIFACTS / "rating-tablet-landscape.png"))
        landscape.tap("#submit")
        expect(landscape.locator("#thanks")).to_contain_text("Thank you")
        browser.close()
    assert [p["rating"] for p in _rated_payloads(data_dir, second["case_id"])] == [
        "very_satisfied"]
