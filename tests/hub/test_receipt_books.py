"""Receipt books and the daily fee statement at the hub, on PostgreSQL (a schema of its own).

A supervisor registers the finance window's book through ``POST
/api/v1/finance/receipt-books``; an overlapping book is 409 and a bad one 400, each in the
API's error shape; a finance clerk may not register one. Two clerks take one receipt number
at the same moment on two connections: the second waits on the first's row and, once the
first commits, is refused, so one receipt stands. The day's statement (API, CSV and page)
shows the receipts used, the void with its reason, the gap left in the numbering and the case
whose payment no longer matches the assessed fee; a finance clerk reads only their own
window's."""

from __future__ import annotations

import csv
import io
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text, update

from hub.cli import hub_group
from hub.db_session import app_session
from hub.models import HubCase, HubReceipt
from shared.deciding.fee_statements import CSV_COLUMNS
from shared.deciding.receipt_books import take_receipt, void_receipt
from shared.domain.errors import StateConflict
from tests.hub.conftest import HUB, WINDOW, Hub, hub_maker, register_at_hub

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 6, 9, 1, 30, tzinfo=UTC)  # 09:30 on 9 June in Shanghai
DAY = "2026-06-09"
CHIEF, ROOT, CASHIER, NY_CASHIER = "chief", "root", "cashier", "ny-cashier"
MAX_PAGE_BYTES = 20 * 1024
"""The statement page of a busy window: a few seconds at 64 kbit/s."""


@pytest.fixture
def hub(tmp_path: Path, pg_schema_url: str) -> Hub:
    return hub_maker(tmp_path, pg_schema_url)(NOW, [
        (CHIEF, "supervisor", None), (ROOT, "admin", None), (CASHIER, "finance", WINDOW),
        (NY_CASHIER, "finance", "W-NY-01")])


def _add_book(hub: Hub, who: str, **body: Any) -> Any:
    return hub.app.test_client().post("/api/v1/finance/receipt-books", json=body,
                                      headers=hub.bearer(who))


def _book(hub: Hub) -> None:
    added = _add_book(hub, CHIEF, window=WINDOW, prefix="CZ2026", first=1, last=500, width=4)
    assert added.status_code == 201, added.get_json()


def _take(session: Any, receipt_no: str, case_id: uuid.UUID, fen: int) -> None:
    take_receipt(session, HubReceipt, site=HUB, window=WINDOW, receipt_no=receipt_no,
                 case_id=case_id, amount_fen=fen, department="MZ", now=NOW)


def test_books_are_registered_through_the_api_and_overlaps_refused(hub: Hub,
                                                                   tmp_path: Path) -> None:
    added = _add_book(hub, CHIEF, window=WINDOW, prefix="CZ2026", first=1, last=500, width=4)
    assert added.status_code == 201, added.get_json()
    book = added.get_json()["book"]
    assert (book["first_receipt_no"], book["last_receipt_no"], book["registered_by"]) == (
        "CZ20260001", "CZ20260500", CHIEF)

    overlap = _add_book(hub, ROOT, window="W-NY-01", prefix="CZ2026", first=500, last=900,
                        width=4)
    assert overlap.status_code == 409
    error = overlap.get_json()["error"]
    assert error["code"] == "conflict" and "CZ20260001" in error["fields"]["first"]

    bad = _add_book(hub, CHIEF, window="W-NONE", prefix="cz", first=5, last=1)
    assert bad.status_code == 400
    assert set(bad.get_json()["error"]["fields"]) == {"window", "prefix", "last"}
    typed = _add_book(hub, CHIEF, window=WINDOW, prefix="CZ", first="1", last=2)
    assert typed.status_code == 400 and "first" in typed.get_json()["error"]["fields"]
    assert _add_book(hub, CASHIER, window=WINDOW, prefix="CW", first=1, last=9).status_code == 403

    hub_dir = str(tmp_path / "hub")
    command = ["add-receipt-book", "--data-dir", hub_dir, "--window", "W-NY-01", "--prefix"]
    on_pc = CliRunner().invoke(hub_group, [*command, "NY2026", "--first", "1", "--last", "99"])
    assert on_pc.exit_code == 0 and "NY202601 to NY202699" in on_pc.output, on_pc.output
    again = CliRunner().invoke(hub_group, [*command, "CZ202", "--first", "60300", "--last",
                                           "60400"])  # CZ202 + 60300 reads CZ20260300
    assert again.exit_code != 0 and "overlaps the book CZ20260001" in again.output
    client = hub.app.test_client()
    mine = client.get("/api/v1/finance/receipt-books", headers=hub.bearer(CASHIER))
    assert [b["prefix"] for b in mine.get_json()["books"]] == ["CZ2026"]
    every = client.get("/api/v1/finance/receipt-books", headers=hub.bearer(CHIEF))
    assert [b["window"] for b in every.get_json()["books"]] == [WINDOW, "W-NY-01"]


