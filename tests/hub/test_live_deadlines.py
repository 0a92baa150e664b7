"""At the hub (PostgreSQL, a schema of its own): the live deadline of a case through the
Labour Day holiday of 2026 (1-5 May off, Saturday 9 May an adjusted working day), with the
clock stopped while the applicant supplies what was missing; the supervision scan's
warning, yellow and red cards on those dates, raised once each even by two hub processes
scanning at the same moment; urging; and the signals API of the contract."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import func, select
from waitress.server import create_server

from hub.app import create_app
from hub.background import run_scan
from hub.db_session import app_session
from hub.models import HubCase
from hub.settings import HubSettings
from shared.domain.working_days import SHANGHAI, end_of_day
from shared.storage.sync_store import SyncEvent
from sync_protocol.times import from_ms, to_ms
from tests.hub.conftest import PASSWORD, Hub, hub_maker, register_at_hub
from tests.node.test_browser_intake import CHROMIUM, CHROMIUM_ARGS

OPERATOR = "mz-desk"
SUPERVISOR = "city-sup"


def cst(day: int, month: int = 5, hour: int = 10) -> datetime:
    """``hour`` o'clock in Shanghai on ``day`` ``month`` 2026, as UTC."""
    return datetime(2026, month, day, hour, tzinfo=SHANGHAI).astimezone(UTC)


ACCEPTED = cst(28, 4)  # Tuesday 28 April 2026


@pytest.fixture
def hub(tmp_path: Path, pg_schema_url: str) -> Hub:
    return hub_maker(tmp_path, pg_schema_url)(ACCEPTED, [
        (OPERATOR, "window_operator", "W-MZ-01"), (SUPERVISOR, "supervisor", None)])


def _act(hub: Hub, who: str, case_id: uuid.UUID, **body: Any) -> dict[str, Any]:
    response = hub.app.test_client().post(f"/api/v1/cases/{case_id}/actions", json=body,
                                          headers=hub.bearer(who))
    assert response.status_code == 200, response.get_json()
    found: dict[str, Any] = response.get_json()
    return found


def _case(hub: Hub, case_id: uuid.UUID) -> dict[str, Any]:
    response = hub.app.test_client().get(f"/api/v1/cases/{case_id}",
                                         headers=hub.bearer(OPERATOR))
    assert response.status_code == 200
    found: dict[str, Any] = response.get_json()
    return found


def _row(hub: Hub, case_id: uuid.UUID) -> HubCase:
    with app_session(hub.app) as session:
        row = session.get(HubCase, case_id)
        assert row is not None
        session.expunge(row)
        return row


def _accepted(hub: Hub, number: int = 1) -> uuid.UUID:
    case_id, _ = register_at_hub(hub, number)
    _act(hub, OPERATOR, case_id, action="claim")
    _act(hub, OPERATOR, case_id, action="accept")
    return case_id


def _signals(hub: Hub, **query: str) -> list[dict[str, Any]]:
    response = hub.app.test_client().get("/api/v1/supervision/signals", query_string=query,
                                         headers=hub.bearer(SUPERVISOR))
    assert response.status_code == 200, response.get_json()
    signals: list[dict[str, Any]] = response.get_json()["signals"]
    return signals


@pytest.mark.postgres
def test_the_deadline_stops_while_the_applicant_supplies_and_moves_on_resumption(
    hub: Hub,
) -> None:
    # MZ-0520: 20 promised working days. From Tue 28 April: 29, 30 April, then (1-5 May
    # off) 6, 7, 8, Sat 9 (an adjusted working day), 11 May ... the 20th is Thu 28 May.
    case_id = _accepted(hub)
    assert _case(hub, case_id)["deadline"] == end_of_day(datetime(2026, 5, 28).date()
                                                         ).isoformat()
    hub.clock.now = cst(30, 4)  # day 2: asked for a supplement, the clock stops
    _act(hub, OPERATOR, case_id, action="request_supplement", missing=["APPLICATION"],
         reason="申请书缺少法定代表人签字")
    assert _row(hub, case_id).paused == 1
    # 14 days later (Thursday 14 May) the applicant brings it: working days 6, 7, 8, 9, 11,
    # 12, 13, 14 May were spent waiting (the holiday was not a working day anyway)
    hub.clock.now = cst(14)
    _act(hub, OPERATOR, case_id, action="supplement_provided")
    body = _case(hub, case_id)
    moved = end_of_day(datetime(2026, 6, 9).date())  # 28 May + 8 working days
    assert body["deadline"] == moved.isoformat()
    assert [e["type"] for e in body["events"]][-2:] == ["supplement_provided", "deadline_set"]
    row = _row(hub, case_id)
    assert (row.paused, row.due_ms) == (0, int(moved.timestamp() * 1000))
    queue = hub.app.test_client().get("/api/v1/windows/W-MZ-01/cases",
                                      headers=hub.bearer(OPERATOR)).get_json()["cases"]
    assert [c["deadline"] for c in queue if c["case_id"] == str(case_id)] == [
        moved.isoformat()]


