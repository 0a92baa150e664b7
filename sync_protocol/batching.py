"""Choosing what goes up in one batch, and adapting the batch size to the link.

A batch is made of runs of chains. A run must end at an event whose origin
signature the sender holds: the origin signs every event it authors, a relay
holds one signature per run it received, so a relay forwards its children's
events in runs that end where theirs did.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sync_protocol.events import Event

MIN_BATCH = 10
MAX_BATCH = 5_000
START_BATCH = MAX_BATCH
"""A fresh link sends its whole backlog at once when it fits a frame (the caller halves
the batch while the request exceeds the frame limit)."""


def select_runs(pending: Sequence[Event], max_events: int,
                cut_after: Callable[[Event], bool] | None = None) -> list[list[Event]]:
    """Runs to send, oldest first, holding at most ``max_events`` events.

    ``pending`` is the outbox toward the parent (unacknowledged events, any
    order). Each chain is cut at holes and after its last signed event; if the
    first run alone exceeds the limit it is still sent whole when it cannot be
    cut shorter at a signed event, so that a link never stalls. ``cut_after``
    names signed events that must end a run, so that their own signature
    travels: a site above may have to send them down another branch alone.
    """
    chains: dict[tuple[str, int], list[Event]] = {}
    for e in pending:
        chains.setdefault((e.origin, e.epoch), []).append(e)
    runs: list[list[Event]] = []
    for events in chains.values():
        events.sort(key=lambda e: e.seq)
        run: list[Event] = []
        for e in events:
            if run and e.seq != run[-1].seq + 1:
                _close(run, runs)
                run = []
            if not run or e.seq != run[-1].seq:
                run.append(e)
                if cut_after is not None and e.signature is not None and cut_after(e):
                    _close(run, runs)
                    run = []
        _close(run, runs)
    runs.sort(key=lambda r: (r[0].at, r[0].origin, r[0].epoch, r[0].seq))
    chosen: list[list[Event]] = []
    room = max_events
    for run in runs:
        if room <= 0:
            break
        if len(run) <= room:
            chosen.append(run)
            room -= len(run)
            continue
        cut = max((i for i in range(room) if run[i].signature is not None), default=-1)
        if cut >= 0:
            chosen.append(run[: cut + 1])
        elif not chosen:
            first_signed = next(i for i, e in enumerate(run) if e.signature is not None)
            chosen.append(run[: first_signed + 1])
        break
    return chosen


def _close(run: list[Event], runs: list[list[Event]]) -> None:
    last_signed = max((i for i, e in enumerate(run) if e.signature is not None), default=-1)
    if last_signed >= 0:
        runs.append(run[: last_signed + 1])


def adapt(batch: int, *, ok: bool, seconds: float, target_seconds: float = 10.0) -> int:
    """Next batch size: double after a quick success, halve after a failure or a slow one."""
    if ok and seconds <= target_seconds:
        return min(MAX_BATCH, batch * 2)
    if ok:
        return batch
    return max(MIN_BATCH, batch // 2)

