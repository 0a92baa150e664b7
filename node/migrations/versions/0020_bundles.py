"""一件事: the parent a part belongs to, on the window projection and the node's own cases

The DDL is ``shared.deciding.projection_ddl.add_bundle_columns``, shared by hub 0019 and
node 0020. Cases registered before belong to no parent.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 21:20:00
"""

from __future__ import annotations

from alembic import op

from shared.deciding import projection_ddl

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    projection_ddl.add_bundle_columns(op, "node_window_cases")
    projection_ddl.add_bundle_columns(op, "node_cases")


def downgrade() -> None:
    projection_ddl.drop_bundle_columns(op, "node_cases")
    projection_ddl.drop_bundle_columns(op, "node_window_cases")
