"""The child's side of one exchange (the sync job and ``sync-now`` call
:func:`sync_with_parent`).

The next upward batch goes in the request; the down ack moves only in the transaction that
stores the down items, and what comes down goes on toward the child on the way to the case's
origin. No transaction stays open across the round trip.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.orm import Session

from shared.exchange.account_events import account_destination
from shared.exchange.hand_back import after_answer, to_hand_back
from shared.exchange.release_watch import note_release_refusals
from shared.exchange.scans import (
    BlobPlan,
    apply_wants,
    blobs_to_move,
    note_blobs,
    paced_budget,
    plan_blobs,
    reoffer_after_restore,
)
from shared.exchange.site import DOWN_LIMIT, LOG, SyncSite, blob_store_of
from shared.exchange.status import record_status
from shared.exchange.transport import Transport, TransportError
from shared.exchange.tree import children_of, send_all_down
from shared.storage import sync_store as store
from shared.storage.link_state import (
    load_parent_link,
    save_parent_link,
)
from sync_protocol import (
    Certificate,
    ChildExchange,
    ClockSkew,
    Credential,
    Event,
    EventKey,
    ExchangeResult,
    KeyRotation,
    KeyUnknown,
    LocalProtocolError,
    ParentLink,
    ProtocolError,
    Refused,
)
from sync_protocol.batching import MIN_BATCH
from sync_protocol.compression import ZstdDictionary, history_dictionary
from sync_protocol.features import CASE_REFS, CHILD_DEFAULT, SPARSE_SIGNATURES
from sync_protocol.payload_digest import ERASURE_UNPROVEN
from sync_protocol.times import to_ms


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
    refused: str | None = None
    """The code of the parent's refusal, when it refused the request."""
    retry_after: float | None = None
    """Seconds the parent asked the child to wait (``Retry-After`` of a 503)."""


LEGACY_DOWN_LIMIT = 500
"""The most down items last year's parent sends in one answer (it does not say whether
more follow, so an answer that full is taken to mean more)."""


HELLO_WORTH = 64
"""Events with derived case ids that make a first request without them worth it on a link
whose parent never answered: that answer says whether the parent reads case refs, and the
batch after it then names each case in a few bytes instead of 16 (the small first exchange,
which carries the introductions and the complete answer anyway, costs far less)."""


def hello_first(link: ParentLink, pending: Sequence[Event], features: Sequence[int]) -> bool:
    """Whether to hold the batch back for one exchange to learn what a new parent reads."""
    return (link.parent_epoch == 0 and not link.parent_reads and CASE_REFS in features
            and sum(1 for e in pending if e.case_id.version == 8) >= HELLO_WORTH)


def reads(session: Session, site: SyncSite) -> tuple[int, ...]:
    """The features this site asks its parent for: the down batch and case refs, and sparse
    signatures (one per run) only on a village that relays to no child. A relay must hold
    every event's own signature, to pass on any selection of them to its children; villages
    never get children (the tree ends there), and the certificates are checked as well, so
    a site that does get one asks for every signature again from its next exchange on."""
    village = any(isinstance(c, Certificate) and c.site == site.code and c.tier == "village"
                  for c in site.own_credentials)
    if village and not children_of(session, site.code):
        return (*CHILD_DEFAULT, SPARSE_SIGNATURES)
    return CHILD_DEFAULT


