"""Receipt books and the daily fee statement at a township (SQLite), on a data directory made
by the real ``sanji node init --tier township``.

The books are registered with ``sanji node add-receipt-book``: an overlapping book is refused,
whether it repeats a prefix's numbers or continues a shorter prefix into the same receipt
numbers. The finance window's receipts are taken and voided through
:mod:`shared.deciding.receipt_books` as the ``pay`` and ``void_receipt`` actions take them: a
number is used once, only from a book of the clerk's own window, a voided number never again,
and two clerks taking one number at once leave one row (the second fails at the database).
The statement of a day lists the receipts used, the voids with their reasons, the gaps in
the numbering, the departments' totals and the cases whose paid amount differs from the
assessed one; its CSV has the documented columns, every cell through the CSV guard."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from node.cli import node_group
from node.models import NodeReceipt, NodeReceiptBook, NodeWindowCase
from node.settings import NodeSettings
from shared.deciding import receipt_books
from shared.deciding.fee_statements import CSV_COLUMNS, csv_text, daily_statement
from shared.deciding.receipt_books import books_of, take_receipt, void_receipt
from shared.domain.errors import StateConflict
from shared.storage.db import make_engine
from sync_protocol.times import to_ms

TOWNSHIP = "431002001"
WINDOW, OTHER = "W-MZ-11", "W-SJ-11"
DAY = date(2026, 6, 9)
MORNING = datetime(2026, 6, 9, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai
NIGHT = datetime(2026, 6, 9, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai, still the 9th
NEXT_DAY = datetime(2026, 6, 9, 16, 30, tzinfo=UTC)  # 00:30 on the 10th in Shanghai


def _sanji(*args: str) -> Any:
    return CliRunner().invoke(node_group, list(args))


@pytest.fixture
def township(tmp_path: Path) -> NodeSettings:
    data_dir = tmp_path / "township"
    done = _sanji("init", "--data-dir", str(data_dir), "--site-code", TOWNSHIP,
                  "--name", "良田镇便民服务中心", "--tier", "township")
    assert done.exit_code == 0, done.output
    return NodeSettings.load(data_dir)


def _add_book(township: NodeSettings, window: str, prefix: str, first: int, last: int,
              *extra: str) -> Any:
    return _sanji("add-receipt-book", "--data-dir", str(township.data_dir), "--window", window,
                  "--prefix", prefix, "--first", str(first), "--last", str(last), *extra)


@pytest.fixture
def session(township: NodeSettings) -> Iterator[Session]:
    for window, prefix, first, last in ((WINDOW, "LT2026", 1, 100), (OTHER, "SJ2026", 1, 50)):
        done = _add_book(township, window, prefix, first, last, "--width", "3")
        assert done.exit_code == 0, done.output
    engine = make_engine(township.database_url)
    with Session(engine) as opened:
        yield opened
    engine.dispose()


def _case(session: Session, number: int, *, due: int | None = None,
          paid: int | None = None) -> uuid.UUID:
    """A case of the township's window in its projection, with the fee figures given."""
    case_id = uuid.uuid4()
    session.add(NodeWindowCase(
        case_id=case_id, acceptance_no=f"431002001201-20260609-{number:04d}",
        origin="431002001201", item_code="MZ-0305", kind="promised", window=WINDOW,
        owner_site=TOWNSHIP, state="accepted", stage="at_window", open=1,
        registered_ms=to_ms(MORNING), updated_ms=to_ms(MORNING)))
    session.flush()
    if due is not None or paid is not None:
        _set_fees(session, case_id, due, paid)
    return case_id


def _set_fees(session: Session, case_id: uuid.UUID, due: int | None, paid: int | None) -> None:
    table = NodeWindowCase.__table__
    session.execute(update(table).where(table.c.case_id == case_id)
                    .values(fee_due_fen=due, fee_paid_fen=paid))


def _take(session: Session, receipt_no: str, case_id: uuid.UUID, fen: int = 3000, *,
          window: str = WINDOW, department: str = "MZ", at: datetime = MORNING) -> None:
    take_receipt(session, NodeReceipt, site=TOWNSHIP, window=window, receipt_no=receipt_no,
                 case_id=case_id, amount_fen=fen, department=department, now=at)


