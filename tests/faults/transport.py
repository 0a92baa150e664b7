"""The link between a child and its parent, in process: the child's real ``sync_with_parent``
calls this :data:`~shared.exchange.transport.Transport`, which hands the frame to the parent's
real ``answer_child`` on the parent's own database, and on the way drops, repeats, holds,
truncates, delays or swaps frames as the step asks. Nothing about the frames is faked: the
bytes that arrive are bytes a site produced.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable

from shared.exchange.transport import TransportError
from tests.faults.faults import (
    DELAY,
    DROP_ANSWER,
    DROP_REQUEST,
    DUPLICATE_REQUEST,
    HOLD,
    NONE,
    STALE_ANSWER,
    TRUNCATE_ANSWER,
    TRUNCATE_REQUEST,
)

Answerer = Callable[[str, bytes], bytes]
"""Deliver a request frame to the parent ``url`` and return its answer frame; raises
:class:`TransportError` when the parent died while answering."""

KEPT_ANSWERS = 4
WINDOW_MS = 300_000


class FaultTransport:
    """One transport for the whole tree; the step arms one fault for one child's next call."""

    def __init__(self, answer: Answerer, advance: Callable[[int], None],
                 reached: Counter[str]) -> None:
        self.answer = answer
        self.advance = advance
        self.reached = reached
        self.child = ""
        self.fault, self.arg = NONE, 0
        self.held: dict[str, list[tuple[str, bytes]]] = {}
        self.answers: dict[str, list[bytes]] = {}

    def arm(self, child: str, fault: str = NONE, arg: int = 0) -> None:
        self.child, self.fault, self.arg = child, fault, arg

    def __call__(self, url: str, data: bytes) -> bytes:
        child, fault, arg = self.child, self.fault, self.arg
        self.fault = NONE  # a fault hits one frame; sync_until_quiet's next call goes clean
        late = self.held.pop(child, [])
        if late and arg % 2 == 0:
            self._deliver_late(late)
            late = []
        try:
            return self._pass(url, data, child, fault, arg)
        finally:
            if late:
                self._deliver_late(late)

    def _pass(self, url: str, data: bytes, child: str, fault: str, arg: int) -> bytes:
        if fault == DROP_REQUEST:
            self.reached[fault] += 1
            raise TransportError("the request was lost")
        if fault == HOLD:
            self.held.setdefault(child, []).append((url, data))
            raise TransportError("no answer in time (the request is still on its way)")
        if fault == TRUNCATE_REQUEST:
            self.reached[fault] += 1
            data = data[: max(1, len(data) * (1 + arg % 3) // 4)]
        if fault == DELAY:
            self.reached[fault] += 1
            self.advance(WINDOW_MS + 1_000 + (arg * 7_919) % WINDOW_MS)
        answer = self.answer(url, data)
        if fault == DUPLICATE_REQUEST:
            self.reached[fault] += 1
            again = self.answer(url, data)
            answer = again if arg % 2 else answer
        previous = self.answers.setdefault(child, [])
        stale = previous[arg % len(previous)] if previous else None
        previous.append(answer)
        del previous[:-KEPT_ANSWERS]
        if fault == DROP_ANSWER:
            self.reached[fault] += 1
            raise TransportError("the answer was lost (the parent had committed)")
        if fault == STALE_ANSWER and stale is not None:
            self.reached[fault] += 1
            return stale
        if fault == TRUNCATE_ANSWER:
            self.reached[fault] += 1
            return answer[: len(answer) * (1 + arg % 3) // 4]
        return answer

    def _deliver_late(self, late: list[tuple[str, bytes]]) -> None:
        """A held request reaches the parent after a later one was sent (its answer goes to
        a child that stopped waiting)."""
        for url, data in late:
            self.reached[HOLD] += 1
            with contextlib.suppress(TransportError):
                self.answer(url, data)

    def flush_held(self) -> None:
        """Every request still on its way arrives (the links heal)."""
        for child in list(self.held):
            self._deliver_late(self.held.pop(child))
