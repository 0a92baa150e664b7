"""The main journey across the three UIs, in Debian's chromium against a real city.

A village agent registers a 社会团体成立登记 case (MZ-0520) at the village node's intake page
with a scanned material and prints its receipt; two city window operators decide it at the
hub's window pages (一审一核); back at the village the agent hands the result over and records
the citizen's rating; the citizen looks the case up on the public status page; and the hub
finally holds the village's hand-over and rating events. Every step is a page a person uses,
so each one is checked by what it shows and kept as a screenshot under
``test-artifacts/browser/``; four of them illustrate the README from ``docs/screenshots/``.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    ViewportSize,
    expect,
    sync_playwright,
)

from tests.integration.city import AGENT, HUB, PASSWORD, Tree, city
from tests.node.test_browser_intake import CHROMIUM, CHROMIUM_ARGS

WINDOW = "W-MZ-01"
ITEM = "MZ-0520"
ITEM_NAME = "社会团体成立登记"
REVIEWER, CHECKER = "mz-review", "mz-check"
APPLICANT = {"name": "王小明", "id_number": "431002198001010017", "phone": "13800138000"}
FORM = {
    "org_name": "郴州市摄影家协会",
    "registered_funds": "30000",
    "member_count": "60",
    "business_scope": "摄影交流与培训",
}
TIMEOUT_MS = 15_000
HTTP_TIMEOUT = 15
VIEWPORT: ViewportSize = {"width": 1000, "height": 800}
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"  # git-ignored
DOCS_SHOTS = REPO / "docs" / "screenshots"


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Tree]:
    """The hub, a township and a village as processes; two operators at the city window."""
    with city(tmp_path, {HUB: [(REVIEWER, WINDOW), (CHECKER, WINDOW)]}) as built:
        yield built


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _context(browser: Browser) -> BrowserContext:
    """One person at one PC: their own cookies, a laptop-sized window, Chinese locale."""
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    return context


def _shoot(page: Page, name: str, docs_name: str | None = None, *, full_page: bool = True) -> None:
    """Keep the step's screenshot with the test artefacts; copy it for the README only when
    the copy is missing or SANJI_UPDATE_SCREENSHOTS=1, so a test run leaves the tree clean."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / name
    page.screenshot(path=str(shot), full_page=full_page)
    if docs_name is not None:
        target = DOCS_SHOTS / docs_name
        if not target.exists() or os.environ.get("SANJI_UPDATE_SCREENSHOTS") == "1":
            DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, target)


