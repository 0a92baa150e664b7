"""drop hub_sites.last_contact_ms

Nothing wrote the column: a child's last contact is kept with its link state
(``shared.exchange.status.child_info``), which the sites page reads.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 11:12:40.118204
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hub_sites", schema=None) as batch_op:
        batch_op.drop_column("last_contact_ms")


def downgrade() -> None:
    with op.batch_alter_table("hub_sites", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_contact_ms", sa.BigInteger(), nullable=True))
