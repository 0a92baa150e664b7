"""The parent's side of one exchange (the HTTP endpoint calls :func:`answer_child`).

What arrived is verified, stored and committed before the answer that acknowledges it is
sent. A relay forwards what comes from a child upward; the root (the hub) answers every chain
it stores with a signed receipt. The domain reacts through the site's hooks inside the same
transaction: the hub routes new cases, a township routes the cases of its own windows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import cbor2
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.exchange.account_events import account_destination
from shared.exchange.scans import note_blobs, receive_blobs
from shared.exchange.site import DOWN_LIMIT, WIRE_VERSION, SyncSite, blob_store_of
from shared.exchange.status import child_ack, child_info_key
from shared.exchange.tree import (
    children_of,
    send_all_down,
    send_parked_down,
    send_referred_down,
)
from shared.storage import sync_store as store
from shared.storage.case_erasure import PENDING_DOWN, erase_down_copies, erased_cases
from shared.storage.hand_back import own_chains
from shared.storage.link_state import (
    child_link_record,
    load_child_link,
    save_child_link,
)
from sync_protocol import (
    BlobWant,
    Credential,
    DownItem,
    Event,
    ParentExchange,
    ProtocolError,
    Release,
    WrongAddress,
    issue_receipt,
    request_sender,
)
from sync_protocol.compression import ZSTD_LEVEL_LARGE, ZstdDictionary, history_dictionary
from sync_protocol.credentials import credential_from_wire
from sync_protocol.features import CASE_REFS, HAND_BACK, LINK_HISTORY
from sync_protocol.framing import peek_frame
from sync_protocol.times import to_ms


@dataclass(frozen=True, slots=True)
class Answer:
    """What the HTTP layer sends back: status and the frame; ``stored``: how many new
    events from below the answer's transaction committed (a relay then sends them on)."""

    status: int
    data: bytes
    stored: int = 0


def history_key(child: str) -> str:
    """The record naming which of the child's two history slots is the newer (empty: none)."""
    return f"link_history:{child}"


def _slot_key(child: str, slot: int) -> str:
    return f"link_history:{child}:{slot}"


def held_histories(session: Session, child: str) -> list[ZstdDictionary]:
    """The bodies of the child's last two requests with a batch that this site answered,
    older first: the child compresses against the newer, or the older when that answer
    was lost. Read only for a request compressed against one of them."""
    marker = store.read_state(session, history_key(child))
    if not marker:
        return []
    newer = cbor2.loads(marker)
    found = []
    for slot in (1 - newer, newer):
        data = store.read_state(session, _slot_key(child, slot))
        if data:
            found.append(history_dictionary(data))
    return found


def _keep_history(child: str, body: bytes, marker: bytes | None) -> dict[str, bytes]:
    """The records that make ``body`` the newer history and the newer one the older (the
    held ``marker`` names the newer): the new body goes into the older slot, so a request
    costs one body's write, not two."""
    slot = 1 - cbor2.loads(marker) if marker else 0
    return {_slot_key(child, slot): history_dictionary(body).data,
            history_key(child): cbor2.dumps(slot)}


def _dictionary_id(data: bytes) -> int:
    """The history a request says it was compressed against (0: none, or not a frame:
    ``receive`` refuses that)."""
    try:
        return peek_frame(data, dictionaries={}).dict_id
    except ProtocolError:
        return 0


