"""A real browser (Debian's chromium through Playwright) against the node served by
waitress on 127.0.0.1: the agent registers a case and finds it in the case list."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import expect, sync_playwright
from waitress.server import create_server

from tests.node.conftest import temporary_assistance_form

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def served(app: Flask) -> Iterator[str]:
    server = create_server(app, host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"  # type: ignore[union-attr]
    server.close()
    thread.join(timeout=10)


@pytest.mark.browser
def test_the_agent_registers_a_case_and_sees_it_in_the_list(served: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{served}/intake")
        page.fill("input[name=q]", "lsjz")
        page.click("text=查找")
        page.click("text=临时救助申请")
        page.fill("[id='applicant.name']", "王𠮷祥")
        page.fill("[id='applicant.id_number']", "431002198001010017")
        page.fill("[id='applicant.phone']", "13800138000")
        form = temporary_assistance_form()
        page.select_option("[id='form.hardship_type']", form["hardship_type"])
        page.fill("[id='form.hardship_date']", form["hardship_date"])
        page.fill("[id='form.amount_requested']", form["amount_requested"])
        page.fill("[id='form.description']", form["description"])
        page.fill("[id='form.bank_account']", "123")  # too short: refused beside the field
        page.click("button[value=register]")
        expect(page.locator(".bad .err")).to_have_count(1)
        page.fill("[id='form.bank_account']", form["bank_account"])
        page.click("button[value=register]")
        number = page.locator("#acceptance-no")
        expect(number).to_have_text(re.compile(r"^431002001201-\d{8}-0001$"))
        expect(page.locator("#query-code")).to_have_text(re.compile(r"^[2-9A-Z]{8}$"))
        acceptance_no = number.inner_text()
        page.click("header >> text=案件")
        row = page.locator("tr", has_text=acceptance_no)
        expect(row).to_have_count(1)
        expect(row.locator(".stage")).to_have_text("待上传")
        expect(row).to_contain_text("临时救助申请")
        browser.close()
