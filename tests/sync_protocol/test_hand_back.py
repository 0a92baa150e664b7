"""Hand-back (feature 5): a restored parent reads back only its own, signed, older events;
anything else a child puts in request key 15 is dropped, never applied."""

from __future__ import annotations

from dataclasses import replace

from sync_protocol import ChildExchange, Event, ParentExchange
from sync_protocol.features import DOWN_BATCH, HAND_BACK
from sync_protocol.hand_back import encode_hand_back, ready_runs, sendable
from sync_protocol.keys import generate_key
from tests.sync_protocol.conftest import TOWNSHIP, VILLAGE, Link
from tests.sync_protocol.test_down_batch import NOW, decisions, registrations

FEATURES = (DOWN_BATCH, HAND_BACK)


def returned(link: Link, events: list[Event], *, parent_epoch: int = 2,
             child_features: tuple[int, ...] = FEATURES) -> tuple[tuple[Event, ...], int]:
    """What the parent (in ``parent_epoch``, restored) reads back from a request carrying
    ``events`` as the hand-back."""
    told = replace(link.parent_link, parent_reads=FEATURES)
    child = ChildExchange(key=link.tree.keys[VILLAGE], keyring=link.child_ring, link=told,
                          own_credentials=[link.tree.certs[VILLAGE]], features=child_features)
    out = child.request(NOW, hand_back=events)
    parent = ParentExchange(key=link.tree.keys[TOWNSHIP], keyring=link.parent_ring,
                            link=link.child_link, epoch=parent_epoch,
                            own_credentials=[link.tree.certs[TOWNSHIP]], features=FEATURES)
    incoming = parent.receive(out.data, NOW)
    return incoming.handed_back, incoming.handed_back_refused


def test_the_parent_reads_back_its_own_older_events(link: Link) -> None:
    own = decisions(link.tree.keys[TOWNSHIP], registrations(link, 3), per_case=3)
    # the child holds what came down: here a few, not consecutive in the parent's chain
    held = [own[0], own[1], own[2], own[5], own[8]]
    got, refused = returned(link, held)
    assert [e.key for e in got] == [e.key for e in held] and refused == 0
    assert [e.hash for e in got] == [e.hash for e in held]


def test_a_village_holding_only_each_runs_last_signature_still_hands_it_back(
        link: Link) -> None:
    own = decisions(link.tree.keys[TOWNSHIP], registrations(link, 2), per_case=3)
    sparse = [replace(e, signature=None) for e in own[:-1]] + [own[-1]]
    got, refused = returned(link, sparse)
    assert [e.key for e in got] == [e.key for e in own] and refused == 0
    assert sendable(sparse[:-1]) == []  # a run cut before its signed event is not sent


def test_a_forged_or_foreign_run_is_dropped(link: Link) -> None:
    cases = registrations(link, 2)
    own = decisions(link.tree.keys[TOWNSHIP], cases, per_case=2)
    forger = generate_key(TOWNSHIP)  # same site code, not the parent's key
    forged = decisions(forger, cases, per_case=2)
    got, refused = returned(link, forged)
    assert got == () and refused >= 1
    got, refused = returned(link, cases)  # the village's own events are not the parent's
    assert got == () and refused == 1
    got, refused = returned(link, own, parent_epoch=1)  # its current epoch is never lost
    assert got == () and refused == 1


def test_nothing_is_handed_back_unless_both_sides_list_it(link: Link) -> None:
    own = decisions(link.tree.keys[TOWNSHIP], registrations(link, 1), per_case=2)
    got, _ = returned(link, own, child_features=(DOWN_BATCH,))
    assert got == ()
    items, n = encode_hand_back(own)
    assert n == len(own) and 3 in items  # the runs travel as a down batch's


def test_a_stretch_waits_whole_for_its_case_and_others_go(link: Link) -> None:
    cases = registrations(link, 3)
    own = decisions(link.tree.keys[TOWNSHIP], cases, per_case=2)
    held = [own[0], own[1], own[4], own[5]]  # cases 0 and 2: two stretches
    waiting = {cases[0].case_id}
    ready = ready_runs(held, lambda e: e.case_id not in waiting)
    assert [e.key for e in ready] == [own[4].key, own[5].key]
    mixed = [own[1], own[2]]  # one stretch, two cases: it waits whole
    assert ready_runs(mixed, lambda e: e.case_id not in waiting) == []
