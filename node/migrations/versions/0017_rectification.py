"""差评整改 on the window projection: a bad rating's rectification status, department, due
and answer times and call-back outcome, with the index the list of open rectifications reads

The DDL is ``shared.deciding.projection_ddl.add_rectification_columns``, shared by hub 0016
and node 0017. Rows projected before stay null until their case's next change.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 17:50:00
"""

from __future__ import annotations

from alembic import op

from shared.deciding import projection_ddl

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    projection_ddl.add_rectification_columns(op, "node_window_cases")


def downgrade() -> None:
    projection_ddl.drop_rectification_columns(op, "node_window_cases")
