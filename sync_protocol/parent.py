"""The parent's side of an exchange: verify a request, let the caller store, answer.

Usage (one object per HTTP request)::

    child = request_sender(data, keyring)          # whose link state to load
    ex = ParentExchange(key=..., keyring=..., link=load(child), epoch=my_epoch)
    try:
        incoming = ex.receive(data, now)
    except ProtocolError as err:
        return ex.refuse(err, now)                  # persist ex.link (nonces) too
    store(incoming.new_events)                      # one transaction, durably
    save(ex.stored())                               # the link state with new heads
    return ex.respond(now, down=outbox_after(incoming.down_ack))
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sync_protocol.blobs import BlobChunk, BlobOffer, BlobWant
from sync_protocol.canonical import encode
from sync_protocol.clock import WINDOW_MS, NonceCache, check_window
from sync_protocol.columns import CaseKeys
from sync_protocol.compression import LARGE_BODY, Codec, ZstdDictionary
from sync_protocol.credentials import Credential, credential_from_wire
from sync_protocol.down_batch import encode_down_batch
from sync_protocol.errors import (
    KeyRevoked,
    KeyUnknown,
    LocalProtocolError,
    Malformed,
    ProtocolError,
    SignatureInvalid,
    WrongAddress,
    WrongOrigin,
)
from sync_protocol.events import ChainHead, Event, EventKey, chained_event
from sync_protocol.features import (
    CASE_REFS,
    DOWN_BATCH,
    HAND_BACK,
    KNOWN,
    SPARSE_SIGNATURES,
    common,
)
from sync_protocol.fields import as_list, as_map
from sync_protocol.framing import (
    MAX_FRAME,
    READABLE_VERSIONS,
    Kind,
    decode_frame,
    encode_frame,
    frame_digest,
    peek_frame,
)
from sync_protocol.hand_back import HandedBack, decode_hand_back
from sync_protocol.keyring import KeyRing, adopt
from sync_protocol.keys import SiteKey, verify
from sync_protocol.messages import (
    DownItem,
    GroupRefusal,
    LinkPosition,
    RefusalBody,
    ResponseBody,
    Watermark,
    decode_request,
    encode_refusal,
    encode_response,
)
from sync_protocol.payload_digest import ERASURE_UNPROVEN, unproven_erasures
from sync_protocol.releases import Release
from sync_protocol.sites import check_site_code
from sync_protocol.state import PARENT_TRANSITIONS, Input, Machine
from sync_protocol.times import from_ms, to_ms

ChainId = tuple[str, int]


@dataclass(frozen=True, slots=True)
class ChildLink:
    """The parent's durable state for one child: what it holds of each chain below it
    and the nonces it has seen. Persist it after every exchange."""

    child: str
    heads: Mapping[ChainId, ChainHead] = field(default_factory=dict)
    nonces: NonceCache = field(default_factory=NonceCache)

    def watermark(self, origin: str, epoch: int) -> int:
        head = self.heads.get((origin, epoch))
        return head.seq if head else 0


@dataclass(frozen=True, slots=True)
class IncomingRequest:
    """A verified request: what to store, and what the child asked for."""

    child: str
    child_epoch: int
    sent_at: datetime
    new_events: tuple[Event, ...]
    """Verified events not held before, in chain order; each run's last one is signed."""
    duplicates: tuple[EventKey, ...]
    refused: tuple[GroupRefusal, ...]
    down_ack: LinkPosition
    credentials: tuple[Credential, ...]
    blob_offers: tuple[BlobOffer, ...]
    blob_chunks: tuple[BlobChunk, ...]
    releases_known: Mapping[str, int]
    digest: bytes
    features: tuple[int, ...] = ()
    """What the child reads (request key 14): ``respond`` uses it; empty for last year's."""
    history: bytes | None = None
    """The request body (canonical CBOR) when it carried a batch: the link's history from
    now on (keep the last two per child; :func:`history_dictionary`)."""
    handed_back: tuple[Event, ...] = ()
    """This site's own events of an older epoch, handed back after its restore (feature
    5), each verified against its own key; store the ones not held (never sent on up)."""
    handed_back_refused: int = 0
    """Runs handed back that were not this site's or did not verify: dropped."""


def request_sender(data: bytes, keyring: KeyRing, *,
                   dictionaries: Mapping[int, ZstdDictionary] | None = None) -> str:
    """The site a request claims to come from, to choose which :class:`ChildLink` to load.

    Nothing is trusted here: :meth:`ParentExchange.receive` checks the claim. When
    the signing key is known its site is answered without opening the body.
    """
    frame = peek_frame(data, dictionaries=dictionaries or {})
    try:
        return keyring.key(frame.key_id).site
    except KeyUnknown:
        pass
    body = as_map(frame.open(), "request")
    sender = body.get(0)
    if not isinstance(sender, str):
        raise Malformed("request.sender", "missing")
    return check_site_code(sender, "request.sender")


