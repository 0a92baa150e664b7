"""The exchange glue every site runs around :mod:`sync_protocol`: storage in, storage out.

:func:`answer_child` is the parent's side of one exchange (the HTTP endpoint calls it) and
:func:`sync_with_parent` the child's (the sync job and ``sync-now`` call it). Both follow the
library's rule that acks follow storage: what arrived is committed before the answer that
acknowledges it is sent, and the child's down ack moves only in the transaction that stores
the down items. A site relays: what comes from a child goes up (if the site has a parent),
what comes down goes on toward the child on the way to the case's origin. The root (the hub)
answers every chain it stores with a signed receipt.

The domain reacts through :class:`SyncHooks` inside the same transactions: the hub routes new
cases, a township routes the cases of its own windows, a village refreshes its case list.

Scans follow their events (decision 5: metadata first, scans after). Once the parent has
acknowledged the events that reference a scan, the child offers it; the parent wants what it
lacks from the offset it already holds; the child sends chunks within a byte budget per
exchange (:class:`BlobSettings`). A relay keeps what it receives and offers it upward in
turn. Files live in the site's :class:`~shared.blob_store.BlobStore`; what the site knows of
each is a ``sync_state`` row (:class:`~shared.sync_store.BlobRecord`).
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

import cbor2
import requests
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from shared import sync_store as store
from shared.account_events import account_destination
from shared.blob_store import BlobOutOfPlace, BlobStore, is_sha256_hex
from shared.link_state import (
    child_link_record,
    load_child_link,
    load_parent_link,
    save_child_link,
    save_parent_link,
)
from sync_protocol import (
    BlobChunk,
    BlobMismatch,
    BlobOffer,
    BlobProgress,
    BlobWant,
    Certificate,
    ChildExchange,
    Credential,
    DownItem,
    Event,
    EventKey,
    LinkPosition,
    LocalProtocolError,
    ParentExchange,
    ProtocolError,
    Receipt,
    Refused,
    Release,
    SiteKey,
    WrongAddress,
    issue_receipt,
    request_sender,
)
from sync_protocol.batching import MIN_BATCH
from sync_protocol.blobs import CHUNK_SIZE, MAX_BLOB
from sync_protocol.compression import ZSTD_LEVEL_LARGE
from sync_protocol.credentials import credential_from_wire
from sync_protocol.times import to_ms

LOG = logging.getLogger("sanji.sync")
EXCHANGE_PATH = "/api/v1/sync/exchange"
CONTENT_TYPE = "application/vnd.sanji.frame"
DOWN_LIMIT = 500
WIRE_VERSION = 1
STATUS_KEY = "status"


class SyncHooks(Protocol):
    """What the domain does with what the sync layer stored (inside its transaction)."""

    def events_arrived(self, session: Session, events: Sequence[Event], now: datetime) -> None:
        """New events from a child or the parent, in chain order."""

    def receipts_arrived(self, session: Session, receipts: Sequence[Receipt],
                         now: datetime) -> None:
        """Receipts from the parent ("received by the city")."""

    def releases_arrived(self, session: Session, releases: Sequence[Release],
                         now: datetime) -> None:
        """Releases accepted from the parent (catalogue, calendar, revocations)."""

    def cases_acked(self, session: Session, case_ids: set[uuid.UUID], now: datetime) -> None:
        """The parent now holds events of these cases."""


class NoHooks:
    """A pure relay: store and forward, nothing else."""

    def events_arrived(self, session: Session, events: Sequence[Event], now: datetime) -> None:
        return None

    def receipts_arrived(self, session: Session, receipts: Sequence[Receipt],
                         now: datetime) -> None:
        return None

    def releases_arrived(self, session: Session, releases: Sequence[Release],
                         now: datetime) -> None:
        return None

    def cases_acked(self, session: Session, case_ids: set[uuid.UUID], now: datetime) -> None:
        return None


BLOB_BUDGET = 256 << 10
"""Scan bytes per exchange: 32 s at 64 kbit/s, so a cut loses at most one such exchange."""
MAX_BLOB_BUDGET = 2 << 20  # whatever the setting says, a request stays far below the frame limit
BLOB_BUDGET_ENV = "SANJI_SYNC_BLOB_BUDGET"


@dataclass(frozen=True, slots=True)
class BlobSettings:
    """How scans travel up: at most ``budget`` bytes of chunks per exchange, in chunks of
    ``chunk_size``, and at most ``max_offers`` offers per request.

    ``SANJI_SYNC_BLOB_BUDGET`` (bytes) overrides the budget, for a line slower than 64 kbit/s
    or to force a transfer over several exchanges in a test; it is read here and nowhere else.
    """

    budget: int = BLOB_BUDGET
    chunk_size: int = CHUNK_SIZE
    max_offers: int = 64

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BlobSettings:
        env = os.environ if environ is None else environ
        raw = env.get(BLOB_BUDGET_ENV, "").strip()
        if not raw:
            return cls()
        try:
            budget = int(raw)
        except ValueError:
            # a typo must not stop intake (every site object is built from this): say so
            LOG.warning("blob budget ignored", extra={"fields": {
                "variable": BLOB_BUDGET_ENV, "value": raw[:40], "using": BLOB_BUDGET}})
            return cls()
        return cls(budget=max(1, min(budget, MAX_BLOB_BUDGET)))


@dataclass
class SyncSite:
    """Who this site is in the tree, for the exchange glue."""

    key: SiteKey
    hub_site: str
    hub_public_raw: bytes
    sealer: store.PayloadSealer
    epoch: int = 1
    parent: str | None = None
    parent_url: str | None = None
    own_credentials: tuple[Credential, ...] = ()
    hooks: SyncHooks = field(default_factory=NoHooks)
    root: bool = False  # the top hub: nothing goes further up, it issues receipts
    releases: Callable[[Session, datetime], list[Release]] | None = None
    """What to pass down; default: the newest release of each kind this site holds."""
    blobs: BlobStore | None = None
    """Where this site's scans are; None: the store the app attached to its database
    engine with :func:`use_blob_store` (no store at all: scans do not travel)."""
    blob_settings: BlobSettings = field(default_factory=BlobSettings.from_env)

    @property
    def code(self) -> str:
        return self.key.site

    @property
    def is_root(self) -> bool:
        return self.root


def _now_ms(now: datetime) -> int:
    return to_ms(now)


_BLOB_STORES: weakref.WeakKeyDictionary[Engine, BlobStore] = weakref.WeakKeyDictionary()


def use_blob_store(engine: Engine, store: BlobStore) -> None:
    """Attach the site's blob store to its database engine. The app factories do it (through
    :func:`shared.blob_views.blob_blueprint`), so the exchange endpoint, the sync job and
    ``sync-now`` find the scans of the site whose database they use."""
    _BLOB_STORES[engine] = store


def blob_store_of(session: Session, site: SyncSite) -> BlobStore | None:
    """The site's blob store: its own field, else the one attached to the session's engine."""
    if site.blobs is not None:
        return site.blobs
    return _BLOB_STORES.get(session.get_bind().engine)


# -- the tree below this site ------------------------------------------------------------------


_PARENTS: weakref.WeakKeyDictionary[
    Engine, dict[tuple[int, int, bytes], dict[str, str | None]]] = weakref.WeakKeyDictionary()


def site_parents(session: Session) -> dict[str, str | None]:
    """Each certified site's parent, from the certificates this site holds (the newest
    certificate of a site wins: a moved site). Credentials are only ever added, so the
    parsed map is kept per database engine and :func:`store.credentials_version`."""
    newest, count, wire, _ = store.credentials_version(session)
    kept = _PARENTS.setdefault(session.get_bind().engine, {})
    cached = kept.get((newest, count, wire))
    if cached is not None:
        return dict(cached)
    parents: dict[str, str | None] = {}
    for wire in session.scalars(select(store.SyncCredential.wire)
                                .order_by(store.SyncCredential.id)):
        credential = credential_from_wire(cbor2.loads(wire))
        if isinstance(credential, Certificate):
            parents[credential.site] = credential.parent
    kept.clear()
    kept[(newest, count, wire)] = parents
    return dict(parents)


def children_of(session: Session, site: str) -> set[str]:
    return {s for s, p in site_parents(session).items() if p == site}


def _child_toward(parents: Mapping[str, str | None], site: str, target: str) -> str | None:
    """The child of ``site`` on the way down to ``target`` (None if not below ``site``)."""
    current: str | None = target
    for _ in range(32):
        if current is None:
            return None
        parent = parents.get(current)
        if parent == site:
            return current
        current = parent
    return None


def send_down(session: Session, site: SyncSite, item: Event | Receipt, origin: str,
              now: datetime) -> bool:
    """Queue ``item`` toward the child on the way to ``origin``; False if not below us."""
    return send_all_down(session, site, [(item, origin)], now) == 1


def send_all_down(session: Session, site: SyncSite,
                  items: Sequence[tuple[Event | Receipt, str | None]], now: datetime) -> int:
    """Queue each ``(item, origin)`` toward the child on the way to ``origin`` (an event's
    origin None: the site that registered its case, looked up); items bound for this site
    or for no site below it are left. Returns how many were queued."""
    parents = site_parents(session)
    unknown = {i.case_id for i, o in items if o is None and isinstance(i, Event)}
    registered = store.case_origins(session, unknown) if unknown else {}
    queued: list[tuple[str, Event | Receipt]] = []
    for item, origin in items:
        if origin is None and isinstance(item, Event):
            origin = registered.get(item.case_id)
        if origin is None or origin == site.code:
            continue
        child = _child_toward(parents, site.code, origin)
        if child is not None:
            queued.append((child, item))
    store.enqueue_down_many(session, queued, epoch=site.epoch, now_ms=_now_ms(now))
    return len(queued)


# -- the parent's side ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    """What the HTTP layer sends back: status and the frame."""

    status: int
    data: bytes


def answer_child(session: Session, site: SyncSite, data: bytes, now: datetime) -> Answer:
    """Verify, store and answer one request from a child; commits before answering."""
    ring = store.build_keyring(session, site.hub_site, site.hub_public_raw)
    try:
        sender = request_sender(data, ring)
    except ProtocolError as err:
        return Answer(err.http_status, _refusal_json(err))
    link = load_child_link(session, sender, lock=True)
    ex = ParentExchange(key=site.key, keyring=ring, link=link, epoch=site.epoch,
                        own_credentials=site.own_credentials,
                        large_level=ZSTD_LEVEL_LARGE if site.is_root else None)
    try:
        incoming = ex.receive(data, now)
    except ProtocolError as err:
        if sender in children_of(session, site.code):
            save_child_link(session, ex.link)
            session.commit()
        else:
            session.rollback()
        return Answer(err.http_status, ex.refuse(err, now))
    now_ms = _now_ms(now)
    # A child introduces itself with its hub-signed certificate on first contact.
    store.add_credentials(session, incoming.credentials, forward=not site.is_root)
    if sender not in children_of(session, site.code):
        session.rollback()
        refusal = WrongAddress("request.sender", "not a child of this site")
        return Answer(refusal.http_status, ex.refuse(refusal, now))
    stored = store.store_received_many(session, site.sealer, incoming.new_events,
                                       up=not site.is_root, now_ms=now_ms)
    link_key, link_value = child_link_record(ex.stored())
    if site.is_root:
        _issue_receipts(session, site, sender, stored, now)
    wants: list[BlobWant] = []
    blobs = blob_store_of(session, site)
    if blobs is not None:
        note_blobs(session, blobs, stored, owed=False, now_ms=now_ms)
        wants = receive_blobs(session, blobs, incoming.blob_offers, incoming.blob_chunks)
    # Last: a deciding site's hooks author its own events, which locks its chain's counter
    # until the commit; other processes answering other children wait only for the tail.
    site.hooks.events_arrived(session, stored, now)
    store.write_states(session, {
        link_key: link_value,  # the link row is locked since load_child_link: written once
        child_info_key(sender): json.dumps({
            "last_contact_ms": now_ms, "epoch": incoming.child_epoch,
            "wire_version": WIRE_VERSION, "releases_known": dict(incoming.releases_known),
        }).encode(),
        f"child_ack:{sender}": cbor2.dumps([incoming.down_ack.epoch, incoming.down_ack.seq]),
    })
    down = store.down_after(session, sender, incoming.down_ack, DOWN_LIMIT)
    releases = (site.releases(session, now) if site.releases is not None
                else store.latest_releases(session))
    vouching = _credentials_for(session, site, down)
    session.commit()  # chunks were flushed to disk before: the wants below are durable
    return Answer(200, ex.respond(now, down=down, releases=releases, credentials=vouching,
                                  blob_wants=wants))


def _credentials_for(session: Session, site: SyncSite, down: Sequence[DownItem]
                     ) -> list[Credential]:
    """The certificates (and rotations) of the authors of the events going down, so the
    child can check each event's signature: a township's village has never met the county
    whose window decided its case. The hub's key is pinned everywhere; ours travels anyway."""
    origins = {d.item.origin for d in down
               if isinstance(d.item, Event) and d.item.origin not in (site.hub_site, site.code)}
    origins |= _account_destinations(site, down)
    if not origins:
        return []
    rows = session.scalars(select(store.SyncCredential.wire)
                           .where(store.SyncCredential.site.in_(sorted(origins)))
                           .order_by(store.SyncCredential.id))
    return [credential_from_wire(cbor2.loads(wire)) for wire in rows]


