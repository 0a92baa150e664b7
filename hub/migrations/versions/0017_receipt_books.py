"""Receipt books (以票控费): the numbered ranges registered to the hub's finance windows and
one row per receipt number used, unique per site

The DDL is ``shared.deciding.receipt_ddl.create_receipt_tables``, shared by hub 0017 and
node 0018.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 18:00:00
"""

from __future__ import annotations

from alembic import op

from shared.deciding import receipt_ddl

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    receipt_ddl.create_receipt_tables(op, "hub_receipt_books", "hub_receipts")


def downgrade() -> None:
    receipt_ddl.drop_receipt_tables(op, "hub_receipt_books", "hub_receipts")