class ParentExchange:
    """One request from one child, seen by the parent."""

    def __init__(self, *, key: SiteKey, keyring: KeyRing, link: ChildLink, epoch: int,
                 own_credentials: Sequence[Credential] = (),
                 dictionaries: Mapping[int, ZstdDictionary] | None = None,
                 window_ms: int = WINDOW_MS, max_frame: int = MAX_FRAME,
                 large_level: int | None = None, features: Sequence[int] = KNOWN,
                 erased_here: Callable[[uuid.UUID], bool] = lambda _case: False) -> None:
        self.key = key
        self.erased_here = erased_here
        """Whether this site holds the hub's ``erased`` event of a case: only then are
        erased payloads of its events accepted (:func:`unproven_erasures`)."""
        self.keyring = keyring
        self.link = link
        self.epoch = epoch
        self.own_credentials = tuple(own_credentials)
        self.dictionaries = dict(dictionaries or {})
        self.window_ms = window_ms
        self.max_frame = max_frame
        self.large_level = large_level
        """The zstd level of a response body over ``LARGE_BODY`` bytes (None: the level of
        every frame). The hub answers townships' full batches all day, and level 19 costs it
        some 10 ms of CPU per answer for about 5 % fewer bytes."""
        self.features = tuple(sorted(set(features)))
        """The features this parent reads (response and refusal key 12; empty: none, as
        last year's parent, which also ignores what the child reads)."""
        self._machine = Machine(PARENT_TRANSITIONS)
        self._incoming: IncomingRequest | None = None
        self._heads_after: dict[ChainId, ChainHead] = {}
        self._touched: list[ChainId] = []
        self._parent_epoch_seen = 0
        self._accept_codecs: tuple[int, ...] = (0,)
        self._digest = b""

    @property
    def state(self) -> str:
        return self._machine.state.value

    # -- receiving ----------------------------------------------------------------
    def _hop_public(self, key_id: bytes) -> Ed25519PublicKey:
        return self.keyring.for_hop(key_id).public  # not revoked, not rotated out

    def _introduce(self, body: object) -> None:
        m = as_map(body, "request")
        adopt(self.keyring, [credential_from_wire(c) for c in
                             as_list(m.get(8, []), "request.credentials", max_len=64)])

    def receive(self, data: bytes, now: datetime) -> IncomingRequest:
        """Verify a request; raises a ``ProtocolError`` (answer it with :meth:`refuse`)."""
        if not self._machine.can(Input.RECEIVE_REQUEST):
            raise LocalProtocolError("state", f"cannot receive in state {self.state}")
        self._digest = frame_digest(data)  # a refusal names even an unreadable request
        frame = decode_frame(data, self._hop_public, dictionaries=self.dictionaries,
                             max_frame=self.max_frame, introduce=self._introduce)
        if frame.kind is not Kind.REQUEST:
            raise Malformed("frame.kind", "expected a request")
        body = decode_request(frame.body)
        signer = self.keyring.key(frame.key_id).site
        if signer != body.sender:
            raise WrongAddress("request.sender", f"signed by {signer}, claims {body.sender}")
        if body.sender != self.link.child:
            raise WrongAddress("request.sender", f"{body.sender} is not {self.link.child}")
        if body.recipient != self.key.site:
            raise WrongAddress("request.recipient", f"addressed to {body.recipient}")
        now_ms = to_ms(now)
        check_window(body.sent_at_ms, now_ms, self.window_ms)
        nonces = self.link.nonces.admit(body.nonce, body.sent_at_ms, now_ms,
                                        window_ms=self.window_ms)
        adopt(self.keyring, body.credentials)
        heads = dict(self.link.heads)
        new: list[Event] = []
        dups: list[EventKey] = []
        refused: list[GroupRefusal] = []
        for g in body.groups:
            cid = (g.origin, g.epoch)
            if cid not in self._touched:
                self._touched.append(cid)
            try:
                if not self.keyring.knows_site(g.origin):
                    raise KeyUnknown("group.origin",
                                     f"no certificate of {g.origin}; forward it with the run")
                if not self.keyring.within(g.origin, body.sender):
                    raise WrongOrigin("group.origin",
                                      f"{g.origin} is not below {body.sender}")
                record = self.keyring.for_event(g.signature.key_id, g.origin, g.epoch,
                                                g.last_seq)
                head = heads.get(cid) or ChainHead.genesis(g.origin, g.epoch)
                if g.first_seq > head.seq + 1:
                    refused.append(GroupRefusal(
                        g.origin, g.epoch, g.first_seq, "gap",
                        f"holds up to {head.seq}; send from {head.seq + 1}"))
                    continue
                skip = head.seq + 1 - g.first_seq
                dups += [EventKey(g.origin, g.epoch, g.first_seq + i) for i in range(skip)]
                if g.last_seq <= head.seq:
                    dups += [EventKey(g.origin, g.epoch, s)
                             for s in range(g.first_seq + skip, g.last_seq + 1)]
                    continue
                run: list[Event] = []
                prev = head
                for rec in g.records[skip:]:
                    e = chained_event(prev, case_id=rec.case_id, actor=rec.actor,
                                      at_ms=rec.at_ms, type_=rec.type, payload=rec.payload)
                    run.append(e)
                    prev = e.head
                verify(record.public, g.signature.value, prev.statement(),
                       field="group.signature")
                run[-1] = replace(run[-1], signature=g.signature)
                heads[cid] = prev
                new += run
            except (WrongOrigin, KeyUnknown, KeyRevoked, SignatureInvalid) as err:
                refused.append(GroupRefusal(g.origin, g.epoch, g.first_seq, err.code,
                                            err.reason))
        returned = (decode_hand_back(body.handed_back, site=self.key.site, epoch=self.epoch,
                                     keyring=self.keyring)
                    if body.handed_back is not None and HAND_BACK in self.features else None)
        back = list(returned.events) if returned else []
        unproven = unproven_erasures([*new, *back], hub_site=self.keyring.hub_site,
                                     erased_here=self.erased_here)
        if unproven:
            new, back, cut = _without_unproven(new, back, unproven, self.link.heads, heads)
            refused += cut
            returned = HandedBack(tuple(back), returned.refused + len(
                {(e.origin, e.epoch) for e in unproven if e.origin == self.key.site})
            ) if returned else None
        self.link = replace(self.link, nonces=nonces)
        self._heads_after = heads
        self._parent_epoch_seen = body.parent_epoch_seen
        self._accept_codecs = body.accept_codecs
        self._incoming = IncomingRequest(
            child=body.sender, child_epoch=body.sender_epoch, sent_at=from_ms(body.sent_at_ms),
            new_events=tuple(new), duplicates=tuple(dups), refused=tuple(refused),
            down_ack=body.down_ack, credentials=body.credentials,
            blob_offers=body.blob_offers, blob_chunks=body.blob_chunks,
            releases_known=dict(body.releases_known), digest=frame.digest,
            features=body.features,
            history=encode(frame.body) if body.groups else None,
            handed_back=returned.events if returned else (),
            handed_back_refused=returned.refused if returned else 0,
        )
        self._machine.fire(Input.RECEIVE_REQUEST)
        return self._incoming

    @property
    def answer_complete(self) -> bool:
        """The answer to the request received lists every chain (the child has not seen
        this site's epoch yet: first contact, or this site was restored)."""
        return self._parent_epoch_seen != self.epoch

    def stored(self) -> ChildLink:
        """Record that every one of ``new_events`` is durably stored; returns the new state."""
        self._machine.fire(Input.MARK_STORED)
        self.link = replace(self.link, heads=self._heads_after)
        return self.link

    # -- answering ----------------------------------------------------------------
    def respond(self, now: datetime, *, down: Sequence[DownItem] = (),
                releases: Sequence[Release] = (), blob_wants: Sequence[BlobWant] = (),
                credentials: Sequence[Credential] = (), down_more: bool = False,
                case_keys: CaseKeys | None = None,
                own_chains: Mapping[int, int] | None = None) -> bytes:
        """The response frame: acks of what is stored, the next down items, releases.

        A child that reads the down batch gets one (sparse signatures and case refs when it
        reads those too; ``case_keys`` names the event that opened a case); last year's
        child gets the items one by one. Items that cannot go in this answer (an event not
        covered by a signature held here, or beyond the frame limit) are left for the next:
        the answer says so (``down_more``, also to be set when items remain after ``down``).
        ``own_chains``: after a restore, per older epoch of this site's own chain, the seq
        it holds it through without a gap (sent in a complete answer to a child listing
        ``HAND_BACK``: the child hands back what it holds above).
        """
        incoming = self._incoming
        if incoming is None or not self._machine.can(Input.SEND_RESPONSE):
            raise LocalProtocolError("state", f"cannot respond in state {self.state}")
        last = incoming.down_ack
        for d in down:
            if d.position <= last:
                raise LocalProtocolError("down", "items must follow the child's ack, in order")
            last = d.position
        complete = self._parent_epoch_seen != self.epoch
        if complete:
            chains = sorted(self.link.heads)
            creds = (*self.own_credentials, *credentials)
        else:
            chains = self._touched
            creds = tuple(credentials)
        marks = tuple(Watermark(o, e, self.link.watermark(o, e)) for o, e in chains)
        known = incoming.releases_known
        features = common(self.features, incoming.features)
        codec = Codec.ZSTD if Codec.ZSTD in self._accept_codecs else Codec.NONE
        count = len(down)
        while True:
            items, batch, held = self._down_part(down[:count], features, case_keys)
            body = ResponseBody(
                sender=self.key.site, recipient=incoming.child, clock_ms=to_ms(now),
                request_digest=incoming.digest, sender_epoch=self.epoch, watermarks=marks,
                complete=complete, refused=incoming.refused, down=items,
                releases=tuple(r for r in releases if r.version > known.get(r.kind, 0)),
                blob_wants=tuple(blob_wants), credentials=creds, features=self.features,
                down_batch=batch,
                down_more=(down_more or held < len(down)) if self.features else None,
                own_chains=dict(own_chains or {}) if complete and HAND_BACK in features else {},
            )
            encoded = encode_response(body)
            level = self.large_level if len(encoded) > LARGE_BODY else None
            data = encode_frame(Kind.RESPONSE, encoded, self.key, codec=codec, level=level)
            if len(data) <= self.max_frame or count <= 1:
                break
            count //= 2  # too many items for one frame: the rest go in the next answer
        self._machine.fire(Input.SEND_RESPONSE)
        return data

    @staticmethod
    def _down_part(down: Sequence[DownItem], features: frozenset[int],
                   case_keys: CaseKeys | None) -> tuple[
                       tuple[DownItem, ...], dict[int, object] | None, int]:
        """(items for key 8, down batch for key 13, how many of ``down`` they hold)."""
        if not down:
            return (), None, 0
        if DOWN_BATCH in features:
            batch, held = encode_down_batch(down, sparse=SPARSE_SIGNATURES in features,
                                            refs=CASE_REFS in features, case_keys=case_keys)
            return (), batch, held
        unsigned = next((i for i, d in enumerate(down)
                         if isinstance(d.item, Event) and d.item.signature is None), len(down))
        if unsigned == 0:
            raise LocalProtocolError("down", "last year's child needs every event signed")
        return tuple(down[:unsigned]), None, unsigned

    def refuse(self, error: ProtocolError, now: datetime) -> bytes:
        """A signed refusal carrying the error code and the parent's clock."""
        self._machine.fire(Input.SEND_REFUSAL)
        body = RefusalBody(
            sender=self.key.site, recipient=self.link.child, clock_ms=to_ms(now),
            request_digest=self._digest, code=error.code,
            reason=f"{error.field}: {error.reason}", readable_versions=READABLE_VERSIONS,
            credentials=self.own_credentials, features=self.features,
        )
        return encode_frame(Kind.REFUSAL, encode_refusal(body), self.key, codec=Codec.NONE)



