"""consultations and complaints (咨询投诉): the hub's ledger of them

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 21:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_consultations",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("log_id", sa.Uuid(), nullable=False),
        sa.Column("origin", sa.String(15), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("acceptance_no", sa.String(40), nullable=True),
        sa.Column("item_code", sa.String(40), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("department", sa.String(40), nullable=False),
        sa.Column("recorded_ms", sa.BigInteger(), nullable=False),
        sa.Column("due_ms", sa.BigInteger(), nullable=False),
        sa.Column("answered_ms", sa.BigInteger(), nullable=True),
        sa.Column("answered_by", sa.String(80), nullable=True),
    )
    op.create_index("ix_hub_consultations_department", "hub_consultations",
                    ["department", "recorded_ms"])
    op.create_index("ix_hub_consultations_case", "hub_consultations", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_hub_consultations_case", table_name="hub_consultations")
    op.drop_index("ix_hub_consultations_department", table_name="hub_consultations")
    op.drop_table("hub_consultations")
