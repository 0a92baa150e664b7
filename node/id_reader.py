"""Reading the applicant from a resident ID card (二代身份证) through a small interface.

Real readers (USB devices with a vendor SDK) implement :class:`IdCardReader`; the
:class:`SimulatedReader` serves queued cards for tests and the demo. A reader returns what
the chip holds; the intake still validates it like typed input.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class IdCardData:
    """The fields of the card the intake uses (the photo and address are not kept)."""

    name: str
    id_number: str
    sex: str = ""
    ethnicity: str = ""
    address: str = ""
    valid_until: str = ""


class ReaderUnavailable(Exception):
    """No reader is attached, or it does not answer."""


class IdCardReader(Protocol):
    """A device that reads the card placed on it."""

    def read(self) -> IdCardData | None:
        """The card on the reader, or ``None`` when no card is placed."""
        ...


class NoReader:
    """The node has no reader: typing is the only way."""

    def read(self) -> IdCardData | None:
        raise ReaderUnavailable("no ID card reader is attached to this PC")


class SimulatedReader:
    """Hands out queued cards in order, then a default card if one was given."""

    def __init__(self, cards: Iterable[IdCardData] = (), default: IdCardData | None = None):
        self._cards: deque[IdCardData] = deque(cards)
        self._default = default
        self._lock = threading.Lock()

    def place(self, card: IdCardData) -> None:
        """Put a card on the reader (it is read once)."""
        with self._lock:
            self._cards.append(card)

    def read(self) -> IdCardData | None:
        with self._lock:
            if self._cards:
                return self._cards.popleft()
            return self._default


DEMO_CARD = IdCardData(
    name="王𠮷祥",
    id_number="431002198001010017",
    sex="男",
    ethnicity="汉",
    address="湖南省郴州市北湖区华塘镇吉村",
    valid_until="2035-01-01",
)
