"""Every state transition of an exchange lives in this file, as tables.

An exchange is one HTTP round trip seen from one side. The child builds a
request, receives a response (or a refusal, or nothing), and tells the library
once it has durably stored what it kept; only then does its ack move. The
parent verifies a request, tells the library once it has stored the new
events, and then answers; its ack covers only what it stored. An input that a
table does not list raises ``LocalProtocolError`` and leaves the state as it was.
"""

from __future__ import annotations

from enum import Enum

from sync_protocol.errors import LocalProtocolError


class State(Enum):
    IDLE = "idle"
    AWAITING_RESPONSE = "awaiting_response"
    DELIVERED = "delivered"
    VERIFIED = "verified"
    STORED = "stored"
    DONE = "done"


class Input(Enum):
    SEND_REQUEST = "send_request"
    RECEIVE_RESPONSE = "receive_response"
    RECEIVE_REFUSAL = "receive_refusal"
    MARK_STORED = "mark_stored"
    FAIL = "fail"
    RECEIVE_REQUEST = "receive_request"
    SEND_RESPONSE = "send_response"
    SEND_REFUSAL = "send_refusal"


CHILD_TRANSITIONS: dict[tuple[State, Input], State] = {
    (State.IDLE, Input.SEND_REQUEST): State.AWAITING_RESPONSE,
    (State.AWAITING_RESPONSE, Input.RECEIVE_RESPONSE): State.DELIVERED,
    (State.AWAITING_RESPONSE, Input.RECEIVE_REFUSAL): State.IDLE,
    (State.AWAITING_RESPONSE, Input.FAIL): State.IDLE,
    (State.DELIVERED, Input.MARK_STORED): State.IDLE,
    (State.DELIVERED, Input.FAIL): State.IDLE,
}
"""The child's side: one request out, one answer in, then 'stored' moves the ack."""

PARENT_TRANSITIONS: dict[tuple[State, Input], State] = {
    (State.IDLE, Input.RECEIVE_REQUEST): State.VERIFIED,
    (State.IDLE, Input.SEND_REFUSAL): State.DONE,
    (State.VERIFIED, Input.MARK_STORED): State.STORED,
    (State.VERIFIED, Input.SEND_RESPONSE): State.DONE,
    (State.VERIFIED, Input.SEND_REFUSAL): State.DONE,
    (State.STORED, Input.SEND_RESPONSE): State.DONE,
}
"""The parent's side: verify, store (optional: unstored events are simply not acked), answer."""


class Machine:
    """A state and the table that moves it."""

    def __init__(self, table: dict[tuple[State, Input], State], start: State = State.IDLE):
        self._table = table
        self.state = start

    def can(self, event: Input) -> bool:
        return (self.state, event) in self._table

    def fire(self, event: Input) -> State:
        nxt = self._table.get((self.state, event))
        if nxt is None:
            raise LocalProtocolError(
                "state", f"cannot {event.value} in state {self.state.value}"
            )
        self.state = nxt
        return nxt


def transitions_markdown() -> str:
    """The tables as Markdown, the form the spec prints them in."""
    lines: list[str] = []
    for name, table in (("child", CHILD_TRANSITIONS), ("parent", PARENT_TRANSITIONS)):
        lines += [f"| {name}: state | input | next state |", "|---|---|---|"]
        lines += [f"| `{s.value}` | `{i.value}` | `{n.value}` |" for (s, i), n in table.items()]
        lines.append("")
    return "\n".join(lines)
