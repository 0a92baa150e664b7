"""supervision columns on the window projection: the live deadlines, the clock's pause,
the dates reports count, when the law's timer comes due, the standing urge and the
gravest signal, with the indexes the supervision scan, the timers and the reports read

Rows projected before stay null until their case's next change.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 05:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TABLE = "hub_cases"
_TIMES = ("legal_due_ms", "warn_ms", "next_signal_ms", "timer_ms", "accepted_ms",
          "decided_ms", "closed_ms", "urged_ms", "signal_ms")


def upgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        for name in _TIMES:
            batch.add_column(sa.Column(name, sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("paused", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("rating", sa.String(24), nullable=True))
        batch.add_column(sa.Column("signal", sa.String(16), nullable=True))
        batch.add_column(sa.Column("pending_departments", sa.String(400), nullable=True))
    op.create_index(f"ix_{TABLE}_next_signal", TABLE, ["owner_site", "next_signal_ms"],
                    postgresql_where=sa.text("open = 1 AND paused = 0"),
                    sqlite_where=sa.text("open = 1 AND paused = 0"))
    op.create_index(f"ix_{TABLE}_timer", TABLE, ["owner_site", "timer_ms"],
                    postgresql_where=sa.text("open = 1"), sqlite_where=sa.text("open = 1"))
    op.create_index(f"ix_{TABLE}_co_approval", TABLE, ["owner_site"],
                    postgresql_where=sa.text("pending_departments IS NOT NULL"),
                    sqlite_where=sa.text("pending_departments IS NOT NULL"))
    op.create_index(f"ix_{TABLE}_registered", TABLE, ["owner_site", "registered_ms"])
    op.create_index(f"ix_{TABLE}_decided", TABLE, ["owner_site", "decided_ms"])


def downgrade() -> None:
    for name in ("next_signal", "timer", "co_approval", "registered", "decided"):
        op.drop_index(f"ix_{TABLE}_{name}", TABLE)
    with op.batch_alter_table(TABLE) as batch:
        for name in (*_TIMES, "paused", "rating", "signal", "pending_departments"):
            batch.drop_column(name)
