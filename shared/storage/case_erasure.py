"""Erasing one case's personal data from a site's store, the same at the hub and below it
(PIPL art. 47).

The hub decides an erasure and records it as an ``erased`` event of the case; every site
that holds the case (the hub, and each township, county and village on its way) then
replaces the stored payloads with :func:`shared.domain.retention.erased_payload` of them,
rewrites the queued copies its children already received (those still on their way as soon
as they are acknowledged: the child checks a copy against its hash), forgets the case's
scans (a scan another live case still lists is kept: the store is content-addressed) and
deletes their files once the transaction is committed, so a rolled-back erasure keeps them
for the next try.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import cbor2
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from shared.domain.retention import erased_payload
from shared.storage import sync_store
from shared.storage.blob_store import BlobStore, is_sha256_hex
from sync_protocol import Event, LinkPosition
from sync_protocol.payload_digest import is_erased

ERASED = "erased"
_FILES = "sanji.erased_files"
_LISTENING = "sanji.erasure_listening"


def erased_cases(session: Session, case_ids: Iterable[uuid.UUID] | None = None, *,
                 by: str | None = None) -> set[uuid.UUID]:
    """The cases (among ``case_ids``, or all) whose ``erased`` event this site holds;
    ``by``: only an erasure authored by that site (below the hub: the pinned hub, so no
    other site can erase a case)."""
    query = select(sync_store.SyncEvent.case_id).where(sync_store.SyncEvent.type == ERASED)
    if by is not None:
        query = query.where(sync_store.SyncEvent.origin == by)
    if case_ids is not None:
        query = query.where(sync_store.SyncEvent.case_id.in_(list(case_ids)))
    return set(session.scalars(query))


def erase_payloads(session: Session, sealer: sync_store.PayloadSealer,
                   rows: Sequence[sync_store.SyncEvent]) -> set[str]:
    """Replace the stored payload of each of ``rows`` with its erased form, sealed again;
    returns the scans the payloads named before (those already erased name none)."""
    scans: set[str] = set()
    for stored in rows:
        if stored.type == ERASED:
            continue
        context = sync_store.event_context(stored.origin, stored.epoch, stored.seq)
        payload = sync_store.open_payload(stored, sealer)
        if is_erased(payload):
            continue
        scans |= scans_named([payload])
        stored.payload = sealer.seal(erased_payload(stored.type, payload), context)
    session.flush()
    return scans


def erased_copy(item: Event, case_ids: set[uuid.UUID]) -> Event | None:
    """``item`` with its payload erased, when it is an event of one of ``case_ids`` that
    still carries one (None: leave it as it is)."""
    if item.case_id not in case_ids or item.type == ERASED or is_erased(item.payload):
        return None
    return replace(item, payload=erased_payload(item.type, item.payload))


PENDING_DOWN = "erasure_pending_down"
"""Erased cases with copies still on their way to a child: case id -> the times its events
were stored here (their copies are rewritten as they are acknowledged)."""


def erase_down_copies(session: Session, delivered: Callable[[str], LinkPosition],
                      cases: Mapping[uuid.UUID, Sequence[int]] | None = None, *,
                      pending_record: bytes | None = b"", read: bool = True) -> int:
    """Rewrite the copies of the erased ``cases`` (case id -> the times its events were
    stored here) that the children already received, and those of earlier erasures that
    were still on their way; remember what is still waiting. Returns the copies rewritten.
    ``read=False``: the caller read the record of those on their way (:data:`PENDING_DOWN`)
    in this transaction already, ``pending_record`` (None: not held)."""
    waiting_before = _decoded(pending_record) if not read else _pending(session)
    if not cases and not waiting_before:
        return 0  # the common case: one read, no lock
    # locked from here to the commit: another process erasing or answering a child at the
    # same time must not write back an older list
    pending = _pending(session, lock=True)
    if not pending and not cases:
        return 0
    todo = {**pending, **{k: sorted(set(v)) for k, v in (cases or {}).items()}}
    rewritten, waiting = 0, {}
    for case_id, made_ms in sorted(todo.items()):
        done, left = sync_store.rewrite_delivered_down(
            session, made_ms, delivered, partial(erased_copy, case_ids={case_id}))
        rewritten += done
        if left:
            waiting[case_id] = made_ms
    if waiting != pending:
        sync_store.write_state(session, PENDING_DOWN, cbor2.dumps(
            {k.bytes: v for k, v in waiting.items()}, canonical=True))
    return rewritten


def _pending(session: Session, *, lock: bool = False) -> dict[uuid.UUID, list[int]]:
    return _decoded(sync_store.read_state(session, PENDING_DOWN, lock=lock))


def _decoded(held: bytes | None) -> dict[uuid.UUID, list[int]]:
    return {uuid.UUID(bytes=bytes(k)): [int(t) for t in v]
            for k, v in (cbor2.loads(held) if held else {}).items()}


def scans_named(payloads: Iterable[Mapping[str, Any]]) -> set[str]:
    """The scans (SHA-256 hex) the payloads list: a registration under ``materials``, a
    material event as itself."""
    found: set[str] = set()
    for payload in payloads:
        listed = payload.get("materials")
        for material in [*(listed if isinstance(listed, list) else []), payload]:
            sha = material.get("sha256") if isinstance(material, Mapping) else None
            if isinstance(sha, str) and is_sha256_hex(sha):
                found.add(sha)
    return found


def forget_scans(session: Session, blobs: BlobStore | None, shas: Iterable[str]) -> None:
    """Mark the scans erased (never offered up nor wanted from below again) and delete their
    files, whole or in part, after the commit."""
    shas = sorted(set(shas))
    if not shas:
        return
    known = sync_store.blob_records_of(session, shas)
    for sha in shas:
        record = known.get(sha)
        if record is None:
            sync_store.add_blob_records(session, [sync_store.BlobRecord(
                sha, 0, state=sync_store.BLOB_ERASED)])
            continue
        record.state, record.held, record.want = sync_store.BLOB_ERASED, False, None
        sync_store.save_blob_record(session, record)
    if blobs is not None:
        remove_after_commit(session, [p for sha in shas
                                      for p in (blobs.path(sha), blobs.part_path(sha))])


def erased_scans(session: Session, shas: Iterable[str]) -> set[str]:
    """Which of ``shas`` were erased here."""
    return {sha for sha, r in sync_store.blob_records_of(session, shas).items()
            if r.state == sync_store.BLOB_ERASED}


def remove_after_commit(session: Session, paths: Iterable[Path]) -> None:
    """Delete ``paths`` once the session's transaction commits (forgotten on a rollback)."""
    if not session.info.get(_LISTENING):
        event.listen(session, "after_commit", _remove_files)
        event.listen(session, "after_rollback", _forget_files)
        session.info[_LISTENING] = True
    session.info.setdefault(_FILES, []).extend(paths)


def _remove_files(session: Session) -> None:
    for path in session.info.pop(_FILES, None) or []:
        path.unlink(missing_ok=True)


def _forget_files(session: Session) -> None:
    session.info.pop(_FILES, None)
