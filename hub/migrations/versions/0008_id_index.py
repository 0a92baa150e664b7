"""personal information: the blind index of ID numbers, the log of access requests and the
archived (read-only) cases

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-04 23:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_id_index",
        sa.Column("blind_index", sa.String(64), primary_key=True),
        sa.Column("case_id", sa.Uuid(), primary_key=True),
    )
    op.create_index("ix_hub_id_index_case_id", "hub_id_index", ["case_id"])
    op.create_table(
        "hub_access_requests",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("asked_ms", sa.BigInteger(), nullable=False),
        sa.Column("asked_by", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("blind_index", sa.String(64), nullable=False),
        sa.Column("cases_found", sa.Integer(), nullable=False),
    )
    op.create_table(
        "hub_archived_cases",
        sa.Column("case_id", sa.Uuid(), primary_key=True),
        sa.Column("archived_ms", sa.BigInteger(), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("hub_archived_cases")
    op.drop_table("hub_access_requests")
    op.drop_index("ix_hub_id_index_case_id", table_name="hub_id_index")
    op.drop_table("hub_id_index")
