"""Erased payloads on the wire: an event whose case was erased keeps its hash, so it travels
and is re-sent like any other (a restored parent gets it back); a receiver takes an erased
payload only for a case the hub erased, so a relay can never strip a live case's content."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from sync_protocol import Event
from sync_protocol.canonical import encode
from sync_protocol.payload_digest import (
    ERASED_DIGESTS,
    ERASURE_UNPROVEN,
    erased,
    is_erased,
    payload_digest,
)
from tests.sync_protocol.conftest import Link
from tests.sync_protocol.tree import T0

NOW = T0 + timedelta(minutes=5)

values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3),
    max_leaves=8)
payloads = st.dictionaries(st.text(max_size=8), values, max_size=6)


@given(payloads, st.data())
def test_an_erased_payload_has_the_digest_of_the_original(
        original: dict[str, object], data: st.DataObject) -> None:
    # any selection of keys kept, others replaced by other values, others added
    kept = {k: v for k, v in original.items() if data.draw(st.booleans())}
    changed = data.draw(st.dictionaries(st.text(max_size=8), values, max_size=3))
    form = {**kept, **changed}
    stub = erased(original, form)  # type: ignore[arg-type]
    assert is_erased(stub)
    assert payload_digest(stub) == payload_digest(original)  # type: ignore[arg-type]
    if original != form:
        assert stub[ERASED_DIGESTS]  # what was removed or changed is named by its digest


def test_digests_differ_with_any_change_of_content() -> None:
    base = {"item_code": "MZ-0203", "applicant": {"name": "张三"}}
    other = [{"item_code": "MZ-0204", "applicant": {"name": "张三"}},
             {"item_code": "MZ-0203", "applicant": {"name": "李四"}},
             {"item_code": "MZ-0203"}, {**base, "x": None}]
    digests = {payload_digest(p) for p in [base, *other]}  # type: ignore[arg-type]
    assert len(digests) == 5
    assert payload_digest(base) != hashlib.sha256(encode(base)).digest()


def _stripped(e: Event) -> Event:
    return replace(e, payload=erased(e.payload, {"item_code": e.payload["item_code"]}))


def test_a_parent_refuses_an_erased_payload_of_a_case_the_hub_did_not_erase(
        link: Link) -> None:
    events = link.events(3)
    sent = [events[0], _stripped(events[1]), events[2]]
    incoming = link.parent().receive(link.child().request(NOW, pending=sent).data, NOW)
    assert incoming.new_events == ()
    assert [(r.origin, r.first_seq, r.code) for r in incoming.refused] == [
        (events[0].origin, 1, ERASURE_UNPROVEN)]


def test_a_parent_takes_an_erased_payload_of_an_erased_case_with_its_hash(
        link: Link) -> None:
    events = link.events(3)
    sent = [events[0], _stripped(events[1]), events[2]]
    parent = link.parent()
    parent.erased_here = lambda case_id: case_id == events[1].case_id
    incoming = parent.receive(link.child().request(NOW, pending=sent).data, NOW)
    assert incoming.refused == ()
    assert [e.hash for e in incoming.new_events] == [e.hash for e in events]
    assert incoming.new_events[1].payload == sent[1].payload
    assert "张三" not in repr(incoming.new_events[1].payload)
    # the chain goes on from the erased event: the next run links to it
    parent.stored()
