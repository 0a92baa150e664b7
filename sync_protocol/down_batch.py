"""The columnar down batch (response key 13): a parent's down items for a child that reads
it (feature 1), laid out like the upward batch.

Link positions travel as ranges, item kinds as one byte each (absent when every item is an
event), receipts as a list, and events as **runs**: consecutive event items that are
consecutive seqs of one chain, each with the hash its first event commits to and the
origin's signatures; the event fields themselves go in the shared columns of
:mod:`sync_protocol.columns`. The child recomputes the hashes through the run and checks
the signatures. A run carries either every event's signature (one per event, all under
one key id) or, for a child that asked for sparse signatures (feature 2), only its last
event's: that one signature over the head statement commits to the whole run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sync_protocol.columns import (
    CaseKeys,
    EventRecord,
    decode_columns,
    encode_columns,
    run_header,
)
from sync_protocol.errors import LocalProtocolError, Malformed
from sync_protocol.events import HASH_SIZE, Event
from sync_protocol.fields import as_bytes, as_int, as_list, as_map, get, opt
from sync_protocol.keys import KEY_ID_SIZE, SIGNATURE_SIZE, Signature
from sync_protocol.messages import (
    MAX_ITEMS,
    DownItem,
    LinkPosition,
    Receipt,
    down_payload,
    receipt_to_wire,
)

EVENT, RECEIPT = 0, 1


@dataclass(frozen=True, slots=True)
class DownRun:
    """A run of one chain as it came down, not verified yet."""

    origin: str
    epoch: int
    first_seq: int
    prev_hash: bytes
    signatures: tuple[Signature | None, ...]
    """One per event: every event's, or only the last one's (the others None)."""
    records: tuple[EventRecord, ...]
    positions: tuple[LinkPosition, ...]


@dataclass(frozen=True, slots=True)
class DownBatch:
    """A decoded down batch: every item's position, the receipts and the runs."""

    positions: tuple[LinkPosition, ...]
    receipts: tuple[tuple[LinkPosition, Receipt], ...]
    runs: tuple[DownRun, ...]


# -- encoding ------------------------------------------------------------------------


def stretches(events: Sequence[Event]) -> list[list[Event]]:
    """Consecutive events that are consecutive seqs of one chain (a stretch travels in
    runs up to its signed events, or waits whole)."""
    out: list[list[Event]] = []
    for e in events:
        if out and (out[-1][-1].origin, out[-1][-1].epoch, out[-1][-1].seq + 1) == (
                e.origin, e.epoch, e.seq):
            out[-1].append(e)
        else:
            out.append([e])
    return out


def _runs(stretch: list[Event], sparse: bool) -> tuple[list[list[Event]], int]:
    """Runs of one stretch, and how many events of it they hold (an unsigned tail is left).

    Sparse: one run up to the last signed event. Otherwise a run holds events each signed
    under one key id; an unsigned event joins the run of the next signed one, which then
    carries only that last signature."""
    last = max((i for i, e in enumerate(stretch) if e.signature is not None), default=-1)
    if last < 0:
        return [], 0
    if sparse:
        return [stretch[:last + 1]], last + 1
    runs: list[list[Event]] = []
    current: list[Event] = []
    for e in stretch[:last + 1]:
        prev = current[-1].signature if current else None
        if current and prev is None:  # waiting for a signed event to end the run
            current.append(e)
            continue
        if (current and prev is not None and e.signature is not None and _full(current)
                and e.signature.key_id == prev.key_id):
            current.append(e)
            continue
        if current:
            runs.append(current)
        current = [e]
    runs.append(current)
    return runs, last + 1


def _full(run: Sequence[Event]) -> bool:
    return all(e.signature is not None for e in run)


def _run_signatures(run: Sequence[Event], sparse: bool) -> tuple[bytes, bytes]:
    last = run[-1].signature
    assert last is not None
    if sparse or not _full(run) or len(run) == 1:
        return last.key_id, last.value
    return last.key_id, b"".join(e.signature.value for e in run if e.signature is not None)


