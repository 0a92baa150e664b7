"""A window's calling page opens the registration of the ticket it serves, in a real browser
(Debian's chromium through Playwright) against a real hub process (``sanji hub run``,
SQLite, no ``hall.json``: the areas are the catalogue's departments).

A citizen takes a ticket at the kiosk; the operator of W-MZ-01 signs in, calls it, opens the
registration from the calling page, picks the item among the window's own, first sends the
form with a wrong ID number (named beside its field, nothing registered), then fills it in
right with a scan and registers: the result page shows the acceptance number and the query
code, the calling page shows the ticket linked to that number without it being typed, and the
citizen finds the case with the pair on the public status page.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect, sync_playwright

from tests.integration.city import HUB, PASSWORD, add_operators
from tests.integration.processes import Site, free_port, sanji
from tests.node.conftest import PNG
from tests.node.test_browser_intake import CHROMIUM, CHROMIUM_ARGS

WINDOW = "W-MZ-01"
ITEM = "MZ-0520"
OPERATOR = "mz-registrar"
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


def _fill(desk: Page, id_number: str) -> None:
    desk.fill("[id='applicant.name']", "李四")
    desk.fill("[id='applicant.id_number']", id_number)
    desk.fill("[id='applicant.phone']", "13800138000")
    desk.fill("[id='form.org_name']", "郴州市摄影家协会")
    desk.fill("[id='form.registered_funds']", "30000")
    desk.fill("[id='form.member_count']", "60")
    desk.fill("[id='form.business_scope']", "摄影交流与培训")


@pytest.mark.browser
@pytest.mark.integration
def test_the_calling_page_opens_the_registration_and_links_the_ticket(
        hub: Site, tmp_path: Path) -> None:
    area = _area_of(hub)
    scan = tmp_path / "application.png"
    scan.write_bytes(PNG)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        citizen = browser.new_context(locale="zh-CN").new_page()
        citizen.goto(f"{hub.url}/hall/kiosk")
        citizen.click(f"#take-{area}")
        ticket = citizen.locator("#label").inner_text()

        desk = browser.new_context(locale="zh-CN").new_page()
        desk.set_default_timeout(20_000)
        desk.goto(f"{hub.url}/login?next=/hall/call/{WINDOW}")
        desk.fill("#username", OPERATOR)
        desk.fill("#password", PASSWORD)
        desk.click("button[type=submit]")
        desk.goto(f"{hub.url}/hall/call/{WINDOW}")
        desk.click("#call-next")
        expect(desk.locator("#current")).to_have_text(ticket)

        desk.click("#open-registration")
        expect(desk.locator("#desk-ticket")).to_have_text(ticket)
        desk.click(f"#window-items [data-item='{ITEM}']")
        expect(desk.locator("#desk-ticket")).to_contain_text(ticket)

        _fill(desk, "110105194912310021")  # a wrong check digit
        desk.click("#register")
        expect(desk.locator("[id='err-applicant.id_number']")).to_be_visible()
        expect(desk.locator("[id='applicant.name']")).to_have_value("李四")

        _fill(desk, "11010519491231002X")
        desk.set_input_files("[id='file.APPLICATION']", str(scan))
        desk.click("#register")
        number = desk.locator("#acceptance-no")
        expect(number).to_contain_text(f"{HUB}-")
        acceptance_no = number.inner_text()
        query_code = desk.locator("#query-code").inner_text()
        expect(desk.locator("#desk-linked")).to_contain_text(ticket)

        desk.click("#back-to-call")
        expect(desk.locator("#current")).to_have_text(ticket)
        expect(desk.locator("#linked-no")).to_have_text(acceptance_no)

        citizen.goto(f"{hub.url}/status?acceptance_no={acceptance_no}"
                     f"&query_code={query_code}")
        expect(citizen.locator("body")).to_contain_text(acceptance_no)
        browser.close()
