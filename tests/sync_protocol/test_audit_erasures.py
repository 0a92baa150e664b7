"""The audit and erased events: an event whose payload was replaced by its erased form counts
as erased, not edited, only when its case has an ``erased`` event the hub authored, whose
hash and signature verify; any other change of content is still an edit."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

from sync_protocol import (
    ChainHead,
    Erasures,
    Event,
    append_event,
    verified_erasures,
    verify_store,
)
from tests.sync_protocol.conftest import VILLAGE
from tests.sync_protocol.tree import HUB, T0, Tree, author

ERASED_FORM = {"item_code": "MZ-0203", "erased": True}


def _erased_form(e: Event) -> bool:
    """What the sites pass: the payload is the erased form of its type (here, one shape)."""
    return dict(e.payload) == ERASED_FORM


def _erasure(tree: Tree, case_id: uuid.UUID, *, by: str = HUB) -> Event:
    key = tree.hub_key if by == HUB else tree.keys[by]
    return append_event(ChainHead.genesis(by, 7), key, case_id=case_id, actor="system",
                        at=T0 + timedelta(days=2000), type="erased",
                        payload={"reason": "retention over"})


def _erase(e: Event) -> Event:
    return replace(e, payload=ERASED_FORM)


def test_an_erased_event_counts_as_erased_with_a_hub_erasure(tree: Tree) -> None:
    events = author(tree.keys[VILLAGE], ChainHead.genesis(VILLAGE, 1), 3)
    erasure = _erasure(tree, events[1].case_id)
    ring = tree.keyring()
    stored = [events[0], _erase(events[1]), events[2]]
    assert verify_store(stored, ring).first is not None  # without the rule: an edit

    cases = verified_erasures([erasure, *stored], ring, HUB)
    assert cases == {events[1].case_id}
    report = verify_store(stored, ring, erasures=Erasures(cases, _erased_form))
    assert report.ok, report.problems
    assert report.erased == ((events[1].case_id, 1),)
    assert report.signatures == 3  # the erased event's signature still checked


def test_a_live_event_made_to_look_erased_is_an_edit(tree: Tree) -> None:
    events = author(tree.keys[VILLAGE], ChainHead.genesis(VILLAGE, 1), 3)
    ring = tree.keyring()
    forged = [events[0], _erase(events[1]), events[2]]
    # no erasure of that case; one by another site; one by the hub with its content changed;
    # one by the hub signed with a key that is not the hub's
    by_village = _erasure(tree, events[1].case_id, by=VILLAGE)
    edited = replace(_erasure(tree, events[1].case_id), payload={"reason": "other"})
    unsigned = replace(_erasure(tree, events[1].case_id), signature=None)
    wrong_key = replace(_erasure(tree, events[1].case_id),
                        signature=by_village.signature)
    for held in ([], [by_village], [edited], [unsigned], [wrong_key]):
        cases = verified_erasures(held, ring, HUB)
        assert cases == set()
        report = verify_store(forged, ring, erasures=Erasures(cases, _erased_form))
        assert report.first is not None and report.first.seq == 2
        assert "edited" in report.first.reason


def test_an_erased_case_still_shows_a_real_edit(tree: Tree) -> None:
    events = author(tree.keys[VILLAGE], ChainHead.genesis(VILLAGE, 1), 2)
    ring = tree.keyring()
    cases = verified_erasures([_erasure(tree, events[0].case_id)], ring, HUB)
    rules = Erasures(cases, _erased_form)
    # not in the erased form: the name changed, or a key beyond what erasure keeps
    renamed = replace(events[0], payload={**events[0].payload, "applicant": {"name": "李四"}})
    widened = replace(events[0], payload={**ERASED_FORM, "form": {"n": 9}})
    for stored in ([renamed, events[1]], [widened, events[1]]):
        report = verify_store(stored, ring, erasures=rules)
        assert report.first is not None and report.first.seq == 1
        assert report.erased == ()
    # the chain's links are still checked through an erased event
    relinked = [_erase(events[0]), replace(events[1], prev_hash=b"\1" * 32)]
    report = verify_store(relinked, ring, erasures=rules)
    assert report.first is not None and report.first.seq == 2
