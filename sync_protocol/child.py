"""The child's side of an exchange: build a request, verify the answer, then ack.

Usage (one object per exchange)::

    ex = ChildExchange(key=..., keyring=..., link=load_link(), own_credentials=[cert])
    out = ex.request(now, pending=outbox_pending())
    try:
        data = http_post(out.data)
    except TransportError:
        save_link(ex.failed()); return
    result = ex.receive(data, now_after)         # raises ProtocolError on bad bytes
    if isinstance(result, Refused):
        save_link(result.link); return
    store(result)                                 # acks, new events, receipts, releases
    save_link(ex.stored())                        # only now does the down ack move
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sync_protocol.batching import START_BATCH, adapt, select_runs
from sync_protocol.blobs import BlobChunk, BlobOffer, BlobWant
from sync_protocol.clock import corrected, learn_offset
from sync_protocol.columns import CaseKeys
from sync_protocol.compression import HISTORY_MAX_BODY, Codec, ZstdDictionary
from sync_protocol.credentials import Credential, credential_from_wire
from sync_protocol.down_batch import DownRun, decode_down_batch
from sync_protocol.errors import (
    KeyRevoked,
    KeyUnknown,
    LocalProtocolError,
    Malformed,
    ProtocolError,
    Replay,
    SignatureInvalid,
    WrongAddress,
    error_for_code,
)
from sync_protocol.events import Event, EventKey
from sync_protocol.features import CASE_REFS, CHILD_DEFAULT, HAND_BACK, LINK_HISTORY
from sync_protocol.fields import as_list, as_map
from sync_protocol.framing import MAX_FRAME, Kind, decode_frame, encode_frame, frame_digest
from sync_protocol.hand_back import encode_hand_back, ready_runs, verified_run
from sync_protocol.keyring import KeyRing, adopt
from sync_protocol.keys import SiteKey, verify
from sync_protocol.messages import (
    NONCE_SIZE,
    GroupRefusal,
    LinkPosition,
    Receipt,
    decode_refusal,
    decode_response_head,
    down_item_from_wire,
    down_payload,
    encode_request,
)
from sync_protocol.releases import Release, ReleaseLedger, revocations_in
from sync_protocol.state import CHILD_TRANSITIONS, Input, Machine
from sync_protocol.times import from_ms, to_ms

MAX_DOWN_ITEMS = 10_000


@dataclass(frozen=True, slots=True)
class ParentLink:
    """A child's durable state toward its parent. Persist it after every exchange.

    ``epoch`` is the child's own epoch (a site restored from a backup starts the
    next one); ``down_ack`` the last downward item stored; ``clock_offset_ms``
    what to add to the local clock to get the parent's.
    """

    site: str
    parent: str
    epoch: int = 1
    parent_epoch: int = 0
    down_ack: LinkPosition = field(default_factory=LinkPosition)
    clock_offset_ms: int = 0
    batch_events: int = START_BATCH
    introduced: bool = False
    releases: ReleaseLedger = field(default_factory=ReleaseLedger)
    parent_reads: tuple[int, ...] = ()
    """The features the parent listed in its last answer (response or refusal key 12);
    empty until it answered, or for last year's parent: then only what every parent
    reads is sent."""

    def corrected(self, now: datetime) -> datetime:
        """The parent-aligned time: use it for events' ``at``."""
        return corrected(now, self.clock_offset_ms)


@dataclass(frozen=True, slots=True)
class OutgoingRequest:
    data: bytes
    sent: tuple[EventKey, ...]
    """Every event in the batch (acked only when a response's watermarks say so)."""
    digest: bytes
    body: bytes = b""
    """The request body before compression: the link's history once the parent stored it."""
    dictionary_id: int = 0
    """The history dictionary the frame was compressed with (0: none)."""
    handed_back: tuple[EventKey, ...] = ()
    """The parent's own events handed back in it (feature 5)."""


