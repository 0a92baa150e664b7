"""the hub's receipts for this node's chain, kept whole (time, key and signature) as each
case's proof of arrival

Until now a node kept only how far the receipts reached (a ``receipt:<origin>:<epoch>`` row
of ``sync_state``); that row is dropped, and the receipts that arrive from now on are kept.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 13:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "node_hub_receipts",
        sa.Column("origin", sa.String(32), primary_key=True),
        sa.Column("epoch", sa.Integer, primary_key=True),
        sa.Column("through_seq", sa.BigInteger, primary_key=True),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("key_id", sa.LargeBinary(8), nullable=False),
        sa.Column("signature", sa.LargeBinary(64), nullable=False),
    )
    op.execute("DELETE FROM sync_state WHERE key LIKE 'receipt:%'")


def downgrade() -> None:
    op.drop_table("node_hub_receipts")