@pytest.mark.postgres
def test_the_scan_warns_then_cards_yellow_then_red_each_once(hub: Hub) -> None:
    case_id = _accepted(hub)
    # 20 promised days: the warning after 16 working days (0.8), at the end of Fri 22 May
    hub.clock.now = cst(22, hour=23)
    assert run_scan(hub.app).raised == 0
    hub.clock.now = cst(23, hour=9)
    assert run_scan(hub.app).raised == 1
    assert run_scan(hub.app).raised == 0  # once
    hub.clock.now = cst(28, hour=23)  # the promised deadline: the end of Thu 28 May
    assert run_scan(hub.app).raised == 0
    hub.clock.now = cst(29, hour=9)
    assert run_scan(hub.app).raised == 1
    # the legal deadline: 60 working days (MZ-0520), a long way on; run past it
    hub.clock.now = cst(1, month=9)
    assert run_scan(hub.app).raised == 1
    assert run_scan(hub.app).raised == 0
    signals = _signals(hub)
    assert [(s["kind"], s["case_id"], s["window"]) for s in signals] == [
        ("red_card", str(case_id), "W-MZ-01"), ("yellow_card", str(case_id), "W-MZ-01"),
        ("warning", str(case_id), "W-MZ-01")]
    assert set(signals[0]) >= {"case_id", "acceptance_no", "window", "kind", "reason", "at"}
    assert _row(hub, case_id).signal == "red_card"
    assert [e["type"] for e in _case(hub, case_id)["events"]].count("signalled") == 3
    assert _signals(hub, kind="yellow_card")[0]["kind"] == "yellow_card"


@pytest.mark.postgres
def test_a_paused_case_is_not_carded(hub: Hub) -> None:
    case_id = _accepted(hub)
    hub.clock.now = cst(30, 4)
    _act(hub, OPERATOR, case_id, action="request_supplement", missing=["APPLICATION"],
         reason="申请书缺少法定代表人签字")
    hub.clock.now = cst(1, month=9)  # months later, still waiting for the applicant
    assert run_scan(hub.app).raised == 0
    assert _signals(hub) == []


