"""the city hall's bookings keep the citizen's name and phone sealed (``personal``) and the
phone as a blind index (``phone_index``) instead of in clear

No migration holds the data key, so the upgrade moves each name and phone into ``personal``
in clear (JSON) and the hub seals them, and indexes the phone, when it next starts
(:func:`hub.hall_models.seal_clear_bookings`). The downgrade puts them back in clear: a value
still in clear goes back as it is; sealed ones need the data keys, given to the downgrade
as ``config.attributes["data_keys"]`` (without them it refuses, changing nothing).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 01:00:00
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

_BOOKINGS = sa.table("hub_hall_bookings", sa.column("id", sa.BigInteger()),
                     sa.column("name", sa.String(64)), sa.column("phone", sa.String(11)),
                     sa.column("personal", sa.LargeBinary()),
                     sa.column("phone_index", sa.String(64)))


def upgrade() -> None:
    with op.batch_alter_table("hub_hall_bookings") as batch:
        batch.add_column(sa.Column("personal", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("phone_index", sa.String(64), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.select(_BOOKINGS.c.id, _BOOKINGS.c.name, _BOOKINGS.c.phone)
                        .where(_BOOKINGS.c.phone != "")).all()
    for booking_id, name, phone in rows:
        clear = json.dumps({"name": name, "phone": phone}, ensure_ascii=False,
                           separators=(",", ":")).encode("utf-8")
        bind.execute(sa.update(_BOOKINGS).where(_BOOKINGS.c.id == booking_id)
                     .values(personal=clear))
    op.drop_index("ix_hub_hall_bookings_phone", table_name="hub_hall_bookings")
    with op.batch_alter_table("hub_hall_bookings") as batch:
        batch.drop_column("name")
        batch.drop_column("phone")
    op.create_index("ix_hub_hall_bookings_phone", "hub_hall_bookings",
                    ["phone_index", "state"])


def downgrade() -> None:
    from hub.hall_models import SealedBookingDetails
    from shared.storage.sealing import is_sealed_payload

    bind = op.get_bind()
    rows = bind.execute(sa.select(_BOOKINGS.c.id, _BOOKINGS.c.personal)
                        .where(_BOOKINGS.c.personal.is_not(None))).all()
    config = op.get_context().config
    keys = config.attributes.get("data_keys") if config is not None and rows else None
    clear: list[tuple[int, str, str]] = []
    for booking_id, stored in rows:
        stored = bytes(stored)
        if is_sealed_payload(stored):
            if keys is None:
                raise RuntimeError("hub_hall_bookings holds sealed names and phones: "
                                   "downgrade with the hub's data keys given as "
                                   "config.attributes['data_keys']")
            found = SealedBookingDetails(keys).open(stored, f"hall-booking:{booking_id}")
        else:
            found = json.loads(stored)
        clear.append((booking_id, str(found.get("name", "")), str(found.get("phone", ""))))
    op.drop_index("ix_hub_hall_bookings_phone", table_name="hub_hall_bookings")
    with op.batch_alter_table("hub_hall_bookings") as batch:
        batch.add_column(sa.Column("name", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("phone", sa.String(11), nullable=False, server_default=""))
    for booking_id, name, phone in clear:
        bind.execute(sa.update(_BOOKINGS).where(_BOOKINGS.c.id == booking_id)
                     .values(name=name, phone=phone))
    with op.batch_alter_table("hub_hall_bookings") as batch:
        batch.drop_column("personal")
        batch.drop_column("phone_index")
    op.create_index("ix_hub_hall_bookings_phone", "hub_hall_bookings", ["phone", "state"])
