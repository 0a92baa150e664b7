"""The hub's epoch: which run of its own chain and of its downward streams it writes.

A hub restored from an older backup has forgotten the events it authored and the items it
queued down after the backup, and what its children acknowledged since. Writing on in the
same epoch would author different events under sequence numbers its children already hold
(a fork) and tell the children nothing. ``sanji hub init --new-epoch`` after the restore
starts the next epoch: the hub's chain and its downward positions start afresh there, and
every child, seeing a parent epoch it has not seen, gets the complete watermarks and sends
again what the copy lacks (docs/protocol.md §15).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.storage import sync_store

EPOCH_KEY = "hub_epoch"


def hub_epoch(session: Session) -> int:
    """The epoch the hub writes in: 1 until a restore starts a new one."""
    value = sync_store.read_state(session, EPOCH_KEY)
    return int(value.decode()) if value else 1


def start_new_epoch(session: Session, site_code: str) -> int:
    """Move to an epoch above every one this store has written in; not committed."""
    held = max(
        hub_epoch(session),
        int(session.scalar(select(func.max(sync_store.SyncEvent.epoch))
                           .where(sync_store.SyncEvent.origin == site_code)) or 0),
        int(session.scalar(select(func.max(sync_store.SyncDown.link_epoch))) or 0),
    )
    sync_store.write_state(session, EPOCH_KEY, str(held + 1).encode())
    return held + 1