@pytest.mark.postgres
def test_two_hub_processes_scanning_at_once_card_each_case_once(
    hub: Hub, tmp_path: Path
) -> None:
    cases = [_accepted(hub, n) for n in range(1, 13)]
    # a second hub process on the same database and data directory, with the same clock
    second = create_app(replace(HubSettings.load(tmp_path / "hub"), testing=True))
    second.extensions["sanji_hub"].clock = hub.clock
    hub.clock.now = cst(29, hour=9)  # every case past its promised deadline
    raised: list[int] = []
    barrier = threading.Barrier(2)

    def scan(app: Any) -> None:
        barrier.wait(timeout=30)
        raised.append(run_scan(app).raised)

    threads = [threading.Thread(target=scan, args=(app,)) for app in (hub.app, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sum(raised) == len(cases)
    with app_session(hub.app) as session:
        stored = session.scalar(select(func.count()).select_from(SyncEvent)
                                .where(SyncEvent.type == "signalled"))
    assert stored == len(cases)  # counted in the event store, not in what the scan says


@pytest.mark.postgres
def test_an_urged_case_leads_its_window_queue_until_the_window_acts(hub: Hub) -> None:
    first, second = _accepted(hub, 1), _accepted(hub, 2)
    queue_url = "/api/v1/windows/W-MZ-01/cases"

    def order() -> list[str]:
        cases = hub.app.test_client().get(queue_url, headers=hub.bearer(OPERATOR)
                                          ).get_json()["cases"]
        return [c["case_id"] for c in cases]

    assert order()[:2] == [str(first), str(second)]
    hub.clock.now += timedelta(hours=1)
    _act(hub, SUPERVISOR, second, action="urge", reason="申请人多次来电催问进度")
    assert order()[:2] == [str(second), str(first)]
    assert [(s["kind"], s["case_id"]) for s in _signals(hub)] == [("urge", str(second))]
    _act(hub, OPERATOR, second, action="approve")
    assert order()[:2] == [str(first), str(second)]


@pytest.mark.postgres
def test_bad_supervision_input_is_refused_with_the_error_shape(hub: Hub) -> None:
    case_id = _accepted(hub)
    client = hub.app.test_client()
    short = client.post(f"/api/v1/cases/{case_id}/actions", headers=hub.bearer(SUPERVISOR),
                        json={"action": "urge", "reason": "快"})
    assert short.status_code == 400 and "reason" in short.get_json()["error"]["fields"]
    bad_kind = client.post(f"/api/v1/cases/{case_id}/actions",
                           headers=hub.bearer(SUPERVISOR),
                           json={"action": "signal", "kind": "purple", "rule": "legal_passed",
                                 "reason": "越权审批，未经复核"})
    assert bad_kind.status_code == 400 and "kind" in bad_kind.get_json()["error"]["fields"]
    by_operator = client.post(f"/api/v1/cases/{case_id}/actions",
                              headers=hub.bearer(OPERATOR),
                              json={"action": "urge", "reason": "自己催自己的件"})
    assert by_operator.status_code == 403
    listing = client.get("/api/v1/supervision/signals", headers=hub.bearer(OPERATOR))
    assert listing.status_code == 403
    bad_filter = client.get("/api/v1/supervision/signals", query_string={"kind": "purple"},
                            headers=hub.bearer(SUPERVISOR))
    assert bad_filter.status_code == 400
    assert set(bad_filter.get_json()["error"]) == {"code", "message", "fields"}


# -- the browser: the supervisor's dashboard and the hall board ------------------------------


@contextmanager
def _serving(hub: Hub) -> Iterator[str]:
    """The hub's app on a real HTTP server on 127.0.0.1; its base address."""
    server = create_server(hub.app, host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"  # type: ignore[union-attr]
    finally:
        server.close()
        thread.join(timeout=10)


@pytest.fixture
def served(hub: Hub) -> Iterator[str]:
    with _serving(hub) as base:
        yield base


def _signed_in_page(browser: Browser, served: str, username: str,
                    otp: str | None = None) -> Page:
    """A page of a new browser context, signed in through the login form."""
    page = browser.new_context(locale="zh-CN").new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{served}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    if otp is not None:
        page.fill("#otp", otp)
    page.click("button[type=submit]")
    return page


@pytest.mark.postgres
@pytest.mark.browser
def test_the_supervisor_lands_on_the_dashboard_and_the_hall_board_shows_today(
        hub: Hub, served: str) -> None:
    overdue, reviewed = _accepted(hub, 1), _accepted(hub, 2)
    hub.clock.now = cst(29, hour=9)  # both past their promised deadline
    _act(hub, OPERATOR, reviewed, action="approve")  # reviewed, not decided
    assert run_scan(hub.app).raised == 2
    acceptance_no = _row(hub, overdue).acceptance_no
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = _signed_in_page(browser, served, SUPERVISOR, hub.one_time_code(SUPERVISOR))
        expect(page).to_have_url(f"{served}/supervision")  # where a supervisor lands
        row = page.locator("#by-window tbody tr", has_text="W-MZ-01")
        expect(row.locator("td").nth(1)).to_have_text("2")  # open
        expect(row.locator("td").nth(4)).to_have_text("2")  # overdue
        expect(row.locator("td").nth(5)).to_have_text("2")  # both carded yellow
        city = page.locator("#by-tier tbody tr", has_text="市")
        expect(city.locator("td").nth(1)).to_have_text("2")
        expect(page.locator("#by-department tbody tr")).to_have_count(1)
        expect(page.locator("#by-item tbody tr").first.locator("td").nth(4)).to_have_text("2")
        expect(page.locator("#signals tbody tr", has_text=acceptance_no)
               ).to_contain_text("黄牌")
        expect(page.locator("#nearest tbody tr.late")).to_have_count(2)
        page.click(f"#signals a:text('{acceptance_no}')")
        expect(page).to_have_url(f"{served}/windows/cases/{overdue}")
        board = browser.new_context(locale="zh-CN").new_page()  # the hall's screen
        board.goto(f"{served}/board")
        expect(board.locator("#overdue b")).to_have_text("2")
        expect(board.locator("#open b")).to_have_text("2")
        refresh = board.locator("meta[http-equiv=refresh]")
        expect(refresh).to_have_attribute("content", "60")
        browser.close()
    anonymous = hub.app.test_client().get("/board")
    assert anonymous.status_code == 200 and "李四" not in anonymous.get_data(as_text=True)
    assert hub.app.test_client().get("/supervision").status_code == 302  # to the login


@pytest.mark.postgres
def test_the_window_appeals_a_card_and_the_supervisor_withdraws_or_upholds_it(hub: Hub) -> None:
    first, second = _accepted(hub, 1), _accepted(hub, 2)
    hub.clock.now = cst(29, hour=9)
    assert run_scan(hub.app).raised == 2  # two yellow cards
    cards = {s["case_id"]: s["card"] for s in _signals(hub, kind="yellow_card")}
    reason = "申请人补正材料延误，非窗口原因"
    _act(hub, OPERATOR, first, action="appeal_card", card=cards[str(first)], reason=reason)
    _act(hub, OPERATOR, second, action="appeal_card", card=cards[str(second)], reason=reason)
    assert {s["status"] for s in _signals(hub, kind="yellow_card")} == {"appealed"}
    client = hub.app.test_client()
    again = client.post(f"/api/v1/cases/{first}/actions", headers=hub.bearer(OPERATOR),
                        json={"action": "appeal_card", "card": cards[str(first)],
                              "reason": reason})
    assert again.status_code == 409  # one appeal per card
    by_operator = client.post(f"/api/v1/cases/{first}/actions", headers=hub.bearer(OPERATOR),
                              json={"action": "rule_card", "card": cards[str(first)],
                                    "ruling": "withdrawn", "reason": "窗口自己撤销黄牌"})
    assert by_operator.status_code == 403
    not_a_card = client.post(f"/api/v1/cases/{first}/actions", headers=hub.bearer(OPERATOR),
                             json={"action": "appeal_card", "reason": reason,
                                   "card": {**cards[str(first)], "seq": 999}})
    assert not_a_card.status_code == 400 and "card" in not_a_card.get_json()["error"]["fields"]
    _act(hub, SUPERVISOR, first, action="rule_card", card=cards[str(first)],
         ruling="withdrawn", reason="经核实延误系申请人原因")
    _act(hub, SUPERVISOR, second, action="rule_card", card=cards[str(second)],
         ruling="upheld", reason="窗口未在承诺时限内办结")
    status = {s["case_id"]: s["status"] for s in _signals(hub, kind="yellow_card")}
    assert status == {str(first): "withdrawn", str(second): "upheld"}
    # the withdrawn card no longer stands on the case; both stay in its history
    assert (_row(hub, first).signal, _row(hub, second).signal) == (None, "yellow_card")
    types = [e["type"] for e in _case(hub, first)["events"]]
    assert types.count("card_appealed") == 1 and types.count("card_ruled") == 1


@pytest.mark.postgres
def test_a_refusal_after_acceptance_without_review_and_check_is_carded_red(hub: Hub) -> None:
    refused_at_once = _accepted(hub, 1)
    _act(hub, OPERATOR, refused_at_once, action="reject", reason="申请人不符合临时救助条件")
    not_accepted, _ = register_at_hub(hub, 2)  # 不予受理 before acceptance: no decision yet
    _act(hub, OPERATOR, not_accepted, action="claim")
    _act(hub, OPERATOR, not_accepted, action="reject", reason="不属于本窗口受理范围")
    cards = _signals(hub, kind="red_card")
    assert [(s["case_id"], s["rule"], s["status"]) for s in cards] == [
        (str(refused_at_once), "no_review_check", "standing")]
    assert "一审一核" in cards[0]["reason"]
    assert _row(hub, refused_at_once).signal == "red_card"
    assert _row(hub, not_accepted).signal is None
    events = _case(hub, refused_at_once)["events"]
    assert [e["type"] for e in events][-2:] == ["rejected", "signalled"]
    assert events[-1]["actor"].startswith("system")


@pytest.mark.postgres
def test_the_case_page_lists_cards_and_takes_the_appeal_and_the_ruling(hub: Hub) -> None:
    import re

    def token(page: str) -> str:
        found = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert found is not None
        return found.group(1)

    case_id = _accepted(hub, 1)
    hub.clock.now = cst(29, hour=9)
    assert run_scan(hub.app).raised == 1  # a yellow card
    url = f"/windows/cases/{case_id}"
    window = hub.login(OPERATOR)
    page = window.get(url).get_data(as_text=True)
    cards = page.split('id="cards"', 1)[1].split("</table>", 1)[0]
    assert "黄牌" in cards and "有效" in cards and 'class="appeal"' in cards
    key = re.search(r'name="card" value="([^"]+)"', cards)
    assert key is not None
    posted = window.post(f"{url}/act", data={
        "csrf_token": token(page), "action": "appeal_card", "card": key.group(1),
        "reason": "申请人补正材料延误，非窗口原因"})
    assert posted.status_code in (302, 303), posted.get_data(as_text=True)
    page = window.get(url).get_data(as_text=True)
    cards = page.split('id="cards"', 1)[1].split("</table>", 1)[0]
    assert "申诉中" in cards and "<form" not in cards  # appealed once; not ruled by the window

    supervisor = hub.login(SUPERVISOR)
    page = supervisor.get(url).get_data(as_text=True)
    cards = page.split('id="cards"', 1)[1].split("</table>", 1)[0]
    assert 'class="ruling"' in cards and 'class="appeal"' not in cards
    forged = supervisor.post(f"{url}/act", data={
        "csrf_token": token(page), "action": "rule_card", "card": "431000/x/1",
        "ruling": "withdrawn", "reason": "经核实延误系申请人原因"})
    assert forged.status_code == 400  # a card key that is not one: refused, nothing ruled
    posted = supervisor.post(f"{url}/act", data={
        "csrf_token": token(page), "action": "rule_card", "card": key.group(1),
        "ruling": "withdrawn", "reason": "经核实延误系申请人原因"})
    assert posted.status_code in (302, 303), posted.get_data(as_text=True)
    assert [s["status"] for s in _signals(hub, kind="yellow_card")] == ["withdrawn"]
    dashboard = supervisor.get("/supervision").get_data(as_text=True)
    assert "撤销" in dashboard.split('id="signals"', 1)[1].split("</table>", 1)[0]
    page = supervisor.get(url).get_data(as_text=True)
    assert "撤销" in page.split('id="cards"', 1)[1].split("</table>", 1)[0]


# -- special procedures (特别程序) and the extension (延期) -------------------------------------

HEAD, OTHER_HEAD = "mz-head", "ny-head"


@pytest.fixture
def hub_with_heads(tmp_path: Path, pg_schema_url: str) -> Hub:
    return hub_maker(tmp_path, pg_schema_url)(ACCEPTED, [
        (OPERATOR, "window_operator", "W-MZ-01"), (SUPERVISOR, "supervisor", None),
        (HEAD, "department_head", "MZ"), (OTHER_HEAD, "department_head", "NY")])


def _stored(hub: Hub, case_id: uuid.UUID) -> list[Any]:
    from shared.deciding import case_work

    with app_session(hub.app) as session:
        return list(case_work.case_events(session, hub.services.sync_site, case_id))


def _post(hub: Hub, who: str, case_id: uuid.UUID, **body: Any) -> Any:
    return hub.app.test_client().post(f"/api/v1/cases/{case_id}/actions", json=body,
                                      headers=hub.bearer(who))


@pytest.mark.postgres
def test_a_hearing_stops_the_clock_and_moves_the_deadline_by_its_working_days(
        hub_with_heads: Hub) -> None:
    hub = hub_with_heads
    case_id = _accepted(hub)
    assert _case(hub, case_id)["deadline"].startswith("2026-05-28")  # 20 working days
    # a hearing from Wednesday 29 April to Friday 8 May: it takes 30 April, 6, 7 and 8 May
    # (1-5 May are the Labour Day holiday), four working days left out
    hub.clock.now = cst(29, 4)
    _act(hub, OPERATOR, case_id, action="start_special_procedure", procedure="hearing",
         reason="申请事项涉及他人重大利益，依法举行听证")
    assert _row(hub, case_id).paused == 1 and _row(hub, case_id).next_signal_ms is None
    again = _post(hub, OPERATOR, case_id, action="start_special_procedure",
                  procedure="inspection", reason="再启动一个检验程序")
    assert again.status_code == 409  # one at a time
    wrong = _post(hub, OPERATOR, case_id, action="end_special_procedure",
                  procedure="inspection")
    assert wrong.status_code == 409  # the one under way is the hearing
    hub.clock.now = cst(8)  # Friday 8 May
    _act(hub, OPERATOR, case_id, action="end_special_procedure", procedure="hearing")
    case = _case(hub, case_id)
    # 28 May moves on by four working days: 29 May, 1, 2, 3 June
    assert case["deadline"].startswith("2026-06-03"), case["deadline"]
    assert _row(hub, case_id).paused == 0
    events = _stored(hub, case_id)
    assert [e.type.value for e in events][-2:] == ["special_procedure_ended", "deadline_set"]
    assert events[-1].payload["cause"] == "special_procedure_ended"


@pytest.mark.postgres
def test_one_extension_asked_with_a_reason_and_decided_by_the_departments_head(
        hub_with_heads: Hub) -> None:
    hub = hub_with_heads
    case_id = _accepted(hub)
    before = _case(hub, case_id)
    assert _post(hub, OPERATOR, case_id, action="request_extension", days=10,
                 reason="").status_code == 400  # a reason is required
    _act(hub, OPERATOR, case_id, action="request_extension", days=10,
         reason="需补充现场核查，承诺时限内无法办结")
    assert _post(hub, OPERATOR, case_id, action="request_extension", days=5,
                 reason="再申请一次延期").status_code == 409  # once per case
    assert _post(hub, OPERATOR, case_id, action="decide_extension",
                 approved=True).status_code == 403  # not the window's to grant
    assert _post(hub, OTHER_HEAD, case_id, action="decide_extension",
                 approved=True).status_code == 404  # another department's head: no such case
    assert _post(hub, HEAD, case_id, action="decide_extension", approved=True,
                 days=15).status_code == 409  # no more than asked
    assert _post(hub, HEAD, case_id, action="decide_extension", approved=False,
                 reason="").status_code == 400  # a refusal says why
    _act(hub, HEAD, case_id, action="decide_extension", approved=True)
    after = _case(hub, case_id)
    # 10 more working days on both limits: 28 May -> 11 June (19 June is the Dragon Boat
    # Festival, after it); the legal limit moves likewise
    assert after["deadline"].startswith("2026-06-11"), after["deadline"]
    assert after["deadline"] != before["deadline"]
    row = _row(hub, case_id)
    assert row.legal_due_ms is not None and row.due_ms is not None
    last = _stored(hub, case_id)[-1]
    assert (last.payload["cause"], last.payload["extension_days"]) == ("extension_granted", 10)
    assert _post(hub, HEAD, case_id, action="decide_extension",
                 approved=True).status_code == 409  # decided already


@pytest.mark.postgres
def test_the_head_sees_only_the_departments_windows_and_decides_on_the_case_page(
        hub_with_heads: Hub) -> None:
    import re

    hub = hub_with_heads
    case_id = _accepted(hub)
    _act(hub, OPERATOR, case_id, action="request_extension", days=5,
         reason="需补充现场核查，承诺时限内无法办结")
    head = hub.login(HEAD)
    index = head.get("/windows").get_data(as_text=True)
    assert "W-MZ-01" in index and "W-NY-01" not in index
    assert head.get("/windows/W-NY-01").status_code == 403
    page = head.get(f"/windows/cases/{case_id}").get_data(as_text=True)
    assert 'id="act-decide_extension"' in page and "延期申请待审批" in page
    assert 'id="act-claim"' not in page  # the head decides; the window works the case
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    done = head.post(f"/windows/cases/{case_id}/act", data={
        "csrf_token": token.group(1), "action": "decide_extension", "approved": "true",
        "days": "5", "reason": ""})
    assert done.status_code in (302, 303), done.get_data(as_text=True)
    assert "已批准延期" in head.get(f"/windows/cases/{case_id}").get_data(as_text=True)
    other = hub.login(OTHER_HEAD)
    assert other.get(f"/windows/cases/{case_id}").status_code == 404


@pytest.mark.postgres
def test_no_warning_while_a_special_procedure_is_open_and_the_warning_moves_with_it(
        hub_with_heads: Hub) -> None:
    hub = hub_with_heads
    case_id = _accepted(hub)
    # an expert review from Thursday 21 May (the warning falls at the end of Fri 22 May)
    hub.clock.now = cst(21)
    _act(hub, OPERATOR, case_id, action="start_special_procedure", procedure="expert_review",
         reason="技术方案需专家评审")
    hub.clock.now = cst(23, hour=9)  # past the old warning: the clock is stopped
    assert run_scan(hub.app).raised == 0
    hub.clock.now = cst(1, month=9)  # months on, still under review
    assert run_scan(hub.app).raised == 0
    assert _signals(hub) == []
    # the review ends on Tuesday 1 September: the warning moved on with the clock, past
    # today, and is raised when its new time comes
    _act(hub, OPERATOR, case_id, action="end_special_procedure", procedure="expert_review")
    row = _row(hub, case_id)
    assert row.paused == 0 and row.warn_ms is not None and row.next_signal_ms is not None
    assert row.warn_ms > to_ms(cst(1, month=9))
    assert run_scan(hub.app).raised == 0
    hub.clock.now = from_ms(row.warn_ms) + timedelta(hours=1)
    assert run_scan(hub.app).raised == 1
    assert [s["kind"] for s in _signals(hub)] == ["warning"]


@pytest.mark.postgres
def test_the_head_finds_the_pending_requests_in_the_window_queue(hub_with_heads: Hub) -> None:
    hub = hub_with_heads
    asked, quiet = _accepted(hub, 1), _accepted(hub, 2)
    _act(hub, OPERATOR, asked, action="request_extension", days=7,
         reason="需补充现场核查，承诺时限内无法办结")
    head = hub.login(HEAD)
    page = head.get("/windows/W-MZ-01").get_data(as_text=True)
    section = page.split('id="extensions"', 1)[1].split("</table>", 1)[0]
    assert str(asked) in section and str(quiet) not in section
    assert "需补充现场核查" in section and "<td>7</td>" in section
    operator = hub.login(OPERATOR)  # the window itself does not get the head's list
    assert 'id="extensions"' not in operator.get("/windows/W-MZ-01").get_data(as_text=True)
    assert hub.app.test_client().get("/api/v1/windows/W-MZ-01/cases",
                                     headers=hub.bearer(HEAD)).status_code == 200
    assert hub.app.test_client().get("/api/v1/windows/W-MZ-01/cases",
                                     headers=hub.bearer(OTHER_HEAD)).status_code == 403
    _act(hub, HEAD, asked, action="decide_extension", approved=False,
         reason="现场核查可在时限内完成")
    page = head.get("/windows/W-MZ-01").get_data(as_text=True)
    assert str(asked) not in page.split('id="extensions"', 1)[1].split("</table>", 1)[0]


@pytest.mark.postgres
@pytest.mark.browser
def test_the_window_starts_a_hearing_and_asks_for_an_extension_the_head_grants_in_a_browser(
        hub_with_heads: Hub) -> None:
    hub = hub_with_heads
    case_id = _accepted(hub)
    hub.clock.now = cst(29, 4)
    with _serving(hub) as served, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = _signed_in_page(browser, served, OPERATOR)
        page.goto(f"{served}/windows/cases/{case_id}")
        form = page.locator("#act-start_special_procedure")
        form.locator("select[name=procedure]").select_option("hearing")
        form.locator("textarea[name=reason]").fill("申请事项涉及他人重大利益，依法举行听证")
        form.locator("button[type=submit]").click()
        expect(page.locator("#procedure")).to_contain_text("听证")
        expect(page.locator("#act-end_special_procedure option")).to_have_count(1)
        page.locator("#do-end_special_procedure").click()
        expect(page.locator("#procedure")).to_have_count(0)
        form = page.locator("#act-request_extension")
        form.locator("input[name=days]").fill("10")
        form.locator("textarea[name=reason]").fill("需补充现场核查，承诺时限内无法办结")
        form.locator("button[type=submit]").click()
        expect(page.locator("#extension")).to_contain_text("延期申请待审批")
        expect(page.locator("#act-decide_extension")).to_have_count(0)  # not the window's

        head = _signed_in_page(browser, served, HEAD)
        head.goto(f"{served}/windows/W-MZ-01")
        head.locator("#extensions a").first.click()
        expect(head).to_have_url(f"{served}/windows/cases/{case_id}")
        form = head.locator("#act-decide_extension")
        form.locator("input[name=approved][value=true]").check()
        form.locator("button[type=submit]").click()
        expect(head.locator("#extension")).to_contain_text("已批准延期 (+10)")
        browser.close()
    assert _stored(hub, case_id)[-1].payload["cause"] == "extension_granted"