def test_a_book_is_registered_and_an_overlapping_one_refused(township: NodeSettings) -> None:
    done = _add_book(township, WINDOW, "LT2026", 1, 100)
    assert done.exit_code == 0, done.output
    assert "LT2026001 to LT2026100" in done.output  # the width of the last number
    for window, prefix, first, last in (
            (WINDOW, "LT2026", 100, 150),  # shares number 100
            (OTHER, "LT2026", 1, 1),  # another window, the same numbers
            (OTHER, "LT202", 6050, 6060)):  # LT202 + 6050 reads LT2026050
        refused = _add_book(township, window, prefix, first, last)
        assert refused.exit_code != 0 and "overlaps" in refused.output, refused.output
    bad = _add_book(township, "W-NONE", "lt", 5, 1)
    assert bad.exit_code != 0
    for field in ("window", "prefix", "last"):
        assert f"{field}:" in bad.output
    assert _add_book(township, WINDOW, "LT2026", 101, 200).exit_code == 0
    padded = _add_book(township, OTHER, "SJ", 1, 50, "--width", "6")
    assert "SJ000001 to SJ000050" in padded.output
    engine = make_engine(township.database_url)
    with Session(engine) as session:
        books = books_of(session, NodeReceiptBook, site=TOWNSHIP, window=WINDOW)
        assert [(b.prefix, b.first, b.last, b.width) for b in books] == [
            ("LT2026", 1, 100, 3), ("LT2026", 101, 200, 3)]
    engine.dispose()


def test_a_number_is_used_once_from_the_clerks_own_books(session: Session) -> None:
    paid_for = _case(session, 1)
    _take(session, "LT2026001", paid_for)
    session.commit()
    refusals = [("LT2026001", WINDOW, "used already"),  # used
                ("LT2026101", WINDOW, "no receipt book"),  # beyond the book
                ("LT20261", WINDOW, "no receipt book"),  # not the book's width
                ("SJ2026001", WINDOW, "no receipt book"),  # another window's book
                ("LT2026002", OTHER, "no receipt book")]  # a clerk of another window
    for receipt_no, window, says in refusals:
        with pytest.raises(StateConflict) as refused:
            _take(session, receipt_no, paid_for, window=window)
        assert refused.value.field == "receipt_no" and says in refused.value.reason
        session.rollback()
    rows = session.scalars(select(NodeReceipt)).all()
    assert [(r.receipt_no, r.number, r.status, r.case_id) for r in rows] == [
        ("LT2026001", 1, "used", paid_for)]


def test_a_void_names_the_case_and_the_number_is_never_used_again(session: Session) -> None:
    case_id = _case(session, 1)
    _take(session, "LT2026003", case_id)
    session.commit()
    for receipt_no, window in (("LT2026003", OTHER), ("LT2026004", WINDOW)):
        with pytest.raises(StateConflict):
            void_receipt(session, NodeReceipt, site=TOWNSHIP, window=window,
                         receipt_no=receipt_no, reason="开错金额,重开", now=NIGHT)
    assert void_receipt(session, NodeReceipt, site=TOWNSHIP, window=WINDOW,
                        receipt_no="LT2026003", reason="开错金额,重开", now=NIGHT) == case_id
    session.commit()
    with pytest.raises(StateConflict, match="voided already"):
        void_receipt(session, NodeReceipt, site=TOWNSHIP, window=WINDOW,
                     receipt_no="LT2026003", reason="再次作废一下", now=NIGHT)
    with pytest.raises(StateConflict, match="used already"):
        _take(session, "LT2026003", case_id)
    session.rollback()
    row = session.scalars(select(NodeReceipt)).one()
    assert (row.status, row.void_reason, row.voided_ms) == ("voided", "开错金额,重开",
                                                            to_ms(NIGHT))


