"""A village station's copy of its bookings, read from the hub, for when the link is down:
one row per day, the list sealed with the data key

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 23:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "node_station_booking_copies",
        sa.Column("station", sa.String(length=20), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("as_of", sa.DateTime(), nullable=False),
        sa.Column("answered_by", sa.String(length=20), nullable=False),
        sa.Column("bookings_sealed", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("station", "day",
                                name=op.f("pk_node_station_booking_copies")),
    )


def downgrade() -> None:
    op.drop_table("node_station_booking_copies")
