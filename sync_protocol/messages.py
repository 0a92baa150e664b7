"""The bodies of requests, responses and refusals, and the items of the downward stream.

Bodies are CBOR maps with small integer keys (the spec's tables list them).
Readers ignore keys they do not know, so optional fields can be added without
a new wire version.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sync_protocol.blobs import (
    BlobChunk,
    BlobOffer,
    BlobWant,
    chunks_from_wire,
    chunks_to_wire,
    offers_from_wire,
    offers_to_wire,
    wants_from_wire,
    wants_to_wire,
)
from sync_protocol.canonical import check_payload, encode
from sync_protocol.columns import CaseKeys, ReceivedGroup, decode_batch, encode_batch
from sync_protocol.credentials import Credential, credential_from_wire
from sync_protocol.errors import Malformed
from sync_protocol.events import HASH_SIZE, MAX_ACTOR, MAX_TYPE, Event, check_event_fields
from sync_protocol.features import MAX_FEATURES
from sync_protocol.fields import (
    as_bool,
    as_bytes,
    as_int,
    as_list,
    as_map,
    as_str,
    get,
    opt,
)
from sync_protocol.keys import KEY_ID_SIZE, SIGNATURE_SIZE, Signature, SiteKey
from sync_protocol.releases import Release, release_from_wire
from sync_protocol.sites import check_site_code
from sync_protocol.statements import receipt_statement
from sync_protocol.times import from_ms, to_ms

NONCE_SIZE = 16
MAX_ITEMS = 10_000
MAX_REASON = 500


@dataclass(frozen=True, slots=True, order=True)
class LinkPosition:
    """A place in a parent's downward stream to one child: (parent epoch, link seq)."""

    epoch: int = 0
    seq: int = 0


@dataclass(frozen=True, slots=True)
class Receipt:
    """The hub's signed statement that it ingested ``origin``'s chain up to ``through_seq``.

    One receipt answers every case whose events it covers ("received by the city").
    """

    origin: str
    epoch: int
    through_seq: int
    at: datetime
    signature: Signature

    def statement(self) -> bytes:
        return receipt_statement(self.origin, self.epoch, self.through_seq, to_ms(self.at))


def issue_receipt(hub_key: SiteKey, *, origin: str, epoch: int, through_seq: int,
                  now: datetime) -> Receipt:
    """Sign a receipt at the hub after it durably stored the chain up to ``through_seq``."""
    at = from_ms(to_ms(now))
    unsigned = Receipt(origin, epoch, through_seq, at, Signature(bytes(8), bytes(64)))
    return Receipt(origin, epoch, through_seq, at, hub_key.sign(unsigned.statement()))


DownPayload = Event | Receipt


@dataclass(frozen=True, slots=True)
class DownItem:
    """One item of a parent's downward outbox to a child, at its link position."""

    position: LinkPosition
    item: DownPayload


@dataclass(frozen=True, slots=True)
class Watermark:
    """The parent holds (origin, epoch) up to and including ``seq``."""

    origin: str
    epoch: int
    seq: int


@dataclass(frozen=True, slots=True)
class GroupRefusal:
    """A run the parent did not store, and why (a stable error code, or ``gap``)."""

    origin: str
    epoch: int
    first_seq: int
    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class RequestBody:
    sender: str
    recipient: str
    sent_at_ms: int
    nonce: bytes
    sender_epoch: int
    parent_epoch_seen: int
    down_ack: LinkPosition
    groups: tuple[ReceivedGroup, ...] = ()
    credentials: tuple[Credential, ...] = ()
    blob_offers: tuple[BlobOffer, ...] = ()
    blob_chunks: tuple[BlobChunk, ...] = ()
    releases_known: Mapping[str, int] = field(default_factory=dict)
    accept_codecs: tuple[int, ...] = (0, 1)
    dictionaries: tuple[int, ...] = ()
    features: tuple[int, ...] = ()
    """Key 14: the features the child reads (absent: last year's child, none)."""
    handed_back: object | None = None
    """Key 15, raw: the parent's own events handed back after its restore (feature 5;
    :func:`sync_protocol.hand_back.decode_hand_back` verifies it)."""