def _png(path: Path) -> Path:
    """A small but valid PNG (a grey 16x16 "scan"): the node trusts magic bytes, not names."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    width = height = 16
    rows = b"".join(b"\x00" + b"\xc0" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    return path


def _pdf_text(pdf: Path) -> str:
    done = subprocess.run(
        ["pdftotext", str(pdf), "-"],
        capture_output=True,
        text=True,
        timeout=HTTP_TIMEOUT,
        check=True,
    )
    return done.stdout


def _register_at_the_village(
    page: Page, village: str, scan: Path, tmp_path: Path
) -> tuple[str, str, str]:
    """Step 1: the intake form, the case page it lands on and the printed receipt;
    the case id, and the acceptance number and query code as the receipt prints them."""
    page.goto(f"{village}/intake")  # an enrolled village asks its agent to sign in first
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill("#username", AGENT)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{village}/intake")
    page.fill("input[name=q]", "社会团体")
    page.click("button:has-text('查找')")
    expect(page).to_have_url(re.compile(r"/intake\?q="))
    page.locator("ul.items li", has_text=ITEM).get_by_role("link", name=ITEM_NAME).click()
    expect(page).to_have_url(f"{village}/intake/{ITEM}")
    expect(page.locator("h1")).to_contain_text(ITEM_NAME)
    for key, value in APPLICANT.items():
        page.fill(f"[id='applicant.{key}']", value)
    for key, value in FORM.items():
        page.fill(f"[id='form.{key}']", value)
    page.set_input_files("[id='file.APPLICATION']", str(scan))
    expect(page.locator("input[name=delivery][value=village]")).to_be_checked()
    _shoot(page, "journey-01-intake-form.png", "journey-1-intake.png")

    page.click("button[value=register]")
    expect(page).to_have_url(re.compile(rf"{village}/cases/[0-9a-f-]{{36}}\?registered=1$"))
    expect(page.locator(".ok")).to_contain_text("登记成功")
    number = page.locator("#acceptance-no")
    expect(number).to_have_text(re.compile(r"^431002001201-\d{8}-\d{4}$"))
    code = page.locator("#query-code")
    expect(code).to_have_text(re.compile(r"^[2-9A-Z]{8}$"))
    acceptance_no, query_code = number.inner_text(), code.inner_text()
    expect(page.locator("h1")).to_contain_text(ITEM_NAME)
    expect(page.locator(".stage")).to_have_text("待上传")
    facts = page.locator("main table").first
    expect(facts.locator("tr", has_text="申请人")).to_contain_text("王小明 · 4310**********0017")
    expect(facts.locator("tr", has_text="社会团体名称")).to_contain_text("郴州市摄影家协会")
    expect(facts.locator("tr", has_text="注册资金")).to_contain_text("30000")
    expect(facts.locator("tr", has_text="申请材料")).to_contain_text(
        f"APPLICATION image/png, {scan.stat().st_size} B"
    )
    _shoot(page, "journey-02-village-registered.png")
    case_id = page.url.split("/cases/")[1].split("?")[0]

    with page.expect_response(re.compile(r"/receipt\.pdf\?layout=a4$")) as opened:
        page.get_by_role("link", name="打印回执 (A4)").click()
    response = opened.value
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert f'filename="{acceptance_no}-a4.pdf"' in response.headers["content-disposition"]
    expect(page).to_have_url(response.url)  # chromium shows it in its PDF viewer
    # the viewer stands in for the document in the navigation's body: the same URL, fetched
    pdf = tmp_path / "receipt.pdf"
    pdf.write_bytes(page.request.get(response.url).body())
    assert pdf.read_bytes().startswith(b"%PDF")
    shutil.copyfile(pdf, ARTIFACTS / "journey-receipt.pdf")
    printed = _pdf_text(pdf)
    assert acceptance_no in printed and ITEM_NAME in printed and "王小明" in printed
    printed_code = f"{query_code[:4]}-{query_code[4:]}"  # as the citizen reads it
    assert printed_code in printed
    page.go_back()
    expect(page.locator("#acceptance-no")).to_have_text(acceptance_no)
    return case_id, acceptance_no, printed_code


def _log_in(browser: Browser, hub: str, username: str) -> Page:
    """A window operator signs in at the hub's login form and opens the window's queue."""
    page = _context(browser).new_page()
    page.goto(f"{hub}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).not_to_have_url(re.compile(r"/login"))
    page.goto(f"{hub}/windows/{WINDOW}")
    expect(page.locator("header .me")).to_contain_text(f"{username} · {WINDOW}")
    return page


def _act(page: Page, case_url: str, action: str) -> None:
    """Press the action's button; the page comes back saying it is done, refusing nothing."""
    page.click(f"#do-{action}")
    expect(page).to_have_url(f"{case_url}?done={action}")
    expect(page.locator("p.ok")).to_contain_text("已完成")
    expect(page.locator("#refusal")).to_have_count(0)


def _decide_at_the_city(browser: Browser, hub: str, case_id: str, acceptance_no: str) -> str:
    """Step 2: the reviewer claims, accepts and approves; a colleague checks and issues.
    The due day the acceptance set, which the citizen must see too."""
    review = _log_in(browser, hub, REVIEWER)
    row = review.locator("#queue tbody tr", has_text=acceptance_no)
    expect(row).to_have_count(1)
    expect(row).to_contain_text(ITEM_NAME)
    expect(row).to_contain_text("待受理")
    _shoot(review, "journey-03-window-queue.png")
    row.get_by_role("link", name=acceptance_no).click()
    case_url = f"{hub}/windows/cases/{case_id}"
    expect(review).to_have_url(case_url)
    expect(review.locator("#applicant")).to_contain_text("王小明")
    expect(review.locator("#materials")).to_contain_text("APPLICATION")
    expect(review.locator("#materials")).to_contain_text("image/png")
    for action in ("claim", "accept", "approve"):
        _act(review, case_url, action)
    expect(review.locator("#act-check")).to_have_count(0)  # 一审一核: not the reviewer
    expect(review.locator("#state")).to_contain_text("已审核待核准")
    due_cell = review.locator("tr", has_text="办结期限").locator("td")
    expect(due_cell).to_contain_text("剩余 20 个工作日")
    due = re.search(r"\d{4}-\d{2}-\d{2}", due_cell.inner_text())
    assert due is not None

    check = _log_in(browser, hub, CHECKER)
    check.locator("#queue a", has_text=acceptance_no).click()
    expect(check).to_have_url(case_url)
    for action in ("claim", "check", "issue_result"):
        _act(check, case_url, action)
    expect(check.locator("#outcome")).to_contain_text("准予")
    expect(check.locator("#state")).to_contain_text("已出具结果")
    expect(check.locator("#no-actions")).to_be_visible()
    history = check.locator("#history")
    expect(history.locator("tr.ev-checked")).to_contain_text(CHECKER)
    expect(history.locator("tr.ev-reviewed")).to_contain_text(REVIEWER)
    _shoot(check, "journey-04-window-decided.png", "journey-2-window.png")
    check.goto(f"{hub}/windows/{WINDOW}")
    expect(check.locator("#queue tbody tr", has_text=acceptance_no)).to_have_count(0)
    review.context.close()
    check.context.close()
    return due.group(0)


