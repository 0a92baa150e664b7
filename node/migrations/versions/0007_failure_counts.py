"""failure counts: failed logins, kept across the node's restarts

The DDL is ``shared.storage.shared_tables_ddl.create_failure_table``, shared with hub 0005.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 20:00:00
"""

from __future__ import annotations

from alembic import op

from shared.storage import shared_tables_ddl

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    shared_tables_ddl.create_failure_table(op)


def downgrade() -> None:
    shared_tables_ddl.drop_failure_table(op)
