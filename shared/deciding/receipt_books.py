"""Receipt books (以票控费): every fee a deciding site takes is recorded against a numbered
receipt from a book registered to the finance window that takes it.

A **book** is a numbered range issued to one window of one site: a prefix of capitals and
digits (``CZ2026``), a first and a last number and a fixed width, so its receipt numbers read
``CZ20260001`` … ``CZ20260500`` (the prefix, then the number zero-padded to the width, by
default the width of the last number). Two books whose numbers could be the same receipt
number at a site are refused: the same prefix with ranges that meet, or a longer prefix that
continues a shorter one's numbers (``CZ2026`` width 4 inside ``CZ202`` width 5).

A **receipt** row is written when the finance clerk's ``pay`` action takes a number
(:func:`take_receipt`, in the action's transaction): the number must lie in a book of that
window at that site and must never have been used or voided. The row's key is
``(site, receipt_no)``, so of two clerks taking one number at once the second fails at the
database even when both checked before either wrote (PostgreSQL waits for the first to commit,
SQLite for its write lock). :func:`void_receipt` marks a used receipt ``voided`` with the
reason; a voided number is never used again.

The tables are ``hub_receipt_books``/``hub_receipts`` and ``node_receipt_books``/
``node_receipts`` (DDL: :mod:`shared.deciding.receipt_ddl`).
"""

from __future__ import annotations

import re
import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, cast

from sqlalchemy import BigInteger, Index, Integer, String, Uuid, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared.domain.errors import InvalidInput, NotFound, Problems, StateConflict
from sync_protocol.times import to_ms

PREFIX = re.compile(r"[A-Z][A-Z0-9]{0,19}")
MAX_RECEIPT_NO = 32
MAX_WIDTH = 12
MAX_BOOK = 100_000
"""Numbers one book holds at most (a roll of receipts, not a whole year's)."""
MIN_REASON = 5
USED, VOIDED = "used", "voided"


class ReceiptBookColumns:
    """The columns of a receipt books table (mixed into each app's model)."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(15))
    window: Mapped[str] = mapped_column(String(40))
    """The finance window the book was issued to."""
    prefix: Mapped[str] = mapped_column(String(20))
    width: Mapped[int] = mapped_column(Integer)
    """The digits of every number of the book (zero-padded)."""
    first: Mapped[int] = mapped_column(BigInteger)
    last: Mapped[int] = mapped_column(BigInteger)
    registered_by: Mapped[str] = mapped_column(String(64))
    registered_ms: Mapped[int] = mapped_column(BigInteger)

    def receipt_no(self, number: int) -> str:
        return f"{self.prefix}{number:0{self.width}d}"

    def number_of(self, receipt_no: str) -> int | None:
        """The number ``receipt_no`` has in this book, or None when it is not one of its."""
        digits = receipt_no[len(self.prefix):]
        if (not receipt_no.startswith(self.prefix) or len(digits) != self.width
                or not digits.isascii() or not digits.isdigit()):
            return None
        number = int(digits)
        return number if self.first <= number <= self.last else None


class ReceiptColumns:
    """The columns of a receipts table: one row per receipt number used at the site."""

    book_model: ClassVar[type[ReceiptBookColumns]]
    """The site's receipt books table."""

    site: Mapped[str] = mapped_column(String(15), primary_key=True)
    receipt_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    book_id: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(BigInteger)
    case_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    window: Mapped[str] = mapped_column(String(40))
    department: Mapped[str] = mapped_column(String(40))
    """The department whose fee was paid (the case's item's)."""
    status: Mapped[str] = mapped_column(String(8))
    """``used`` or ``voided``."""
    used_ms: Mapped[int] = mapped_column(BigInteger)
    voided_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    void_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)


BookModel = type[ReceiptBookColumns]
ReceiptModel = type[ReceiptColumns]

_RECEIPTS_OF: dict[str, ReceiptModel] = {}


def pair(projection: type[Any], receipts: ReceiptModel) -> None:
    """Record that the site whose window projection is ``projection`` keeps its receipts in
    ``receipts`` (each app's models call this once)."""
    _RECEIPTS_OF[projection.__tablename__] = receipts


def receipts_of(projection: type[Any]) -> ReceiptModel:
    """The receipts model of the site whose projection is ``projection``."""
    return _RECEIPTS_OF[projection.__tablename__]


