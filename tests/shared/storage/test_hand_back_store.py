"""What a child still owes a restored parent is decided from the index alone
(:func:`shared.storage.hand_back.holds_sendable_above`), and says exactly what loading and
opening the events would (:func:`held_above` then ``sendable``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from shared.storage import sync_store as store
from shared.storage.db import Base, make_engine
from shared.storage.hand_back import held_above, holds_sendable_above
from sync_protocol.hand_back import sendable

PARENT = "431002001"


@pytest.fixture
def session() -> Iterator[Session]:
    engine = make_engine("sqlite://")
    Base.metadata.create_all(engine, tables=[store.SyncEvent.__table__])  # type: ignore[list-item]
    with Session(engine) as opened:
        yield opened
    engine.dispose()


def _hold(session: Session, epoch: int, seq: int, signed: bool) -> None:
    session.add(store.SyncEvent(
        case_id=uuid.uuid4(), origin=PARENT, epoch=epoch, seq=seq, actor="window:li",
        at_ms=0, type="routed", payload=b"{}", prev_hash=b"\x00" * 32, hash=b"\x01" * 32,
        key_id=b"\x02" * 8 if signed else None, signature=b"\x03" * 64 if signed else None,
        recorded_ms=0))


@pytest.mark.parametrize(("held", "after", "limit"), [
    ([], 0, 10),                                     # nothing held
    ([(1, False), (2, False)], 0, 10),               # only an unsigned tail: nothing to send
    ([(1, False), (2, True), (3, False)], 0, 10),    # a run up to its signature
    ([(1, False), (2, True)], 2, 10),                # all of it at or below what is held there
    ([(1, False), (2, False), (3, True)], 0, 2),     # the signature beyond the first `limit`
    ([(4, True)], 3, 1),
])
def test_the_index_says_what_loading_the_events_would(
    session: Session, held: list[tuple[int, bool]], after: int, limit: int,
) -> None:
    for seq, signed in held:
        _hold(session, 1, seq, signed)
    _hold(session, 2, 1, True)  # another epoch never counts
    session.flush()
    loaded = sendable(held_above(session, store.PlainPayloads(), PARENT, 1, after, limit))
    assert holds_sendable_above(session, PARENT, 1, after, limit) is bool(loaded)
