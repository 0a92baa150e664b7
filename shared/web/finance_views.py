"""Fees under receipt control (以票控费) at every deciding site — the hub and the township
and county nodes — in one blueprint:

- ``POST /api/v1/finance/receipt-books`` (supervisors and admins): register a receipt book,
  ``{"window", "prefix", "first", "last", "width"?}`` → 201 ``{"book": {…}}``; every bad
  field listed (400), a book overlapping a registered one 409;
- ``GET /api/v1/finance/receipt-books`` (``?window=``): the site's books; a finance clerk
  sees their own window's;
- ``GET /api/v1/finance/statements/<YYYY-MM-DD>`` (``?window=``, ``&format=csv``): the daily
  statement (:mod:`shared.deciding.fee_statements` says what each part holds); a finance
  clerk gets their own window's;
- ``GET /finance/statements/<YYYY-MM-DD>`` (and ``/finance/statements`` for today): the same
  as a page, plain HTML with a few hundred bytes of CSS and no script, for 64 kbit/s links.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from sqlalchemy.orm import Session

from shared.deciding.case_projection import ProjectionModel
from shared.deciding.fee_statements import csv_text, daily_statement
from shared.deciding.receipt_books import (
    MAX_WIDTH,
    NewBook,
    ReceiptBookColumns,
    books_of,
    receipts_of,
    register_book,
)
from shared.deciding.window_context import WindowContext
from shared.domain.working_days import SHANGHAI
from shared.web.error_responses import error_response, flatten_messages
from shared.web.i18n import Messages, add_messages
from shared.web.pages import no_store, signed_in
from shared.web.sign_in import require_user
from sync_protocol.times import from_ms

REGISTRARS = ("supervisor", "admin")
"""Who registers a receipt book."""
READERS = ("finance", "supervisor", "admin")
"""Who reads the books and the statements (a finance clerk: their own window's)."""

MESSAGES: Messages = {
    "fin.title": ("收费日结单", "Daily fee statement"),
    "fin.window": ("收费窗口", "Finance window"),
    "fin.used": ("已用票据", "Receipts used"),
    "fin.voids": ("作废票据", "Receipts voided"),
    "fin.gaps": ("断号", "Gaps in the numbering"),
    "fin.departments": ("按部门", "By department"),
    "fin.department": ("部门", "Department"),
    "fin.mismatches": ("应收与实收不符", "Assessed and paid differ"),
    "fin.mismatches_unknown": ("本站未记录应收金额", "This site keeps no assessed amounts"),
    "fin.receipt_no": ("票号", "Receipt"),
    "fin.case": ("受理编号", "Case"),
    "fin.amount": ("金额(元)", "Amount (yuan)"),
    "fin.status": ("状态", "Status"),
    "fin.status.used": ("有效", "Valid"),
    "fin.status.voided": ("已作废", "Voided"),
    "fin.at": ("时间", "At"),
    "fin.reason": ("作废原因", "Reason"),
    "fin.from_to": ("票号区间", "Numbers"),
    "fin.count": ("张数", "Count"),
    "fin.total": ("合计", "Total"),
    "fin.net": ("净额(元)", "Net (yuan)"),
    "fin.voided_amount": ("作废金额(元)", "Voided (yuan)"),
    "fin.due": ("应收(元)", "Assessed (yuan)"),
    "fin.paid": ("实收(元)", "Paid (yuan)"),
    "fin.none": ("无", "None"),
    "fin.csv": ("下载 CSV(财政局)", "CSV for the finance bureau"),
    "fin.previous": ("前一日", "Previous day"),
    "fin.next": ("后一日", "Next day"),
    "fin.desk": ("窗口", "Window desk"),
}


class BookBody(Schema):
    class Meta:
        unknown = EXCLUDE

    window = fields.String(required=True, validate=validate.Length(min=1, max=40))
    prefix = fields.String(required=True, validate=validate.Length(min=1, max=20))
    first = fields.Integer(required=True, strict=True,
                           validate=validate.Range(min=0, max=10**12))
    last = fields.Integer(required=True, strict=True,
                          validate=validate.Range(min=0, max=10**12))
    width = fields.Integer(load_default=None, strict=True,
                           validate=validate.Range(min=1, max=MAX_WIDTH))


class BooksQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    window = fields.String(load_default=None, validate=validate.Length(min=1, max=40))


class StatementQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    window = fields.String(load_default=None, validate=validate.Length(min=1, max=40))
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))


def book_json(book: ReceiptBookColumns) -> dict[str, Any]:
    return {"id": book.id, "window": book.window, "prefix": book.prefix, "width": book.width,
            "first": book.first, "last": book.last,
            "first_receipt_no": book.receipt_no(book.first),
            "last_receipt_no": book.receipt_no(book.last),
            "registered_by": book.registered_by,
            "registered_at": from_ms(book.registered_ms).isoformat()}


def _own_window(asked: str | None) -> str | None:
    """The window the signed-in user may read: a finance clerk only their own."""
    me = signed_in()
    return me.window if me.role == "finance" else asked


