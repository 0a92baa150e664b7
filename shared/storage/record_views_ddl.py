"""The DDL of ``record_views`` as hub revision 0010 and node revision 0011 build it (frozen:
a later change is a new function and new revisions)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


def create(op: Any) -> None:
    op.create_table(
        "record_views",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("site", sa.String(15), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("note", sa.String(200), nullable=False),
        sa.Column("endpoint", sa.String(80), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
    )
    op.create_index("ix_record_views_case", "record_views", ["case_id", "at_ms"])
    op.create_index("ix_record_views_user", "record_views", ["username", "at_ms"])
    op.create_index("ix_record_views_at", "record_views", ["at_ms"])


def drop(op: Any) -> None:
    op.drop_table("record_views")
