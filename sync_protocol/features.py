"""Optional features a peer reads, negotiated per exchange without a new wire version.

A child lists the features it reads in its request (key 14), a parent those it reads in
its response and refusal (key 12). A side uses a feature only toward a peer that listed
it: last year's peers list nothing and get exactly what they always got.
"""

from __future__ import annotations

from collections.abc import Iterable

DOWN_BATCH = 1
"""The child reads the columnar down batch (response key 13 instead of key 8)."""
SPARSE_SIGNATURES = 2
"""The child accepts one origin signature per run in the down batch. Only a site that
relays to no child may ask for it: a relay must hold a signature for every event it may
pass on, to cut runs anywhere for its own children."""
CASE_REFS = 3
"""Case ids may travel as derivation refs (``null`` or ``[origin, epoch, seq]``)."""

LINK_HISTORY = 4
"""Listed by a parent: it reads requests compressed against the link's history (codec 2
with, as a raw-content zstd dictionary, the body of one of the child's last two requests
that carried events, :func:`sync_protocol.compression.history_dictionary`). Listed by a
child: it sends such requests, so the parent keeps its history (for no one else)."""

HAND_BACK = 5
"""Listed by both: after the parent's restore the child hands back the parent's own events
of an older epoch that it holds (:mod:`sync_protocol.hand_back`)."""

KNOWN = (DOWN_BATCH, SPARSE_SIGNATURES, CASE_REFS, LINK_HISTORY, HAND_BACK)
"""Every feature this release reads."""
CHILD_DEFAULT = (DOWN_BATCH, CASE_REFS, LINK_HISTORY, HAND_BACK)
"""What a child asks for unless it relays to no child (then add ``SPARSE_SIGNATURES``)."""
MAX_FEATURES = 64


def common(mine: Iterable[int], theirs: Iterable[int]) -> frozenset[int]:
    """The features both sides read (unknown numbers are ignored)."""
    return frozenset(mine) & frozenset(theirs) & frozenset(KNOWN)
