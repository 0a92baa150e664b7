"""the city hall: bookings (网上预约) and queue tickets (排队取号)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "hub_hall_bookings",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(12), nullable=False),
        sa.Column("target_kind", sa.String(10), nullable=False),
        sa.Column("target", sa.String(20), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("slot_ms", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("phone", sa.String(11), nullable=False),
        sa.Column("item_code", sa.String(40), nullable=True),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("cancelled_ms", sa.BigInteger(), nullable=True),
        sa.UniqueConstraint("code"),
    )
    op.create_index("ix_hub_hall_bookings_target", "hub_hall_bookings",
                    ["target", "day", "slot_ms"])
    op.create_index("ix_hub_hall_bookings_phone", "hub_hall_bookings", ["phone", "state"])
    op.create_table(
        "hub_hall_tickets",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("token", sa.String(24), nullable=False),
        sa.Column("area", sa.String(4), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(8), nullable=False),
        sa.Column("taken_ms", sa.BigInteger(), nullable=False),
        sa.Column("booking_id", sa.BigInteger(), nullable=True),
        sa.Column("due_ms", sa.BigInteger(), nullable=True),
        sa.Column("wanted_window", sa.String(20), nullable=True),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("window", sa.String(20), nullable=True),
        sa.Column("called_by", sa.String(64), nullable=True),
        sa.Column("called_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_call_ms", sa.BigInteger(), nullable=True),
        sa.Column("recalls", sa.Integer(), nullable=False),
        sa.Column("waited_ms", sa.BigInteger(), nullable=True),
        sa.Column("finished_ms", sa.BigInteger(), nullable=True),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.UniqueConstraint("token"),
        sa.UniqueConstraint("booking_id"),
        sa.UniqueConstraint("area", "day", "number", name="uq_hub_hall_ticket"),
    )
    op.create_index("ix_hub_hall_tickets_queue", "hub_hall_tickets", ["area", "day", "state"])
    op.create_index("ix_hub_hall_tickets_called", "hub_hall_tickets", ["called_ms"])


def downgrade() -> None:
    op.drop_index("ix_hub_hall_tickets_called", "hub_hall_tickets")
    op.drop_index("ix_hub_hall_tickets_queue", "hub_hall_tickets")
    op.drop_table("hub_hall_tickets")
    op.drop_index("ix_hub_hall_bookings_phone", "hub_hall_bookings")
    op.drop_index("ix_hub_hall_bookings_target", "hub_hall_bookings")
    op.drop_table("hub_hall_bookings")