@dataclass(frozen=True, slots=True)
class ResponseBody:
    sender: str
    recipient: str
    clock_ms: int
    request_digest: bytes
    sender_epoch: int
    watermarks: tuple[Watermark, ...]
    complete: bool
    refused: tuple[GroupRefusal, ...]
    down: tuple[DownItem, ...]
    releases: tuple[Release, ...]
    blob_wants: tuple[BlobWant, ...]
    credentials: tuple[Credential, ...]
    features: tuple[int, ...] = ()
    """Key 12: the features the parent reads."""
    down_batch: Mapping[int, object] | None = None
    """Key 13: the down items as a down batch (instead of key 8)."""
    down_more: bool | None = None
    """Key 14: whether down items remain after these (None: the parent did not say)."""
    own_chains: Mapping[int, int] = field(default_factory=dict)
    """Key 15: per older epoch of the parent's own chain, the seq it holds it through
    without a gap (feature 5, in a complete answer after a restore)."""


@dataclass(frozen=True, slots=True)
class RefusalBody:
    sender: str
    recipient: str
    clock_ms: int
    request_digest: bytes
    code: str
    reason: str
    readable_versions: tuple[int, ...]
    credentials: tuple[Credential, ...] = ()
    features: tuple[int, ...] = ()


# -- requests ------------------------------------------------------------------------


def encode_request(
    *, sender: str, recipient: str, sent_at_ms: int, nonce: bytes, sender_epoch: int,
    parent_epoch_seen: int, down_ack: LinkPosition, runs: Sequence[Sequence[Event]],
    credentials: Sequence[Credential], blob_offers: Sequence[BlobOffer],
    blob_chunks: Sequence[BlobChunk], releases_known: Mapping[str, int],
    accept_codecs: Sequence[int], dictionaries: Sequence[int],
    features: Sequence[int] = (), refs: bool = False, case_keys: CaseKeys | None = None,
    handed_back: Mapping[int, object] | None = None,
) -> bytes:
    body: dict[int, object] = {
        0: sender, 1: recipient, 2: sent_at_ms, 3: nonce, 4: sender_epoch,
        5: parent_epoch_seen, 6: [down_ack.epoch, down_ack.seq],
        11: dict(releases_known), 12: list(accept_codecs),
    }
    if runs:
        body[7] = encode_batch(runs, refs=refs, case_keys=case_keys)
    if credentials:
        body[8] = [c.to_wire() for c in credentials]
    if blob_offers:
        body[9] = offers_to_wire(blob_offers)
    if blob_chunks:
        body[10] = chunks_to_wire(blob_chunks)
    if dictionaries:
        body[13] = list(dictionaries)
    if features:
        body[14] = sorted(set(features))
    if handed_back:
        body[15] = dict(handed_back)
    return encode(body)


def _features(m: Mapping[object, object], key: int, field: str) -> tuple[int, ...]:
    return tuple(as_int(f, field, hi=2**32 - 1)
                 for f in as_list(opt(m, key, []), field, max_len=MAX_FEATURES))


def _position(value: object, field: str) -> LinkPosition:
    p = as_list(value, field, max_len=2)
    if len(p) != 2:
        raise Malformed(field, "expected [epoch, seq]")
    return LinkPosition(as_int(p[0], f"{field}.epoch"), as_int(p[1], f"{field}.seq"))


def _site(m: Mapping[object, object], key: int, field: str) -> str:
    return check_site_code(as_str(get(m, key, field), field), field)


def decode_request(value: object) -> RequestBody:
    m = as_map(value, "request")
    known = as_map(opt(m, 11, {}), "request.releases_known")
    releases_known = {as_str(k, "request.releases_known", max_len=20):
                      as_int(v, "request.releases_known") for k, v in known.items()}
    return RequestBody(
        sender=_site(m, 0, "request.sender"),
        recipient=_site(m, 1, "request.recipient"),
        sent_at_ms=as_int(get(m, 2, "request.sent_at"), "request.sent_at"),
        nonce=as_bytes(get(m, 3, "request.nonce"), "request.nonce", size=NONCE_SIZE),
        sender_epoch=as_int(get(m, 4, "request.sender_epoch"), "request.sender_epoch", lo=1),
        parent_epoch_seen=as_int(get(m, 5, "request.parent_epoch"), "request.parent_epoch"),
        down_ack=_position(get(m, 6, "request.down_ack"), "request.down_ack"),
        groups=tuple(decode_batch(m[7], "request.batch")) if 7 in m else (),
        credentials=tuple(credential_from_wire(c) for c in
                          as_list(opt(m, 8, []), "request.credentials", max_len=64)),
        blob_offers=tuple(offers_from_wire(opt(m, 9, []))),
        blob_chunks=tuple(chunks_from_wire(opt(m, 10, []))),
        releases_known=releases_known,
        accept_codecs=tuple(as_int(c, "request.accept", hi=255)
                            for c in as_list(opt(m, 12, [0, 1]), "request.accept", max_len=16)),
        dictionaries=tuple(as_int(d, "request.dictionaries", hi=2**32 - 1)
                           for d in as_list(opt(m, 13, []), "request.dictionaries", max_len=16)),
        features=_features(m, 14, "request.features"),
        handed_back=m.get(15),
    )


