"""account revision: the hub revision each copy of an account reflects (user sync)

The DDL is ``shared.storage.shared_tables_ddl.add_account_revision``, shared with hub 0003.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

from alembic import op

from shared.storage import shared_tables_ddl

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    shared_tables_ddl.add_account_revision(op)


def downgrade() -> None:
    shared_tables_ddl.drop_account_revision(op)
