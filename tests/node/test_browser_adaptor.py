"""The smart adaptor's wizard in a real browser (Debian's chromium through Playwright) against
the node served by waitress on 127.0.0.1: the agent searches the intake page by a keyword,
opens the family it suggests, answers, is told the procedure and why, and follows the button
to that procedure's intake form."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.node.test_browser_intake import CHROMIUM, CHROMIUM_ARGS, served  # noqa: F401


@pytest.mark.browser
def test_the_agent_finds_the_procedure_by_answering_the_wizard(
        served: str) -> None:  # noqa: F811
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{served}/intake")
        page.fill("input[name=q]", "改建")
        page.click("text=查找")
        page.click("#adapt-suggested >> text=房屋建筑类工程建设项目审批")
        expect(page).to_have_url(f"{served}/intake/adapt/ZNSP-0001")
        expect(page.locator("h1")).to_have_text("房屋建筑类工程建设项目审批")
        # one question left unanswered is marked beside it, the others are kept
        page.check("#q-investor >> text=社会投资(企业)")
        page.check("#q-land >> text=国有建设用地")
        page.check("#q-scope >> text=改建、扩建")
        page.click("#adapt-submit")
        expect(page.locator("#q-obtained.bad .err")).to_have_text("请选择一项")
        expect(page.locator(".bad")).to_have_count(1)
        expect(page.locator("#q-investor input[value=enterprise]")).to_be_checked()
        page.check("#q-obtained >> text=出让")
        page.click("#adapt-submit")
        expect(page.locator("#adapt-item")).to_contain_text("社会投资房屋建筑类改建扩建项目审批")
        expect(page.locator("#adapt-reason")).to_contain_text("按社会投资改扩建流程审批")
        expect(page.locator("#adapt-answers")).to_contain_text("出让")
        # a changed answer chooses another procedure
        page.check("#q-scope >> text=新建")
        page.click("#adapt-submit")
        expect(page.locator("#adapt-item")).to_contain_text(
            "社会投资房屋建筑类项目审批(出让用地新建)")
        expect(page.locator("#adapt-reason")).to_contain_text("实行备案制")
        page.click("#adapt-apply")
        expect(page).to_have_url(re.compile(rf"^{re.escape(served)}/intake/ZJ-0603$"))
        expect(page.locator("h1")).to_contain_text("社会投资房屋建筑类项目审批(出让用地新建)")
        expect(page.locator("[id='form.project_name']")).to_be_visible()
        browser.close()
