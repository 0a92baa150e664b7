"""account revision: the hub counts its changes to each account (user sync)

The DDL is ``shared.storage.shared_tables_ddl.add_account_revision``, shared with node 0006.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

from alembic import op

from shared.storage import shared_tables_ddl

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    shared_tables_ddl.add_account_revision(op)


def downgrade() -> None:
    shared_tables_ddl.drop_account_revision(op)
