"""failure counts: failed logins and lookups, seen by every hub process

The DDL is ``shared.storage.shared_tables_ddl.create_failure_table``, shared with node 0007.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 20:00:00
"""

from __future__ import annotations

from alembic import op

from shared.storage import shared_tables_ddl

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    shared_tables_ddl.create_failure_table(op)


def downgrade() -> None:
    shared_tables_ddl.drop_failure_table(op)
