"""Key rotation: the old key hands over and stops authenticating exchanges, the events it
signed stay valid, a hub's chain is followed from any pinned key and in any order."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from sync_protocol import (
    CertificateInvalid,
    ChainHead,
    ChildExchange,
    KeyRevoked,
    KeyRing,
    KeyUnknown,
    ParentLink,
    SiteKey,
    generate_key,
    issue_certificate,
    rotate_key,
    verify_store,
)
from sync_protocol.credentials import Credential
from tests.sync_protocol.conftest import TOWNSHIP, VILLAGE, Link, make_link
from tests.sync_protocol.tree import HUB, T0, Tree, author


def _hub_chain(first: SiteKey, n: int) -> tuple[list[SiteKey], list[Credential]]:
    """``n`` rotations of the hub from ``first``: each rotation, then the old key certified
    by the new (what ``sanji hub rotate-key`` keeps)."""
    keys = [first]
    chain: list[Credential] = []
    for i in range(n):
        new = generate_key(HUB)
        at = T0 + timedelta(days=30 * (i + 1))
        chain.append(rotate_key(keys[-1], new, now=at))
        chain.append(issue_certificate(new, site=HUB, parent=None, tier="city",
                                       public_raw=keys[-1].public_raw, now=at))
        keys.append(new)
    return keys, chain


def test_a_rotated_out_key_authenticates_no_hop_but_its_events_stay_valid(tree: Tree) -> None:
    ring = tree.keyring()
    old = tree.keys[VILLAGE]
    new = generate_key(VILLAGE)
    earlier = author(old, ChainHead.genesis(VILLAGE, 1), 2)
    assert ring.for_hop(old.key_id, VILLAGE).key_id == old.key_id
    ring.add(rotate_key(old, new, now=T0))
    with pytest.raises(KeyRevoked):
        ring.for_hop(old.key_id, VILLAGE)
    assert ring.for_hop(new.key_id, VILLAGE).key_id == new.key_id
    later = author(new, earlier[-1].head, 1)
    assert verify_store([*earlier, *later], ring).ok  # both keys' events check


def test_a_key_hands_over_once(tree: Tree) -> None:
    ring = tree.keyring()
    old = tree.keys[VILLAGE]
    first = rotate_key(old, generate_key(VILLAGE), now=T0)
    ring.add(first)
    ring.add(first)  # the same rotation again is harmless
    with pytest.raises(CertificateInvalid):  # a stolen old key cannot fork the chain
        ring.add(rotate_key(old, generate_key(VILLAGE), now=T0 + timedelta(hours=1)))


def test_the_handed_over_mark_survives_a_copy(tree: Tree) -> None:
    ring = tree.keyring()
    old = tree.keys[VILLAGE]
    ring.add(rotate_key(old, generate_key(VILLAGE), now=T0))
    with pytest.raises(KeyRevoked):
        ring.copy().for_hop(old.key_id, VILLAGE)


@pytest.mark.parametrize("pinned", [0, 1, 2, 3])
def test_a_site_follows_the_hub_chain_from_the_key_it_pinned(tree: Tree, pinned: int) -> None:
    keys, chain = _hub_chain(tree.hub_key, 3)
    ring = KeyRing(HUB, keys[pinned].public_raw)
    # the chain comes oldest first: a ring pinned on a later key meets rotations it cannot
    # check yet, and certificates of earlier keys later
    assert ring.add_any_order(chain) == []
    assert all(ring.is_hub_key(k.key_id) for k in keys)
    for k in keys[:-1]:
        with pytest.raises(KeyRevoked):
            ring.for_hop(k.key_id, HUB)
    assert ring.for_hop(keys[-1].key_id, HUB).anchor
    # what the first key certified (every site enrolled before the rotations) still checks
    assert ring.add(tree.certs[VILLAGE]).site == VILLAGE
    # and the newest key certifies
    late = generate_key("431000001203")
    cert = issue_certificate(keys[-1], site=late.site, parent=TOWNSHIP, tier="village",
                             public_raw=late.public_raw, now=T0 + timedelta(days=200))
    assert ring.add(cert).site == late.site


def test_a_chain_that_never_connects_is_reported(tree: Tree) -> None:
    _, chain = _hub_chain(generate_key(HUB), 2)  # some other hub's keys
    ring = tree.keyring()
    errors = ring.add_any_order(chain)
    assert len(errors) == len(chain)
    assert isinstance(errors[0], KeyUnknown)


def _rotated(link: Link) -> tuple[SiteKey, SiteKey, Credential]:
    old = link.tree.keys[VILLAGE]
    new = generate_key(VILLAGE)
    return old, new, rotate_key(old, new, now=T0)


def test_the_parent_adopts_a_rotation_and_then_refuses_the_old_key(tree: Tree) -> None:
    link = make_link(tree)
    old, new, rotation = _rotated(link)
    events = link.events(2)
    ex = ChildExchange(key=new, keyring=link.child_ring, link=replace(
        link.parent_link, introduced=True), own_credentials=[tree.certs[VILLAGE], rotation])
    out = ex.request(T0, pending=events, credentials=[rotation])
    parent = link.parent()
    incoming = parent.receive(out.data, T0)
    assert [e.key for e in incoming.new_events] == [e.key for e in events]
    assert incoming.credentials == (rotation,)
    child_link = parent.stored()
    parent.respond(T0)
    # a frame the old key signs afterwards is refused, whatever it carries
    stale = ChildExchange(key=old, keyring=link.child_ring,
                          link=ParentLink(site=VILLAGE, parent=TOWNSHIP, introduced=True))
    data = stale.request(T0 + timedelta(seconds=5), pending=[]).data
    with pytest.raises(KeyRevoked):
        link.parent(child_link).receive(data, T0 + timedelta(seconds=5))
    # the new key goes on
    fresh = ChildExchange(key=new, keyring=link.child_ring,
                          link=ParentLink(site=VILLAGE, parent=TOWNSHIP, introduced=True))
    data = fresh.request(T0 + timedelta(seconds=6), pending=[]).data
    assert link.parent(child_link).receive(data, T0 + timedelta(seconds=6)).child == VILLAGE