def paired_receipts(projection: type[Any]) -> ReceiptModel | None:
    """:func:`receipts_of`, or None when no receipts table was paired with ``projection``."""
    return _RECEIPTS_OF.get(projection.__tablename__)


def book_indexes(table: str) -> tuple[Index]:
    return (Index(f"ix_{table}_site_window", "site", "window"),)


def receipt_indexes(table: str) -> tuple[Index, Index, Index, Index]:
    """The statement reads a window's receipts used, the site's voided, in a day; the gaps
    read a book's numbers; a case's receipts are found by its id."""
    return (Index(f"ix_{table}_used", "site", "window", "used_ms"),
            Index(f"ix_{table}_voided", "site", "voided_ms"),
            Index(f"ix_{table}_book", "book_id", "number"),
            Index(f"ix_{table}_case_id", "case_id"))


@dataclass(frozen=True, slots=True)
class NewBook:
    """A book to register, as the API or the command line gives it."""

    window: str
    prefix: str
    first: int
    last: int
    width: int | None = None


def _check(book: NewBook, windows: frozenset[str] | None) -> int:
    """Every problem of ``book`` at once; its width when there is none."""
    problems: dict[str, str] = {}
    if not book.window or len(book.window) > 40:
        problems["window"] = "a window code"
    elif windows is not None and book.window not in windows:
        problems["window"] = "not a window of this site"
    if not PREFIX.fullmatch(book.prefix):
        problems["prefix"] = "capitals and digits, beginning with a capital, up to 20"
    if book.first < 0:
        problems["first"] = "0 or more"
    if book.last < book.first:
        problems["last"] = "at least the first number"
    elif book.last - book.first >= MAX_BOOK:
        problems["last"] = f"a book holds at most {MAX_BOOK} numbers"
    width = book.width if book.width is not None else len(str(max(book.last, 0)))
    if width < len(str(max(book.last, 0))) or width > MAX_WIDTH:
        problems["width"] = f"the last number's digits up to {MAX_WIDTH}"
    elif len(book.prefix) + width > MAX_RECEIPT_NO:
        problems["prefix"] = f"prefix and number together at most {MAX_RECEIPT_NO} characters"
    if problems:
        raise Problems(problems, "the receipt book is not valid")
    return width


def _collides(a: tuple[str, int, int, int], b: ReceiptBookColumns) -> bool:
    """Whether a receipt number of the book ``a`` (prefix, width, first, last) could be one
    of ``b``'s: the same prefix with number ranges that meet, or a prefix continuing the
    other's with numbers that read the same."""
    if a[0] == b.prefix:
        return a[2] <= b.last and b.first <= a[3]
    if len(a[0]) + a[1] != len(b.prefix) + b.width:
        return False
    short, long_ = sorted([a, (b.prefix, b.width, b.first, b.last)], key=lambda x: len(x[0]))
    tail = long_[0][len(short[0]):]
    if not long_[0].startswith(short[0]) or not tail.isdigit():
        return False
    base: int = int(tail) * 10 ** long_[1]  # the long book's n reads as short's base + n
    return short[2] <= base + long_[3] and base + long_[2] <= short[3]


def register_book(session: Session, model: BookModel, *, site: str, book: NewBook,
                  registered_by: str, now: datetime,
                  windows: frozenset[str] | None = None) -> ReceiptBookColumns:
    """Register ``book`` at ``site`` (not committed). :class:`Problems` lists every bad field
    (``windows``: the site's windows, when known); :class:`StateConflict` (field ``first``)
    names the registered book it overlaps.

    Two registrations at once are taken one after the other: on PostgreSQL a transaction
    lock on the books table is held to the commit; on SQLite the book is written before the
    others are read, so the second waits for the first's write lock and then sees its book."""
    width = _check(book, windows)
    if session.get_bind().dialect.name == "postgresql":
        key = zlib.crc32(model.__tablename__.encode())  # type: ignore[attr-defined]
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    row: ReceiptBookColumns = cast(Any, model)(
        site=site, window=book.window, prefix=book.prefix, width=width, first=book.first,
        last=book.last, registered_by=registered_by, registered_ms=to_ms(now))
    session.add(row)
    session.flush()
    for other in session.scalars(select(model).where(model.site == site, model.id != row.id)):
        if _collides((book.prefix, width, book.first, book.last), other):
            session.delete(row)
            session.flush()
            raise StateConflict("first", f"overlaps the book {other.receipt_no(other.first)}–"
                                f"{other.receipt_no(other.last)} of window {other.window}")
    return row


