"""The daily statement of the fees taken under receipt control (以票控费): for one day in
Shanghai time, per finance window and per department, from the site's receipts table and its
window projection.

Per window (every window with a receipt book at the site):

- ``receipts``: the receipt numbers the window used that day, each with its case, amount,
  department and present status (a receipt voided later still shows here, ``voided``);
  ``count`` and ``amount_fen`` add them up;
- ``voids``: the receipts the window voided that day (whenever they were used), with the
  reason; ``voided_count`` and ``voided_fen``; ``net_fen`` = ``amount_fen - voided_fen``;
- ``gaps``: the numbers of the window's books below the highest number used by the end of
  the day that were neither used nor voided, as ranges (a torn-out or skipped receipt the
  window must account for).

``departments`` totals the same per the receipts' department, ``total`` for the site. The
**mismatches** are the cases with a receipt used or voided that day whose projection says the
paid amount (``fee_paid_fen``, paid less refunds) is not the assessed one (``fee_due_fen``);
``None`` when no projection is given.

Each part is one indexed query (receipts by ``(site, window, used_ms)`` and
``(site, voided_ms)``, a book's numbers by ``(book_id, number)``).
"""

from __future__ import annotations

import csv
import io
import uuid
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from shared.deciding.case_projection import ProjectionModel
from shared.deciding.receipt_books import ReceiptColumns, ReceiptModel, books_of
from shared.domain.csv_cells import safe_cell
from shared.domain.working_days import SHANGHAI
from sync_protocol.times import from_ms, to_ms

CSV_COLUMNS = ("kind", "window", "department", "receipt_no", "to_receipt_no", "case_id",
               "acceptance_no", "at", "count", "amount_fen", "voided_count", "voided_fen",
               "net_fen", "fee_due_fen", "fee_paid_fen", "reason")
"""The CSV's columns; ``kind`` says what a row is: ``used``, ``voided``, ``gap``,
``window``, ``department``, ``total`` or ``mismatch``."""
_FIGURES = ("count", "amount_fen", "voided_count", "voided_fen", "net_fen")


def day_bounds(day: date) -> tuple[int, int]:
    """The day's first and one-past-last millisecond, in Shanghai."""
    start = datetime.combine(day, time(0), SHANGHAI)
    return to_ms(start), to_ms(start + timedelta(days=1))


def _iso(ms: int | None) -> str | None:
    return from_ms(ms).astimezone(SHANGHAI).isoformat() if ms is not None else None


def _blank() -> dict[str, int]:
    return dict.fromkeys(_FIGURES, 0)


def _ranges(numbers: list[int]) -> list[tuple[int, int]]:
    """Sorted numbers as runs ``(first, last)``."""
    runs: list[tuple[int, int]] = []
    for n in numbers:
        if runs and runs[-1][1] == n - 1:
            runs[-1] = (runs[-1][0], n)
        else:
            runs.append((n, n))
    return runs


def daily_statement(session: Session, receipts: ReceiptModel,
                    projection: ProjectionModel | None, *, site: str,
                    day: date) -> dict[str, Any]:
    """The statement of ``day`` at ``site`` (see the module), as the API answers it."""
    lo, hi = day_bounds(day)
    r = receipts
    numbers = _acceptance_numbers(session, r, projection, site, lo, hi)
    windows: dict[str, dict[str, Any]] = {}

    def window(code: str) -> dict[str, Any]:
        return windows.setdefault(code, {"window": code, "receipts": [], "voids": [],
                                          "gaps": [], **_blank()})

    departments: dict[str, dict[str, int]] = defaultdict(_blank)
    for book in books_of(session, r.book_model, site=site):
        window(book.window)
    used = session.scalars(select(r).where(r.site == site, r.used_ms >= lo, r.used_ms < hi)
                           .order_by(r.window, r.receipt_no))
    for row in used:
        w = window(row.window)
        w["receipts"].append({**_receipt(row, numbers), "at": _iso(row.used_ms)})
        w["count"] += 1
        w["amount_fen"] += row.amount_fen
        departments[row.department]["count"] += 1
        departments[row.department]["amount_fen"] += row.amount_fen
    voided = session.scalars(select(r).where(r.site == site, r.voided_ms >= lo,
                                             r.voided_ms < hi).order_by(r.window, r.receipt_no))
    for row in voided:
        w = window(row.window)
        w["voids"].append({**_receipt(row, numbers), "at": _iso(row.voided_ms),
                           "used_at": _iso(row.used_ms), "reason": row.void_reason})
        w["voided_count"] += 1
        w["voided_fen"] += row.amount_fen
        departments[row.department]["voided_count"] += 1
        departments[row.department]["voided_fen"] += row.amount_fen
    for code, w in windows.items():
        w["net_fen"] = w["amount_fen"] - w["voided_fen"]
        w["gaps"] = _gaps(session, r, site, code, hi)
        w["gap_count"] = sum(g["count"] for g in w["gaps"])
    department_rows = []
    for code in sorted(departments):
        d = departments[code]
        d["net_fen"] = d["amount_fen"] - d["voided_fen"]
        department_rows.append({"department": code, **d})
    window_rows = [windows[code] for code in sorted(windows)]
    total = _blank()
    for w in window_rows:
        for figure in _FIGURES:
            total[figure] += w[figure]
    return {"site": site, "date": day.isoformat(), "windows": window_rows,
            "departments": department_rows,
            "total": {**total, "gap_count": sum(w["gap_count"] for w in window_rows)},
            "mismatches": _mismatches(session, r, projection, site, lo, hi)}


