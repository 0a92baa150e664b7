"""Scans follow their events (decision 5: metadata first, scans after).

Once the parent has acknowledged the events that reference a scan, the child offers it; the
parent wants what it lacks from the offset it already holds; the child sends chunks within a
byte budget per exchange (:class:`~shared.exchange.site.BlobSettings`). A relay keeps what it
receives and offers it upward in turn. Files live in the site's
:class:`~shared.storage.blob_store.BlobStore`; what the site knows of each is a
``sync_state`` row (:class:`~shared.storage.sync_store.BlobRecord`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from shared.exchange.site import LOG, BlobSettings
from shared.exchange.status import link_rate
from shared.storage import sync_store as store
from shared.storage.blob_store import BlobOutOfPlace, BlobStore, is_sha256_hex
from sync_protocol import (
    BlobChunk,
    BlobMismatch,
    BlobOffer,
    BlobProgress,
    BlobWant,
    Event,
)
from sync_protocol.blobs import MAX_BLOB

SCAN_SECONDS = 4.0
"""Link time one request may spend on scans: a registration waits at most this long."""
FIRST_SCAN_BYTES = 32 << 10
MIN_SCAN_BYTES = 8 << 10


def blob_refs(payload: Mapping[str, Any]) -> list[tuple[str, int, str]]:
    """The scans an event names, as (sha256 hex, size, media type): a ``registered`` event
    lists them under ``materials``, a ``material_added`` event is one. Any map holding a
    SHA-256 and a size counts, so a new event type that carries scans needs nothing here."""
    found: dict[str, tuple[str, int, str]] = {}

    def visit(value: object, depth: int) -> None:
        if depth > 4:
            return
        if isinstance(value, Mapping):
            sha, size = value.get("sha256"), value.get("size")
            if (isinstance(sha, str) and is_sha256_hex(sha) and isinstance(size, int)
                    and not isinstance(size, bool) and 0 < size <= MAX_BLOB):
                found.setdefault(sha, (sha, size, str(value.get("media_type") or "")))
            children: Iterable[object] = value.values()
        elif isinstance(value, list):
            children = value
        else:
            return
        for child in children:
            if isinstance(child, Mapping | list):
                visit(child, depth + 1)

    visit(payload, 0)
    return list(found.values())


def note_blobs(session: Session, blobs: BlobStore, events: Iterable[Event], *, owed: bool,
               now_ms: int) -> int:
    """Remember the scans ``events`` reference. ``owed``: the parent has acknowledged those
    events, so it should hold the scans too; a scan it was found to hold is asked about
    again (it costs one offer, and a parent restored from a backup gets it back). Returns
    how many became owed."""
    refs: dict[str, tuple[int, str]] = {}
    cases: set[tuple[str, uuid.UUID]] = set()
    for event in events:
        for sha, size, media_type in blob_refs(event.payload):
            refs.setdefault(sha, (size, media_type))
            cases.add((sha, event.case_id))
    if not refs:
        return 0
    store.note_blob_cases(session, cases)
    held = {sha: blobs.has(sha) for sha in refs}  # one look at the disk per scan
    new = [store.BlobRecord(sha, size, media_type,
                            state=store.BLOB_OWED if owed else store.BLOB_NOT_OWED,
                            held=held[sha], noted_ms=now_ms)
           for sha, (size, media_type) in refs.items()]
    inserted = store.add_blob_records(session, new)  # most scans are new: one statement
    became = len(inserted) if owed else 0
    known = store.blob_records_of(session, [sha for sha in refs if sha not in inserted])
    for sha in refs:
        record = known.get(sha)
        if record is None or record.state == store.BLOB_ERASED:
            continue
        changed = False
        if not record.held and held[sha]:
            record.held = changed = True
        if owed and record.state != store.BLOB_OWED:
            record.state, record.want, record.done_ms = store.BLOB_OWED, None, None
            changed = True
            became += 1
        if changed:
            store.save_blob_record(session, record)
    return became


def _mark_held(session: Session, record: store.BlobRecord) -> None:
    if not record.held:
        record.held = True
        store.save_blob_record(session, record)


def _trimmed(chunk: BlobChunk, held: int) -> BlobChunk:
    """The part of ``chunk`` beyond what is held (a resent chunk that overlaps the end)."""
    if chunk.offset < held < chunk.offset + len(chunk.data):
        return BlobChunk(chunk.sha256, held, chunk.data[held - chunk.offset:])
    return chunk


def receive_blobs(session: Session, blobs: BlobStore, offers: Sequence[BlobOffer],
                  chunks: Sequence[BlobChunk]) -> list[BlobWant]:
    """The parent's side: keep the chunks (flushed to disk), finish and verify what is
    complete, and want each offered or unfinished blob from the offset held.

    Only blobs named by events this site holds are wanted, at the size those events give:
    a child cannot park arbitrary bytes here. A chunk that does not continue what is held
    is not an error worth refusing the whole request for (its events are good): the want
    tells the child where to resume."""
    wants: dict[bytes, BlobWant] = {}
    for offer in offers:
        sha = offer.sha256.hex()
        record = store.blob_record(session, sha)
        if record is None or record.state == store.BLOB_ERASED or record.size != offer.size:
            LOG.warning("blob offer ignored", extra={"fields": {
                "sha256": sha, "size": offer.size, "reason": _unwanted(record)}})
            continue
        if blobs.has(sha):
            _mark_held(session, record)
            continue
        if blobs.received(sha) > record.size:
            blobs.discard(sha)
        wants[offer.sha256] = BlobWant(offer.sha256, blobs.received(sha))
    by_blob: dict[bytes, list[BlobChunk]] = {}
    for chunk in chunks:
        by_blob.setdefault(chunk.sha256, []).append(chunk)
    for name, parts in by_blob.items():
        sha = name.hex()
        record = store.blob_record(session, sha)
        if record is None or record.state == store.BLOB_ERASED:  # erased with its case
            continue
        if blobs.has(sha):
            wants.pop(name, None)
            _mark_held(session, record)
            continue
        progress = BlobProgress(name, record.size, min(blobs.received(sha), record.size))
        for chunk in sorted(parts, key=lambda c: c.offset):
            piece = _trimmed(chunk, progress.received)
            try:
                after = progress.accept(piece)
            except BlobMismatch:
                break
            if after.received > progress.received:
                try:
                    blobs.append(sha, piece.offset, piece.data)
                except BlobOutOfPlace as exc:  # another process moved it: answer where it is
                    LOG.warning("blob chunk not kept", extra={"fields": {
                        "sha256": sha, "error": str(exc)}})
                    break
            progress = after
        if progress.complete:
            if blobs.finish(sha):
                wants.pop(name, None)
                _mark_held(session, record)
                continue
            LOG.warning("blob discarded", extra={"fields": {
                "sha256": sha, "reason": "the bytes received do not hash to its name"}})
        wants[name] = BlobWant(name, min(blobs.received(sha), record.size))
    return list(wants.values())


def _unwanted(record: store.BlobRecord | None) -> str:
    if record is None:
        return "no event here names it"
    return "erased with its case" if record.state == store.BLOB_ERASED else "size differs"


@dataclass
class BlobPlan:
    """What one request carries of the scans: offers, chunks, and the records they belong to."""

    offers: list[BlobOffer] = field(default_factory=list)
    chunks: list[BlobChunk] = field(default_factory=list)
    named: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(len(c.data) for c in self.chunks)


def paced_budget(session: Session, settings: BlobSettings) -> int:
    """Scan bytes for the next request: what the link carries in ``SCAN_SECONDS`` at its
    measured rate, within ``settings.budget``.

    Events never wait behind scans: a registration made while a scan moves goes up with
    the next exchange, so no exchange may hold the line for long. Before the rate is known
    the first request carries ``FIRST_SCAN_BYTES`` (4 s at 64 kbit/s)."""
    if not settings.paced:
        return settings.budget
    rate = link_rate(session)
    paced = FIRST_SCAN_BYTES if rate is None else int(rate * SCAN_SECONDS)
    return max(1, min(settings.budget, max(MIN_SCAN_BYTES, paced)))


def plan_blobs(session: Session, blobs: BlobStore, settings: BlobSettings,
               budget: int | None = None) -> BlobPlan:
    """The child's side before a request: offer owed scans the parent has not answered
    about yet, and send what it wants, oldest first, within the byte budget
    (``settings.budget`` unless ``budget`` is given). Reads only."""
    plan = BlobPlan()
    budget = settings.budget if budget is None else budget
    for record in store.blob_records(session, store.BLOB_OWED):
        sha = record.sha256
        if not record.held and not blobs.has(sha):
            continue  # a relay still receiving it from below
        if record.want is None or record.want >= record.size:
            if len(plan.offers) >= settings.max_offers:
                continue
            if not blobs.verify(sha):
                plan.broken.append(sha)
                continue
            plan.offers.append(BlobOffer(bytes.fromhex(sha), record.size))
            plan.named.append(sha)
            continue
        if budget <= 0:
            continue
        offset = record.want
        data = blobs.read_range(sha, offset, min(budget, record.size - offset))
        for start in range(0, len(data), settings.chunk_size):
            plan.chunks.append(BlobChunk(bytes.fromhex(sha), offset + start,
                                         data[start:start + settings.chunk_size]))
        budget -= len(data)
        plan.named.append(sha)
    return plan


def reoffer_after_restore(session: Session) -> int:
    """A parent restored from a backup may have lost scans it held whole while still
    holding their events (the backup was taken mid-transfer): nothing would ever send
    them again. After a complete answer (the parent's epoch changed) every scan this site
    counted as delivered is offered again; the parent wants only what it lacks, so a scan
    it still holds costs one offer (~40 B). Returns how many were re-opened."""
    done = store.blob_records(session, store.BLOB_DONE)
    for record in done:
        record.state = store.BLOB_OWED
        record.want = None
        store.save_blob_record(session, record)
    return len(done)


def apply_wants(session: Session, plan: BlobPlan, wants: Sequence[BlobWant],
                now_ms: int) -> bool:
    """The child's side after the answer: a blob the request named and the parent does not
    want is held there whole; the others resume from the offset wanted. True when anything
    moved (so another exchange is worth it)."""
    wanted = {w.sha256.hex(): w.offset for w in wants}
    sent: dict[str, int] = {}
    for chunk in plan.chunks:
        sent[chunk.sha256.hex()] = sent.get(chunk.sha256.hex(), 0) + len(chunk.data)
    moved = False
    for sha in plan.named:
        record = store.blob_record(session, sha)
        if record is None or record.state != store.BLOB_OWED:
            continue
        before = record.want
        record.held = True
        record.sent += sent.get(sha, 0)
        if sha in wanted:
            record.want = max(0, min(wanted[sha], record.size))
        else:
            record.state, record.want, record.done_ms = store.BLOB_DONE, None, now_ms
        moved = moved or record.want != before or record.state == store.BLOB_DONE
        store.save_blob_record(session, record)
    for sha in plan.broken:
        record = store.blob_record(session, sha)
        if record is not None and record.state == store.BLOB_OWED:
            LOG.error("blob not sent", extra={"fields": {
                "sha256": sha, "reason": "the file here does not hash to its name"}})
            record.state = store.BLOB_BROKEN
            store.save_blob_record(session, record)
    return moved


def blobs_to_move(session: Session, blobs: BlobStore) -> bool:
    """Whether an owed scan this site holds is still to be offered or sent."""
    return any(r.held or blobs.has(r.sha256)
               for r in store.blob_records(session, store.BLOB_OWED))