def _account_destinations(site: SyncSite, down: Sequence[DownItem]) -> set[str]:
    """The sites account copies in ``down`` go to: their certificates travel with them, so a
    relay that has not heard from a newly enrolled child yet still knows the way."""
    found = {account_destination(d.item, site.hub_site) for d in down
             if isinstance(d.item, Event)}
    return {code for code in found if code is not None and code != site.code}


def _issue_receipts(session: Session, site: SyncSite, child: str, events: Sequence[Event],
                    now: datetime) -> None:
    chains: dict[tuple[str, int], int] = {}
    for e in events:
        chains[(e.origin, e.epoch)] = max(chains.get((e.origin, e.epoch), 0), e.seq)
    receipts = [(child, issue_receipt(site.key, origin=origin, epoch=epoch, through_seq=seq,
                                      now=now))
                for (origin, epoch), seq in sorted(chains.items())]
    store.enqueue_down_many(session, receipts, epoch=site.epoch, now_ms=_now_ms(now))


def _refusal_json(err: ProtocolError) -> bytes:
    return json.dumps({"error": {"code": err.code, "message": f"{err.field}: {err.reason}",
                                 "fields": {}}}).encode()


# -- the child's side -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    """What one exchange with the parent did."""

    ok: bool
    sent: int = 0
    acked: int = 0
    received: int = 0
    receipts: int = 0
    releases: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    more: bool = False
    error: str | None = None
    blob_bytes: int = 0
    """Scan bytes sent up in chunks (part of ``bytes_up``)."""


