"""node tables

Revision ID: 0001
Revises:
Create Date: 2026-11-24 00:11:20.844603
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "node_cases",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("acceptance_no", sa.String(length=40), nullable=False),
        sa.Column("query_code_hash", sa.String(length=64), nullable=False),
        sa.Column("query_code_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("site_code", sa.String(length=12), nullable=False),
        sa.Column("item_code", sa.String(length=40), nullable=False),
        sa.Column("catalogue_version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("window", sa.String(length=40), nullable=False),
        sa.Column("delivery", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=30), nullable=False),
        sa.Column("stage", sa.String(length=30), nullable=False),
        sa.Column("applicant_kind", sa.String(length=10), nullable=False),
        sa.Column("applicant_masked", sa.String(length=200), nullable=False),
        sa.Column("applicant_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("form_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("registered_by", sa.String(length=80), nullable=False),
        sa.Column("registered_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_node_cases")),
        sa.UniqueConstraint("acceptance_no", name=op.f("uq_node_cases_acceptance_no")),
    )
    with op.batch_alter_table("node_cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_node_cases_item_code"), ["item_code"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_node_cases_registered_at"), ["registered_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_node_cases_stage"), ["stage"], unique=False)

    op.create_table(
        "node_meta",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_node_meta")),
    )
    op.create_table(
        "node_sequences",
        sa.Column("scope", sa.String(length=80), nullable=False),
        sa.Column("last_value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_node_sequences")),
    )
    op.create_table(
        "node_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("origin", sa.String(length=12), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("payload_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["node_cases.case_id"], name=op.f("fk_node_events_case_id_node_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_node_events")),
        sa.UniqueConstraint("origin", "epoch", "seq", name=op.f("uq_node_events_origin")),
    )
    with op.batch_alter_table("node_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_node_events_case_id"), ["case_id"], unique=False)

    op.create_table(
        "node_idempotency",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["node_cases.case_id"], name=op.f("fk_node_idempotency_case_id_node_cases")
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_node_idempotency")),
    )
    op.create_table(
        "node_materials",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("material_code", sa.String(length=40), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(length=40), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["node_cases.case_id"], name=op.f("fk_node_materials_case_id_node_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_node_materials")),
        sa.UniqueConstraint(
            "case_id", "material_code", "sha256", name=op.f("uq_node_materials_case_id")
        ),
    )
    with op.batch_alter_table("node_materials", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_node_materials_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_node_materials_sha256"), ["sha256"], unique=False)

    op.create_table(
        "node_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("destination", sa.String(length=20), nullable=False),
        sa.Column("enqueued_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("acked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"], ["node_events.id"], name=op.f("fk_node_outbox_event_id_node_events")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_node_outbox")),
        sa.UniqueConstraint("event_id", name=op.f("uq_node_outbox_event_id")),
    )
    with op.batch_alter_table("node_outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_node_outbox_pending", ["destination", "acked_at", "id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("node_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_node_outbox_pending")

    op.drop_table("node_outbox")
    with op.batch_alter_table("node_materials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_node_materials_sha256"))
        batch_op.drop_index(batch_op.f("ix_node_materials_case_id"))

    op.drop_table("node_materials")
    op.drop_table("node_idempotency")
    with op.batch_alter_table("node_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_node_events_case_id"))

    op.drop_table("node_events")
    op.drop_table("node_sequences")
    op.drop_table("node_meta")
    with op.batch_alter_table("node_cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_node_cases_stage"))
        batch_op.drop_index(batch_op.f("ix_node_cases_registered_at"))
        batch_op.drop_index(batch_op.f("ix_node_cases_item_code"))

    op.drop_table("node_cases")