def encode_down_batch(items: Sequence[DownItem], *, sparse: bool, refs: bool,
                      case_keys: CaseKeys | None = None) -> tuple[dict[int, object], int]:
    """The wire map of a down batch and how many of ``items`` it holds.

    Every run ends at an event whose signature is held; an unsigned tail (and every item
    after its first) is left for a later response. Nothing sendable: ``LocalProtocolError``.
    """
    n = len(items)
    while True:
        events = [d.item for d in items[:n] if isinstance(d.item, Event)]
        runs: list[list[Event]] = []
        cut_at: Event | None = None
        for stretch in stretches(events):
            got, used = _runs(stretch, sparse)
            runs += got
            if used < len(stretch) and cut_at is None:
                cut_at = stretch[used]
        if cut_at is None:
            break
        n = next(i for i in range(n) if items[i].item is cut_at)
        if n == 0:
            raise LocalProtocolError("down", "the first down event is not covered by a "
                                             "signature this site holds")
    chosen = items[:n]
    ranges: list[list[int]] = []
    for d in chosen:
        p = d.position
        if ranges and ranges[-1][0] == p.epoch and ranges[-1][1] + ranges[-1][2] == p.seq:
            ranges[-1][2] += 1
        else:
            ranges.append([p.epoch, p.seq, 1])
    out: dict[int, object] = {0: ranges}
    kinds = bytes(RECEIPT if isinstance(d.item, Receipt) else EVENT for d in chosen)
    if any(kinds):
        out[1] = kinds
        out[2] = [receipt_to_wire(d.item) for d in chosen if isinstance(d.item, Receipt)]
    if runs:
        headers = []
        for run in runs:
            key_id, sigs = _run_signatures(run, sparse)
            headers.append([run[0].origin, run[0].epoch, run[0].seq, len(run),
                            run[0].prev_hash, key_id, sigs])
        out[3] = headers
        out[4] = encode_columns([e for run in runs for e in run], refs=refs,
                                case_keys=case_keys)
    return out, n


# -- decoding ------------------------------------------------------------------------


def decode_down_batch(value: object, field: str = "response.down_batch") -> DownBatch:
    """Types, bounds and counts are checked here; hashes and signatures by the child."""
    m = as_map(value, field)
    positions: list[LinkPosition] = []
    for r in as_list(get(m, 0, f"{field}.positions"), f"{field}.positions",
                     max_len=MAX_ITEMS):
        rng = as_list(r, f"{field}.positions", max_len=3)
        if len(rng) != 3:
            raise Malformed(f"{field}.positions", "expected [epoch, first_seq, count]")
        epoch = as_int(rng[0], f"{field}.positions.epoch", lo=1)
        first = as_int(rng[1], f"{field}.positions.seq", lo=1)
        count = as_int(rng[2], f"{field}.positions.count", lo=1,
                       hi=MAX_ITEMS - len(positions))
        positions += [LinkPosition(epoch, first + i) for i in range(count)]
    n = len(positions)
    kinds = (as_bytes(m[1], f"{field}.kinds", size=n) if 1 in m else bytes(n))
    if any(k > RECEIPT for k in kinds):
        raise Malformed(f"{field}.kinds", "unknown item kind")
    receipt_at = [positions[i] for i, k in enumerate(kinds) if k == RECEIPT]
    event_at = [positions[i] for i, k in enumerate(kinds) if k == EVENT]
    raw_receipts = as_list(opt(m, 2, []), f"{field}.receipts", max_len=MAX_ITEMS)
    if len(raw_receipts) != len(receipt_at):
        raise Malformed(f"{field}.receipts", "one receipt per receipt item expected")
    receipts: list[tuple[LinkPosition, Receipt]] = []
    for pos, r in zip(receipt_at, raw_receipts, strict=True):
        receipt = down_payload(RECEIPT, as_list(r, f"{field}.receipt", max_len=6))
        assert isinstance(receipt, Receipt)
        receipts.append((pos, receipt))
    headers = [_run_header(h, f"{field}.runs") for h in
               as_list(opt(m, 3, []), f"{field}.runs", max_len=MAX_ITEMS)]
    if sum(h[3] for h in headers) != len(event_at):
        raise Malformed(f"{field}.runs", "the runs must hold every event item")
    runs: list[DownRun] = []
    if headers:
        keys = [(origin, epoch, first + k) for origin, epoch, first, count, *_ in headers
                for k in range(count)]
        records = decode_columns(as_map(get(m, 4, f"{field}.events"), f"{field}.events"),
                                 keys, f"{field}.events")
        i = 0
        for origin, epoch, first, count, prev_hash, sigs in headers:
            runs.append(DownRun(origin, epoch, first, prev_hash, sigs,
                                tuple(records[i:i + count]), tuple(event_at[i:i + count])))
            i += count
    return DownBatch(tuple(positions), tuple(receipts), tuple(runs))


def _run_header(value: object, field: str) -> tuple[
        str, int, int, int, bytes, tuple[Signature | None, ...]]:
    h, origin, epoch, first, count = run_header(value, field, 7, MAX_ITEMS)
    prev_hash = as_bytes(h[4], f"{field}.prev_hash", size=HASH_SIZE)
    key_id = as_bytes(h[5], f"{field}.key_id", size=KEY_ID_SIZE)
    raw = as_bytes(h[6], f"{field}.signatures", max_len=SIGNATURE_SIZE * count)
    if len(raw) == SIGNATURE_SIZE:
        sigs: tuple[Signature | None, ...] = (*([None] * (count - 1)),
                                              Signature(key_id, raw))
    elif len(raw) == SIGNATURE_SIZE * count:
        sigs = tuple(Signature(key_id, raw[SIGNATURE_SIZE * i: SIGNATURE_SIZE * (i + 1)])
                     for i in range(count))
    else:
        raise Malformed(f"{field}.signatures", "one signature, or one per event")
    return origin, epoch, first, count, prev_hash, sigs
