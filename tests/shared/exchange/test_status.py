"""What a site reports of its exchanges (:mod:`shared.exchange.status`): the child's
``sync_status`` after a successful, an unreachable and a refused exchange, and what a parent
keeps of each child's last request (``child_info``, ``child_ack``, its pending down items)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from shared.exchange.child import sync_with_parent
from shared.exchange.status import child_ack, child_info, sync_status
from shared.storage import sync_store as store
from sync_protocol import LinkPosition, sign_release
from sync_protocol.times import to_ms
from tests.shared.exchange.test_parent_child import (
    HUB,
    START,
    TOWNSHIP,
    Clock,
    Place,
    Tree,
    make_tree,
)


@pytest.fixture
def tree(db_engine: Engine, tmp_path: Path) -> Iterator[Tree]:
    """The hub on SQLite or PostgreSQL, the township on a SQLite file."""
    built = make_tree(db_engine, tmp_path)
    yield built
    built.dispose()


def status_of(place: Place) -> dict[str, object]:
    with place.session() as session:
        return sync_status(session, place.site)


def at(value: object) -> datetime:
    assert isinstance(value, str)
    return datetime.fromisoformat(value)


def test_after_successful_exchanges_the_status_counts_what_is_left_and_the_bytes(
    tree: Tree,
) -> None:
    township = tree.add(TOWNSHIP, HUB, "township")
    assert status_of(township)["last_success"] is None  # never synced yet
    township.register(2, tree.clock)
    assert tree.sync(township).ok
    assert tree.sync(township).ok
    township.register(1, tree.clock)  # registered since: waiting

    status = status_of(township)

    assert status["parent_reachable"] is True
    assert status["pending_up"] == 1
    assert status["pending_down"] == 0  # a township with no village of its own
    assert status["last_error"] is None
    success = at(status["last_success"])
    assert tree.wire.answered_at[-1] < success <= tree.clock.now  # after the last answer
    assert status["last_attempt"] == status["last_success"]
    assert status["bytes_up"] == sum(len(r) for r in tree.wire.requests)
    assert status["bytes_down"] == sum(len(a.data) for a in tree.wire.answers)
    assert status["down_ack"] == [1, 1]  # the hub's receipt for the two events
    assert status["rejected_down"] == 0
    assert (status["blobs_pending_up"], status["blob_bytes_up"]) == (0, 0)


def test_a_failed_exchange_is_reported_and_the_next_success_clears_it(tree: Tree) -> None:
    township = tree.add(TOWNSHIP, HUB, "township")
    township.register(2, tree.clock)
    assert tree.sync(township).ok
    good = status_of(township)
    township.register(1, tree.clock)
    tree.wire.unreachable = {2}

    assert not tree.sync(township).ok
    offline = status_of(township)

    assert offline["parent_reachable"] is False
    assert offline["last_error"] == f"connection refused by {HUB}"
    assert offline["last_success"] == good["last_success"]
    assert at(offline["last_attempt"]) > at(good["last_attempt"])
    assert offline["pending_up"] == 1
    assert offline["bytes_down"] == good["bytes_down"]  # nothing came back
    assert offline["down_ack"] == good["down_ack"]

    # a village PC whose clock is two hours slow: the parent answers, and refuses
    slow = Clock(tree.clock.now - timedelta(hours=2))
    with township.session() as session:
        refused = sync_with_parent(session, township.site, tree.wire, slow)
    assert not refused.ok
    skewed = status_of(township)
    assert skewed["parent_reachable"] is True
    assert str(skewed["last_error"]).startswith("refused: clock_skew: ")
    assert skewed["pending_up"] == 1

    with township.session() as session:  # the refusal taught the offset
        again = sync_with_parent(session, township.site, tree.wire, slow)
    assert again.ok, again.error
    recovered = status_of(township)
    assert recovered["last_error"] is None
    assert recovered["parent_reachable"] is True
    assert recovered["pending_up"] == 0
    assert recovered["last_success"] == recovered["last_attempt"]


def test_a_parent_keeps_what_each_child_said_and_what_it_has_not_acked(tree: Tree) -> None:
    township = tree.add(TOWNSHIP, HUB, "township")
    township.site.epoch = 2  # restored from a backup once
    with tree.hub.session() as session:
        store.keep_release(session, sign_release(
            tree.hub_key, kind="catalogue", version=1, content=b"{}",
            effective_from=START - timedelta(days=1), expires_at=START + timedelta(days=400),
        ), to_ms(START))
        session.commit()
        assert child_info(session, TOWNSHIP) is None  # never heard from
        assert child_ack(session, TOWNSHIP) == LinkPosition()
    township.register(1, tree.clock)

    assert tree.sync(township).ok

    with tree.hub.session() as session:
        assert child_info(session, TOWNSHIP) == {
            "last_contact_ms": to_ms(tree.wire.answered_at[0]), "epoch": 2,
            "wire_version": 1, "releases_known": {}}
        assert child_ack(session, TOWNSHIP) == LinkPosition()
        hub_status = sync_status(session, tree.hub.site)
        assert hub_status["pending_down"] == 1  # the receipt, on its way
        assert hub_status["pending_up"] == 0  # the root owes nobody
    assert township.hooks.releases == [("catalogue", 1)]
    assert township.hooks.receipts == [(TOWNSHIP, 2, 1)]

    assert tree.sync(township).ok

    with tree.hub.session() as session:
        assert child_info(session, TOWNSHIP) == {
            "last_contact_ms": to_ms(tree.wire.answered_at[1]), "epoch": 2,
            "wire_version": 1, "releases_known": {"catalogue": 1}}
        assert child_ack(session, TOWNSHIP) == LinkPosition(1, 1)
        assert sync_status(session, tree.hub.site)["pending_down"] == 0
    assert township.hooks.releases == [("catalogue", 1)]  # not sent again
