"""What ``sanji node rotate-key`` does: a new site key, handed the old one's authority.

The rotation (signed by the old key) goes into the key's chain file and into the node's
credentials, marked for the parent: the next exchange carries it up, the parent adopts it
before it checks the request (signed by the new key already) and hands it on to the hub,
which hands it down with the node's events to every site that checks them. From the
parent's adoption on, the old key authenticates no exchange; the events it signed before
stay valid everywhere. The old private key is not kept: nothing needs it any more.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from node.enrolment_setup import SITE_KEY_FILE
from node.settings import NodeSettings
from shared.exchange.key_rotation import Rotated, record_rotation, rotate_key_file
from shared.storage.db import make_engine


def rotate_node_key(settings: NodeSettings, now: datetime) -> tuple[Rotated, int]:
    """Rotate the node's key; returns what changed and how many credentials were queued for
    the parent (0 when a rotation interrupted earlier was completed and already queued)."""
    rotated = rotate_key_file(settings.key_dir / SITE_KEY_FILE, settings.site_code, now)
    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as session:
            queued = record_rotation(session, rotated.added, forward=True)
            session.commit()
    finally:
        engine.dispose()
    return rotated, queued
