"""以票控费 on the window projection: the fees assessed and what was paid, in fen

The DDL is ``shared.deciding.projection_ddl.add_fee_columns``, shared by hub 0018 and
node 0019. Rows projected before stay null until their case's next change.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 18:10:00
"""

from __future__ import annotations

from alembic import op

from shared.deciding import projection_ddl

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    projection_ddl.add_fee_columns(op, "hub_cases")


def downgrade() -> None:
    projection_ddl.drop_fee_columns(op, "hub_cases")
