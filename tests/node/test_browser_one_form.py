"""A one-form registration (一表制) in a real browser (Debian's chromium through Playwright)
against the node served by waitress on 127.0.0.1: the agent finds the composite by a
keyword, fills its one form, is told what it saves, and lands on the parent's page listing a
case per department, each of which the node holds as its own case."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import select

from node.models import NodeCase
from tests.node.conftest import node_services
from tests.node.test_browser_intake import CHROMIUM, CHROMIUM_ARGS, served  # noqa: F401
from tests.node.test_one_form_intake import ONE_FORM


@pytest.mark.browser
def test_the_agent_registers_one_form_and_sees_a_case_per_department(
        served: str, app: Flask) -> None:  # noqa: F811
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{served}/intake")
        page.fill("input[name=q]", "残疾")
        page.click("text=查找")
        page.click("#one-forms >> text=困难残疾人救助一件事")
        expect(page.locator("#one-form-parts")).to_contain_text("MZ-0101")
        expect(page.locator("#one-form-parts")).to_contain_text("CL-3307")
        expect(page.locator("#one-form-spared")).to_contain_text("少填 4 项")
        # the bank account both parts need is asked once
        expect(page.locator("[id='form.bank_account']")).to_have_count(1)
        page.fill("[id='applicant.name']", "王𠮷祥")
        page.fill("[id='applicant.id_number']", "431002198001010017")
        page.fill("[id='applicant.phone']", "13800138000")
        page.fill("[id='form.household_size']", str(ONE_FORM["household_size"]))
        page.fill("[id='form.monthly_income']", ONE_FORM["monthly_income"])
        page.select_option("[id='form.residence_type']", ONE_FORM["residence_type"])
        page.select_option("[id='form.subsidy_type']", ONE_FORM["subsidy_type"])
        page.fill("[id='form.disability_certificate_no']", ONE_FORM["disability_certificate_no"])
        page.fill("[id='form.bank_account']", "12")  # too short: refused beside the field
        page.click("button[value=register]")
        expect(page.locator(".bad .err")).to_have_count(1)
        page.fill("[id='form.bank_account']", ONE_FORM["bank_account"])
        page.click("button[value=register]")
        expect(page.locator("#acceptance-no")).to_have_text(
            re.compile(r"^431002001201-\d{8}-0001$"))
        expect(page.locator("#query-code")).to_have_text(re.compile(r"^[2-9A-Z]{8}$"))
        expect(page.locator("#parent-state")).to_contain_text("办理中")
        rows = page.locator("#parts tr")
        expect(rows).to_have_count(3)  # the heading and one row per part
        expect(page.locator("#parts")).to_contain_text("城乡居民最低生活保障申请")
        expect(page.locator("#parts")).to_contain_text("残疾人两项补贴申请")
        page.click("#parts >> text=431002001201-")
        expect(page.locator("h1")).to_contain_text("431002001201-")
        browser.close()
    with node_services(app).session_factory() as session:
        held = session.scalars(select(NodeCase).order_by(NodeCase.acceptance_no)).all()
    assert [case.item_code for case in held] == ["MZ-0101", "CL-3307"]
    assert len({case.bundle_id for case in held}) == 1 and held[0].bundle_id is not None
