"""The DDL of the receipt books and receipts (以票控费), written once for the hub's
(``hub_receipt_books``, ``hub_receipts``) and the nodes' (``node_receipt_books``,
``node_receipts``) migrations, which differ only in the table names. Frozen as released, like
:mod:`shared.deciding.projection_ddl`: a later change is a new function here, never an edit
of one below. The models are :mod:`shared.deciding.receipt_books`."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


def create_receipt_tables(op: Any, books: str, receipts: str) -> None:
    """A site's registered receipt books (numbered ranges issued to a finance window) and
    one row per receipt number used, unique per site, with the indexes the daily statement
    reads. Hub ``0017``, node ``0018``."""
    op.create_table(
        books,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("site", sa.String(15), nullable=False),
        sa.Column("window", sa.String(40), nullable=False),
        sa.Column("prefix", sa.String(20), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("first", sa.BigInteger(), nullable=False),
        sa.Column("last", sa.BigInteger(), nullable=False),
        sa.Column("registered_by", sa.String(64), nullable=False),
        sa.Column("registered_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{books}"),
    )
    op.create_index(f"ix_{books}_site_window", books, ["site", "window"])
    op.create_table(
        receipts,
        sa.Column("site", sa.String(15), nullable=False),
        sa.Column("receipt_no", sa.String(32), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("window", sa.String(40), nullable=False),
        sa.Column("department", sa.String(40), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("used_ms", sa.BigInteger(), nullable=False),
        sa.Column("voided_ms", sa.BigInteger(), nullable=True),
        sa.Column("void_reason", sa.String(500), nullable=True),
        sa.PrimaryKeyConstraint("site", "receipt_no", name=f"pk_{receipts}"),
    )
    op.create_index(f"ix_{receipts}_used", receipts, ["site", "window", "used_ms"])
    op.create_index(f"ix_{receipts}_voided", receipts, ["site", "voided_ms"])
    op.create_index(f"ix_{receipts}_book", receipts, ["book_id", "number"])
    op.create_index(f"ix_{receipts}_case_id", receipts, ["case_id"])


def drop_receipt_tables(op: Any, books: str, receipts: str) -> None:
    """Undo :func:`create_receipt_tables`."""
    for name in ("used", "voided", "book", "case_id"):
        op.drop_index(f"ix_{receipts}_{name}", receipts)
    op.drop_table(receipts)
    op.drop_index(f"ix_{books}_site_window", books)
    op.drop_table(books)
