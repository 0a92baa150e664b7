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
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

import cbor2
import requests
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared import sync_store as store
from shared.link_state import (
    load_child_link,
    load_parent_link,
    save_child_link,
    save_parent_link,
)
from sync_protocol import (
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

    @property
    def code(self) -> str:
        return self.key.site

    @property
    def is_root(self) -> bool:
        return self.root


def _now_ms(now: datetime) -> int:
    return to_ms(now)


# -- the tree below this site ------------------------------------------------------------------


_PARENTS_CACHE: dict[tuple[str, int, int], dict[str, str | None]] = {}


def site_parents(session: Session) -> dict[str, str | None]:
    """Each certified site's parent, from the certificates this site holds (the newest
    certificate of a site wins: a moved site). Credentials are only ever added, so the
    parsed map is cached per database and highest credential id."""
    newest, count = session.execute(
        select(func.max(store.SyncCredential.id), func.count(store.SyncCredential.id))
    ).one()
    cache_key = (str(session.get_bind().engine.url), int(newest or 0), int(count or 0))
    cached = _PARENTS_CACHE.get(cache_key)
    if cached is not None:
        return dict(cached)
    parents: dict[str, str | None] = {}
    for wire in session.scalars(select(store.SyncCredential.wire)
                                .order_by(store.SyncCredential.id)):
        credential = credential_from_wire(cbor2.loads(wire))
        if isinstance(credential, Certificate):
            parents[credential.site] = credential.parent
    if len(_PARENTS_CACHE) > 64:
        _PARENTS_CACHE.clear()
    _PARENTS_CACHE[cache_key] = parents
    return dict(parents)


def children_of(session: Session, site: str) -> set[str]:
    return {s for s, p in site_parents(session).items() if p == site}


def child_toward(session: Session, site: str, target: str) -> str | None:
    """The child of ``site`` on the way down to ``target`` (None if not below ``site``)."""
    parents = site_parents(session)
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
    if origin == site.code:
        return False
    child = child_toward(session, site.code, origin)
    if child is None:
        return False
    store.enqueue_down(session, child, item, epoch=site.epoch, now_ms=_now_ms(now))
    return True


def send_event_down(session: Session, site: SyncSite, row: store.SyncEvent,
                    now: datetime) -> bool:
    """Queue an event of a case toward the site that registered the case."""
    origin = store.case_origin(session, row.case_id)
    if origin is None:
        return False
    return send_down(session, site, store.as_event(row, site.sealer), origin, now)


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
                        own_credentials=site.own_credentials)
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
    stored: list[Event] = []
    for event in incoming.new_events:
        if store.store_received(session, site.sealer, event, up=not site.is_root,
                                now_ms=now_ms) is not None:
            stored.append(event)
    new_link = ex.stored()
    save_child_link(session, new_link)
    if site.is_root:
        _issue_receipts(session, site, sender, stored, new_link.heads, now)
    site.hooks.events_arrived(session, stored, now)
    store.write_state(session, child_info_key(sender), json.dumps({
        "last_contact_ms": now_ms, "epoch": incoming.child_epoch, "wire_version": WIRE_VERSION,
        "releases_known": dict(incoming.releases_known),
    }).encode())
    store.write_state(session, f"child_ack:{sender}",
                      cbor2.dumps([incoming.down_ack.epoch, incoming.down_ack.seq]))
    down = store.down_after(session, sender, incoming.down_ack, DOWN_LIMIT)
    releases = (site.releases(session, now) if site.releases is not None
                else store.latest_releases(session))
    vouching = _credentials_for(session, site, down)
    session.commit()
    return Answer(200, ex.respond(now, down=down, releases=releases, credentials=vouching))


def _credentials_for(session: Session, site: SyncSite, down: Sequence[DownItem]
                     ) -> list[Credential]:
    """The certificates (and rotations) of the authors of the events going down, so the
    child can check each event's signature: a township's village has never met the county
    whose window decided its case. The hub's key is pinned everywhere; ours travels anyway."""
    origins = {d.item.origin for d in down
               if isinstance(d.item, Event) and d.item.origin not in (site.hub_site, site.code)}
    if not origins:
        return []
    rows = session.scalars(select(store.SyncCredential.wire)
                           .where(store.SyncCredential.site.in_(sorted(origins)))
                           .order_by(store.SyncCredential.id))
    return [credential_from_wire(cbor2.loads(wire)) for wire in rows]


def _issue_receipts(session: Session, site: SyncSite, child: str, events: Sequence[Event],
                    heads: object, now: datetime) -> None:
    chains: dict[tuple[str, int], int] = {}
    for e in events:
        chains[(e.origin, e.epoch)] = max(chains.get((e.origin, e.epoch), 0), e.seq)
    for (origin, epoch), seq in sorted(chains.items()):
        receipt = issue_receipt(site.key, origin=origin, epoch=epoch, through_seq=seq, now=now)
        store.enqueue_down(session, child, receipt, epoch=site.epoch, now_ms=_now_ms(now))


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
    session.rollback()  # no transaction stays open across the round trip
    for _ in range(16):
        ex = ChildExchange(key=site.key, keyring=ring, link=link,
                           own_credentials=site.own_credentials)
        try:
            out = ex.request(clock(), pending=pending, credentials=forward)
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
    acked_cases = store.ack_up(session, result.watermarks, now_ms)
    if result.complete:
        store.reopen_above(session, result.watermarks)
    stored: list[Event] = []
    for event in result.new_events:
        row = store.store_received(session, site.sealer, event, up=False, now_ms=now_ms)
        if row is None:
            continue
        stored.append(event)
        origin = store.case_origin(session, event.case_id)
        if origin is not None:
            send_down(session, site, event, origin, now)
    for receipt in result.receipts:
        send_down(session, site, receipt, receipt.origin, now)
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
            or len(result.new_events) + len(result.receipts) >= DOWN_LIMIT)
    _record_status(session, now, ok=True, error=None, reachable=True,
                   bytes_up=len(out.data), bytes_down=len(data),
                   seconds=time.monotonic() - started, rejected=len(result.rejected))
    session.commit()
    return SyncOutcome(ok=True, sent=len(out.sent), acked=len(acked_cases), received=len(stored),
                       receipts=len(result.receipts), releases=len(result.releases),
                       bytes_up=len(out.data), bytes_down=len(data), more=more)


def _held(session: Session, key: EventKey) -> bool:
    return store.is_held(session, key.origin, key.epoch, key.seq)


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
                   seconds: float = 0.0, rejected: int = 0) -> None:
    status: dict[str, Any] = read_status(session)
    status["last_attempt"] = now.isoformat()
    status["parent_reachable"] = reachable
    status["bytes_up"] = int(status.get("bytes_up", 0)) + bytes_up
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
