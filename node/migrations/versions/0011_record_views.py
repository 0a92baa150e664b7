"""the audit log of full-record views by staff (who, when, which case, why)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 00:40:00
"""

from __future__ import annotations

from alembic import op

from shared.storage import record_views_ddl

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    record_views_ddl.create(op)


def downgrade() -> None:
    record_views_ddl.drop(op)
