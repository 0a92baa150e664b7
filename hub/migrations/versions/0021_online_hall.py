"""the online service hall (网上服务大厅): applicants' accounts by the blind index of their
phone, the one-time codes texted to them, and the cases each account submitted

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_online_accounts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("phone_index", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("identity", sa.LargeBinary(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "hub_online_codes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("phone_index", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_hub_online_codes_phone", "hub_online_codes",
                    ["phone_index", "created_ms"])
    op.create_table(
        "hub_online_cases",
        sa.Column("case_id", sa.Uuid(), primary_key=True),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("query_code", sa.LargeBinary(), nullable=False),
        sa.Column("submitted_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_hub_online_cases_account_id", "hub_online_cases", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_hub_online_cases_account_id", table_name="hub_online_cases")
    op.drop_table("hub_online_cases")
    op.drop_index("ix_hub_online_codes_phone", table_name="hub_online_codes")
    op.drop_table("hub_online_codes")
    op.drop_table("hub_online_accounts")
