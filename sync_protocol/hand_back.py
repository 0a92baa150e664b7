"""Hand-back (feature 5): a parent restored from a backup gets its own lost events back.

A parent restored from an older backup starts a new epoch, but the events it authored in
the old epoch after the backup (a routing, a decision) may already be at its children.
Without them it would decide those cases again. In its first complete answer after the
restore it says, per older epoch of its own chain, up to which seq it still holds the chain
without a gap (response key 15); the child sends back the events of that chain it holds
above it (request key 15), laid out as a down batch whose positions are the events' own
(epoch, seq). Each run is verified against the parent's own key exactly as a child
verifies a down run, so a child can return nothing that the parent did not sign.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sync_protocol.down_batch import DownRun, decode_down_batch, encode_down_batch, stretches
from sync_protocol.errors import KeyRevoked, KeyUnknown, Malformed, SignatureInvalid
from sync_protocol.events import ChainHead, Event, chained_event
from sync_protocol.keyring import KeyRing
from sync_protocol.keys import verify
from sync_protocol.messages import DownItem, LinkPosition

HAND_BACK_EVENTS = 2_000
"""Events a child hands back in one request, at most."""


def verified_run(run: DownRun, keyring: KeyRing) -> list[Event]:
    """The run's events, chained from its ``prev_hash``; every signature it carries must
    verify with a key of the origin valid at that event (the last one always is there)."""
    head = ChainHead(run.origin, run.epoch, run.first_seq - 1, run.prev_hash)
    events: list[Event] = []
    for rec, sig in zip(run.records, run.signatures, strict=True):
        event = chained_event(head, case_id=rec.case_id, actor=rec.actor, at_ms=rec.at_ms,
                              type_=rec.type, payload=rec.payload, signature=sig)
        events.append(event)
        head = event.head
    for event in events:
        if event.signature is not None:
            record = keyring.for_event(event.signature.key_id, event.origin, event.epoch,
                                       event.seq)
            verify(record.public, event.signature.value, event.head.statement(),
                   field="event.signature")
    return events


def sendable(held: Sequence[Event]) -> list[Event]:
    """The events of ``held`` (one chain, in seq order) a run can carry: each up to a signed
    event of its stretch. A child stores every run it got down up to its signed last event,
    so only a selection cut short leaves an unsigned tail."""
    last = max((i for i, e in enumerate(held) if e.signature is not None), default=-1)
    return list(held[:last + 1])


def ready_runs(held: Sequence[Event], ready: Callable[[Event], bool]) -> list[Event]:
    """The stretches of ``held`` (consecutive seqs of one chain) whose every event is
    ``ready``, each up to its last signed event: a stretch travels whole or waits whole, so
    a village holding only a run's last signature never sends a part it cannot prove."""
    out: list[Event] = []
    for stretch in stretches(held):
        if all(ready(x) for x in stretch):
            out += sendable(stretch)
    return out


def encode_hand_back(events: Sequence[Event]) -> tuple[dict[int, object], int]:
    """Request key 15 for ``events`` (the parent's own, in (epoch, seq) order), and how many
    of them it carries. Every signature the child holds goes back (a relay holds each
    event's): the parent may have to send them down again to a relay, which needs them."""
    items = [DownItem(LinkPosition(e.epoch, e.seq), e) for e in events]
    return encode_down_batch(items, sparse=False, refs=False)


@dataclass(frozen=True, slots=True)
class HandedBack:
    """What a child handed back: the verified events, and the runs refused."""

    events: tuple[Event, ...]
    refused: int


def decode_hand_back(value: object, *, site: str, epoch: int, keyring: KeyRing) -> HandedBack:
    """Verify request key 15: runs of ``site``'s own chain of an epoch before ``epoch``,
    each chained and signed. A run that is not is dropped (counted), never applied."""
    batch = decode_down_batch(value, field="request.handed_back")
    events: list[Event] = []
    refused = 0
    for run in batch.runs:
        if run.origin != site or run.epoch >= epoch:
            refused += 1
            continue
        try:
            events += verified_run(run, keyring)
        except (Malformed, KeyUnknown, KeyRevoked, SignatureInvalid):
            refused += 1
    return HandedBack(tuple(events), refused)
