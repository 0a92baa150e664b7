"""The hub's certificate store (证照库, docs/certificates.md): what each person holds,
filled from the cases' logs, asked by ID number, and checked when a registration names one.

Every case reaches the hub through one hook (:meth:`hub.ingest.HubHooks.events_arrived`),
which hands the stored events to :func:`record_events` in the same transaction: the
holdings a case's log gives (:func:`shared.domain.certificates.holdings_of`) are written
under the blind index of the holder's ID number (never the number), and each material a
registration took from the store by reference is checked against it and recorded as trusted
or not (a case is never refused for it: the window asks for an untrusted one on paper).
:func:`rebuild_all` writes the store again from every case held, under the current data key
(``sanji hub reindex-ids``, and after the data key is rotated); the references stay the same.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from hub.models import HubCase, HubMaterialReuse
from hub.privacy.tables import HubCertificate, HubCertificateQuery
from shared.deciding.case_work import many_case_events, sealed_case_events
from shared.domain.case_events import CaseEvent, EventType
from shared.domain.catalogue import Catalogue
from shared.domain.certificates import (
    Holding,
    holder_number,
    holdings_of,
    is_valid,
    reuses_of,
    untrusted_reason,
)
from shared.domain.errors import NotFound
from shared.storage import sync_store
from shared.storage.bulk_insert import OnConflict, insert_rows
from shared.storage.id_index import blind_index, blind_indexes
from shared.storage.sealing import DataKeys
from sync_protocol import Event
from sync_protocol.times import from_ms, to_ms

REBUILD_CHUNK = 200


def _holding_rows(keys: DataKeys, holdings: Sequence[Holding]) -> list[dict[str, Any]]:
    return [{"ref": h.ref, "blind_index": blind_index(keys, h.id_number),
             "material_code": h.material_code, "case_id": uuid.UUID(h.case_id),
             "source": h.source, "digest": h.digest, "valid_until_ms": h.valid_until_ms,
             "recorded_ms": h.recorded_ms} for h in holdings]


def _write_holdings(session: Session, rows: list[dict[str, Any]]) -> None:
    unique = list({r["ref"]: r for r in rows}.values())
    if unique:
        insert_rows(session, HubCertificate.__table__, unique,  # type: ignore[arg-type]
                    on_conflict=OnConflict(("ref",), ()))


def record_events(session: Session, keys: DataKeys, catalogue: Catalogue,
                  sealer: sync_store.PayloadSealer, events: Sequence[Event], *,
                  logs: Mapping[uuid.UUID, list[CaseEvent]] | None = None,
                  items: Mapping[uuid.UUID, str] | None = None) -> int:
    """Fill the store from the arrived ``events`` and check the references their
    registrations carry; the number of holdings offered. ``logs``: the touched cases' logs
    when the caller read them already (:func:`many_case_events` of ``events``, this
    transaction's events included); ``items``: the item of the cases just projected."""
    touched = _may_give(session, catalogue, events, items or {})
    if not touched:
        return 0
    if logs is None:
        logs = many_case_events(session, sealer, [e for e in events if e.case_id in touched])
    holdings = [h for case_id in touched for h in holdings_of(logs.get(case_id, []), catalogue)]
    _write_holdings(session, _holding_rows(keys, holdings))
    for event in events:
        if event.type == "registered":
            _check_reuses(session, keys, catalogue, event.case_id, event.payload,
                          to_ms(event.at))
    return len(holdings)


def _may_give(session: Session, catalogue: Catalogue, events: Sequence[Event],
              projected: Mapping[uuid.UUID, str]) -> set[uuid.UUID]:
    """The cases whose arrived events may give someone a holding: each registration, and a
    late scan or an issued result only of an item that keeps that scan or issues a
    certificate (read from the projection, so most results open no log; ``projected``:
    the items of the cases projected in this transaction, not read again)."""
    touched = {e.case_id for e in events if e.type == "registered"}
    later = {e.case_id for e in events
             if e.type in ("material_added", "result_issued") and e.case_id not in touched}
    if not later:
        return touched
    items = {case_id: projected[case_id] for case_id in later if case_id in projected}
    unknown = later - items.keys()
    if unknown:
        items.update(session.execute(select(HubCase.case_id, HubCase.item_code)
                                     .where(HubCase.case_id.in_(unknown))).tuples().all())
    for event in events:
        if event.case_id not in later:
            continue
        try:
            item = catalogue.item(items.get(event.case_id, ""))
        except NotFound:
            continue
        if event.type == "result_issued" and item.issues is not None:
            touched.add(event.case_id)
        elif event.type == "material_added":
            material = item.material(str(event.payload.get("code", "")))
            if material is not None and material.reusable:
                touched.add(event.case_id)
    return touched


def _check_reuses(session: Session, keys: DataKeys, catalogue: Catalogue,
                  case_id: uuid.UUID, payload: Any, at_ms: int) -> None:
    reuses = reuses_of(payload)
    if not reuses:
        return
    number = holder_number(payload.get("applicant"))
    indexes = set(blind_indexes(keys, number)) if number else set()
    try:
        item = catalogue.item(str(payload.get("item_code")))
    except NotFound:
        item = None
    rows = []
    for reuse in reuses:
        held = session.get(HubCertificate, reuse.ref) if len(reuse.ref) <= 32 else None
        reason = untrusted_reason(
            reuse, item, held.material_code if held else None,
            held is not None and held.blind_index in indexes,
            held.valid_until_ms if held else None, at_ms)
        rows.append({"case_id": case_id, "material_code": reuse.material_code,
                     "ref": reuse.ref[:64], "trusted": int(reason is None), "reason": reason,
                     "recorded_ms": at_ms})
    unique = list({r["material_code"]: r for r in rows}.values())
    insert_rows(session, HubMaterialReuse.__table__, unique,  # type: ignore[arg-type]
                on_conflict=OnConflict(("case_id", "material_code"), ()))


@dataclass(frozen=True, slots=True)
class Held:
    """One material of an item a person holds and may reuse today."""

    material_code: str
    ref: str
    source: str
    valid_until: datetime | None
    recorded_at: datetime


def held_for(session: Session, keys: DataKeys, catalogue: Catalogue, id_number: str,
             item_code: str, *, asked_by: str, now: datetime) -> list[Held]:
    """The materials of ``item_code`` the holder of ``id_number`` holds and that are valid
    ``now`` (the one with the longest validity per material); the look-up is logged by its
    blind index, in this transaction. :class:`NotFound` for an unknown item."""
    item = catalogue.item(item_code)
    codes = [m.code for m in item.materials]
    now_ms = to_ms(now)
    rows = session.scalars(select(HubCertificate).where(
        HubCertificate.blind_index.in_(blind_indexes(keys, id_number)),
        HubCertificate.material_code.in_(codes))).all()
    best: dict[str, HubCertificate] = {}
    for row in rows:
        if not is_valid(row.valid_until_ms, now_ms):
            continue
        kept = best.get(row.material_code)
        if kept is None or _rank(row) > _rank(kept):
            best[row.material_code] = row
    found = [Held(code, hit.ref, hit.source,
                  from_ms(hit.valid_until_ms) if hit.valid_until_ms is not None else None,
                  from_ms(hit.recorded_ms))
             for code in codes if (hit := best.get(code)) is not None]
    session.add(HubCertificateQuery(asked_ms=now_ms, asked_by=asked_by[:200],
                                    item_code=item_code[:40],
                                    blind_index=blind_index(keys, id_number), found=len(found)))
    return found


def _rank(row: HubCertificate) -> tuple[int, int]:
    return (row.valid_until_ms if row.valid_until_ms is not None else 2**62, row.recorded_ms)


def reuses_of_case(session: Session, case_id: uuid.UUID) -> list[HubMaterialReuse]:
    """The materials the case took from the store, as checked at ingest."""
    return list(session.scalars(select(HubMaterialReuse).where(
        HubMaterialReuse.case_id == case_id).order_by(HubMaterialReuse.material_code)))


def rebuild_all(session: Session, keys: DataKeys, catalogue: Catalogue,
                sealer: sync_store.PayloadSealer) -> int:
    """Write the store again from every case held (its references unchanged); the number
    of holdings written. One case's log is opened at a time."""
    session.execute(delete(HubCertificate))
    case_ids = list(session.scalars(
        select(sync_store.SyncEvent.case_id).distinct()
        .where(sync_store.SyncEvent.type == EventType.REGISTERED.value)))
    written = 0
    for start in range(0, len(case_ids), REBUILD_CHUNK):
        holdings: list[Holding] = []
        for case_id in case_ids[start:start + REBUILD_CHUNK]:
            log: list[CaseEvent] = sealed_case_events(session, sealer, case_id)
            holdings += holdings_of(log, catalogue)
        _write_holdings(session, _holding_rows(keys, holdings))
        written += len(holdings)
        session.expunge_all()
    return written


def count_queries(session: Session) -> int:
    """How many look-ups the log holds."""
    return int(session.scalar(select(func.count()).select_from(HubCertificateQuery)) or 0)


def reuse_checks(session: Session, case_id: uuid.UUID) -> dict[str, str | None]:
    """What the store found of each material the case took from it: None when trusted,
    else why not (the window's case page shows it; :class:`WindowContext.reuse_checks`)."""
    return {r.material_code: None if r.trusted else (r.reason or "untrusted")
            for r in reuses_of_case(session, case_id)}
