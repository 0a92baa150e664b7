"""The id of a case a site is about to open, derived from the registration's place in the
site's chain (``sync_protocol.case_id_for``), so the wire can name the case by that key."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from shared.storage.sync_store import next_counter
from sync_protocol import case_id_for


def reserve_case_id(session: Session, origin: str, epoch: int) -> uuid.UUID:
    """The id of the case the next event of chain ``(origin, epoch)`` will open.

    Reading the chain counter with a step of 0 takes its row lock (the same upsert
    ``sync_store.author_events`` uses), so no other author can take that seq before this
    transaction authors the registration or rolls back."""
    last = next_counter(session, f"chain:{origin}:{epoch}", 0)
    return case_id_for(origin, epoch, last + 1)
