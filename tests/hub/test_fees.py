"""以票控费 at the city window (PostgreSQL): ZR-0801 不动产转移登记 is assessed when it is
accepted (80 yuan for a home, 10 yuan for each extra certificate, its basis named); the
result waits for the fees; only the finance clerk takes them, each against a receipt number
used once; a void and a refund need a reason; a payment above the standard earns a red card."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from playwright.sync_api import expect, sync_playwright

from hub.db_session import app_session
from hub.models import HubCase, HubReceiptBook
from shared.deciding import case_work
from shared.deciding.receipt_books import NewBook, register_book
from tests.hub.conftest import HUB, PASSWORD, Hub, hub_maker, register_at_hub
from tests.hub.test_live_deadlines import _serving
from tests.node.test_browser_intake import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 4, 28, 2, 0, tzinfo=UTC)
REVIEW, CHECK, CASHIER, HEAD = "zr-review", "zr-check", "zr-cashier", "zr-head"
ITEM = {"item_code": "ZR-0801", "window": "W-ZR-01",
        "form": {"property_cert_no": "湘(2026)郴州市不动产权第0012345号",
                 "is_residential": True, "price": "860000.00", "extra_certificates": 2}}


@pytest.fixture
def hub(tmp_path: Path, pg_schema_url: str) -> Hub:
    made = hub_maker(tmp_path, pg_schema_url)(NOW, [
        (REVIEW, "window_operator", "W-ZR-01"), (CHECK, "window_operator", "W-ZR-01"),
        (CASHIER, "finance", "W-ZR-01"), (HEAD, "department_head", "ZR")])
    with app_session(made.app) as session:  # ZR20260001-ZR20260500, issued to the window
        register_book(session, HubReceiptBook, site=HUB, registered_by="city-admin", now=NOW,
                      book=NewBook(window="W-ZR-01", prefix="ZR2026", first=1, last=500,
                                   width=4))
        session.commit()
    return made


def _act(client: FlaskClient, hub: Hub, who: str, case_id: Any, **body: Any) -> Any:
    return client.post(f"/api/v1/cases/{case_id}/actions", json=body,
                       headers=hub.bearer(who))


def _log(hub: Hub, case_id: uuid.UUID) -> list[Any]:
    with app_session(hub.app) as session:
        return case_work.case_events(session, hub.services.sync_site, case_id)


def _decided(hub: Hub, client: FlaskClient, number: int, **accept: Any) -> uuid.UUID:
    case_id, _ = register_at_hub(hub, number, **ITEM)
    assert _act(client, hub, REVIEW, case_id, action="claim").status_code == 200
    accepted = _act(client, hub, REVIEW, case_id, action="accept", **accept)
    assert accepted.status_code == 200, accepted.get_json()
    for who, action in ((REVIEW, "approve"), (CHECK, "claim"), (CHECK, "check")):
        assert _act(client, hub, who, case_id, action=action).status_code == 200
    return case_id


def test_the_fees_are_assessed_paid_against_a_receipt_and_then_the_result_issues(
        hub: Hub) -> None:
    client = hub.app.test_client()
    case_id = _decided(hub, client, 1)
    assessed = next(e for e in _log(hub, case_id) if e.type.value == "fees_assessed")
    assert assessed.payload["total_fen"] == 8000 + 2 * 1000
    assert "发改价格规〔2016〕2559号" in assessed.payload["fees"][0]["basis"]

    blocked = _act(client, hub, CHECK, case_id, action="issue_result")
    assert blocked.status_code == 409
    assert "fees" in blocked.get_json()["error"]["fields"]
    not_finance = _act(client, hub, CHECK, case_id, action="pay", receipt_no="ZR20260001",
                       amount_fen=10000)
    assert not_finance.status_code == 403

    paid = _act(client, hub, CASHIER, case_id, action="pay", receipt_no="ZR20260001",
                amount_fen=6000)
    assert paid.status_code == 200, paid.get_json()
    twice = _act(client, hub, CASHIER, case_id, action="pay", receipt_no="ZR20260001",
                 amount_fen=4000)
    assert twice.status_code == 409  # a receipt number is used once
    other = _decided(hub, client, 2)
    elsewhere = _act(client, hub, CASHIER, other, action="pay", receipt_no="ZR20260001",
                     amount_fen=10000)
    assert elsewhere.status_code == 409  # not on another case either
    unissued = _act(client, hub, CASHIER, other, action="pay", receipt_no="ZR20269999",
                    amount_fen=10000)
    assert unissued.status_code == 409  # in no book of the window
    assert _act(client, hub, CHECK, case_id, action="issue_result").status_code == 409
    vague = _act(client, hub, CASHIER, case_id, action="void_receipt",
                 receipt_no="ZR20260001", reason="错")
    assert vague.status_code == 400
    voided = _act(client, hub, CASHIER, case_id, action="void_receipt",
                  receipt_no="ZR20260001", reason="收据填写金额错误，作废重开")
    assert voided.status_code == 200, voided.get_json()
    again = _act(client, hub, CASHIER, case_id, action="pay", receipt_no="ZR20260002",
                 amount_fen=10000)
    assert again.status_code == 200, again.get_json()
    with app_session(hub.app) as session:
        row = session.get(HubCase, case_id)
        assert row is not None and (row.fee_due_fen, row.fee_paid_fen) == (10000, 10000)

    issued = _act(client, hub, CHECK, case_id, action="issue_result")
    assert issued.status_code == 200, issued.get_json()
    self_approved = _act(client, hub, CASHIER, case_id, action="refund", amount_fen=1000,
                         reason="增发证书减少一本，退还工本费", approver=CASHIER)
    assert self_approved.status_code == 400
    assert "approver" in self_approved.get_json()["error"]["fields"]
    refund = _act(client, hub, CASHIER, case_id, action="refund", amount_fen=1000,
                  reason="增发证书减少一本，退还工本费", approver=HEAD)
    assert refund.status_code == 200, refund.get_json()
    types = [e.type.value for e in _log(hub, case_id)]
    assert types.count("fee_paid") == 2 and types.count("receipt_voided") == 1
    assert "signalled" not in types  # nothing charged off the standard


def test_a_waiver_where_allowed_and_a_payment_above_the_standard_is_carded(hub: Hub) -> None:
    client = hub.app.test_client()
    refused, _ = register_at_hub(hub, 1, **ITEM)
    assert _act(client, hub, REVIEW, refused, action="claim").status_code == 200
    no_reason = _act(client, hub, REVIEW, refused, action="accept", fees=[
        {"code": "REGISTRATION_FEE", "amount_fen": 0, "reason": "免"}])
    assert no_reason.status_code == 400
    assert "fees.REGISTRATION_FEE.reason" in no_reason.get_json()["error"]["fields"]
    assert "accepted" not in [e.type.value for e in _log(hub, refused)]  # nothing half-done

    waived = _decided(hub, client, 2, fees=[
        {"code": "REGISTRATION_FEE", "amount_fen": 0, "reason": "小微企业免收不动产登记费"}])
    assessed = next(e for e in _log(hub, waived) if e.type.value == "fees_assessed")
    assert assessed.payload["total_fen"] == 0
    assert _act(client, hub, CHECK, waived, action="issue_result").status_code == 200

    over = _decided(hub, client, 3)
    paid = _act(client, hub, CASHIER, over, action="pay", receipt_no="ZR20260101",
                amount_fen=15000)
    assert paid.status_code == 200  # the money was taken: recorded, and carded
    cards = [e for e in _log(hub, over) if e.type.value == "signalled"]
    assert [(c.payload["kind"], c.payload["rule"]) for c in cards] == [
        ("red_card", "fee_off_standard")]


def test_the_finance_clerk_takes_the_payment_on_the_case_page_in_yuan(hub: Hub) -> None:
    client = hub.app.test_client()
    case_id = _decided(hub, client, 1)
    clerk = hub.login(CASHIER)
    url = f"/windows/cases/{case_id}"
    owed = clerk.get("/windows/W-ZR-01").get_data(as_text=True).split('id="owed"')[1]
    assert "¥0.00 / ¥100.00" in owed.split("</table>")[0]  # on the finance window's list
    page = clerk.get(url).get_data(as_text=True)
    assert 'id="fees"' in page and "¥100.00" in page and "发改价格规〔2016〕2559号" in page
    assert 'id="act-pay"' in page and 'value="100.00"' in page  # what is still owed

    typo = clerk.post(f"{url}/act", data={"action": "pay", "receipt_no": "ZR20260201",
                                          "amount_yuan": "1OO"})
    assert typo.status_code == 400
    assert "fee_paid" not in [e.type.value for e in _log(hub, case_id)]
    paid = clerk.post(f"{url}/act", data={"action": "pay", "receipt_no": "ZR20260201",
                                          "amount_yuan": "100.00"})
    assert paid.status_code in (200, 303), paid.get_data(as_text=True)[:500]
    shown = clerk.get(url).get_data(as_text=True)
    assert "¥100.00 / ¥100.00" in shown and "ZR20260201" in shown
    listed = clerk.get("/windows/W-ZR-01").get_data(as_text=True).split('id="owed"')[1]
    assert "没有待收费的案件" in listed.split("</table>")[0]  # paid: off the list
    payment = [e for e in _log(hub, case_id) if e.type.value == "fee_paid"]
    assert [(p.payload["receipt_no"], p.payload["amount_fen"], p.payload["window"])
            for p in payment] == [("ZR20260201", 10000, "W-ZR-01")]


@pytest.mark.browser
def test_a_payment_in_the_browser(hub: Hub) -> None:
    """The finance clerk signs in, opens the case, types the receipt number and the amount in
    yuan, and sees the fees paid; the result can then be issued."""
    client = hub.app.test_client()
    case_id = _decided(hub, client, 1)
    with _serving(hub) as served, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(locale="zh-CN").new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{served}/login")
        page.fill("#username", CASHIER)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.goto(f"{served}/windows/cases/{case_id}")
        expect(page.locator("#fee-paid")).to_have_text("¥0.00 / ¥100.00")
        form = page.locator("#act-pay")
        expect(form.locator("input[name=amount_yuan]")).to_have_value("100.00")
        form.locator("input[name=receipt_no]").fill("ZR20260007")
        form.locator("button[type=submit]").click()
        expect(page.locator("#fee-paid")).to_have_text("¥100.00 / ¥100.00")
        expect(page.locator("#fees tr.receipt")).to_contain_text("ZR20260007")
        browser.close()
    assert _act(client, hub, CHECK, case_id, action="issue_result").status_code == 200


def test_the_window_reduces_a_fee_on_the_accept_form_where_the_catalogue_allows(
        hub: Hub) -> None:
    client = hub.app.test_client()
    case_id, _ = register_at_hub(hub, 1, **ITEM)
    assert _act(client, hub, REVIEW, case_id, action="claim").status_code == 200
    desk = hub.login(REVIEW)
    url = f"/windows/cases/{case_id}"
    page = desk.get(url).get_data(as_text=True)
    assert 'name="reduce_REGISTRATION_FEE"' in page  # reducible by the catalogue
    unexplained = desk.post(f"{url}/act", data={"action": "accept",
                                                "reduce_REGISTRATION_FEE": "50.00"})
    assert unexplained.status_code == 400
    assert "accepted" not in [e.type.value for e in _log(hub, case_id)]
    done = desk.post(f"{url}/act", data={
        "action": "accept", "reduce_REGISTRATION_FEE": "50.00",
        "reduce_why_REGISTRATION_FEE": "申请人为小微企业，按规定减半收取"})
    assert done.status_code in (200, 303), done.get_data(as_text=True)[:500]
    assessed = next(e for e in _log(hub, case_id) if e.type.value == "fees_assessed")
    assert assessed.payload["fees"][0]["standard_fen"] == 10000
    assert assessed.payload["fees"][0]["amount_fen"] == 5000
    assert assessed.payload["total_fen"] == 5000
