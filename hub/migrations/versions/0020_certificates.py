"""the certificate store (证照库): what each person holds by the blind index of their ID
number, the materials registrations took from it, and the log of look-ups

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_certificates",
        sa.Column("ref", sa.String(32), primary_key=True),
        sa.Column("blind_index", sa.String(64), nullable=False),
        sa.Column("material_code", sa.String(32), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("valid_until_ms", sa.BigInteger(), nullable=True),
        sa.Column("recorded_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_hub_certificates_holder", "hub_certificates",
                    ["blind_index", "material_code"])
    op.create_index("ix_hub_certificates_case_id", "hub_certificates", ["case_id"])
    op.create_table(
        "hub_material_reuses",
        sa.Column("case_id", sa.Uuid(), primary_key=True),
        sa.Column("material_code", sa.String(32), primary_key=True),
        sa.Column("ref", sa.String(64), nullable=False),
        sa.Column("trusted", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(20), nullable=True),
        sa.Column("recorded_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "hub_certificate_queries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("asked_ms", sa.BigInteger(), nullable=False),
        sa.Column("asked_by", sa.String(200), nullable=False),
        sa.Column("item_code", sa.String(40), nullable=False),
        sa.Column("blind_index", sa.String(64), nullable=False),
        sa.Column("found", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("hub_certificate_queries")
    op.drop_table("hub_material_reuses")
    op.drop_index("ix_hub_certificates_case_id", table_name="hub_certificates")
    op.drop_index("ix_hub_certificates_holder", table_name="hub_certificates")
    op.drop_table("hub_certificates")