def sync_with_parent(session: Session, site: SyncSite, transport: Transport,
                     clock: Callable[[], datetime]) -> SyncOutcome:
    """One exchange with the parent: send the next upward batch, store what comes back."""
    if site.parent is None or site.parent_url is None:
        return SyncOutcome(ok=False, error="this site has no parent")
    link = load_parent_link(session, site=site.code, parent=site.parent, epoch=site.epoch)
    ring = store.build_keyring(session, site.hub_site, site.hub_public_raw)
    limit = max(2 * link.batch_events, 200)
    pending = store.pending_up(session, site.sealer, limit)
    features = reads(session, site)
    hello = hello_first(link, pending, features)
    # case refs go up only to a parent that listed them (last year's reads 16 bytes a case)
    opened = (store.opening_keys(session, {e.case_id for e in pending})
              if CASE_REFS in link.parent_reads else {})
    forward = store.credentials_to_forward(session)
    # 全城通办: a case that may change branch above travels with each event's own signature
    crossing = store.branch_crossing_cases(session, site.sealer, {e.case_id for e in pending})
    forward_runs_signed = (lambda e: e.case_id in crossing) if crossing else None
    # a request signed by a key the parent has not met yet goes without the link's
    # history: the parent finds the sender in the body before it knows the key
    history = None if _new_key_going_up(site, forward) else _history(session)
    returning, waiting = to_hand_back(session, site)  # a restored parent's own events
    blobs = blob_store_of(session, site)
    # scans take a few seconds of the line per exchange: events never wait behind them
    plan = (plan_blobs(session, blobs, site.blob_settings,
                       paced_budget(session, site.blob_settings))
            if blobs is not None else BlobPlan())
    session.rollback()  # no transaction stays open across the round trip
    for _ in range(16):
        ex = ChildExchange(key=site.key, keyring=ring, link=link,
                           own_credentials=site.own_credentials, features=features,
                           history=history)
        try:
            out = ex.request(clock(), pending=() if hello else pending, credentials=forward,
                             blob_offers=plan.offers, blob_chunks=plan.chunks,
                             case_keys=opened.get, hand_back=returning,
                             hand_back_waits=waiting, own_signatures=forward_runs_signed)
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
        # the request may have crossed the line (or part of it): its bytes count
        record_status(session, clock(), ok=False, error=str(exc), reachable=False,
                      bytes_up=len(out.data))
        session.commit()
        return SyncOutcome(ok=False, bytes_up=len(out.data), error=str(exc),
                           retry_after=exc.retry_after)
    now = clock()
    try:
        result = _read_answer(session, ex, data, now)
    except ProtocolError as err:
        save_parent_link(session, ex.link)
        _forget_history_if_used(session, out.dictionary_id)
        message = f"{err.code}: {err.field}: {err.reason}"
        record_status(session, now, ok=False, error=message, reachable=True,
                      bytes_up=len(out.data), bytes_down=len(data))
        session.commit()
        return SyncOutcome(ok=False, bytes_up=len(out.data), bytes_down=len(data),
                           error=message)
    if isinstance(result, Refused):
        save_parent_link(session, result.link)
        # the parent may not hold the history the request was compressed against (two lost
        # answers, a restore): the next request goes plainly and starts a new history
        _forget_history_if_used(session, out.dictionary_id)
        message = f"refused: {result.code}: {result.error.reason}"
        record_status(session, now, ok=False, error=message, reachable=True,
                      bytes_up=len(out.data), bytes_down=len(data))
        session.commit()
        return SyncOutcome(ok=False, bytes_up=len(out.data), bytes_down=len(data),
                           error=message, refused=result.code)
    now_ms = to_ms(now)
    store.forwarded(session, forward)
    store.add_credentials(session, result.credentials, forward=False)
    note_release_refusals(session, result.release_errors, now)  # told in /metrics
    for refusal in result.refused:
        if refusal.code == "key_unknown":
            store.forward_again(session, refusal.origin)
        elif refusal.code not in ("gap", ERASURE_UNPROVEN):  # both sent again later
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
        if blobs is not None and reoffer_after_restore(session) > 0:
            blob_more = True
    stored = store.store_received_many(session, site.sealer, result.new_events, up=False,
                                       now_ms=now_ms)
    # an account copy goes on to the account's site, any other event to the case's origin
    send_all_down(session, site, [(e, account_destination(e, site.hub_site)) for e in stored]
                  + [(r, r.origin) for r in result.receipts], now, park=True)
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
    hand_more = after_answer(session, site, result.own_chains, returning, out.handed_back)
    save_parent_link(session, ex.stored())
    if out.sent:  # the parent keeps this body too (a request that carried a batch)
        store.write_state(session, HISTORY_KEY, history_dictionary(out.body).data)
    down_more = (result.down_more if result.down_more is not None
                 else result.down_items >= min(DOWN_LIMIT, LEGACY_DOWN_LIMIT))
    more = (len(out.sent) < len(pending) or len(pending) == limit or down_more or blob_more
            or hand_more)
    record_status(session, now, ok=True, error=None, reachable=True,
                   bytes_up=len(out.data), bytes_down=len(data),
                   seconds=time.monotonic() - started, rejected=len(result.rejected),
                   blob_bytes=plan.bytes)
    session.commit()
    return SyncOutcome(ok=True, sent=len(out.sent), acked=len(acked_cases), received=len(stored),
                       receipts=len(result.receipts), releases=len(result.releases),
                       bytes_up=len(out.data), bytes_down=len(data), more=more,
                       blob_bytes=plan.bytes)