def _hand_over_and_rate(page: Page) -> None:
    """Step 3: the decided case comes back; the agent records the hand-over and rating."""
    page.reload()
    history = page.locator("main table").last  # 办理记录, under its heading
    expect(page.locator(".stage")).to_have_text("已办结")
    expect(history).to_contain_text("result_issued")
    handover = page.locator("form[action$='/handover']")
    handover.locator("select[name=method]").select_option("in_person")
    handover.locator("input[name=receiver_name]").fill("王小明")
    handover.get_by_role("button", name="保存").click()
    expect(page.locator(".stage")).to_have_text("已转交申请人")
    expect(page.locator("form[action$='/handover']")).to_have_count(0)
    rating = page.locator("form[action$='/rating']")
    rating.get_by_label("非常满意").check()
    rating.get_by_role("button", name="保存").click()
    expect(page.locator("form[action$='/rating']")).to_have_count(0)
    expect(page.locator("p.err")).to_have_count(0)
    expect(history).to_contain_text("result_handed_over")
    expect(history).to_contain_text("rated")
    _shoot(page, "journey-05-village-rated.png", "journey-3-decided.png")


def _look_up_status(
    page: Page, village: str, acceptance_no: str, query_code: str, due: str
) -> None:
    """Step 4: the citizen's own lookup, with no login; a wrong code reveals nothing."""
    page.goto(f"{village}/status")
    page.fill("input[name=acceptance_no]", acceptance_no)
    wrong = ("2" if query_code[0] != "2" else "3") + query_code[1:]  # one character off
    page.fill("input[name=query_code]", wrong)
    page.click("button:has-text('查询')")
    expect(page.locator("p.err")).to_have_text("受理编号或查询码不正确")
    expect(page.locator("main table")).to_have_count(0)
    expect(page.locator("main")).not_to_contain_text(ITEM_NAME)

    page.fill("input[name=acceptance_no]", acceptance_no)
    page.fill("input[name=query_code]", query_code)
    page.click("button:has-text('查询')")
    result = page.locator("main table")
    expect(result).to_contain_text(acceptance_no)
    expect(result).to_contain_text(ITEM_NAME)
    expect(result.locator(".stage")).to_have_text("已转交申请人")
    expect(result.locator("tr", has_text="办结时限")).to_contain_text(due)
    expect(page.locator("p.err")).to_have_count(0)
    expect(page.locator("main")).not_to_contain_text("王小明")
    _shoot(page, "journey-06-status.png", "journey-4-status.png")


def _hub_event_types(hub: str, case_id: str) -> list[str]:
    """Step 5: what the hub's API says happened to the case."""
    token = requests.post(
        f"{hub}/api/v1/auth/token",
        json={"username": REVIEWER, "password": PASSWORD},
        timeout=HTTP_TIMEOUT,
    )
    assert token.status_code == 200, token.text
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    response = requests.get(f"{hub}/api/v1/cases/{case_id}", headers=headers, timeout=HTTP_TIMEOUT)
    assert response.status_code == 200, response.text
    return [event["type"] for event in response.json()["events"]]


@pytest.mark.browser
@pytest.mark.integration
def test_a_case_goes_from_the_village_to_the_city_window_and_back_to_the_citizen(
    tree: Tree, browser: Browser, tmp_path: Path
) -> None:
    village, hub = tree.village.url, tree.hub.url
    agent = _context(browser).new_page()
    case_id, acceptance_no, query_code = _register_at_the_village(
        agent, village, _png(tmp_path / "application-scan.png"), tmp_path
    )

    tree.settle()
    due = _decide_at_the_city(browser, hub, case_id, acceptance_no)

    tree.settle()
    _hand_over_and_rate(agent)

    citizen = _context(browser).new_page()
    _look_up_status(citizen, village, acceptance_no, query_code, due)

    tree.settle()
    types = _hub_event_types(hub, case_id)
    assert {"registered", "result_issued", "result_handed_over", "rated"} <= set(types)
    assert types.count("rated") == 1
    assert types.index("result_issued") < types.index("result_handed_over")
