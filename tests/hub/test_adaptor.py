"""The smart adaptor at the hub: the same API as every node for the front desk and any
program, and the wizard in the public service guide, where the chosen procedure leads to its
guide (materials, limits, fees). No login is needed for either; the last test walks the
wizard in Debian's chromium, in English."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from playwright.sync_api import expect, sync_playwright
from waitress.server import create_server

from hub.app import create_app
from hub.settings import HubSettings
from tests.node.test_browser_intake import CHROMIUM, CHROMIUM_ARGS

FAMILY = "ZNSP-0001"
ANSWERS = {"investor": "enterprise", "land": "collective", "obtained": "existing",
           "scope": "new_build"}


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    return create_app(HubSettings(data_dir=tmp_path, testing=True)).test_client()


def test_the_api_lists_the_families_and_resolves_answers(client: FlaskClient) -> None:
    families = client.get("/api/v1/catalog/adaptors?lang=en").get_json()["adaptors"]
    assert [f["code"] for f in families] == [FAMILY]
    assert families[0]["name"] == "Approval of building construction projects"
    response = client.post(f"/api/v1/catalog/adaptors/{FAMILY}/resolve",
                           json={"answers": ANSWERS})
    assert response.status_code == 200
    body = response.get_json()
    assert (body["item_code"], body["item_name"]) == ("ZJ-0605", "集体建设用地新建项目审批")
    assert "村民会议同意" in body["reason"]


def test_the_api_names_each_bad_answer_and_refuses_an_unknown_family(
        client: FlaskClient) -> None:
    bad = client.post(f"/api/v1/catalog/adaptors/{FAMILY}/resolve",
                      json={"answers": {"land": "moon"}})
    assert bad.status_code == 400
    assert bad.get_json()["error"]["fields"] == {
        "answers.investor": "required", "answers.land": "must be one of state, collective",
        "answers.obtained": "required", "answers.scope": "required"}
    unknown = client.post("/api/v1/catalog/adaptors/NOPE/resolve", json={"answers": {}})
    assert unknown.status_code == 404
    assert unknown.get_json()["error"]["code"] == "not_found"


def test_the_guide_offers_the_family_and_a_search_suggests_it(client: FlaskClient) -> None:
    page = client.get("/guide").get_data(as_text=True)
    assert f'href="/guide/adapt/{FAMILY}"' in page
    assert "房屋建筑类工程建设项目审批" in page
    found = client.get("/guide?q=扩建").get_data(as_text=True)
    assert 'id="adapt-suggested"' in found
    assert 'id="adapt-suggested"' not in client.get("/guide?q=jhdj").get_data(as_text=True)


def test_the_guide_wizard_names_the_procedure_why_and_links_its_guide(
        client: FlaskClient) -> None:
    response = client.get(f"/guide/adapt/{FAMILY}", query_string=ANSWERS)
    assert response.status_code == 200
    assert len(response.data) < 60 * 1024
    page = response.get_data(as_text=True)
    result = page[page.index('id="adapt-result"'):page.index('id="adapt-form"')]
    assert "集体建设用地新建项目审批" in result
    assert "无论谁投资、如何取得" in result
    assert "<th>谁投资建设？</th><td>社会投资(企业)</td>" in result
    assert 'id="adapt-apply" href="/guide/ZJ-0605">查看办事指南</a>' in result
    guide = client.get("/guide/ZJ-0605").get_data(as_text=True)
    assert "村民会议或村民代表会议同意的书面材料" in guide


def test_the_guide_wizard_marks_what_is_unanswered(client: FlaskClient) -> None:
    page = client.get(f"/guide/adapt/{FAMILY}?go=1&lang=en").get_data(as_text=True)
    assert page.count("Choose one") == 4
    by_hand = page[page.index('id="by-hand"'):]
    assert len(re.findall(r'href="/guide/ZJ-06\d\d"', by_hand)) == 8


def test_an_unknown_family_is_404(client: FlaskClient) -> None:
    assert client.get("/guide/adapt/NOPE").status_code == 404


# -- the browser ----------------------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    app = create_app(HubSettings(data_dir=tmp_path, testing=True))
    server = create_server(app, host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"  # type: ignore[union-attr]
    server.close()
    thread.join(timeout=10)


@pytest.mark.browser
def test_an_applicant_answers_the_guide_wizard_in_english(served: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{served}/guide?lang=en")
        page.fill("input[name=q]", "construction")
        page.click("text=Search")
        page.click("#adapt-suggested >> text=Approval of building construction projects")
        page.check("#q-investor >> text=Government funds")
        page.check("#q-land >> text=State-owned construction land")
        page.check("#q-obtained >> text=Allocated")
        page.check("#q-scope >> text=A new building")
        page.click("#adapt-submit")
        expect(page.locator("#adapt-item")).to_contain_text(
            "Approval of a government-funded building project (new build on allocated land)")
        expect(page.locator("#adapt-reason")).to_contain_text(
            "the feasibility study is approved first")
        expect(page.locator("#adapt-answers")).to_contain_text("Who funds the project?")
        page.click("#adapt-apply")
        expect(page).to_have_url(f"{served}/guide/ZJ-0601")
        expect(page.locator("h1")).to_have_text(
            "Approval of a government-funded building project (new build on allocated land)")
        expect(page.locator("main")).to_contain_text(
            "Decision allocating state-owned construction land")
        browser.close()
