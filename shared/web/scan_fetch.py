"""Scans fetched down the tree for the office that decides a case registered elsewhere.

Scans travel up (:mod:`shared.exchange.scans`). An office deciding a case whose scans never
passed through it (one applied for online at the hub, or referred across branches, 全城通办)
asks its parent for a scan the first time a window user opens it: one request,
``GET /api/v1/scans/<sha256>?case=<case id>``, vouched for with the site key as the status
lookup is (:mod:`shared.exchange.lookup_relay`, signed over the scan and the case). The
office checks the bytes' SHA-256 against the name, keeps the file in its own blob store (the
second view is local) and serves it.

The parent serves a child only a scan that an event of the case names, and only when the
case goes down toward that child: the case's registering site, the office it was referred
to, the hand-over station, or a site that routed it lies in that child's branch. Anyone
else gets 404, whether the scan exists or not. A parent that does not hold the file asks its
own parent the same way. A scan whose case was registered below the office is never asked
for: it is on its way up.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from shared.exchange.lookup_relay import HEADER, relay_header
from shared.exchange.scans import blob_refs
from shared.exchange.site import LOG, SyncSite
from shared.exchange.transport import TransportError, get_bytes
from shared.exchange.tree import child_toward, site_parents
from shared.storage import sync_store as store
from shared.storage.blob_store import BlobStore
from sync_protocol import Event
from sync_protocol.blobs import MAX_BLOB
from sync_protocol.times import to_ms

API_PATH = "/api/v1/scans/<sha256>"
PARENT_TIMEOUT = (5.0, 30.0)
"""Connect and read seconds for the one request to the parent: an operator is waiting."""
RETRY_AFTER = 60
UNREACHABLE = ("the scan cannot be fetched from the centre above now (the link is down); "
               "try again later")
MISMATCH = "the centre above sent a file that does not match this scan; nothing was kept"


class ScanSite(Protocol):
    """What a site brings: its place in the tree, its clock and the parent to ask (None at
    the hub)."""

    @property
    def sync_site(self) -> SyncSite: ...

    def clock(self) -> datetime: ...

    def parent(self) -> tuple[str, str | bool] | None: ...


@dataclass(frozen=True, slots=True)
class Wanted:
    """A scan a case held here names, with the case's events."""

    case_id: uuid.UUID
    size: int
    media_type: str
    events: Sequence[Event]


@dataclass(frozen=True, slots=True)
class Fetched:
    """200: the file is in the blob store now; 404: the parent does not give it to this
    site; 503: the parent could not be asked or sent wrong bytes (``message`` says which)."""

    status: int
    message: str = ""


def relay_pair(sha256: str, case_id: uuid.UUID) -> tuple[str, str]:
    """What a relay header signs in a status lookup's pair's place: the scan and its case,
    marked so no other lookup's header can stand for it."""
    return f"scan:{sha256}", f"case:{case_id}"


def named_scan(events: Sequence[Event], sha256: str) -> tuple[int, str] | None:
    """The size and media type an event of ``events`` gives the scan ``sha256``."""
    for event in events:
        for sha, size, media_type in blob_refs(event.payload):
            if sha == sha256:
                return size, media_type
    return None


def case_destinations(events: Sequence[Event]) -> set[str]:
    """The sites a case's events go down toward: the registering site, the office it was
    referred to and the hand-over station, and each site that routed it to a window."""
    found: set[str] = set()
    for event in events:
        payload = event.payload
        if event.type == "registered":
            found.add(event.origin)
        keys = {"referred": ("to", "handover"), "routed": ("site",)}.get(event.type, ())
        found.update(str(payload[k]) for k in keys if isinstance(payload.get(k), str))
    return found


def goes_toward(parents: Mapping[str, str | None], here: str, child: str,
                destinations: set[str]) -> bool:
    """Whether a case going to ``destinations`` goes down from ``here`` toward ``child``."""
    return any(d == child or child_toward(parents, here, d) == child for d in destinations)


def wanted_here(session: Session, site: SyncSite, sha256: str,
                case_hint: uuid.UUID | None) -> Wanted | None:
    """The case held here that names the scan and was registered outside this site's branch
    (so no upload of it comes from below); None when no case names it here, or its upload
    is on its way up. ``case_hint``: the case the window page opened it from."""
    candidates = [case_hint] if case_hint is not None else sorted(
        store.blob_cases(session, sha256))
    parents = site_parents(session)
    for case_id in candidates:
        events = store.case_events_held(session, site.sealer, case_id)
        ref = named_scan(events, sha256)
        if ref is None:
            continue
        origin = next((e.origin for e in events if e.type == "registered"), None)
        if origin is None or origin == site.code or child_toward(parents, site.code,
                                                                  origin) is not None:
            return None
        return Wanted(case_id, ref[0], ref[1], events)
    return None


def fetch_scan(session: Session, site: ScanSite, blobs: BlobStore, sha256: str,
               wanted: Wanted, client: str) -> Fetched:
    """Ask the parent once for the scan (for ``client``, vouched for with this site's key),
    check its SHA-256 and keep it: the blob store holds it, its record says so."""
    parent = site.parent()
    if parent is None:
        return Fetched(503, UNREACHABLE)
    url, verify = parent
    header = relay_header(site.sync_site.key, client, *relay_pair(sha256, wanted.case_id),
                          site.clock())
    try:
        reply = get_bytes(url.rstrip("/") + API_PATH.replace("<sha256>", sha256),
                          params={"case": str(wanted.case_id)}, headers={HEADER: header},
                          verify=verify, timeout=PARENT_TIMEOUT,
                          limit=min(wanted.size, MAX_BLOB))
    except TransportError:
        return Fetched(503, UNREACHABLE)
    if reply.status == 404:
        return Fetched(404)
    if reply.status != 200:
        return Fetched(503, UNREACHABLE)
    if reply.data is None or hashlib.sha256(reply.data).hexdigest() != sha256:
        LOG.warning("scan from the parent refused: it does not match its name",
                    extra={"fields": {"sha256": sha256, "case_id": str(wanted.case_id)}})
        return Fetched(503, MISMATCH)
    blobs.put(reply.data)
    record = store.blob_record(session, sha256)
    if record is None:
        store.add_blob_records(session, [store.BlobRecord(
            sha256, len(reply.data), wanted.media_type, held=True,
            noted_ms=to_ms(site.clock()))])
    elif not record.held:
        record.held = True
        store.save_blob_record(session, record)
    store.note_blob_cases(session, [(sha256, wanted.case_id)])
    session.commit()
    return Fetched(200)


def scan_for_child(session: Session, site: ScanSite, blobs: BlobStore, sha256: str,
                   case_id: uuid.UUID, client: str) -> Fetched:
    """A child's relayed request (``client`` = ``<child>/…``, its signature checked): 200
    when the scan is in the blob store now (held, or fetched from this site's parent), 404
    when the case does not go down toward that child or no event of it names the scan."""
    child = client.split("/", 1)[0]
    events = store.case_events_held(session, site.sync_site.sealer, case_id)
    ref = named_scan(events, sha256)
    parents = site_parents(session)
    if ref is None or not goes_toward(parents, site.sync_site.code, child,
                                      case_destinations(events)):
        return Fetched(404)
    if blobs.has(sha256):
        return Fetched(200)
    return fetch_scan(session, site, blobs, sha256, Wanted(case_id, *ref, events), client)