@dataclass(frozen=True, slots=True)
class RejectedItem:
    """A down item that failed verification: acked (so the link moves on), never applied."""

    position: LinkPosition
    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class ExchangeResult:
    """A verified response. Store it, then call :meth:`ChildExchange.stored`."""

    watermarks: Mapping[tuple[str, int], int]
    """The parent holds each (origin, epoch) up to this seq: mark the outbox acked to it."""
    complete: bool
    """The watermarks list every chain the parent holds from this child's subtree."""
    parent_restored: bool
    """The parent's epoch changed: re-open outbox rows above the watermarks (chains not
    listed are held up to 0)."""
    refused: tuple[GroupRefusal, ...]
    new_events: tuple[Event, ...]
    duplicates: tuple[EventKey, ...]
    receipts: tuple[Receipt, ...]
    rejected: tuple[RejectedItem, ...]
    releases: tuple[Release, ...]
    release_errors: tuple[ProtocolError, ...]
    blob_wants: tuple[BlobWant, ...]
    credentials: tuple[Credential, ...]
    parent_clock: datetime
    down_through: LinkPosition
    down_items: int = 0
    """How many down items the answer carried (new, duplicate, receipt or rejected)."""
    down_more: bool | None = None
    """The parent has down items after these (None: last year's parent does not say)."""
    own_chains: Mapping[int, int] = field(default_factory=dict)
    """The parent was restored: per older epoch of its own chain, the seq it holds it
    through; hand back what this site holds above (feature 5)."""


@dataclass(frozen=True, slots=True)
class Refused:
    """The parent refused the request; nothing was stored there. Persist ``link``."""

    error: ProtocolError
    readable_versions: tuple[int, ...]
    parent_clock: datetime
    link: ParentLink

    @property
    def code(self) -> str:
        return self.error.code


