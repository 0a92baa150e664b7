"""the signals of electronic supervision: one row per ``signalled`` or ``urged`` event of a
case the site decides or watches, for the supervisor's list and the counts per window

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TABLE = "hub_case_signals"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("origin", sa.String(15), primary_key=True),
        sa.Column("epoch", sa.Integer(), primary_key=True),
        sa.Column("seq", sa.BigInteger(), primary_key=True),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("owner_site", sa.String(15), nullable=False),
        sa.Column("window", sa.String(40), nullable=False),
        sa.Column("acceptance_no", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(2000), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
    )
    op.create_index(f"ix_{TABLE}_case_id", TABLE, ["case_id"])
    op.create_index(f"ix_{TABLE}_site_at", TABLE, ["owner_site", "at_ms"])


def downgrade() -> None:
    op.drop_table(TABLE)
