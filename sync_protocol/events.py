"""Events of a case and the per-origin hash chain they form.

Each (origin, epoch) is one chain: event ``seq`` commits to the hash of event
``seq - 1`` (or to the chain's genesis hash for ``seq == 1``). An origin signs
its chain head; one signature over a head commits to every earlier event of
that chain, which is why a batch needs only one signature per chain and no
hash on the wire: the receiver recomputes the hashes.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sync_protocol import statements
from sync_protocol.canonical import JsonValue, check_payload, encode
from sync_protocol.errors import LocalProtocolError, Malformed
from sync_protocol.keys import Signature, SiteKey
from sync_protocol.payload_digest import payload_digest
from sync_protocol.sites import check_site_code
from sync_protocol.times import from_ms, to_ms

HASH_SIZE = 32
MAX_ACTOR = 80
MAX_TYPE = 40


@dataclass(frozen=True, slots=True, order=True)
class EventKey:
    """The dedupe key of an event, the same at every site."""

    origin: str
    epoch: int
    seq: int


def genesis_hash(origin: str, epoch: int) -> bytes:
    """The hash that event 1 of (origin, epoch) commits to."""
    return hashlib.sha256(encode([statements.GENESIS, origin, epoch])).digest()


def event_hash(
    prev_hash: bytes, case_id: uuid.UUID, origin: str, epoch: int, seq: int, actor: str,
    at_ms: int, type_: str, payload: Mapping[str, JsonValue],
) -> bytes:
    """SHA-256 over the deterministic CBOR of the event's header, its predecessor's hash and
    its payload's digest (:func:`payload_digest`: the same for the payload and for its
    erased form, so an erased event keeps its hash, its link and its signature)."""
    body = encode([statements.EVENT, prev_hash, case_id.bytes, origin, epoch, seq, actor,
                   at_ms, type_, payload_digest(payload)])
    return hashlib.sha256(body).digest()


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last event of a chain: all an author must remember to append the next one."""

    origin: str
    epoch: int
    seq: int
    hash: bytes

    @classmethod
    def genesis(cls, origin: str, epoch: int) -> ChainHead:
        check_site_code(origin, "origin")
        if epoch < 1:
            raise LocalProtocolError("epoch", "epochs start at 1")
        return cls(origin, epoch, 0, genesis_hash(origin, epoch))

    def statement(self) -> bytes:
        return statements.head_statement(self.origin, self.epoch, self.seq, self.hash)


@dataclass(frozen=True, slots=True)
class Event:
    """One event of a case's log as every site stores it.

    ``hash`` is this event's chain hash and ``prev_hash`` its predecessor's.
    ``signature`` is the origin's signature over the chain head at this event;
    the origin signs every event it authors, a relay keeps the signatures that
    reached it (one per received batch and chain).
    """

    case_id: uuid.UUID
    origin: str
    epoch: int
    seq: int
    actor: str
    at: datetime
    type: str
    payload: Mapping[str, JsonValue]
    prev_hash: bytes
    hash: bytes
    signature: Signature | None = None

    @property
    def key(self) -> EventKey:
        return EventKey(self.origin, self.epoch, self.seq)

    @property
    def head(self) -> ChainHead:
        return ChainHead(self.origin, self.epoch, self.seq, self.hash)

    def computed_hash(self) -> bytes:
        return event_hash(self.prev_hash, self.case_id, self.origin, self.epoch, self.seq,
                          self.actor, to_ms(self.at), self.type, self.payload)


def check_event_fields(actor: str, type_: str, payload: object, field: str) -> None:
    """The bounds every event honours, on the way in and the way out."""
    if not 0 < len(actor) <= MAX_ACTOR:
        raise Malformed(f"{field}.actor", f"1-{MAX_ACTOR} characters")
    if not 0 < len(type_) <= MAX_TYPE:
        raise Malformed(f"{field}.type", f"1-{MAX_TYPE} characters")
    if not isinstance(payload, dict):
        raise Malformed(f"{field}.payload", "expected a map")
    check_payload(payload, field=f"{field}.payload")


def chained_event(
    prev: ChainHead, *, case_id: uuid.UUID, actor: str, at_ms: int, type_: str,
    payload: Mapping[str, JsonValue], signature: Signature | None = None,
) -> Event:
    """The event that follows ``prev``, with its hash computed (nothing is checked)."""
    seq = prev.seq + 1
    h = event_hash(prev.hash, case_id, prev.origin, prev.epoch, seq, actor, at_ms, type_, payload)
    return Event(case_id, prev.origin, prev.epoch, seq, actor, from_ms(at_ms), type_, payload,
                 prev.hash, h, signature)


def append_event(
    head: ChainHead, key: SiteKey, *, case_id: uuid.UUID, actor: str, at: datetime, type: str,
    payload: Mapping[str, JsonValue],
) -> Event:
    """Author the next event of ``head``'s chain, hashed and signed.

    The caller stores the event and keeps ``event.head`` as the chain's new head
    (in the same transaction). ``at`` is the origin's corrected time.
    """
    if key.site != head.origin:
        raise LocalProtocolError("key", f"key of {key.site} cannot author for {head.origin}")
    check_event_fields(actor, type, payload, "event")
    event = chained_event(head, case_id=case_id, actor=actor, at_ms=to_ms(at), type_=type,
                          payload=dict(payload))
    signature = key.sign(event.head.statement())
    return Event(event.case_id, event.origin, event.epoch, event.seq, event.actor, event.at,
                 event.type, event.payload, event.prev_hash, event.hash, signature)