# -- down items ----------------------------------------------------------------------


def receipt_to_wire(x: Receipt) -> list[object]:
    return [x.origin, x.epoch, x.through_seq, to_ms(x.at), x.signature.key_id,
            x.signature.value]


def down_item_to_wire(item: DownItem) -> list[object]:
    pos = [item.position.epoch, item.position.seq]
    x = item.item
    if isinstance(x, Receipt):
        return [*pos, 1, receipt_to_wire(x)]
    if x.signature is None:
        raise Malformed("down.event", "events sent down must carry their origin's signature")
    return [*pos, 0, [x.case_id.bytes, x.origin, x.epoch, x.seq, x.actor, to_ms(x.at), x.type,
                      x.payload, x.prev_hash, x.signature.key_id, x.signature.value]]


def _sig(key_id: object, value: object, field: str) -> Signature:
    return Signature(as_bytes(key_id, f"{field}.key_id", size=KEY_ID_SIZE),
                     as_bytes(value, f"{field}.signature", size=SIGNATURE_SIZE))


def down_item_from_wire(value: object) -> tuple[LinkPosition, int, list[object]]:
    """Position, kind and fields of a down item (``down_payload`` builds the item)."""
    v = as_list(value, "down", max_len=4)
    if len(v) != 4:
        raise Malformed("down", "expected [epoch, seq, kind, item]")
    pos = LinkPosition(as_int(v[0], "down.epoch", lo=1), as_int(v[1], "down.seq", lo=1))
    kind = as_int(v[2], "down.kind", hi=1)
    return pos, kind, as_list(v[3], "down.item", max_len=11)


def down_payload(kind: int, f: list[object]) -> DownPayload:
    """Rebuild a receipt, or an event whose ``hash`` is left empty for the child to compute."""
    if kind == 1:
        if len(f) != 6:
            raise Malformed("down.receipt", "expected 6 elements")
        return Receipt(
            check_site_code(as_str(f[0], "receipt.origin"), "receipt.origin"),
            as_int(f[1], "receipt.epoch", lo=1), as_int(f[2], "receipt.through_seq", lo=1),
            from_ms(as_int(f[3], "receipt.at")), _sig(f[4], f[5], "receipt"),
        )
    if len(f) != 11:
        raise Malformed("down.event", "expected 11 elements")
    actor = as_str(f[4], "event.actor", max_len=MAX_ACTOR)
    type_ = as_str(f[6], "event.type", max_len=MAX_TYPE)
    payload = f[7]
    check_event_fields(actor, type_, payload, "event")
    assert isinstance(payload, dict)
    check_payload(payload)
    return Event(
        uuid.UUID(bytes=as_bytes(f[0], "event.case_id", size=16)),
        check_site_code(as_str(f[1], "event.origin"), "event.origin"),
        as_int(f[2], "event.epoch", lo=1), as_int(f[3], "event.seq", lo=1), actor,
        from_ms(as_int(f[5], "event.at")), type_, payload,
        as_bytes(f[8], "event.prev_hash", size=HASH_SIZE), b"",
        _sig(f[9], f[10], "event"),
    )


# -- responses and refusals ----------------------------------------------------------


def encode_response(r: ResponseBody) -> bytes:
    body: dict[int, object] = {
        0: r.sender, 1: r.recipient, 2: r.clock_ms, 3: r.request_digest, 4: r.sender_epoch,
        5: [[w.origin, w.epoch, w.seq] for w in r.watermarks], 6: r.complete,
    }
    if r.refused:
        body[7] = [[g.origin, g.epoch, g.first_seq, g.code, g.reason] for g in r.refused]
    if r.down:
        body[8] = [down_item_to_wire(d) for d in r.down]
    if r.releases:
        body[9] = [x.to_wire() for x in r.releases]
    if r.blob_wants:
        body[10] = wants_to_wire(r.blob_wants)
    if r.credentials:
        body[11] = [c.to_wire() for c in r.credentials]
    if r.features:
        body[12] = sorted(set(r.features))
    if r.down_batch is not None:
        body[13] = dict(r.down_batch)
    if r.down_more is not None:
        body[14] = r.down_more
    if r.own_chains:
        body[15] = [[e, s] for e, s in sorted(r.own_chains.items())]
    return encode(body)


