"""The audit and erased events: an erased payload keeps its event's hash (the hash commits to
the payload's digest, and the erased payload carries the digests of what it removed), so its
link, its signature and the values it kept are all checked; it counts as erased only when its
case has an ``erased`` event the hub authored, whose hash and signature verify."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

from sync_protocol import (
    ChainHead,
    Event,
    append_event,
    verified_erasures,
    verify_store,
)
from sync_protocol.payload_digest import ERASED_DIGESTS, erased
from tests.sync_protocol.conftest import VILLAGE
from tests.sync_protocol.tree import HUB, T0, Tree, author


def _erasure(tree: Tree, case_id: uuid.UUID, *, by: str = HUB) -> Event:
    key = tree.hub_key if by == HUB else tree.keys[by]
    return append_event(ChainHead.genesis(by, 7), key, case_id=case_id, actor="system",
                        at=T0 + timedelta(days=2000), type="erased",
                        payload={"reason": "retention over"})


def _erase(e: Event) -> Event:
    """What a site stores once the case is erased: the item kept, the person removed."""
    return replace(e, payload=erased(e.payload, {"item_code": e.payload["item_code"]}))


def test_an_erased_event_keeps_its_hash_and_counts_as_erased_with_a_hub_erasure(
        tree: Tree) -> None:
    events = author(tree.keys[VILLAGE], ChainHead.genesis(VILLAGE, 1), 3)
    erasure = _erasure(tree, events[1].case_id)
    ring = tree.keyring()
    stored = [events[0], _erase(events[1]), events[2]]
    assert "张三" not in repr(stored[1].payload)
    assert stored[1].computed_hash() == events[1].hash

    cases = verified_erasures([erasure, *stored], ring, HUB)
    assert cases == {events[1].case_id}
    report = verify_store(stored, ring, erased_cases=cases)
    assert report.ok, report.problems
    assert report.erased == ((events[1].case_id, 1),)
    assert report.signatures == 3  # the erased event's signature still checked


def test_content_erased_without_the_hubs_erasure_is_reported(tree: Tree) -> None:
    events = author(tree.keys[VILLAGE], ChainHead.genesis(VILLAGE, 1), 3)
    ring = tree.keyring()
    stripped = [events[0], _erase(events[1]), events[2]]
    # no erasure of that case; one by another site; one by the hub with its content changed;
    # one by the hub signed with a key that is not the hub's
    by_village = _erasure(tree, events[1].case_id, by=VILLAGE)
    edited = replace(_erasure(tree, events[1].case_id), payload={"reason": "other"})
    unsigned = replace(_erasure(tree, events[1].case_id), signature=None)
    wrong_key = replace(_erasure(tree, events[1].case_id), signature=by_village.signature)
    for held in ([], [by_village], [edited], [unsigned], [wrong_key]):
        cases = verified_erasures(held, ring, HUB)
        assert cases == set()
        for hub_erased in (cases, ()):
            report = verify_store(stripped, ring, erased_cases=hub_erased)
            assert report.first is not None and report.first.seq == 2
            assert "without an erasure of the hub" in report.first.reason
            assert report.erased == ()


def test_an_erased_case_still_shows_an_edit_of_what_its_events_kept(tree: Tree) -> None:
    events = author(tree.keys[VILLAGE], ChainHead.genesis(VILLAGE, 1), 2)
    ring = tree.keyring()
    hub_erased = verified_erasures([_erasure(tree, events[0].case_id)], ring, HUB)
    gone = _erase(events[0])
    digests = gone.payload[ERASED_DIGESTS]
    assert isinstance(digests, dict)
    edits = [
        # a live event's content changed
        replace(events[0], payload={**events[0].payload, "applicant": {"name": "李四"}}),
        # a value the erased form kept changed (the item decided)
        replace(gone, payload={**gone.payload, "item_code": "MZ-0999"}),
        # a key added to the erased form
        replace(gone, payload={**gone.payload, "note": "x"}),
        # a removed value's digest replaced, or dropped
        replace(gone, payload={**gone.payload, ERASED_DIGESTS: {**digests, "form": "0" * 64}}),
        replace(gone, payload={**gone.payload, ERASED_DIGESTS: {
            k: v for k, v in digests.items() if k != "form"}}),
    ]
    for edit in edits:
        report = verify_store([edit, events[1]], ring, erased_cases=hub_erased)
        assert report.first is not None and report.first.seq == 1, edit.payload
        assert "edited" in report.first.reason
        assert report.erased == ()
    # the chain's links are still checked through an erased event
    relinked = [gone, replace(events[1], prev_hash=b"\1" * 32)]
    report = verify_store(relinked, ring, erased_cases=hub_erased)
    assert report.first is not None and report.first.seq == 2
