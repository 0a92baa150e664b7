"""Forged, replayed, tampered and rolled-back messages, counted: how many of N an attacker on
the wire (or a site that is not who it claims) gets accepted. Every count must be 0.

The sites are the production glue (``answer_child`` and ``sync_with_parent`` on real SQL
stores, the hub on SQLite or PostgreSQL). "Accepted" is counted from what the receiving
side's hooks were shown and what its tables hold, never from the answer's status: a parent
that answered 200 but stored nothing accepted nothing, and one that answered 409 but stored
an event accepted it. Each attack also sends the honest message once, which must be
accepted: a counter that cannot see an acceptance proves nothing.

The figures are printed (``pytest -s``) and written down in docs/security.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from shared.exchange.child import sync_with_parent
from shared.exchange.parent import answer_child
from shared.exchange.transport import Transport, TransportError
from shared.storage.db import make_engine
from sync_protocol import (
    KeyRing,
    KeyUnknown,
    Release,
    ReleaseLedger,
    ReleaseRollback,
    SignatureInvalid,
    SiteKey,
    generate_key,
    issue_certificate,
    sign_release,
)
from tests.shared.exchange.test_parent_child import (
    HUB,
    START,
    TOWNSHIP,
    VILLAGE,
    Place,
    Tree,
    keys,
    make_place,
    make_tree,
)

FORGED_FRAMES = 40
REPLAYED_SYNCS = 12


@pytest.fixture
def tree(db_engine: Engine, tmp_path: Path) -> Iterator[Tree]:
    built = make_tree(db_engine, tmp_path)
    yield built
    built.dispose()


def _flipped(data: bytes, index: int) -> bytes:
    changed = bytearray(data)
    changed[index] ^= 0x01
    return bytes(changed)


def _report(kind: str, accepted: int, sent: int) -> None:
    print(f"\n{kind}: accepted {accepted} of {sent}")


def _captured_request(tree: Tree, place: Place) -> bytes:
    """The next request ``place`` sends, caught on the wire before any parent sees it."""
    caught: list[bytes] = []

    def catch(url: str, data: bytes) -> bytes:
        caught.append(data)
        raise TransportError("caught on the wire")

    with place.session() as session:
        outcome = sync_with_parent(session, place.site, catch, tree.clock)
    assert not outcome.ok and len(caught) == 1
    return caught[0]


def _to_hub(tree: Tree) -> Transport:
    def post(url: str, data: bytes) -> bytes:
        with tree.hub.session() as session:
            return answer_child(session, tree.hub.site, data, tree.clock()).data
    return post


def test_tampered_requests_one_byte_flipped_at_every_position_are_never_accepted(
    tree: Tree,
) -> None:
    township = tree.add(TOWNSHIP, HUB, "township")
    registered = township.register(3, tree.clock)
    frame = _captured_request(tree, township)

    accepted = 0
    for index in range(len(frame)):
        with tree.hub.session() as session:
            answer_child(session, tree.hub.site, _flipped(frame, index), tree.clock())
        if tree.hub.hooks.events or tree.hub.held(TOWNSHIP):
            accepted += 1
            break
    _report("tampered requests (every byte flipped)", accepted, len(frame))
    assert accepted == 0

    assert tree.sync(township).ok  # the honest request, sent now, is accepted
    assert tree.hub.hooks.events == keys(registered)


def test_tampered_answers_one_byte_flipped_at_every_position_are_never_accepted(
    tree: Tree,
) -> None:
    township = tree.add(TOWNSHIP, HUB, "township")
    township.register(2, tree.clock)
    assert tree.sync(township).ok  # the hub holds them: its next answer carries the receipt
    township.register(1, tree.clock)
    deliver = tree.wire
    answer = deliver(HUB, _captured_request(tree, township))  # the honest answer, kept
    receipts_before = list(township.hooks.receipts)
    ack_before = township.down_ack()

    accepted = 0
    for index in range(len(answer)):
        def tampering(url: str, data: bytes, index: int = index) -> bytes:
            fresh = deliver(url, data)  # the parent answers; the wire flips one bit of it
            return _flipped(fresh, index % len(fresh))

        with township.session() as session:
            sync_with_parent(session, township.site, tampering, tree.clock)
        if township.hooks.receipts != receipts_before or township.down_ack() != ack_before:
            accepted += 1
    _report("tampered answers (every byte flipped)", accepted, len(answer))
    assert accepted == 0

    assert tree.sync(township).ok  # honest again: the receipt comes down
    assert township.hooks.receipts != receipts_before


def test_replayed_requests_and_answers_are_never_accepted(tree: Tree) -> None:
    township = tree.add(TOWNSHIP, HUB, "township")
    for _ in range(REPLAYED_SYNCS):
        township.register(1, tree.clock)
        assert tree.sync(township).ok
    seen = list(tree.hub.hooks.events)
    assert len(seen) == REPLAYED_SYNCS
    before = tree.hub.snapshot()

    accepted = 0
    for old in tree.wire.requests:  # every request sent, replayed byte for byte
        with tree.hub.session() as session:
            answer_child(session, tree.hub.site, old, tree.clock())
        if tree.hub.hooks.events != seen or tree.hub.snapshot() != before:
            accepted += 1
    _report("replayed requests", accepted, len(tree.wire.requests))
    assert accepted == 0

    # an old answer handed to the child in place of the answer to its new request
    old_answers = [a.data for a in tree.wire.answers]
    township.register(1, tree.clock)
    pending = township.pending_up()
    accepted_answers = 0
    for old_answer in old_answers:
        def stale(url: str, data: bytes, old_answer: bytes = old_answer) -> bytes:
            return old_answer

        with township.session() as session:
            sync_with_parent(session, township.site, stale, tree.clock)
        if township.pending_up() != pending:
            accepted_answers += 1
    _report("replayed answers", accepted_answers, len(old_answers))
    assert accepted_answers == 0
    assert tree.sync(township).ok and township.pending_up() == 0  # the honest one is taken


def test_forged_frames_and_certificates_are_never_accepted(
    tree: Tree, tmp_path: Path,
) -> None:
    """Strangers claiming the township's code: their own key, uncertified; a certificate
    signed by a key that is not the hub's; a certificate the real hub issued for another
    site. None of their events is stored."""
    township = tree.add(TOWNSHIP, HUB, "township")
    impostor_hub = generate_key(HUB)
    attempts = 0
    accepted = 0
    for n in range(FORGED_FRAMES):
        key = generate_key(TOWNSHIP)
        style = n % 3
        if style == 0:
            cert = None  # no certificate at all
        elif style == 1:
            cert = issue_certificate(impostor_hub, site=TOWNSHIP, parent=HUB, tier="township",
                                     public_raw=key.public_raw, now=START)
        else:  # the real hub's certificate, for the township's sibling village
            cert = issue_certificate(tree.hub_key, site=VILLAGE, parent=TOWNSHIP,
                                     tier="village", public_raw=key.public_raw, now=START)
        engine = make_engine(f"sqlite:///{tmp_path / f'stranger-{n}'}.sqlite")
        stranger = make_place(engine, key, tree.hub_key, parent=HUB, cert=cert)
        stranger.register(1, tree.clock)
        with stranger.session() as session:
            sync_with_parent(session, stranger.site, _to_hub(tree), tree.clock)
        engine.dispose()
        attempts += 1
        if tree.hub.hooks.events or tree.hub.held(TOWNSHIP):
            accepted += 1
    _report("forged frames and certificates", accepted, attempts)
    assert accepted == 0

    registered = township.register(1, tree.clock)
    assert tree.sync(township).ok  # the real township is still taken
    assert tree.hub.hooks.events == keys(registered)


def test_rolled_back_and_forged_releases_are_never_accepted(tree: Tree) -> None:
    """A site holding catalogue v10 is offered every earlier version, v10 with other
    content, and releases signed by keys that are not the hub's."""
    ring = KeyRing(HUB, tree.hub_key.public_raw)
    day = timedelta(days=1)

    def release(version: int, content: bytes = b"items",
                key: SiteKey | None = None) -> Release:
        return sign_release(key or tree.hub_key, kind="catalogue", version=version,
                            content=content, effective_from=START, expires_at=START + 30 * day)

    ledger = ReleaseLedger().accept(release(10), ring, START)
    offered = [release(v) for v in range(1, 10)] + [release(10, b"other items")]
    rogue = [release(11, key=generate_key(HUB)), release(11, key=generate_key(TOWNSHIP))]
    accepted = 0
    for candidate in offered + rogue:
        try:
            after = ledger.accept(candidate, ring, START)
        except (ReleaseRollback, KeyUnknown, SignatureInvalid):
            continue
        if after.versions() != ledger.versions() or after is not ledger:
            accepted += 1
    _report("rolled-back and forged releases", accepted, len(offered) + len(rogue))
    assert accepted == 0
    assert ledger.accept(release(11), ring, START).versions() == {"catalogue": 11}
