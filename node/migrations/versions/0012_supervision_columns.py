"""supervision columns on the window projection: the live deadlines, the clock's pause,
the dates reports count, when the law's timer comes due, the standing urge, the gravest
signal and the departments yet to co-approve, with the indexes that read them

The DDL is ``shared.deciding.projection_ddl.add_supervision_columns``, shared by hub 0011
and node 0012. Rows projected before stay null until their case's next change.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 05:20:00
"""

from __future__ import annotations

from alembic import op

from shared.deciding import projection_ddl

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    projection_ddl.add_supervision_columns(op, "node_window_cases")


def downgrade() -> None:
    projection_ddl.drop_supervision_columns(op, "node_window_cases")
