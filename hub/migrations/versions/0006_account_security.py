"""account security: sealed one-time-code secrets, codes taken once, token generations

The DDL is ``shared.storage.shared_tables_ddl.add_account_security``, shared with node 0008.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 21:00:00
"""

from __future__ import annotations

from alembic import op

from shared.storage import shared_tables_ddl

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    shared_tables_ddl.add_account_security(op)


def downgrade() -> None:
    shared_tables_ddl.drop_account_security(op)
