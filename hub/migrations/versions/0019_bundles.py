"""一件事 on the window projection: the parent a part belongs to and its composite

The DDL is ``shared.deciding.projection_ddl.add_bundle_columns``, shared by hub 0019 and
node 0020. Cases projected before belong to no parent.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 21:20:00
"""

from __future__ import annotations

from alembic import op

from shared.deciding import projection_ddl

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    projection_ddl.add_bundle_columns(op, "hub_cases")


def downgrade() -> None:
    projection_ddl.drop_bundle_columns(op, "hub_cases")
