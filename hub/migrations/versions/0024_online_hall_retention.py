"""the online hall's retention: when each account last signed in, and when each draft was
last saved (drafts kept before this revision start their period at the upgrade)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 00:00:00
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

_DRAFT = "online_draft:"


def upgrade() -> None:
    with op.batch_alter_table("hub_online_accounts") as batch:
        batch.add_column(sa.Column("signed_in_ms", sa.BigInteger(), nullable=True))
    drafts = op.create_table(
        "hub_online_drafts",
        sa.Column("account_id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(40), primary_key=True),
        sa.Column("touched_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_hub_online_drafts_touched", "hub_online_drafts", ["touched_ms"])
    # the drafts already kept (``online_draft:<account>:<code>``): their period starts now
    state = sa.table("sync_state", sa.column("key", sa.String(80)))
    keys = op.get_bind().execute(
        sa.select(state.c.key).where(state.c.key.like(f"{_DRAFT}%"))).scalars().all()
    now_ms = int(time.time() * 1000)
    rows = []
    for key in keys:
        account, _, code = key.removeprefix(_DRAFT).partition(":")
        if account.isdigit() and code:
            rows.append({"account_id": int(account), "code": code, "touched_ms": now_ms})
    if rows:
        op.bulk_insert(drafts, rows)


def downgrade() -> None:
    op.drop_index("ix_hub_online_drafts_touched", table_name="hub_online_drafts")
    op.drop_table("hub_online_drafts")
    with op.batch_alter_table("hub_online_accounts") as batch:
        batch.drop_column("signed_in_ms")
