"""The hall's kiosk and a window's calling page in a real browser (Debian's chromium through
Playwright) against a real hub process (``sanji hub run``, SQLite, no ``hall.json``: the
areas are the catalogue's departments).

Two citizens take a ticket each at the kiosk; the operator of W-MZ-01 signs in, opens the
calling page, calls the next ticket twice and sees them in the order they were taken; the
first citizen's ticket page sends them to the window, and the hall board shows the second
ticket at the window with nobody left waiting.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect, sync_playwright

from tests.integration.city import HUB, PASSWORD, add_operators
from tests.integration.processes import Site, free_port, sanji
from tests.node.test_browser_intake import CHROMIUM, CHROMIUM_ARGS

WINDOW = "W-MZ-01"
OPERATOR = "mz-caller"
TIMEOUT = 10


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Site]:
    """A hub process on SQLite with an operator of the window."""
    data_dir = tmp_path / "hub"
    sanji("hub", "init", "--data-dir", str(data_dir))
    add_operators(data_dir, {HUB: [(OPERATOR, WINDOW)]})
    site = Site("hub", ["hub", "run", "--data-dir", str(data_dir)], free_port(),
                tmp_path / "hub.log").start()
    try:
        yield site
    finally:
        site.stop()


def _area_of(site: Site) -> str:
    areas = requests.get(f"{site.url}/api/v1/hall/areas", timeout=TIMEOUT).json()["areas"]
    return next(a["code"] for a in areas if WINDOW in a["windows"])


def _take_ticket(page: Page, base: str, area: str) -> str:
    page.goto(f"{base}/hall/kiosk")
    page.click(f"#take-{area}")
    expect(page.locator("#label")).to_be_visible()
    return page.locator("#label").inner_text()


@pytest.mark.browser
@pytest.mark.integration
def test_the_window_calls_two_tickets_in_the_order_they_were_taken(hub: Site) -> None:
    area = _area_of(hub)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        first_citizen = browser.new_context(locale="zh-CN").new_page()
        second_citizen = browser.new_context(locale="zh-CN").new_page()
        first = _take_ticket(first_citizen, hub.url, area)
        second = _take_ticket(second_citizen, hub.url, area)
        assert (first, second) == (f"{area}001", f"{area}002")
        expect(second_citizen.locator("#ahead")).to_have_text("1")

        desk = browser.new_context(locale="zh-CN").new_page()
        desk.set_default_timeout(20_000)
        desk.goto(f"{hub.url}/login?next=/hall/call/{WINDOW}")
        desk.fill("#username", OPERATOR)
        desk.fill("#password", PASSWORD)
        desk.click("button[type=submit]")
        desk.goto(f"{hub.url}/hall/call/{WINDOW}")
        expect(desk.locator("#waiting")).to_have_text("2")
        expect(desk.locator("#current-none")).to_be_visible()

        desk.click("#call-next")
        expect(desk.locator("#current")).to_have_text(first)
        expect(desk.locator("#waiting")).to_have_text("1")
        first_citizen.reload()
        expect(first_citizen.locator("#go")).to_contain_text(WINDOW)

        desk.click("#call-next")
        expect(desk.locator("#current")).to_have_text(second)
        expect(desk.locator("#waiting")).to_have_text("0")

        board = browser.new_context(locale="zh-CN").new_page()
        board.goto(f"{hub.url}/board")
        expect(board.locator("#calling")).to_contain_text(f"{second}→ {WINDOW}")
        expect(board.locator(f'#waiting [data-area="{area}"] b')).to_have_text("0")
        browser.close()
