"""Erasing a case's personal data when its retention period is over (PIPL art. 47).

The hub records the erasure as an event of the case (``erased``, with the reason and the
policy applied), authored by the hub like its other events and sent down the tree as they
are. Then, in the same transaction, it deletes what it holds of the person:

- every stored payload of the case is replaced by :func:`shared.domain.retention.erased_payload`
  of it, sealed again: the registration keeps its acceptance number, item, kind and window,
  other events lose the keys that may name a person; each event's header (origin, epoch,
  seq, actor, time, type), its ``prev_hash``, ``hash`` and signature stay as they were, so the
  chain still links and the case still folds to the same states, dates and outcome;
- the copies of its events queued for the hub's children are rewritten likewise, those
  still on their way once acknowledged (:func:`shared.storage.case_erasure.erase_down_copies`);
- the case's scans are deleted from ``blobs/`` (a scan another live case of the same person
  also lists is kept for that case) and marked erased, so a child's later upload of one is
  refused;
- its rows in the blind index, and its archive file (the archive mark stays: the case stays
  read-only).

Events of an erased case that come up again later (a child re-sending after a restore, a
hand-back) are erased as they arrive (:func:`erase_again`), so the exchange does not bring
the data back.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from hub.models import HubCase
from hub.privacy.archive import archive_path
from hub.privacy.id_indexing import numbers_in
from hub.privacy.tables import HubCertificate, HubIdIndex
from shared.deciding import case_projection, case_work
from shared.domain.case_events import CaseEvent, EventActor, EventDraft, EventType, Role
from shared.domain.case_state import fold
from shared.domain.retention import DAYS_PER_YEAR, ERASED_REASON, RetentionPolicy
from shared.exchange.site import SyncSite, blob_store_of
from shared.exchange.status import child_ack
from shared.storage import case_erasure, sync_store
from shared.storage.blob_store import BlobStore
from shared.storage.id_index import indexes_of
from shared.storage.sealing import DataKeys
from sync_protocol import Event
from sync_protocol.times import from_ms, to_ms

ERASED = EventType.ERASED.value


@dataclass(frozen=True, slots=True)
class Erasure:
    """A case erased in a transaction, and the files to delete once it is committed."""

    case_id: uuid.UUID
    policy: str
    files: tuple[Path, ...]

    def remove_files(self) -> None:
        """Delete the scans and archive (after the commit: a rolled-back erasure keeps them
        for the next run)."""
        for path in self.files:
            path.unlink(missing_ok=True)


def erased_cases(session: Session, case_ids: Sequence[uuid.UUID] | None = None
                 ) -> set[uuid.UUID]:
    """The cases (among ``case_ids``, or all) whose erasure the hub holds."""
    return case_erasure.erased_cases(session, case_ids)


def expired(session: Session, site: SyncSite, policy: RetentionPolicy, now: datetime
            ) -> list[uuid.UUID]:
    """Closed cases whose retention period is over and that are not erased yet."""
    def closed_before(years: int) -> Any:
        return HubCase.updated_ms < to_ms(now - timedelta(days=years * DAYS_PER_YEAR))

    # narrowed by the projection before any case is folded: a withdrawn case by its own
    # period, a decided one by the shorter of approval's and rejection's, an item with a
    # period of its own by that
    years = policy.case_years
    decided = min(years.get("approved", 1), years.get("rejected", 1))
    items = dict(policy.item_years)
    candidates = list(session.scalars(
        select(HubCase.case_id).where(HubCase.open == 0, or_(
            and_(HubCase.item_code.not_in(items), HubCase.state == "withdrawn",
                 closed_before(years.get("withdrawn", 1))),
            and_(HubCase.item_code.not_in(items), HubCase.state != "withdrawn",
                 closed_before(decided)),
            *[and_(HubCase.item_code == code, closed_before(n)) for code, n in items.items()],
        ))))
    done = erased_cases(session, candidates)
    due: list[uuid.UUID] = []
    for case_id in candidates:
        if case_id in done:
            continue
        row = session.get(HubCase, case_id)
        state = fold(case_work.case_events(session, site, case_id))
        outcome = state.outcome.value if state.outcome else None
        until = policy.case_kept_until(row.item_code if row else "", outcome,
                                       from_ms(row.updated_ms) if row else None)
        if until is not None and until <= now:
            due.append(case_id)
    return due


def erase_case(session: Session, site: SyncSite, keys: DataKeys, blobs: BlobStore,
               data_dir: Path, policy: RetentionPolicy, case_id: uuid.UUID,
               now: datetime) -> Erasure:
    """Record the erasure of ``case_id`` and erase its personal data in the database (in the
    caller's transaction); :meth:`Erasure.remove_files` deletes its files after the commit."""
    row = session.get(HubCase, case_id)
    events = case_work.case_events(session, site, case_id)
    state = fold(events)
    outcome = state.outcome.value if state.outcome else "unknown"
    item_code = row.item_code if row is not None else (state.item_code or "")
    period = policy.case_period(item_code, outcome).days // 365
    rule = f"{item_code} {outcome}: {period} years"
    draft = EventDraft(EventType.ERASED, EventActor(case_work.SYSTEM_USER, Role.SYSTEM), now,
                       {"reason": ERASED_REASON, "policy": rule})
    case_work.append_drafts(session, site, case_id, [draft], now,
                            state.origin_site or (row.origin if row else None))
    scans = _scans_of(events) - _scans_still_needed(session, site, keys, events, case_id)
    rows = sync_store.case_rows(session, case_id)
    case_erasure.erase_payloads(session, site.sealer, rows)
    # the copies the children already received; the ``erased`` event follows the others
    case_erasure.erase_down_copies(session, lambda child: child_ack(session, child),
                                   {case_id: [r.recorded_ms for r in rows]})
    case_erasure.forget_scans(session, None, scans)  # never wanted from below again
    session.execute(delete(HubIdIndex).where(HubIdIndex.case_id == case_id))
    # what the case gave its holder in the certificate store goes with it
    session.execute(delete(HubCertificate).where(HubCertificate.case_id == case_id))
    if row is not None:
        case_projection.refresh(session, HubCase, site, case_id, row.owner_site, now)
    files = [p for sha256 in sorted(scans) for p in (blobs.path(sha256),
                                                      blobs.part_path(sha256))]
    return Erasure(case_id, rule, (*files, archive_path(data_dir, case_id)))


def erase_expired(factory: Any, site: SyncSite, keys: DataKeys, blobs: BlobStore,
                  data_dir: Path, policy: RetentionPolicy, now: datetime) -> list[Erasure]:
    """Erase every case whose retention period is over, one transaction each."""
    with factory() as session:
        due = expired(session, site, policy, now)
    done: list[Erasure] = []
    for case_id in due:
        with factory() as session:
            if erased_cases(session, [case_id]):  # another process was first
                continue
            erasure = erase_case(session, site, keys, blobs, data_dir, policy, case_id, now)
            session.commit()
        erasure.remove_files()
        done.append(erasure)
    return done


def erase_again(session: Session, site: SyncSite, events: Sequence[Event],
                keys: DataKeys | None = None, *,
                erased: Collection[uuid.UUID] | None = None) -> int:
    """Erase the payloads of ``events`` (just stored) that belong to an erased case, and of
    every event of a case whose erasure by this hub is among them (handed back to a hub
    restored from a backup older than it); the scans they name are forgotten and their
    files deleted after the commit (those another live case of the same person lists, found
    through the blind index with ``keys``, are kept). The number of payloads erased.
    ``erased``: the erased cases among the events', when the caller read their logs already
    (not looked up again)."""
    if not events:
        return 0
    erased = (set(erased) if erased is not None
              else erased_cases(session, list({e.case_id for e in events})))
    arrived = {(e.origin, e.epoch, e.seq) for e in events if e.case_id in erased}
    whole = {e.case_id for e in events if e.type == ERASED and e.origin == site.code}
    if not arrived:
        return 0
    needed: set[str] = set()
    rows = []
    for case_id in sorted(erased):
        if keys is not None:
            needed |= _scans_still_needed(session, site, keys,
                                          case_work.case_events(session, site, case_id),
                                          case_id)
        rows += [r for r in sync_store.case_rows(session, case_id)
                 if case_id in whole or (r.origin, r.epoch, r.seq) in arrived]
    scans = case_erasure.erase_payloads(session, site.sealer, rows)
    case_erasure.forget_scans(session, blob_store_of(session, site), scans - needed)
    session.execute(delete(HubIdIndex).where(HubIdIndex.case_id.in_(erased)))
    session.execute(delete(HubCertificate).where(HubCertificate.case_id.in_(erased)))
    return len(rows)


def _scans_of(events: Sequence[CaseEvent]) -> set[str]:
    return case_erasure.scans_named(event.payload for event in events)


def _scans_still_needed(session: Session, site: SyncSite, keys: DataKeys,
                        events: Sequence[CaseEvent], case_id: uuid.UUID) -> set[str]:
    """Scans of the same person's other cases, not erased (content-addressed: one file)."""
    numbers: set[str] = set()
    for event in events:
        numbers |= numbers_in(event.type.value, event.payload)
    if not numbers:
        return set()
    others = set(session.scalars(select(HubIdIndex.case_id).where(
        HubIdIndex.blind_index.in_(indexes_of(keys, numbers)),
        HubIdIndex.case_id != case_id)))
    others -= erased_cases(session, list(others))
    needed: set[str] = set()
    for other in others:
        needed |= _scans_of(case_work.case_events(session, site, other))
    return needed
