"""The hub's public consultation form (网上咨询投诉, ``/consult``) in a real browser (Debian's
chromium through Playwright) against a real ``sanji hub run`` process: a citizen asks about
an item, leaves the phone number wrong first and is told which field, then sends it; the
confirmation names the number and the answer's due day, and the window of the item's
department finds it in its list. The page is light enough for a slow link."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect, sync_playwright

from tests.integration.city import HUB, add_operators, signed_in
from tests.integration.processes import Site, free_port, sanji
from tests.node.test_browser_intake import CHROMIUM, CHROMIUM_ARGS

TIMEOUT = 10


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Site]:
    data_dir = tmp_path / "hub"
    sanji("hub", "init", "--data-dir", str(data_dir))
    add_operators(data_dir, {HUB: [("mz-1", "W-MZ-01")]})
    site = Site("hub", ["hub", "run", "--data-dir", str(data_dir)], free_port(),
                tmp_path / "hub.log").start()
    try:
        yield site
    finally:
        site.stop()


def test_a_citizen_asks_online_and_the_department_sees_it(hub: Site) -> None:
    raw = requests.get(f"{hub.url}/consult", timeout=TIMEOUT)
    assert raw.status_code == 200 and len(raw.content) < 60_000
    assert b"<script" not in raw.content
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{hub.url}/guide")  # the public guide links the form
            page.click("#consult-link")
            page.select_option("select[name=kind]", "consultation")
            page.fill("input[name=name]", "王小明")
            page.fill("input[name=phone]", "1380013")
            page.fill("textarea[name=text]", "社会团体成立登记要准备哪些材料?")
            page.fill("input[name=item_code]", "MZ-0520")
            page.click("#cons-submit")
            expect(page.locator("#problems")).to_contain_text("phone")
            # what was typed is kept; only the phone is put right
            expect(page.locator("textarea[name=text]")).to_have_value(
                "社会团体成立登记要准备哪些材料?")
            page.fill("input[name=phone]", "13800138000")
            page.click("#cons-submit")
            expect(page.locator("#cons-done")).to_be_visible()
            done = page.locator("#cons-done").inner_text()
        finally:
            browser.close()
    listed = signed_in(hub, "mz-1").get(f"{hub.url}/api/v1/consultations",
                                        timeout=TIMEOUT).json()["consultations"]
    assert [(c["channel"], c["kind"], c["department"], c["item_code"]) for c in listed] == [
        ("online", "consultation", "MZ", "MZ-0520")]
    assert listed[0]["id"] in done
