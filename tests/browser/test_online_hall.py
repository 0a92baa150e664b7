"""The online service hall (网上服务大厅) in a real browser (Debian's chromium through
Playwright) against a real hub process (``sanji hub run``) whose texts go to an SMS provider
on 127.0.0.1.

An applicant signs up: a wrong ID number is named on the page, the code arrives by text and
signs them in. They open the passport item, pick the purpose and courier delivery, upload the
ID card and save: the pre-check says the photo and the courier address are still missing.
They upload the photo and give an address with a wrong area code, which is named; corrected,
they submit; the case page shows the acceptance number, the query code, the courier address
and that the case is at the window, and "my applications" lists it. The public status lookup
opens it with the pair. The applicant changes the address on the case page, and the window's
case page shows the new one. The window then asks for a new photo (一次性告知); the
applicant's page shows the request with a file input, the applicant uploads the photo and the
case is back at the window."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect, sync_playwright

from hub.settings import HubSettings
from tests.hub.online_hall_fixtures import COURIER, JPEG, PERSON, PNG, SmsSink, sms_sink
from tests.integration.city import HUB, PASSWORD, add_operators, signed_in
from tests.integration.processes import Site, free_port, sanji
from tests.node.test_browser_intake import CHROMIUM, CHROMIUM_ARGS

TIMEOUT = 10
OPERATOR = "ga-window"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[Site, SmsSink]]:
    """A hub process on SQLite texting through a provider on 127.0.0.1."""
    data_dir = tmp_path / "hub"
    sanji("hub", "init", "--data-dir", str(data_dir))
    add_operators(data_dir, {HUB: [(OPERATOR, "W-GA-01")]})
    with sms_sink() as sink:
        replace(HubSettings.load(data_dir), sms_gateway_url=sink.url).write()
        site = Site("hub", ["hub", "run", "--data-dir", str(data_dir)], free_port(),
                    tmp_path / "hub.log").start()
        try:
            yield site, sink
        finally:
            site.stop()


@pytest.mark.browser
@pytest.mark.integration
def test_an_applicant_signs_up_and_submits_an_application_online(
        hub: tuple[Site, SmsSink], tmp_path: Path) -> None:
    site, sink = hub
    id_card, photo = tmp_path / "id.jpg", tmp_path / "photo.png"
    id_card.write_bytes(JPEG)
    photo.write_bytes(PNG)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(locale="zh-CN")
        context.set_default_timeout(20_000)
        page = context.new_page()
        page.goto(f"{site.url}/online/signup")
        page.fill("[name='applicant.name']", PERSON["name"])
        page.fill("[name='applicant.id_number']", "110105194912310021")  # a wrong check digit
        page.fill("[name='applicant.phone']", PERSON["phone"])
        page.click("#send-code")
        expect(page.locator("#err-applicant\\.id_number")).to_be_visible()
        assert sink.received == []
        page.fill("[name='applicant.id_number']", PERSON["id_number"])
        page.click("#send-code")
        expect(page.locator("[name=code]")).to_be_visible()
        page.fill("[name=code]", sink.code_for(PERSON["phone"]))
        page.click("#sign-up")
        expect(page).to_have_url(f"{site.url}/online")

        page.click("a[href='/online/apply/GA-3101']")
        page.select_option("[name='form.purpose']", "tourism")
        page.check("input[name=delivery][value=courier]")
        page.set_input_files("[name='file.ID_CARD']", str(id_card))
        page.click("#check")
        expect(page.locator("#precheck li[data-field='file.PHOTO']")).to_be_visible()
        expect(page.locator("#precheck li[data-field='file.ID_CARD']")).to_have_count(0)
        expect(page.locator("#precheck li[data-field='courier.address']")).to_be_visible()
        page.set_input_files("[name='file.PHOTO']", str(photo))
        for key, value in {**COURIER, "area": "991002001"}.items():  # no province 99
            page.fill(f"[name='courier.{key}']", value)
        page.click("#submit")
        expect(page.locator("#err-courier\\.area")).to_be_visible()
        expect(page.locator("#err-courier\\.address")).to_have_count(0)
        page.fill("[name='courier.area']", COURIER["area"])
        page.click("#submit")

        expect(page.locator("#submitted")).to_be_visible()
        expect(page.locator("#stage")).to_have_text("窗口办理中")
        expect(page.locator("#courier-address")).to_contain_text(COURIER["address"])
        number = page.locator("#acceptance-no").inner_text()
        code = page.locator("#query-code").inner_text()
        assert number.startswith("431000-") and len(code) == 8
        case_url = page.url.split("?")[0]
        page.goto(f"{site.url}/online")
        expect(page.locator("#my-cases")).to_contain_text(number)

        looked_up = requests.get(f"{site.url}/api/v1/public/status", timeout=TIMEOUT,
                                 params={"acceptance_no": number, "query_code": code})
        assert looked_up.status_code == 200 and looked_up.json()["stage"] == "at_window"

        # the applicant moves: the new address is the one the window sees
        page.goto(case_url)
        page.fill("#change-address [name='courier.address']", "华塘镇新村路 3 号")
        page.click("#send-address")
        expect(page.locator("#message")).to_be_visible()
        expect(page.locator("#courier-address")).to_contain_text("华塘镇新村路 3 号")
        case_id = case_url.rsplit("/", 1)[1]
        desk = browser.new_context(locale="zh-CN").new_page()
        desk.set_default_timeout(20_000)
        desk.goto(f"{site.url}/login")
        desk.fill("#username", OPERATOR)
        desk.fill("#password", PASSWORD)
        desk.click("button[type=submit]")
        desk.goto(f"{site.url}/windows/cases/{case_id}")
        expect(desk.locator("#courier-address")).to_contain_text("华塘镇新村路 3 号")

        window = signed_in(site, OPERATOR)
        for body in ({"action": "claim"}, {"action": "request_supplement",
                                           "missing": ["PHOTO"], "reason": "照片背景不符合要求"}):
            done = window.post(f"{site.url}/api/v1/cases/{case_id}/actions", json=body,
                               timeout=TIMEOUT)
            assert done.status_code == 200, done.text
        page.goto(case_url)
        expect(page.locator("#supplement")).to_be_visible()
        page.set_input_files("[name='file.PHOTO']", str(photo))
        page.click("#send-supplement")
        expect(page.locator("#message")).to_be_visible()
        expect(page.locator("#supplement")).to_have_count(0)
        expect(page.locator("#stage")).to_have_text("窗口办理中")
        browser.close()
