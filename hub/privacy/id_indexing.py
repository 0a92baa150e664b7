"""Filling the blind index of ID numbers (:mod:`shared.storage.id_index`) at the hub.

Every case reaches the hub through one hook (:meth:`hub.ingest.HubHooks.events_arrived`),
whether a village sent it up or the city's front desk registered it: the hook hands the
registrations and corrections it stored to :func:`index_events`, in the same transaction, so
an indexed case and its events are committed together. :func:`reindex_all` rebuilds the
index from every case held (``sanji hub reindex-ids``, and after the data key is rotated).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.privacy.tables import HubIdIndex
from shared.storage import sync_store
from shared.storage.bulk_insert import OnConflict, insert_rows
from shared.storage.id_index import id_numbers_of, indexes_of
from shared.storage.sealing import DataKeys
from sync_protocol import Event

INDEXED_TYPES = frozenset({"registered", "registration_corrected"})
"""The event types that may carry an applicant's ID numbers."""
REINDEX_CHUNK = 500


def numbers_in(event_type: str, payload: Mapping[str, Any]) -> set[str]:
    """The ID numbers an event's payload names (a correction may change the applicant)."""
    if event_type == "registered":
        return id_numbers_of(payload.get("applicant"))
    if event_type == "registration_corrected":
        changes = payload.get("changes")
        if isinstance(changes, Mapping):
            return id_numbers_of(changes.get("applicant"))
    return set()


def index_events(session: Session, keys: DataKeys, events: Sequence[Event]) -> int:
    """Index the ID numbers of the arrived ``events``; the number of index rows offered."""
    rows = [{"blind_index": index, "case_id": event.case_id}
            for event in events if event.type in INDEXED_TYPES
            for index in indexes_of(keys, numbers_in(event.type, event.payload))]
    _write(session, rows)
    return len(rows)


def _write(session: Session, rows: list[dict[str, Any]]) -> None:
    unique = list({(r["blind_index"], r["case_id"]): r for r in rows}.values())
    if unique:
        insert_rows(session, HubIdIndex.__table__, unique,  # type: ignore[arg-type]
                    on_conflict=OnConflict(("blind_index", "case_id"), ()))


def reindex_all(session: Session, keys: DataKeys, sealer: sync_store.PayloadSealer) -> int:
    """Rebuild the whole index from the registrations and corrections held; the number of
    cases indexed. Only those events' payloads are opened, one case at a time."""
    session.execute(delete(HubIdIndex))
    cases: set[uuid.UUID] = set()
    ids = list(session.scalars(select(sync_store.SyncEvent.id)
                               .where(sync_store.SyncEvent.type.in_(INDEXED_TYPES))
                               .order_by(sync_store.SyncEvent.id)))
    for start in range(0, len(ids), REINDEX_CHUNK):
        rows = []
        for row in session.scalars(select(sync_store.SyncEvent).where(
                sync_store.SyncEvent.id.in_(ids[start:start + REINDEX_CHUNK]))):
            payload = sync_store.open_payload(row, sealer)
            for index in indexes_of(keys, numbers_in(row.type, payload)):
                rows.append({"blind_index": index, "case_id": row.case_id})
                cases.add(row.case_id)
        _write(session, rows)
        session.expunge_all()
    return len(cases)


def cases_of(session: Session, indexes: Sequence[str]) -> list[uuid.UUID]:
    """The cases indexed under any of ``indexes``."""
    return list(session.scalars(select(HubIdIndex.case_id).distinct()
                                .where(HubIdIndex.blind_index.in_(indexes))))


def backfill_if_empty(session: Session, keys: DataKeys, sealer: sync_store.PayloadSealer
                      ) -> int | None:
    """Build the index when it is empty but registrations are held (a hub upgraded from a
    release without it); the number of cases indexed, None when nothing was to do."""
    if session.scalar(select(HubIdIndex.case_id).limit(1)) is not None:
        return None
    if session.scalar(select(sync_store.SyncEvent.id)
                      .where(sync_store.SyncEvent.type == "registered").limit(1)) is None:
        return None
    return reindex_all(session, keys, sealer)
