"""the catalogue release each case was accepted under, on the window projection

Null for a case projected before (its next change fills it); read as the oldest release
held (``shared.domain.catalogue_versions``). Which releases open cases use decides which
kept releases may be pruned (``node.catalogue_store``).

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-04 23:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("node_window_cases",
                  sa.Column("catalogue_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("node_window_cases") as batch:
        batch.drop_column("catalogue_version")
