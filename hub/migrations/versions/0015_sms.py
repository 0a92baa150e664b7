"""text messages to citizens: one row per notified event, sent with retries

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 13:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_sms",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Uuid, nullable=False),
        sa.Column("origin", sa.String(15), nullable=False),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("event_type", sa.String(40), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_ms", sa.BigInteger, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("sent_ms", sa.BigInteger, nullable=True),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.UniqueConstraint("origin", "epoch", "seq", name="uq_hub_sms_event"),
    )
    op.create_index("ix_hub_sms_due", "hub_sms", ["state", "next_ms"])


def downgrade() -> None:
    op.drop_index("ix_hub_sms_due", table_name="hub_sms")
    op.drop_table("hub_sms")