def _waiting_on_a_lock(hub: Hub, pid: int) -> bool:
    """Whether the backend ``pid`` waits on a lock (the unique index's row of the other)."""
    with app_session(hub.app) as probe:
        kind = probe.execute(text("SELECT wait_event_type FROM pg_stat_activity "
                                  "WHERE pid = :pid"), {"pid": pid}).scalar()
    return kind == "Lock"


def test_two_clerks_taking_one_number_at_once_leave_one_receipt(hub: Hub) -> None:
    _book(hub)
    first, second = uuid.uuid4(), uuid.uuid4()
    outcome: list[BaseException | None] = []
    with app_session(hub.app) as one, app_session(hub.app) as two:
        pid = int(two.execute(text("SELECT pg_backend_pid()")).scalar_one())
        _take(one, "CZ20260007", first, 5000)  # written, not committed

        def other_clerk() -> None:
            try:
                _take(two, "CZ20260007", second, 5000)  # found free, then waits on the row
                outcome.append(None)
            except BaseException as exc:  # handed to the test's thread
                outcome.append(exc)

        racing = threading.Thread(target=other_clerk)
        racing.start()
        deadline = time.monotonic() + 10
        while not _waiting_on_a_lock(hub, pid) and racing.is_alive():
            assert time.monotonic() < deadline, "the second clerk never waited"
        assert racing.is_alive(), outcome
        one.commit()
        racing.join(10)
        assert not racing.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], StateConflict), outcome
    assert outcome[0].field == "receipt_no"
    with app_session(hub.app) as session:
        rows = session.scalars(select(HubReceipt)).all()
        assert [(r.receipt_no, r.case_id) for r in rows] == [("CZ20260007", first)]


def _set_fees(hub: Hub, case_id: uuid.UUID, due: int, paid: int) -> None:
    """The assessed and paid amounts the projection keeps for the case."""
    table = HubCase.__table__
    with app_session(hub.app) as session:
        session.execute(update(table).where(table.c.case_id == case_id)
                        .values(fee_due_fen=due, fee_paid_fen=paid))
        session.commit()


def test_the_days_statement_as_json_csv_and_page(hub: Hub) -> None:
    _book(hub)
    voided_case, paid_case = register_at_hub(hub, 1), register_at_hub(hub, 2)
    with app_session(hub.app) as session:
        _take(session, "CZ20260001", voided_case[0], 5000)
        _take(session, "CZ20260003", paid_case[0], 2000)
        assert void_receipt(session, HubReceipt, site=HUB, window=WINDOW,
                            receipt_no="CZ20260001", reason="金额开错,作废重开",
                            now=NOW) == voided_case[0]
        session.commit()
    _set_fees(hub, voided_case[0], 5000, 0)
    _set_fees(hub, paid_case[0], 2000, 2000)

    client = hub.app.test_client()
    mine = client.get(f"/api/v1/finance/statements/{DAY}", headers=hub.bearer(CASHIER))
    assert mine.status_code == 200, mine.get_json()
    body = mine.get_json()
    assert [w["window"] for w in body["windows"]] == [WINDOW]
    window = body["windows"][0]
    assert [(r["receipt_no"], r["status"], r["acceptance_no"]) for r in window["receipts"]] == [
        ("CZ20260001", "voided", voided_case[1]), ("CZ20260003", "used", paid_case[1])]
    assert [(v["receipt_no"], v["reason"]) for v in window["voids"]] == [
        ("CZ20260001", "金额开错,作废重开")]
    assert window["gaps"] == [{"from": "CZ20260002", "to": "CZ20260002", "count": 1}]
    assert body["total"]["net_fen"] == 2000
    assert [(m["acceptance_no"], m["fee_due_fen"], m["fee_paid_fen"])
            for m in body["mismatches"]] == [(voided_case[1], 5000, 0)]

    elsewhere = client.get(f"/api/v1/finance/statements/{DAY}?window={WINDOW}",
                           headers=hub.bearer(NY_CASHIER)).get_json()
    assert elsewhere["windows"] == [] and elsewhere["mismatches"] == []

    exported = client.get(f"/api/v1/finance/statements/{DAY}?format=csv",
                          headers=hub.bearer(CHIEF))
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r["kind"] for r in rows] == ["used", "used", "voided", "gap", "window",
                                         "department", "total", "mismatch"]
    assert next(r for r in rows if r["kind"] == "gap")["receipt_no"] == "CZ20260002"

    assert client.get("/api/v1/finance/statements/2026-13-01",
                      headers=hub.bearer(CHIEF)).get_json()["error"]["code"] == "not_found"
    assert client.get(f"/api/v1/finance/statements/{DAY}?format=pdf",
                      headers=hub.bearer(CHIEF)).status_code == 400

    page = hub.login(CASHIER).get(f"/finance/statements/{DAY}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert len(page.get_data()) < MAX_PAGE_BYTES and "<script" not in html
    for shown in ("CZ20260002", "金额开错,作废重开", voided_case[1], "50.00", "20.00"):
        assert shown in html
    assert hub.login(CASHIER).get("/finance/statements").status_code == 302


def test_two_overlapping_books_registered_at_once_leave_one(hub: Hub) -> None:
    from hub.models import HubReceiptBook
    from shared.deciding.receipt_books import NewBook, books_of, register_book

    outcome: list[BaseException | None] = []
    with app_session(hub.app) as one, app_session(hub.app) as two:
        pid = int(two.execute(text("SELECT pg_backend_pid()")).scalar_one())
        register_book(one, HubReceiptBook, site=HUB, book=NewBook(WINDOW, "CZ2026", 1, 500),
                      registered_by=CHIEF, now=NOW)  # written, not committed

        def other_admin() -> None:
            try:
                register_book(two, HubReceiptBook, site=HUB,
                              book=NewBook("W-NY-01", "CZ2026", 401, 900),
                              registered_by=ROOT, now=NOW)
                two.commit()
                outcome.append(None)
            except BaseException as exc:  # handed to the test's thread
                outcome.append(exc)

        racing = threading.Thread(target=other_admin)
        racing.start()
        deadline = time.monotonic() + 10
        while not _waiting_on_a_lock(hub, pid) and racing.is_alive():
            assert time.monotonic() < deadline, "the second registration never waited"
        assert racing.is_alive(), outcome
        one.commit()
        racing.join(10)
        assert not racing.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], StateConflict), outcome
    with app_session(hub.app) as session:
        assert [(b.window, b.first, b.last)
                for b in books_of(session, HubReceiptBook, site=HUB)] == [(WINDOW, 1, 500)]