def test_two_clerks_taking_one_number_at_once_leave_one_receipt(
    session: Session, township: NodeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = _case(session, 1), _case(session, 2)
    session.commit()
    engine = make_engine(township.database_url)
    with Session(engine) as other:
        # both clerks found the number free before either wrote it
        monkeypatch.setattr(receipt_books, "_existing", lambda *args: None)
        _take(session, "LT2026005", first)
        session.commit()
        with pytest.raises(StateConflict, match="used already"):
            _take(other, "LT2026005", second)
        # and without the function's own check, the database refuses the second at commit
        other.add(NodeReceipt(site=TOWNSHIP, receipt_no="LT2026005", book_id=1, number=5,
                              case_id=second, amount_fen=1, window=WINDOW, department="MZ",
                              status="used", used_ms=to_ms(MORNING)))
        with pytest.raises(IntegrityError):
            other.commit()
        other.rollback()
    engine.dispose()
    assert [(r.receipt_no, r.case_id) for r in session.scalars(select(NodeReceipt))] == [
        ("LT2026005", first)]


def test_the_days_statement_lists_receipts_voids_gaps_and_departments(
    session: Session,
) -> None:
    cases = [_case(session, n) for n in range(1, 5)]
    _take(session, "LT2026001", cases[0], 3000, at=MORNING - timedelta(days=1))  # the 8th
    _take(session, "LT2026002", cases[1], 5000, at=MORNING)
    _take(session, "LT2026004", cases[2], 1500, department="SW", at=NIGHT)
    _take(session, "LT2026007", cases[3], 800, at=NEXT_DAY)  # the 10th: no gap on the 9th
    _take(session, "SJ2026002", cases[3], 2000, window=OTHER, department="SJ", at=MORNING)
    void_receipt(session, NodeReceipt, site=TOWNSHIP, window=WINDOW, receipt_no="LT2026001",
                 reason="=HYPERLINK(\"x\") 写错", now=NIGHT)
    session.commit()

    statement = daily_statement(session, NodeReceipt, NodeWindowCase, site=TOWNSHIP, day=DAY)
    windows = {w["window"]: w for w in statement["windows"]}
    mz, sj = windows[WINDOW], windows[OTHER]
    assert [r["receipt_no"] for r in mz["receipts"]] == ["LT2026002", "LT2026004"]
    assert (mz["count"], mz["amount_fen"]) == (2, 6500)
    assert [(v["receipt_no"], v["amount_fen"]) for v in mz["voids"]] == [("LT2026001", 3000)]
    assert mz["voids"][0]["reason"].startswith("=HYPERLINK")
    assert (mz["voided_count"], mz["voided_fen"], mz["net_fen"]) == (1, 3000, 3500)
    assert mz["gaps"] == [{"from": "LT2026003", "to": "LT2026003", "count": 1}]
    assert sj["gaps"] == [{"from": "SJ2026001", "to": "SJ2026001", "count": 1}]
    assert mz["receipts"][0]["acceptance_no"] == "431002001201-20260609-0002"
    assert statement["departments"] == [
        {"department": "MZ", "count": 1, "amount_fen": 5000, "voided_count": 1,
         "voided_fen": 3000, "net_fen": 2000},
        {"department": "SJ", "count": 1, "amount_fen": 2000, "voided_count": 0,
         "voided_fen": 0, "net_fen": 2000},
        {"department": "SW", "count": 1, "amount_fen": 1500, "voided_count": 0,
         "voided_fen": 0, "net_fen": 1500}]
    assert statement["total"] == {"count": 3, "amount_fen": 8500, "voided_count": 1,
                                  "voided_fen": 3000, "net_fen": 5500, "gap_count": 2}

    following = daily_statement(session, NodeReceipt, NodeWindowCase, site=TOWNSHIP,
                                day=DAY + timedelta(days=1))
    gaps = {w["window"]: w["gaps"] for w in following["windows"]}
    assert gaps[WINDOW] == [{"from": "LT2026003", "to": "LT2026003", "count": 1},
                            {"from": "LT2026005", "to": "LT2026006", "count": 2}]

    rows = list(csv.DictReader(io.StringIO(csv_text(statement))))
    assert tuple(rows[0]) == CSV_COLUMNS
    kinds = [r["kind"] for r in rows]
    assert kinds.count("used") == 3 and kinds.count("voided") == 1
    assert kinds.count("gap") == 2 and kinds[-1] in ("total", "mismatch")
    voided = next(r for r in rows if r["kind"] == "voided")
    assert voided["reason"].startswith("'=HYPERLINK")  # through the CSV guard
    total = next(r for r in rows if r["kind"] == "total")
    assert (total["count"], total["amount_fen"], total["net_fen"]) == ("3", "8500", "5500")


def test_the_statement_names_the_cases_paid_other_than_assessed(session: Session) -> None:
    short = _case(session, 1, due=8000, paid=5000)
    exact = _case(session, 2, due=3000, paid=3000)
    _case(session, 3, due=9000, paid=0)  # owes, but took no receipt that day
    _take(session, "LT2026001", short, 5000)
    _take(session, "LT2026002", exact, 3000)
    session.commit()
    statement = daily_statement(session, NodeReceipt, NodeWindowCase, site=TOWNSHIP, day=DAY)
    assert statement["mismatches"] == [
        {"case_id": str(short), "acceptance_no": "431002001201-20260609-0001",
         "window": WINDOW, "fee_due_fen": 8000, "fee_paid_fen": 5000,
         "difference_fen": -3000}]
    mismatch = [r for r in csv.DictReader(io.StringIO(csv_text(statement)))
                if r["kind"] == "mismatch"]
    assert [(r["case_id"], r["fee_due_fen"], r["fee_paid_fen"]) for r in mismatch] == [
        (str(short), "8000", "5000")]