def only_window(statement: dict[str, Any], window: str) -> dict[str, Any]:
    """The statement of one window: its part, its departments' figures recounted from its
    receipts, its mismatches."""
    mine = [w for w in statement["windows"] if w["window"] == window]
    departments: dict[str, dict[str, Any]] = {}
    for w in mine:
        for key, rows in (("used", w["receipts"]), ("voided", w["voids"])):
            for row in rows:
                d = departments.setdefault(row["department"], {
                    "department": row["department"], "count": 0, "amount_fen": 0,
                    "voided_count": 0, "voided_fen": 0, "net_fen": 0})
                if key == "used":
                    d["count"] += 1
                    d["amount_fen"] += row["amount_fen"]
                else:
                    d["voided_count"] += 1
                    d["voided_fen"] += row["amount_fen"]
                d["net_fen"] = d["amount_fen"] - d["voided_fen"]
    figures = ("count", "amount_fen", "voided_count", "voided_fen", "net_fen", "gap_count")
    total = {f: sum(w[f] for w in mine) for f in figures}
    mismatches = statement["mismatches"]
    return {**statement, "windows": mine,
            "departments": [departments[k] for k in sorted(departments)], "total": total,
            "mismatches": None if mismatches is None else [
                m for m in mismatches if m["window"] == window]}


def finance_blueprint(get_session: Callable[[], Session],
                      get_ctx: Callable[[], WindowContext],
                      model: ProjectionModel) -> Blueprint:
    """The ``finance`` blueprint (see the module's docstring); ``model`` is the site's
    window projection, whose paired receipts table (:func:`receipts_of`) it reads."""
    bp = Blueprint("finance", __name__, template_folder="templates")
    bp.record_once(lambda state: add_messages(state.app, MESSAGES))
    bp.after_request(no_store)
    receipts = receipts_of(model)

    def bad_query(exc: ValidationError) -> Response:
        return error_response(400, "invalid", "invalid query", flatten_messages(exc.messages))

    def statement_of(day: str, window: str | None) -> dict[str, Any] | Response:
        try:
            wanted = date.fromisoformat(day)
        except ValueError:
            return error_response(404, "not_found", "a day is YYYY-MM-DD",
                                  {"date": "YYYY-MM-DD"})
        ctx = get_ctx()
        found = daily_statement(get_session(), receipts, model, site=ctx.site.code, day=wanted)
        return only_window(found, window) if window is not None else found

    @bp.post("/api/v1/finance/receipt-books")
    @require_user(*REGISTRARS)
    def add_book() -> ResponseReturnValue:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return error_response(400, "invalid", "a JSON object is expected",
                                  {"body": "a JSON object"})
        data: dict[str, Any] = BookBody().load(body)  # ValidationError: the error shape
        ctx = get_ctx()
        session = get_session()
        windows = frozenset(w.code for w in ctx.catalogue().windows)
        book = register_book(session, receipts.book_model, site=ctx.site.code,
                             book=NewBook(**data), registered_by=signed_in().username,
                             now=ctx.clock(), windows=windows)
        session.commit()
        return jsonify({"book": book_json(book)}), 201

    @bp.get("/api/v1/finance/receipt-books")
    @require_user(*READERS)
    def books() -> ResponseReturnValue:
        try:
            args: dict[str, Any] = BooksQuery().load(request.args)
        except ValidationError as exc:
            return bad_query(exc)
        found = books_of(get_session(), receipts.book_model, site=get_ctx().site.code,
                         window=_own_window(args["window"]))
        return jsonify({"books": [book_json(b) for b in found]})

    @bp.get("/api/v1/finance/statements/<day>")
    @require_user(*READERS)
    def statement(day: str) -> ResponseReturnValue:
        try:
            args: dict[str, Any] = StatementQuery().load(request.args)
        except ValidationError as exc:
            return bad_query(exc)
        found = statement_of(day, _own_window(args["window"]))
        if isinstance(found, Response):
            return found
        if args["format"] == "csv":
            name = f"fee-statement-{found['site']}-{found['date']}.csv"
            return Response(csv_text(found), mimetype="text/csv", headers={
                "Content-Disposition": f'attachment; filename="{name}"'})
        return jsonify(found)

    @bp.get("/finance/statements")
    @require_user(*READERS)
    def today() -> ResponseReturnValue:
        day = get_ctx().clock().astimezone(SHANGHAI).date().isoformat()
        return redirect(url_for(".statement_page", day=day))

    @bp.get("/finance/statements/<day>")
    @require_user(*READERS)
    def statement_page(day: str) -> ResponseReturnValue:
        window = _own_window(request.args.get("window", "")[:40] or None)
        found = statement_of(day, window)
        if isinstance(found, Response):
            return Response("404", status=404, mimetype="text/plain")
        shown = date.fromisoformat(found["date"])
        return render_template(
            "finance/statement.html", statement=found, window=window,
            previous=date.fromordinal(shown.toordinal() - 1).isoformat(),
            following=date.fromordinal(shown.toordinal() + 1).isoformat(),
            me=signed_in(), yuan=_yuan)

    return bp


def _yuan(fen: int | None) -> str:
    """Fen as yuan with two decimals (no float: ``12345`` → ``123.45``)."""
    if fen is None:
        return "—"
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"