Transport = Callable[[str, bytes], bytes]


class TransportError(Exception):
    """The parent could not be reached, or answered with something that is not a frame."""


def http_transport(timeout: float = 30.0) -> Transport:
    def post(url: str, data: bytes) -> bytes:
        try:
            response = requests.post(url.rstrip("/") + EXCHANGE_PATH, data=data,
                                     headers={"Content-Type": CONTENT_TYPE}, timeout=timeout)
        except requests.RequestException as exc:
            raise TransportError(str(exc)) from exc
        if response.headers.get("Content-Type", "").startswith("application/json"):
            raise TransportError(f"HTTP {response.status_code}: {response.text[:300]}")
        return response.content

    return post


def sync_with_parent(session: Session, site: SyncSite, transport: Transport,
                     clock: Callable[[], datetime]) -> SyncOutcome:
    """One exchange with the parent: send the next upward batch, store what comes back."""
    if site.parent is None or site.parent_url is None:
        return SyncOutcome(ok=False, error="this site has no parent")
    link = load_parent_link(session, site=site.code, parent=site.parent, epoch=site.epoch)
    ring = store.build_keyring(session, site.hub_site, site.hub_public_raw)
    limit = max(2 * link.batch_events, 200)
    pending = store.pending_up(session, site.sealer, limit)
    forward = store.credentials_to_forward(session)
    blobs = blob_store_of(session, site)
    plan = plan_blobs(session, blobs, site.blob_settings) if blobs is not None else BlobPlan()
    session.rollback()  # no transaction stays open across the round trip
    for _ in range(16):
        ex = ChildExchange(key=site.key, keyring=ring, link=link,
                           own_credentials=site.own_credentials)
        try:
            out = ex.request(clock(), pending=pending, credentials=forward,
                             blob_offers=plan.offers, blob_chunks=plan.chunks)
            break
        except LocalProtocolError:
            # the batch would not fit in one frame (large payloads): halve it and try again
            link = replace(link, batch_events=max(MIN_BATCH, link.batch_events // 2))
    else:
        return SyncOutcome(ok=False, error="an event is too large to send in one frame")
    started = time.monotonic()
    try:
        data = transport(site.parent_url, out.data)
    except TransportError as exc:
        save_parent_link(session, ex.failed())
        _record_status(session, clock(), ok=False, error=str(exc), reachable=False)
        session.commit()
        return SyncOutcome(ok=False, bytes_up=len(out.data), error=str(exc))
    now = clock()
    try:
        result = ex.receive(data, now, known=lambda k: _held(session, k))
    except ProtocolError as err:
        save_parent_link(session, ex.link)
        message = f"{err.code}: {err.field}: {err.reason}"
        _record_status(session, now, ok=False, error=message, reachable=True)
        session.commit()
        return SyncOutcome(ok=False, bytes_up=len(out.data), bytes_down=len(data),
                           error=message)
    if isinstance(result, Refused):
        save_parent_link(session, result.link)
        message = f"refused: {result.code}: {result.error.reason}"
        _record_status(session, now, ok=False, error=message, reachable=True)
        session.commit()
        return SyncOutcome(ok=False, bytes_up=len(out.data), bytes_down=len(data),
                           error=message)
    now_ms = _now_ms(now)
    store.forwarded(session, forward)
    store.add_credentials(session, result.credentials, forward=False)
    for refusal in result.refused:
        if refusal.code == "key_unknown":
            store.forward_again(session, refusal.origin)
        elif refusal.code != "gap":
            store.dead_letter(session, refusal.origin, refusal.epoch, refusal.first_seq,
                              f"{refusal.code}: {refusal.reason}", now_ms)
    acked = (_acked_events(session, site, pending, result.watermarks)
             if blobs is not None else [])
    acked_cases = store.ack_up(session, result.watermarks, now_ms)
    blob_more = False
    if blobs is not None:
        owed = note_blobs(session, blobs, acked, owed=True, now_ms=now_ms)
        progressed = apply_wants(session, plan, result.blob_wants, now_ms)
        blob_more = (owed > 0 or progressed) and blobs_to_move(session, blobs)
    if result.complete:
        store.reopen_above(session, result.watermarks)
    stored = store.store_received_many(session, site.sealer, result.new_events, up=False,
                                       now_ms=now_ms)
    # an account copy goes on to the account's site, any other event to the case's origin
    send_all_down(session, site, [(e, account_destination(e, site.hub_site)) for e in stored]
                  + [(r, r.origin) for r in result.receipts], now)
    for release in result.releases:
        store.keep_release(session, release, now_ms)
    for rejected in result.rejected:
        LOG.warning("down item rejected", extra={"fields": {
            "position": [rejected.position.epoch, rejected.position.seq],
            "code": rejected.code, "reason": rejected.reason}})
    site.hooks.events_arrived(session, stored, now)
    site.hooks.receipts_arrived(session, result.receipts, now)
    site.hooks.releases_arrived(session, result.releases, now)
    site.hooks.cases_acked(session, acked_cases, now)
    save_parent_link(session, ex.stored())
    more = (len(out.sent) < len(pending) or len(pending) == limit
            or len(result.new_events) + len(result.receipts) >= DOWN_LIMIT or blob_more)
    _record_status(session, now, ok=True, error=None, reachable=True,
                   bytes_up=len(out.data), bytes_down=len(data),
                   seconds=time.monotonic() - started, rejected=len(result.rejected),
                   blob_bytes=plan.bytes)
    session.commit()
    return SyncOutcome(ok=True, sent=len(out.sent), acked=len(acked_cases), received=len(stored),
                       receipts=len(result.receipts), releases=len(result.releases),
                       bytes_up=len(out.data), bytes_down=len(data), more=more,
                       blob_bytes=plan.bytes)


def _held(session: Session, key: EventKey) -> bool:
    return store.is_held(session, key.origin, key.epoch, key.seq)


def _acked_events(session: Session, site: SyncSite, pending: Sequence[Event],
                  watermarks: Mapping[tuple[str, int], int]) -> list[Event]:
    """The events this answer acknowledges (read before they are marked): those already open
    in ``pending``, and any other owed event the watermarks cover (after a complete answer)."""
    acked = [e for e in pending if e.seq <= watermarks.get((e.origin, e.epoch), 0)]
    more = store.pending_through(session, site.sealer, watermarks,
                                 skip=[(e.origin, e.epoch, e.seq) for e in pending])
    return acked + more


# -- scans -------------------------------------------------------------------------------------


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
    for event in events:
        for sha, size, media_type in blob_refs(event.payload):
            refs.setdefault(sha, (size, media_type))
    if not refs:
        return 0
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
        if record is None:
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
        if record is None or record.size != offer.size:
            LOG.warning("blob offer ignored", extra={"fields": {
                "sha256": sha, "size": offer.size,
                "reason": "no event here names it" if record is None else "size differs"}})
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
        if record is None:
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


def plan_blobs(session: Session, blobs: BlobStore, settings: BlobSettings) -> BlobPlan:
    """The child's side before a request: offer owed scans the parent has not answered
    about yet, and send what it wants, oldest first, within the byte budget. Reads only."""
    plan = BlobPlan()
    budget = settings.budget
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


def sync_until_quiet(session: Session, site: SyncSite, transport: Transport,
                     clock: Callable[[], datetime], max_rounds: int = 50) -> list[SyncOutcome]:
    """Exchange while there is more to send or receive (bounded); stops at the first failure."""
    outcomes: list[SyncOutcome] = []
    for _ in range(max_rounds):
        outcome = sync_with_parent(session, site, transport, clock)
        outcomes.append(outcome)
        if not outcome.ok or not outcome.more:
            break
    return outcomes


# -- status ------------------------------------------------------------------------------------


def _record_status(session: Session, now: datetime, *, ok: bool, error: str | None,
                   reachable: bool, bytes_up: int = 0, bytes_down: int = 0,
                   seconds: float = 0.0, rejected: int = 0, blob_bytes: int = 0) -> None:
    status: dict[str, Any] = read_status(session)
    status["last_attempt"] = now.isoformat()
    status["parent_reachable"] = reachable
    status["bytes_up"] = int(status.get("bytes_up", 0)) + bytes_up
    status["blob_bytes_up"] = int(status.get("blob_bytes_up", 0)) + blob_bytes
    status["bytes_down"] = int(status.get("bytes_down", 0)) + bytes_down
    status["rejected_down"] = int(status.get("rejected_down", 0)) + rejected
    if ok:
        status["last_success"] = now.isoformat()
        status["last_error"] = None
        status["last_seconds"] = round(seconds, 3)
    else:
        status["last_error"] = error
    store.write_state(session, STATUS_KEY, json.dumps(status).encode())


def read_status(session: Session) -> dict[str, Any]:
    data = store.read_state(session, STATUS_KEY)
    if not data:
        return {"parent_reachable": None, "last_success": None, "last_error": None,
                "last_attempt": None, "bytes_up": 0, "bytes_down": 0}
    loaded = json.loads(data)
    assert isinstance(loaded, dict)
    return loaded


def sync_status(session: Session, site: SyncSite) -> dict[str, object]:
    """The contract's ``GET /api/v1/sync/status`` body, plus byte counters."""
    status = read_status(session)
    link = load_parent_link(session, site=site.code, parent=site.parent or "", epoch=site.epoch)
    pending_down = sum(store.count_down_after(session, child, child_ack(session, child))
                       for child in children_of(session, site.code))
    return {
        "parent_reachable": status.get("parent_reachable"),
        "pending_up": store.count_pending_up(session),
        "pending_down": pending_down,
        "last_success": status.get("last_success"),
        "last_error": status.get("last_error"),
        "last_attempt": status.get("last_attempt"),
        "bytes_up": status.get("bytes_up", 0),
        "bytes_down": status.get("bytes_down", 0),
        "rejected_down": status.get("rejected_down", 0),
        "down_ack": [link.down_ack.epoch, link.down_ack.seq],
        "blobs_pending_up": store.count_blob_records(session, store.BLOB_OWED),
        "blob_bytes_up": status.get("blob_bytes_up", 0),
    }


def child_info_key(child: str) -> str:
    return f"child_info:{child}"


def child_info(session: Session, child: str) -> dict[str, Any] | None:
    """What the last request of ``child`` said: ``last_contact_ms``, its ``epoch``, the
    ``wire_version`` and the releases it holds (``releases_known``: kind -> version)."""
    data = store.read_state(session, child_info_key(child))
    if not data:
        return None
    loaded: dict[str, Any] = json.loads(data)
    return loaded


def child_ack(session: Session, child: str) -> LinkPosition:
    """The last down position ``child`` acknowledged."""
    data = store.read_state(session, f"child_ack:{child}")
    if not data:
        return LinkPosition()
    epoch, seq = cbor2.loads(data)
    return LinkPosition(int(epoch), int(seq))