def answer_child(session: Session, site: SyncSite, data: bytes, now: datetime) -> Answer:
    """Verify, store and answer one request from a child; commits before answering."""
    ring = store.build_keyring(session, site.hub_site, site.hub_public_raw)
    try:
        sender = request_sender(data, ring)
    except ProtocolError as err:
        return Answer(err.http_status, _refusal_json(err))
    link = load_child_link(session, sender, lock=True)
    history = held_histories(session, sender) if _dictionary_id(data) else []
    ex = ParentExchange(key=site.key, keyring=ring, link=link, epoch=site.epoch,
                        own_credentials=site.own_credentials,
                        large_level=ZSTD_LEVEL_LARGE if site.is_root else None,
                        dictionaries={d.dict_id: d for d in history},
                        erased_here=lambda case_id: bool(
                            erased_cases(session, [case_id], by=site.hub_site)))
    try:
        incoming = ex.receive(data, now)
    except ProtocolError as err:
        if sender in children_of(session, site.code):
            save_child_link(session, ex.link)
            session.commit()
        else:
            session.rollback()
        return Answer(err.http_status, ex.refuse(err, now))
    now_ms = to_ms(now)
    # A child introduces itself with its hub-signed certificate on first contact.
    store.add_credentials(session, incoming.credentials, forward=not site.is_root)
    if sender not in children_of(session, site.code):
        session.rollback()
        refusal = WrongAddress("request.sender", "not a child of this site")
        return Answer(refusal.http_status, ex.refuse(refusal, now))
    stored = store.store_received_many(session, site.sealer, incoming.new_events,
                                       up=not site.is_root, now_ms=now_ms)
    # this site's own events from before its restore, back from the child that holds them:
    # stored before the hooks run, so a case decided before the restore is not decided again
    handed = store.store_received_many(session, site.sealer, incoming.handed_back, up=False,
                                       now_ms=now_ms)
    # and queued down again toward the sites they are for: the child that handed them back
    # recognises them, but it (or a site below it) may itself be restored before they
    # reach the village, and then only this site's down stream can bring them again
    send_all_down(session, site, [(e, account_destination(e, site.hub_site)) for e in handed],
                  now)
    if not site.is_root:  # a relay restored from a backup may hold decisions for them
        send_parked_down(session, site, stored, now)
    # 全城通办: a case referred to another branch below this site goes on down there, and
    # what its office decides comes back down toward the branch that registered it
    send_referred_down(session, site, stored, now)
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
    site.hooks.events_arrived(session, [*stored, *handed], now)
    # the child's history marker and the erased copies still on their way: one read
    keeps_history = incoming.history is not None and LINK_HISTORY in incoming.features
    held = store.read_states(session, [PENDING_DOWN, *([history_key(sender)]
                                                       if keeps_history else [])])
    store.write_states(session, {
        link_key: link_value,  # the link row is locked since load_child_link: written once
        child_info_key(sender): json.dumps({
            "last_contact_ms": now_ms, "epoch": incoming.child_epoch,
            "wire_version": WIRE_VERSION, "releases_known": dict(incoming.releases_known),
        }).encode(),
        f"child_ack:{sender}": cbor2.dumps([incoming.down_ack.epoch, incoming.down_ack.seq]),
        **(_keep_history(sender, incoming.history, held.get(history_key(sender)))
           if keeps_history and incoming.history is not None else {}),
    })
    # copies of an erased case that were on their way when it was erased, now delivered
    erase_down_copies(session, lambda child: child_ack(session, child),
                      pending_record=held.get(PENDING_DOWN), read=False)
    down = store.down_after(session, sender, incoming.down_ack, DOWN_LIMIT + 1)
    down_more = len(down) > DOWN_LIMIT
    down = down[:DOWN_LIMIT]
    # a child reading case refs gets the key each case's id derives from instead of its id
    opened = (store.opening_keys(session, {d.item.case_id for d in down
                                           if isinstance(d.item, Event)})
              if CASE_REFS in incoming.features else {})
    releases = (site.releases(session, now) if site.releases is not None
                else store.latest_releases(session))
    vouching = _credentials_for(session, site, down, hub_chain=ex.answer_complete or bool(down)
                                or _newer_releases(releases, incoming.releases_known))
    chains = (own_chains(session, site.code, site.epoch)
              if ex.answer_complete and HAND_BACK in incoming.features and site.epoch > 1
              else None)
    session.commit()  # chunks were flushed to disk before: the wants below are durable
    return Answer(200, ex.respond(now, down=down, releases=releases, credentials=vouching,
                                  blob_wants=wants, down_more=down_more,
                                  case_keys=opened.get, own_chains=chains),
                  stored=len(stored))


def _credentials_for(session: Session, site: SyncSite, down: Sequence[DownItem], *,
                     hub_chain: bool = False) -> list[Credential]:
    """The certificates (and rotations) of the authors of the events going down, so the
    child can check each event's signature: a township's village has never met the county
    whose window decided its case. Ours travels anyway. The hub's key is pinned everywhere,
    but not its rotations: with ``hub_chain`` (a complete answer, or one carrying items or
    releases the hub signed) the hub's rotations and the certificates of its earlier keys go
    too, so a site offline since before a rotation follows the chain (none: nothing sent)."""
    origins = {d.item.origin for d in down
               if isinstance(d.item, Event) and d.item.origin not in (site.hub_site, site.code)}
    origins |= _account_destinations(site, down)
    if hub_chain:  # at the hub its own chain, at a relay the chain it was handed
        origins.add(site.hub_site)
    if not origins:
        return []
    rows = session.scalars(select(store.SyncCredential.wire)
                           .where(store.SyncCredential.site.in_(sorted(origins)))
                           .order_by(store.SyncCredential.id))
    return [credential_from_wire(cbor2.loads(wire)) for wire in rows]


def _newer_releases(releases: Sequence[Release], known: Mapping[str, int]) -> bool:
    return any(r.version > known.get(r.kind, 0) for r in releases)


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
    store.enqueue_down_many(session, receipts, epoch=site.epoch, now_ms=to_ms(now))


def _refusal_json(err: ProtocolError) -> bytes:
    return json.dumps({"error": {"code": err.code, "message": f"{err.field}: {err.reason}",
                                 "fields": {}}}).encode()