def _watermark(value: object) -> Watermark:
    w = as_list(value, "watermark", max_len=3)
    if len(w) != 3:
        raise Malformed("watermark", "expected [origin, epoch, seq]")
    return Watermark(check_site_code(as_str(w[0], "watermark.origin"), "watermark.origin"),
                     as_int(w[1], "watermark.epoch", lo=1), as_int(w[2], "watermark.seq"))


def _refusal(value: object) -> GroupRefusal:
    g = as_list(value, "refused", max_len=5)
    if len(g) != 5:
        raise Malformed("refused", "expected 5 elements")
    return GroupRefusal(check_site_code(as_str(g[0], "refused.origin"), "refused.origin"),
                        as_int(g[1], "refused.epoch", lo=1),
                        as_int(g[2], "refused.first_seq", lo=1),
                        as_str(g[3], "refused.code", max_len=40),
                        as_str(g[4], "refused.reason", max_len=MAX_REASON))


def decode_response_head(value: object) -> tuple[dict[object, object], ResponseBody]:
    """The response with its down items left raw (the child verifies them one by one)."""
    m = dict(as_map(value, "response"))
    body = ResponseBody(
        sender=_site(m, 0, "response.sender"),
        recipient=_site(m, 1, "response.recipient"),
        clock_ms=as_int(get(m, 2, "response.clock"), "response.clock"),
        request_digest=as_bytes(get(m, 3, "response.request"), "response.request", size=32),
        sender_epoch=as_int(get(m, 4, "response.epoch"), "response.epoch", lo=1),
        watermarks=tuple(_watermark(w) for w in as_list(
            get(m, 5, "response.watermarks"), "response.watermarks", max_len=1_000_000)),
        complete=as_bool(get(m, 6, "response.complete"), "response.complete"),
        refused=tuple(_refusal(g) for g in as_list(opt(m, 7, []), "response.refused",
                                                   max_len=MAX_ITEMS)),
        down=(),
        releases=tuple(release_from_wire(x) for x in as_list(
            opt(m, 9, []), "response.releases", max_len=64)),
        blob_wants=tuple(wants_from_wire(opt(m, 10, []))),
        credentials=tuple(credential_from_wire(c) for c in as_list(
            opt(m, 11, []), "response.credentials", max_len=64)),
        features=_features(m, 12, "response.features"),
        down_more=as_bool(m[14], "response.more") if 14 in m else None,
        own_chains=_own_chains(opt(m, 15, [])),
    )
    return m, body


MAX_OWN_CHAINS = 64
"""Older epochs a parent lists in one answer (one per restore it went through)."""


def _own_chains(value: object) -> dict[int, int]:
    out: dict[int, int] = {}
    for item in as_list(value, "response.own_chains", max_len=MAX_OWN_CHAINS):
        pair = as_list(item, "response.own_chains", max_len=2)
        if len(pair) != 2:
            raise Malformed("response.own_chains", "expected [epoch, seq]")
        out[as_int(pair[0], "response.own_chains.epoch", lo=1)] = as_int(
            pair[1], "response.own_chains.seq")
    return out


def encode_refusal(r: RefusalBody) -> bytes:
    body: dict[int, object] = {
        0: r.sender, 1: r.recipient, 2: r.clock_ms, 3: r.request_digest, 4: r.code,
        5: r.reason[:MAX_REASON], 6: list(r.readable_versions),
    }
    if r.credentials:
        body[11] = [c.to_wire() for c in r.credentials]
    if r.features:
        body[12] = sorted(set(r.features))
    return encode(body)


def decode_refusal(value: object) -> RefusalBody:
    m = as_map(value, "refusal")
    return RefusalBody(
        sender=_site(m, 0, "refusal.sender"),
        recipient=_site(m, 1, "refusal.recipient"),
        clock_ms=as_int(get(m, 2, "refusal.clock"), "refusal.clock"),
        request_digest=as_bytes(get(m, 3, "refusal.request"), "refusal.request", max_len=32),
        code=as_str(get(m, 4, "refusal.code"), "refusal.code", max_len=40),
        reason=as_str(get(m, 5, "refusal.reason"), "refusal.reason", max_len=MAX_REASON),
        readable_versions=tuple(as_int(v, "refusal.versions", hi=255) for v in as_list(
            opt(m, 6, []), "refusal.versions", max_len=16)),
        features=_features(m, 12, "refusal.features"),
    )