def books_of(session: Session, model: BookModel, *, site: str,
             window: str | None = None) -> list[ReceiptBookColumns]:
    """The books registered at ``site`` (to ``window``), by window, prefix and first number."""
    query = select(model).where(model.site == site)
    if window is not None:
        query = query.where(model.window == window)
    return list(session.scalars(query.order_by(model.window, model.prefix, model.first)))


def book_of(session: Session, model: BookModel, *, site: str, window: str,
            receipt_no: str) -> tuple[ReceiptBookColumns, int] | None:
    """The book of ``window`` at ``site`` holding ``receipt_no``, with its number."""
    for book in books_of(session, model, site=site, window=window):
        number = book.number_of(receipt_no)
        if number is not None:
            return book, number
    return None


def _existing(session: Session, model: ReceiptModel, site: str,
              receipt_no: str) -> ReceiptColumns | None:
    return session.scalars(select(model).where(model.site == site,
                                                model.receipt_no == receipt_no)).first()


def take_receipt(session: Session, model: ReceiptModel, *, site: str, window: str,
                 receipt_no: str, case_id: uuid.UUID, amount_fen: int, department: str,
                 now: datetime) -> None:
    """Record the use of ``receipt_no`` by ``window`` for a payment on ``case_id``, in the
    caller's transaction. :class:`StateConflict` (field ``receipt_no``) when the number is in
    no book of that window at that site, or was used or voided already. When another clerk
    took the number at the same moment the insert fails at the database: the transaction
    is then rolled back and the same :class:`StateConflict` raised."""
    found = book_of(session, model.book_model, site=site, window=window, receipt_no=receipt_no)
    if found is None:
        raise StateConflict("receipt_no", f"{receipt_no} is in no receipt book of window "
                            f"{window} at this site")
    if _existing(session, model, site, receipt_no) is not None:
        raise StateConflict("receipt_no", f"{receipt_no} was used already")
    book, number = found
    session.add(cast(Any, model)(site=site, receipt_no=receipt_no, book_id=book.id, number=number,
                      case_id=case_id, amount_fen=amount_fen, window=window,
                      department=department, status=USED, used_ms=to_ms(now)))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise StateConflict("receipt_no", f"{receipt_no} was used already") from None


def void_receipt(session: Session, model: ReceiptModel, *, site: str, window: str,
                 receipt_no: str, reason: str, now: datetime) -> uuid.UUID:
    """Void the receipt ``receipt_no`` that ``window`` used, with ``reason`` (in the
    caller's transaction); the case it was used for. :class:`StateConflict` (field
    ``receipt_no``) when the number was not used by that window here or is voided already;
    two clerks voiding it at once: one succeeds."""
    if len(reason.strip()) < MIN_REASON:
        raise InvalidInput("reason", f"a written reason of at least {MIN_REASON} characters")
    row = _existing(session, model, site, receipt_no)
    if row is None or row.window != window:
        raise StateConflict("receipt_no", f"{receipt_no} was not used by window {window} here")
    if row.status != USED:
        raise StateConflict("receipt_no", f"{receipt_no} is voided already")
    changed = session.execute(
        update(model).where(model.site == site, model.receipt_no == receipt_no,
                            model.status == USED)
        .values(status=VOIDED, voided_ms=to_ms(now), void_reason=reason.strip()[:500])
        .execution_options(synchronize_session=False))
    if getattr(changed, "rowcount", 1) != 1:
        raise StateConflict("receipt_no", f"{receipt_no} is voided already")
    session.expire(row)
    return row.case_id


def receipt(session: Session, model: ReceiptModel, *, site: str,
            receipt_no: str) -> ReceiptColumns:
    """The receipt ``receipt_no`` used at ``site``; :class:`NotFound` when none."""
    row = _existing(session, model, site, receipt_no)
    if row is None:
        raise NotFound("receipt_no", f"no receipt {receipt_no} was used here")
    return row
