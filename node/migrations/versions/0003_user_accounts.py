"""user accounts

The DDL is ``shared.storage.shared_tables_ddl.create_account_table``, shared with hub 0001.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 08:05:50.377040
"""

from __future__ import annotations

from alembic import op

from shared.storage import shared_tables_ddl

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    shared_tables_ddl.create_account_table(op)


def downgrade() -> None:
    shared_tables_ddl.drop_account_table(op)
