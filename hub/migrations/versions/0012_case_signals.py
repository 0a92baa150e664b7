"""the signals of electronic supervision: one row per ``signalled`` or ``urged`` event of a
case the site decides or watches, for the supervisor's list and the counts per window

The DDL is ``shared.deciding.projection_ddl.create_signal_table``, shared by hub 0012 and
node 0013.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 05:30:00
"""

from __future__ import annotations

from alembic import op

from shared.deciding import projection_ddl

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    projection_ddl.create_signal_table(op, "hub_case_signals")


def downgrade() -> None:
    op.drop_table("hub_case_signals")
