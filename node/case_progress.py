"""Where a case is now, as the agent's case list shows it, from the events the node holds.

The node sees its own events (registration, materials, hand-over, rating) and those that come
down from the parent (the hub's receipt, acceptance at a window, supplement requests,
decisions). The stage is the furthest point the log shows; ``queued_here`` becomes
``sent_up`` when the parent has acknowledged the registration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Events this node authors.
REGISTERED = "registered"
MATERIAL_ADDED = "material_added"
RESULT_HANDED_OVER = "result_handed_over"
RATED = "rated"
ORIGINALS_DISPATCHED = "originals_dispatched"
SUPPLEMENT_PROVIDED = "supplement_provided"

# Events that come down from the deciding site, grouped by the stage they reveal.
RECEIVED_EVENTS = frozenset({"received", "receipt", "received_by_city"})
AT_WINDOW_EVENTS = frozenset({"routed", "claimed", "accepted", "reported_up", "transferred"})
SUPPLEMENT_EVENTS = frozenset({"supplement_requested"})
DECIDED_EVENTS = frozenset(
    {"approved", "checked", "rejected", "result_issued", "decided", "deemed_approved"}
)

STAGES = (
    "queued_here",
    "sent_up",
    "received_by_city",
    "at_window",
    "supplement_requested",
    "decided",
    "handed_over",
)



@dataclass(frozen=True, slots=True)
class Progress:
    """The case's state (the last thing that happened) and stage (where it is)."""

    state: str
    stage: str


def progress_of(event_types: Sequence[str], *, registered_acked: bool) -> Progress:
    """Fold the event types, in the node's order, into a :class:`Progress`."""
    stage = "sent_up" if registered_acked else "queued_here"
    state = "registered"
    for event_type in event_types:
        if event_type in RECEIVED_EVENTS:
            stage = _later(stage, "received_by_city")
            state = "received"
        elif event_type in AT_WINDOW_EVENTS:
            stage = _later(stage, "at_window")
            state = event_type
        elif event_type in SUPPLEMENT_EVENTS:
            if stage not in ("decided", "handed_over"):
                stage = "supplement_requested"
            state = "supplement_requested"
        elif event_type == SUPPLEMENT_PROVIDED and stage == "supplement_requested":
            # Everything asked for is here and travels up; the window takes it from here.
            stage, state = "at_window", "supplement_answered"
        elif event_type in DECIDED_EVENTS:
            stage = _later(stage, "decided")
            state = event_type
        elif event_type == RESULT_HANDED_OVER:
            stage, state = "handed_over", "handed_over"
    return Progress(state=state, stage=stage)


def _later(current: str, candidate: str) -> str:
    return candidate if STAGES.index(candidate) > STAGES.index(current) else current


def is_decided(stage: str) -> bool:
    """Whether a result exists that the agent can hand over."""
    return stage in ("decided", "handed_over")