ZR_ITEM = {"item_code": "ZR-0801", "window": "W-ZR-01",
           "form": {"property_cert_no": "湘(2026)郴州市不动产权第0012345号",
                    "is_residential": True, "price": "860000.00", "extra_certificates": 2}}
ZR_REVIEW, ZR_CASHIER = "zr-review", "zr-cashier"


def test_payments_and_a_void_through_the_actions_reach_the_statement(
        tmp_path: Path, pg_schema_url: str) -> None:
    hub = hub_maker(tmp_path, pg_schema_url)(NOW, [
        (CHIEF, "supervisor", None), (ZR_REVIEW, "window_operator", "W-ZR-01"),
        (ZR_CASHIER, "finance", "W-ZR-01")])
    added = _add_book(hub, CHIEF, window="W-ZR-01", prefix="ZR2026", first=1, last=500,
                      width=4)
    assert added.status_code == 201, added.get_json()
    client = hub.app.test_client()

    def act(who: str, case_id: uuid.UUID, **body: Any) -> None:
        done = client.post(f"/api/v1/cases/{case_id}/actions", json=body,
                           headers=hub.bearer(who))
        assert done.status_code == 200, (body, done.get_json())

    def statement() -> dict[str, Any]:
        found = client.get(f"/api/v1/finance/statements/{DAY}", headers=hub.bearer(ZR_CASHIER))
        assert found.status_code == 200, found.get_json()
        body: dict[str, Any] = found.get_json()
        return body

    case_id, acceptance_no = register_at_hub(hub, 1, **ZR_ITEM)
    act(ZR_REVIEW, case_id, action="claim")
    act(ZR_REVIEW, case_id, action="accept")  # assessed: 80 yuan and two 10-yuan extras
    act(ZR_CASHIER, case_id, action="pay", receipt_no="ZR20260001", amount_fen=6000)
    short = statement()
    assert [(m["acceptance_no"], m["fee_due_fen"], m["fee_paid_fen"])
            for m in short["mismatches"]] == [(acceptance_no, 10000, 6000)]

    act(ZR_CASHIER, case_id, action="pay", receipt_no="ZR20260003", amount_fen=4000)
    settled = statement()
    window = settled["windows"][0]
    assert [(r["receipt_no"], r["department"]) for r in window["receipts"]] == [
        ("ZR20260001", "ZR"), ("ZR20260003", "ZR")]
    assert window["gaps"] == [{"from": "ZR20260002", "to": "ZR20260002", "count": 1}]
    assert settled["mismatches"] == []

    act(ZR_CASHIER, case_id, action="void_receipt", receipt_no="ZR20260003",
        reason="收据金额填写错误,作废")
    voided = statement()
    window = voided["windows"][0]
    assert [(v["receipt_no"], v["reason"]) for v in window["voids"]] == [
        ("ZR20260003", "收据金额填写错误,作废")]
    assert (window["amount_fen"], window["voided_fen"], window["net_fen"]) == (
        10000, 4000, 6000)
    assert [m["fee_paid_fen"] for m in voided["mismatches"]] == [6000]