def _without_unproven(new: list[Event], back: list[Event], unproven: Sequence[Event],
                      held: Mapping[ChainId, ChainHead], heads: dict[ChainId, ChainHead]
                      ) -> tuple[list[Event], list[Event], list[GroupRefusal]]:
    """Leave out every new event of a chain holding an erased payload without the hub's
    erasure (a chain is stored whole, in runs that end at a signature), and those handed
    back from the first such event on; the child sends them again once the erasure is held
    here."""
    chains = {(e.origin, e.epoch) for e in unproven}
    refused: list[GroupRefusal] = []
    for cid in sorted(chains):
        sent = [e.seq for e in new if (e.origin, e.epoch) == cid]
        if not sent:
            continue  # handed back, not sent up
        heads[cid] = held.get(cid) or ChainHead.genesis(*cid)
        refused.append(GroupRefusal(cid[0], cid[1], min(sent), ERASURE_UNPROVEN,
                                    "an erased payload of a case the hub has not erased "
                                    "here; sent again once its erasure is held"))
    first = {(e.origin, e.epoch): e.seq for e in sorted(unproven, key=lambda e: -e.seq)}
    kept = [e for e in new if (e.origin, e.epoch) not in chains]
    back = [e for e in back
            if not ((e.origin, e.epoch) in first and e.seq >= first[(e.origin, e.epoch)])]
    return kept, back, refused