class ChildExchange:
    """One exchange with the parent, seen by the child."""

    def __init__(self, *, key: SiteKey, keyring: KeyRing, link: ParentLink,
                 own_credentials: Sequence[Credential] = (),
                 dictionaries: Mapping[int, ZstdDictionary] | None = None,
                 codec: Codec = Codec.ZSTD, dictionary: ZstdDictionary | None = None,
                 max_frame: int = MAX_FRAME, features: Sequence[int] = CHILD_DEFAULT,
                 history: ZstdDictionary | None = None) -> None:
        if key.site != link.site:
            raise LocalProtocolError("key", "the key is not this site's")
        self.key = key
        self.keyring = keyring
        self.link = link
        self.own_credentials = tuple(own_credentials)
        self.dictionaries = dict(dictionaries or {})
        if dictionary is not None:
            self.dictionaries[dictionary.dict_id] = dictionary
        self.codec = codec
        self.dictionary = dictionary
        self.max_frame = max_frame
        self.history = history
        """The link's history (:func:`history_dictionary` of the last request that carried
        events and was answered): used when both sides list ``LINK_HISTORY`` and it makes
        the frame smaller."""
        self.features = tuple(sorted(set(features)))
        """The features this child reads (and ``LINK_HISTORY``: it sends), request key 14
        (empty: none, as last year's child). Add ``SPARSE_SIGNATURES`` only on a site that
        relays to no child."""
        self._machine = Machine(CHILD_TRANSITIONS)
        self._sent_local: datetime | None = None
        self._digest = b""
        self._next: ParentLink | None = None

    @property
    def state(self) -> str:
        return self._machine.state.value

    def request(self, now: datetime, *, pending: Sequence[Event] = (),
                nonce: bytes | None = None, blob_offers: Sequence[BlobOffer] = (),
                blob_chunks: Sequence[BlobChunk] = (),
                credentials: Sequence[Credential] = (),
                case_keys: CaseKeys | None = None,
                hand_back: Sequence[Event] = (),
                hand_back_waits: Collection[uuid.UUID] = (),
                own_signatures: Callable[[Event], bool] | None = None) -> OutgoingRequest:
        """The request frame: the next upward batch from ``pending`` and the down ack.

        ``case_keys`` names the event that opened a case (when the case id derives from
        its key), so that a parent reading case refs gets a few bytes instead of 16.
        ``hand_back``: the parent's own events of an older epoch, for a restored parent
        that asked for them (sent when both sides list ``HAND_BACK``), in seq order; the
        events of a case in ``hand_back_waits`` (cases with events still owed up) wait,
        unless this request carries that case's events: the parent must hold a case before
        it folds its own events of the case back in. ``own_signatures``: events that
        travel with their own signature (each ends its run), for a case that may be sent
        down another branch by a site above (全城通办)."""
        if not self._machine.can(Input.SEND_REQUEST):
            raise LocalProtocolError("state", f"cannot send a request in state {self.state}")
        runs = select_runs(pending, self.link.batch_events, own_signatures)
        returned: dict[int, object] | None = None
        handed: tuple[EventKey, ...] = ()
        if hand_back and HAND_BACK in self.features and HAND_BACK in self.link.parent_reads:
            carried = {e.case_id for run in runs for e in run}
            ready = ready_runs(hand_back, lambda e: e.case_id not in hand_back_waits
                               or e.case_id in carried)
            if ready:
                returned, n = encode_hand_back(ready)
                handed = tuple(e.key for e in ready[:n])
        creds = tuple(credentials)
        if not self.link.introduced:
            creds = (*self.own_credentials, *creds)
        body = encode_request(
            sender=self.key.site, recipient=self.link.parent,
            sent_at_ms=to_ms(self.link.corrected(now)),
            nonce=nonce if nonce is not None else secrets.token_bytes(NONCE_SIZE),
            sender_epoch=self.link.epoch, parent_epoch_seen=self.link.parent_epoch,
            down_ack=self.link.down_ack, runs=runs, credentials=creds,
            blob_offers=blob_offers, blob_chunks=blob_chunks,
            releases_known=self.link.releases.versions(),
            accept_codecs=[0, 1, 3], dictionaries=sorted(self.dictionaries),
            features=self.features,
            refs=CASE_REFS in self.features and CASE_REFS in self.link.parent_reads,
            case_keys=case_keys, handed_back=returned,
        )
        data = encode_frame(Kind.REQUEST, body, self.key, codec=self.codec,
                            dictionary=self.dictionary if self.codec is Codec.ZSTD_DICT else None)
        used = self.dictionary.dict_id if self.codec is Codec.ZSTD_DICT and self.dictionary else 0
        history = (self.history if LINK_HISTORY in self.link.parent_reads
                   and LINK_HISTORY in self.features else None)
        if history is not None and len(body) <= HISTORY_MAX_BODY:
            against = encode_frame(Kind.REQUEST, body, self.key, codec=Codec.ZSTD_DICT,
                                   dictionary=history)
            if len(against) < len(data):
                data, used = against, history.dict_id
        if len(data) > self.max_frame:
            raise LocalProtocolError("batch", "request exceeds the frame limit; lower the batch")
        self._machine.fire(Input.SEND_REQUEST)
        self._sent_local = now
        self._digest = frame_digest(data)
        return OutgoingRequest(data, tuple(e.key for run in runs for e in run), self._digest,
                               body, used, handed)

    # -- receiving ----------------------------------------------------------------
    def _hop_public(self, key_id: bytes) -> Ed25519PublicKey:
        return self.keyring.for_hop(key_id, self.link.parent).public

    def _introduce(self, body: object) -> None:
        m = as_map(body, "response")
        adopt(self.keyring, [credential_from_wire(c) for c in
                             as_list(m.get(11, []), "response.credentials", max_len=64)])

    def receive(self, data: bytes, now: datetime, *,
                known: Callable[[EventKey], bool] | None = None) -> ExchangeResult | Refused:
        """Verify the answer. ``known`` tells which events the site already stored.

        On a ``ProtocolError`` nothing is applied; persist :attr:`link` (it may
        have changed, e.g. to ask the parent for its credentials again).
        """
        if not self._machine.can(Input.RECEIVE_RESPONSE):
            raise LocalProtocolError("state", f"cannot receive in state {self.state}")
        try:
            return self._receive(data, now, known or (lambda _k: False))
        except ProtocolError as err:
            self._machine.fire(Input.FAIL)
            # An unknown parent key: ask for its credentials again (a complete answer).
            forget = isinstance(err, KeyUnknown) and err.field == "frame.key_id"
            self.link = replace(
                self.link, parent_epoch=0 if forget else self.link.parent_epoch,
                batch_events=adapt(self.link.batch_events, ok=False, seconds=0.0),
            )
            raise

    def _receive(self, data: bytes, now: datetime,
                 known: Callable[[EventKey], bool]) -> ExchangeResult | Refused:
        assert self._sent_local is not None
        frame = decode_frame(data, self._hop_public, dictionaries=self.dictionaries,
                             max_frame=self.max_frame, introduce=self._introduce)
        if frame.kind is Kind.REFUSAL:
            return self._refused(frame.body, now)
        if frame.kind is not Kind.RESPONSE:
            raise Malformed("frame.kind", "expected a response")
        raw, body = decode_response_head(frame.body)
        self._check_address(body.sender, body.recipient, body.request_digest)
        offset = learn_offset(self._sent_local, now, body.clock_ms)
        ledger = self.link.releases
        accepted: list[Release] = []
        errors: list[ProtocolError] = []
        adopt(self.keyring, body.credentials)
        for release in body.releases:
            try:
                ledger2 = ledger.accept(release, self.keyring, corrected(now, offset))
            except ProtocolError as err:
                errors.append(err)
                continue
            if ledger2 is not ledger:
                accepted.append(release)
                if release.kind == "revocations":
                    self.keyring.revoke(revocations_in(release))
            ledger = ledger2
        if 13 in raw:
            new, dups, receipts, rejected, through, count = self._down_batch(raw[13], known)
        else:
            new, dups, receipts, rejected, through, count = self._down(raw, known)
        restored = self.link.parent_epoch != 0 and body.sender_epoch != self.link.parent_epoch
        self._next = replace(
            self.link, parent_epoch=body.sender_epoch, down_ack=through,
            clock_offset_ms=offset, introduced=True, releases=ledger,
            parent_reads=body.features, batch_events=adapt(self.link.batch_events, ok=True,
                               seconds=(now - self._sent_local).total_seconds()),
        )
        self._machine.fire(Input.RECEIVE_RESPONSE)
        return ExchangeResult(
            watermarks={(w.origin, w.epoch): w.seq for w in body.watermarks},
            complete=body.complete, parent_restored=restored, refused=body.refused,
            new_events=tuple(new), duplicates=tuple(dups), receipts=tuple(receipts),
            rejected=tuple(rejected), releases=tuple(accepted), release_errors=tuple(errors),
            blob_wants=body.blob_wants, credentials=body.credentials,
            parent_clock=from_ms(body.clock_ms), down_through=through, down_items=count,
            down_more=body.down_more,
            own_chains=body.own_chains if HAND_BACK in self.features else {},
        )

    def _check_address(self, sender: str, recipient: str, digest: bytes) -> None:
        if sender != self.link.parent:
            raise WrongAddress("response.sender", f"{sender} is not the parent")
        if recipient != self.key.site:
            raise WrongAddress("response.recipient", f"addressed to {recipient}")
        if digest != self._digest:
            raise Replay("response.request", "answers another request")

    def _refused(self, value: object, now: datetime) -> Refused:
        assert self._sent_local is not None
        body = decode_refusal(value)
        self._check_address(body.sender, body.recipient, body.request_digest)
        link = replace(self.link, clock_offset_ms=learn_offset(self._sent_local, now,
                                                               body.clock_ms),
                       parent_reads=body.features)
        if body.code == KeyUnknown.code:
            link = replace(link, introduced=False)
        self.link = link
        self._machine.fire(Input.RECEIVE_REFUSAL)
        return Refused(error_for_code(body.code, body.reason), body.readable_versions,
                       from_ms(body.clock_ms), link)

    def _check_receipt(self, item: Receipt) -> None:
        if not self.keyring.is_hub_key(item.signature.key_id):
            raise KeyUnknown("receipt.key_id", "receipts are signed by the hub")
        verify(self.keyring.key(item.signature.key_id).public,
               item.signature.value, item.statement(), field="receipt")

    def _down(self, raw: dict[object, object], known: Callable[[EventKey], bool]) -> tuple[
            list[Event], list[EventKey], list[Receipt], list[RejectedItem], LinkPosition, int]:
        new: list[Event] = []
        dups: list[EventKey] = []
        receipts: list[Receipt] = []
        rejected: list[RejectedItem] = []
        last = self.link.down_ack
        items = as_list(raw.get(8, []), "response.down", max_len=MAX_DOWN_ITEMS)
        for value in items:
            pos, kind, fields = down_item_from_wire(value)
            if pos <= last:
                raise Malformed("response.down", "items must follow the ack, in order")
            last = pos
            try:
                item = down_payload(kind, fields)
                if isinstance(item, Receipt):
                    self._check_receipt(item)
                    receipts.append(item)
                    continue
                assert item.signature is not None
                record = self.keyring.for_event(item.signature.key_id, item.origin,
                                                item.epoch, item.seq)
                event = replace(item, hash=item.computed_hash())
                verify(record.public, item.signature.value, event.head.statement(),
                       field="event.signature")
            except (Malformed, KeyUnknown, KeyRevoked, SignatureInvalid) as err:
                rejected.append(RejectedItem(pos, err.code, err.reason))
                continue
            if known(event.key) or any(e.key == event.key for e in new):
                dups.append(event.key)
            else:
                new.append(event)
        return new, dups, receipts, rejected, last, len(items)

    def _down_batch(self, value: object, known: Callable[[EventKey], bool]) -> tuple[
            list[Event], list[EventKey], list[Receipt], list[RejectedItem], LinkPosition, int]:
        """The down batch (feature 1): receipts one by one, events run by run. A run that
        does not verify is rejected whole: each of its items acked, none applied."""
        batch = decode_down_batch(value)
        last = self.link.down_ack
        for pos in batch.positions:
            if pos <= last:
                raise Malformed("response.down_batch", "items must follow the ack, in order")
            last = pos
        receipts: list[Receipt] = []
        rejected: list[RejectedItem] = []
        for pos, receipt in batch.receipts:
            try:
                self._check_receipt(receipt)
            except (KeyUnknown, KeyRevoked, SignatureInvalid) as err:
                rejected.append(RejectedItem(pos, err.code, err.reason))
                continue
            receipts.append(receipt)
        new: list[Event] = []
        dups: list[EventKey] = []
        seen: set[EventKey] = set()
        for run in batch.runs:
            try:
                events = self._verified_run(run)
            except (Malformed, KeyUnknown, KeyRevoked, SignatureInvalid) as err:
                rejected += [RejectedItem(p, err.code, err.reason) for p in run.positions]
                continue
            for event in events:
                if event.key in seen or known(event.key):
                    dups.append(event.key)
                else:
                    seen.add(event.key)
                    new.append(event)
        rejected.sort(key=lambda r: r.position)
        return new, dups, receipts, rejected, last, len(batch.positions)

    def _verified_run(self, run: DownRun) -> list[Event]:
        return verified_run(run, self.keyring)

    # -- after the answer -----------------------------------------------------------
    def stored(self) -> ParentLink:
        """Everything in the result is durably stored: move the down ack; returns state."""
        self._machine.fire(Input.MARK_STORED)
        assert self._next is not None
        self.link = self._next
        return self.link

    def failed(self) -> ParentLink:
        """The round trip failed (timeout, transport error, or storing failed)."""
        self._machine.fire(Input.FAIL)
        self.link = replace(self.link, batch_events=adapt(self.link.batch_events, ok=False,
                                                          seconds=0.0))
        return self.link
