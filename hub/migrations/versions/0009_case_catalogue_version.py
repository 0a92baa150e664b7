"""the catalogue release each case was accepted under, on the window projection

Null for a case projected before (its next change fills it); read as the oldest release
held (``shared.domain.catalogue_versions``).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 23:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("hub_cases", sa.Column("catalogue_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hub_cases") as batch:
        batch.drop_column("catalogue_version")