def _receipt(row: ReceiptColumns, numbers: dict[uuid.UUID, str]) -> dict[str, Any]:
    return {"receipt_no": row.receipt_no, "case_id": str(row.case_id),
            "acceptance_no": numbers.get(row.case_id), "amount_fen": row.amount_fen,
            "department": row.department, "status": row.status}


def _day_cases(r: ReceiptModel, site: str, lo: int, hi: int) -> Any:
    return select(r.case_id).where(r.site == site, or_(
        (r.used_ms >= lo) & (r.used_ms < hi), (r.voided_ms >= lo) & (r.voided_ms < hi)))


def _acceptance_numbers(session: Session, r: ReceiptModel, projection: ProjectionModel | None,
                        site: str, lo: int, hi: int) -> dict[uuid.UUID, str]:
    if projection is None:
        return {}
    found = session.execute(select(projection.case_id, projection.acceptance_no).where(
        projection.case_id.in_(_day_cases(r, site, lo, hi))))
    return {case_id: number for case_id, number in found}


def _gaps(session: Session, r: ReceiptModel, site: str, window: str,
          hi: int) -> list[dict[str, Any]]:
    """The unaccounted numbers of ``window``'s books below the highest used before ``hi``."""
    gaps: list[dict[str, Any]] = []
    for book in books_of(session, r.book_model, site=site, window=window):
        taken = set(session.scalars(select(r.number).where(
            r.book_id == book.id, r.site == site, r.used_ms < hi)))
        if not taken:
            continue
        missing = [n for n in range(book.first, max(taken)) if n not in taken]
        gaps.extend({"from": book.receipt_no(a), "to": book.receipt_no(b), "count": b - a + 1}
                    for a, b in _ranges(missing))
    return gaps


def _mismatches(session: Session, r: ReceiptModel, projection: ProjectionModel | None,
                site: str, lo: int, hi: int) -> list[dict[str, Any]] | None:
    if projection is None:
        return None
    p = projection
    due, paid = p.fee_due_fen, p.fee_paid_fen
    query = select(p.case_id, p.acceptance_no, p.window, due, paid).where(
        p.case_id.in_(_day_cases(r, site, lo, hi)),
        func.coalesce(due, 0) != func.coalesce(paid, 0)).order_by(p.acceptance_no)
    return [{"case_id": str(case_id), "acceptance_no": number, "window": window,
             "fee_due_fen": owed, "fee_paid_fen": given,
             "difference_fen": (given or 0) - (owed or 0)}
            for case_id, number, window, owed, given in session.execute(query)]


def csv_text(statement: dict[str, Any]) -> str:
    """The statement as one CSV for the finance bureau (:data:`CSV_COLUMNS`): each receipt
    used and voided, each gap, the totals per window, department and site, then the
    mismatches. Amounts in fen; every cell through the CSV guard."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()

    def put(kind: str, **cells: Any) -> None:
        writer.writerow({key: safe_cell("" if value is None else value)
                         for key, value in {"kind": kind, **cells}.items()})

    for w in statement["windows"]:
        for kind, rows in (("used", w["receipts"]), ("voided", w["voids"])):
            for row in rows:
                put(kind, window=w["window"], department=row["department"],
                    receipt_no=row["receipt_no"], case_id=row["case_id"],
                    acceptance_no=row["acceptance_no"], at=row["at"],
                    amount_fen=row["amount_fen"], reason=row.get("reason"))
        for gap in w["gaps"]:
            put("gap", window=w["window"], receipt_no=gap["from"], to_receipt_no=gap["to"],
                count=gap["count"])
    for w in statement["windows"]:
        put("window", window=w["window"], **{f: w[f] for f in _FIGURES})
    for d in statement["departments"]:
        put("department", department=d["department"], **{f: d[f] for f in _FIGURES})
    put("total", **{f: statement["total"][f] for f in _FIGURES})
    for m in statement["mismatches"] or []:
        put("mismatch", window=m["window"], case_id=m["case_id"],
            acceptance_no=m["acceptance_no"], fee_due_fen=m["fee_due_fen"],
            fee_paid_fen=m["fee_paid_fen"])
    return out.getvalue()
