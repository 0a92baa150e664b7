"""who acted and when: an index of the event store for the life-long trace (终身追溯)

The DDL is ``shared.storage.shared_tables_ddl.add_actor_index``, shared by hub 0013 and
node 0014.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 05:40:00
"""

from __future__ import annotations

from alembic import op

from shared.storage import shared_tables_ddl

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    shared_tables_ddl.add_actor_index(op)


def downgrade() -> None:
    shared_tables_ddl.drop_actor_index(op)
