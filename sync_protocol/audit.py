"""``sanji audit verify``: walk every stored chain and signature, name the first bad event.

Events must come ordered by (origin, epoch, seq), as ``ORDER BY`` gives them; the
walk keeps one chain's state at a time, so a store of any size is checked in
constant memory.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from sync_protocol.errors import ChainBroken, KeyRevoked, KeyUnknown, SignatureInvalid
from sync_protocol.events import Event, genesis_hash
from sync_protocol.keyring import KeyRing
from sync_protocol.keys import verify
from sync_protocol.messages import Receipt
from sync_protocol.payload_digest import ERASED_EVENT, is_erased

MAX_PROBLEMS = 100


@dataclass(frozen=True, slots=True)
class Problem:
    """One bad event: which case, which event, the error code and why."""

    case_id: uuid.UUID
    origin: str
    epoch: int
    seq: int
    code: str
    reason: str

    def __str__(self) -> str:
        return (f"case {self.case_id} event {self.origin}/{self.epoch}/{self.seq}: "
                f"{self.code}: {self.reason}")


@dataclass(frozen=True, slots=True)
class AuditReport:
    events: int
    chains: int
    signatures: int
    problems: tuple[Problem, ...]
    """The first bad event of each bad chain, in walking order (at most 100)."""
    erased: tuple[tuple[uuid.UUID, int], ...] = ()
    """Events counted as erased, by case (in the order their cases were first met)."""

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        return self.problems[0] if self.problems else None


def _problem(e: Event, code: str, reason: str) -> Problem:
    return Problem(e.case_id, e.origin, e.epoch, e.seq, code, reason)


def verified_erasures(events: Iterable[Event], keys: KeyRing, hub_site: str
                      ) -> set[uuid.UUID]:
    """The cases of the ``erased`` events in ``events`` that the hub authored and signed,
    with a hash matching their content and a signature that verifies."""
    cases: set[uuid.UUID] = set()
    for e in events:
        if e.type != ERASED_EVENT or e.origin != hub_site or e.signature is None:
            continue
        if e.computed_hash() != e.hash:
            continue
        try:
            record = keys.for_event(e.signature.key_id, e.origin, e.epoch, e.seq)
            verify(record.public, e.signature.value, e.head.statement(), field="signature")
        except (KeyUnknown, KeyRevoked, SignatureInvalid):
            continue
        cases.add(e.case_id)
    return cases


def verify_store(events: Iterable[Event], keys: KeyRing, *,
                 selection: Callable[[str, int], bool] | None = None,
                 erased_cases: Collection[uuid.UUID] = ()) -> AuditReport:
    """Check hashes, links, sequence numbers and origin signatures of every chain.

    Every event must be covered by a signature of its origin at it or after it in
    its chain (the origin signs each event it authors; a relay holds one per run).
    ``selection(origin, epoch)`` names the chains held as selections (what came down
    from above: the events of this site's cases only). Holes are allowed there: each
    contiguous stretch is checked from its first event's ``prev_hash``, and each must
    be covered by a signature at a later event of the same stretch (a site that asked
    for sparse signatures holds one per run it received).
    ``erased_cases``: the cases the hub erased (:func:`verified_erasures`). An event with
    an erased payload (:func:`~sync_protocol.payload_digest.is_erased`) is checked like any
    other (its digest is the original's, so its kept values are checked by it) and counted
    as erased when its case is one of these; in any other case it is reported: content was
    removed without an erasure.
    """
    problems: list[Problem] = []
    n_events = n_chains = n_sigs = 0
    chain: tuple[str, int] | None = None
    prev_hash = b""
    prev_seq = 0
    bad = False
    unsigned: Event | None = None
    erased: dict[uuid.UUID, int] = {}

    def close() -> None:
        if chain is not None and not bad and unsigned is not None:
            problems.append(_problem(unsigned, SignatureInvalid.code,
                                     "not covered by any signature of its origin"))

    for e in events:
        n_events += 1
        cid = (e.origin, e.epoch)
        if cid != chain:
            if chain is not None and cid < chain:
                problems.append(_problem(e, ChainBroken.code, "events are not ordered"))
                break
            close()
            chain, prev_hash, prev_seq, bad, unsigned = cid, genesis_hash(*cid), 0, False, None
            n_chains += 1
        if bad:
            continue
        if selection is not None and e.seq > prev_seq + 1 and selection(*cid):
            if unsigned is not None:  # the stretch before the hole ends unsigned
                problems.append(_problem(unsigned, SignatureInvalid.code,
                                         "not covered by any signature of its origin"))
                bad = True
                if len(problems) >= MAX_PROBLEMS:
                    break
                continue
            prev_seq, prev_hash = e.seq - 1, e.prev_hash
        removed = is_erased(e.payload)
        problem = _check(e, prev_seq, prev_hash, keys, e.computed_hash() == e.hash)
        if problem is None and removed:
            if e.case_id not in erased_cases:
                problem = _problem(e, ChainBroken.code,
                                   "content erased without an erasure of the hub")
            else:
                erased[e.case_id] = erased.get(e.case_id, 0) + 1
        if e.signature is not None and problem is None:
            n_sigs += 1
        if problem is not None:
            problems.append(problem)
            bad = True
            if len(problems) >= MAX_PROBLEMS:
                break
            continue
        prev_seq, prev_hash = e.seq, e.hash
        unsigned = None if e.signature is not None else (unsigned or e)
    close()
    return AuditReport(n_events, n_chains, n_sigs, tuple(problems), tuple(erased.items()))


def _check(e: Event, prev_seq: int, prev_hash: bytes, keys: KeyRing,
           content_ok: bool) -> Problem | None:
    """``content_ok``: the content (or what its erased form keeps) matches the hash."""
    if e.seq != prev_seq + 1:
        return _problem(e, ChainBroken.code, f"expected seq {prev_seq + 1}, found {e.seq}")
    if e.prev_hash != prev_hash:
        return _problem(e, ChainBroken.code, "does not link to the previous event's hash")
    if not content_ok:
        return _problem(e, ChainBroken.code, "content does not match its hash (edited)")
    if e.signature is None:
        return None
    try:
        record = keys.for_event(e.signature.key_id, e.origin, e.epoch, e.seq)
        verify(record.public, e.signature.value, e.head.statement(), field="signature")
    except (KeyUnknown, KeyRevoked, SignatureInvalid) as err:
        return _problem(e, err.code, err.reason)
    return None


def receipt_problem(receipt: Receipt, ring: KeyRing) -> str | None:
    """Why a kept receipt of the hub does not hold (None when it does): it must be signed
    by a key of the hub, over its own statement."""
    if not ring.is_hub_key(receipt.signature.key_id):
        return "not signed by a key of the hub"
    try:
        verify(ring.key(receipt.signature.key_id).public, receipt.signature.value,
               receipt.statement(), field="receipt")
    except SignatureInvalid:
        return "the signature does not verify (time, sequence or signature changed)"
    return None
