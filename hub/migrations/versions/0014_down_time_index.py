"""when each queued copy was made: an index of the downward streams, so an erasure finds the
copies of its case's events by the times they were stored

The DDL is ``shared.storage.shared_tables_ddl.add_down_time_index``, shared by hub 0014 and
node 0015.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 07:25:00
"""

from __future__ import annotations

from alembic import op

from shared.storage import shared_tables_ddl

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    shared_tables_ddl.add_down_time_index(op)


def downgrade() -> None:
    shared_tables_ddl.drop_down_time_index(op)