_HELD = "sanji.held_seqs"


def _held(session: Session, key: EventKey) -> bool:
    """Whether an event that came down is held here, while the answer is read: one query per
    chain (the seqs held from the first one asked on; a chain's events come in seq order),
    kept for the transaction and dropped once the answer is read (:func:`_read_answer`)."""
    transaction = session.get_transaction()
    kept = session.info.get(_HELD)
    if kept is None or kept[0] is not transaction:
        kept = session.info[_HELD] = (transaction, {})
    chains: dict[tuple[str, int], tuple[int, set[int]]] = kept[1]
    chain = (key.origin, key.epoch)
    loaded = chains.get(chain)
    if loaded is None or key.seq < loaded[0]:
        loaded = chains[chain] = (
            key.seq, store.held_seqs(session, key.origin, key.epoch, key.seq))
    return key.seq in loaded[1]


HISTORY_KEY = "link_history"
"""The body of the last request with a batch the parent answered: the link's history."""


def _history(session: Session) -> ZstdDictionary | None:
    data = store.read_state(session, HISTORY_KEY)
    return history_dictionary(data) if data else None


def _forget_history_if_used(session: Session, dictionary_id: int) -> None:
    if dictionary_id:
        store.write_state(session, HISTORY_KEY, b"")


def _read_answer(session: Session, ex: ChildExchange, data: bytes,
                 now: datetime) -> ExchangeResult | Refused:
    try:
        return ex.receive(data, now, known=lambda k: _held(session, k))
    finally:
        session.info.pop(_HELD, None)  # what is held changes when the answer is stored


def _acked_events(session: Session, site: SyncSite, pending: Sequence[Event],
                  watermarks: Mapping[tuple[str, int], int]) -> list[Event]:
    """The events this answer acknowledges (read before they are marked): those already open
    in ``pending``, and any other owed event the watermarks cover (after a complete answer)."""
    acked = [e for e in pending if e.seq <= watermarks.get((e.origin, e.epoch), 0)]
    more = store.pending_through(session, site.sealer, watermarks,
                                 skip=[(e.origin, e.epoch, e.seq) for e in pending])
    return acked + more


def sync_until_quiet(session: Session, site: SyncSite, transport: Transport,
                     clock: Callable[[], datetime], max_rounds: int = 50) -> list[SyncOutcome]:
    """Exchange while there is more to send or receive (bounded); stops at the first failure,
    except a ``clock_skew`` refusal, tried again once at once: the refusal carried the
    parent's clock, so the next request is stamped right (a PC clock hours off would
    otherwise wait a whole back-off, or fail ``sync-now``, for nothing). Likewise an answer
    signed by a parent key this site does not know yet (the parent rotated it): the next
    request asks for a complete answer, which carries the parent's rotation."""
    outcomes: list[SyncOutcome] = []
    retried = False
    for _ in range(max_rounds):
        outcome = sync_with_parent(session, site, transport, clock)
        outcomes.append(outcome)
        if (outcome.refused == ClockSkew.code or _parent_key_unknown(outcome)) and not retried:
            retried = True
            continue
        if not outcome.ok or not outcome.more:
            break
    return outcomes


PARENT_KEY_UNKNOWN = f"{KeyUnknown.code}: frame.key_id:"


def _parent_key_unknown(outcome: SyncOutcome) -> bool:
    return not outcome.ok and (outcome.error or "").startswith(PARENT_KEY_UNKNOWN)


def _new_key_going_up(site: SyncSite, forward: Sequence[Credential]) -> bool:
    return any(isinstance(c, KeyRotation) and c.new_key_id == site.key.key_id for c in forward)
