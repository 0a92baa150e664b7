"""Enrolment, certificates, rotation; blob chunks with resume offsets; audit; columns."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_protocol import (
    BlobMismatch,
    BlobOffer,
    BlobProgress,
    CertificateInvalid,
    ChainHead,
    KeyRing,
    KeyUnknown,
    LocalProtocolError,
    append_event,
    check_enrolment,
    chunks_from,
    dump_key,
    enrolment_request,
    generate_key,
    issue_certificate,
    load_key,
    rotate_key,
    verify_store,
)
from sync_protocol.canonical import encode
from sync_protocol.columns import decode_batch, encode_batch
from sync_protocol.state import CHILD_TRANSITIONS, Input, Machine, State, transitions_markdown
from tests.sync_protocol.tree import HUB, T0, Tree, author

VILLAGE = "431000001201"


def test_enrolment_proves_the_code_without_sending_it(tree: Tree) -> None:
    key = generate_key("431000001203")
    request = enrolment_request(key, "K7QX-2M9P", now=T0)
    assert b"K7QX-2M9P" not in encode(request.to_wire())
    check_enrolment(request, "K7QX-2M9P")
    with pytest.raises(CertificateInvalid):
        check_enrolment(request, "K7QX-2M9Q")
    cert = issue_certificate(tree.hub_key, site=key.site, parent="431000001", tier="village",
                             public_raw=request.public_raw, now=T0)
    ring = tree.keyring()
    assert ring.add(cert).site == key.site
    assert ring.within(key.site, HUB)


def test_certificates_from_anyone_but_the_hub_are_refused(tree: Tree) -> None:
    ring = KeyRing(HUB, tree.hub_key.public_raw)
    rogue = issue_certificate(tree.keys["431000001"], site=VILLAGE, parent="431000001",
                              tier="village", public_raw=generate_key(VILLAGE).public_raw,
                              now=T0)
    with pytest.raises(CertificateInvalid):
        ring.add(rogue)


def test_a_rotated_key_signs_for_the_site_and_the_old_events_stay_valid(tree: Tree) -> None:
    ring = tree.keyring()
    old = tree.keys[VILLAGE]
    new = generate_key(VILLAGE)
    earlier = author(old, ChainHead.genesis(VILLAGE, 1), 2)
    later = append_event(earlier[-1].head, new, case_id=uuid.uuid4(), actor="agent", at=T0,
                         type="registered", payload={})
    with pytest.raises(KeyUnknown):
        ring.for_event(new.key_id, VILLAGE, 1, 3)
    ring.add(rotate_key(old, new, now=T0))
    assert verify_store([*earlier, later], ring).ok
    stranger = generate_key(VILLAGE)
    with pytest.raises(KeyUnknown):
        ring.add(rotate_key(stranger, generate_key(VILLAGE), now=T0))


def test_keys_round_trip_through_pem_and_raw_seed() -> None:
    key = generate_key(VILLAGE)
    assert load_key(VILLAGE, dump_key(key)).key_id == key.key_id
    with pytest.raises(LocalProtocolError):
        load_key(VILLAGE, b"-----BEGIN nonsense")


def test_blob_chunks_resume_from_the_offset_and_check_the_hash() -> None:
    data = bytes(range(256)) * 1000
    sha = hashlib.sha256(data).digest()
    offer = BlobOffer(sha, len(data))
    progress = BlobProgress(offer.sha256, offer.size)
    received = b""
    first = chunks_from(sha, data, progress.want().offset, budget=100_000)
    for chunk in first:
        progress = progress.accept(chunk)
        received += chunk.data
    assert progress.received == 100_000 and not progress.complete
    assert progress.accept(first[0]) == progress  # a repeat is harmless
    with pytest.raises(BlobMismatch):
        progress.accept(chunks_from(sha, data, 150_000, budget=10)[0])
    for chunk in chunks_from(sha, data, progress.want().offset, budget=1 << 30):
        progress = progress.accept(chunk)
        received += chunk.data
    progress.finish(hashlib.sha256(received).digest())
    with pytest.raises(BlobMismatch):
        progress.finish(hashlib.sha256(received + b"x").digest())


def test_audit_names_the_first_bad_case_and_event(tree: Tree) -> None:
    ring = tree.keyring()
    events = author(tree.keys[VILLAGE], ChainHead.genesis(VILLAGE, 1), 6)
    assert verify_store(events, ring).ok
    edited = list(events)
    edited[3] = replace(events[3], payload={"item_code": "edited"})
    report = verify_store(edited, ring)
    assert report.first is not None
    assert (report.first.case_id, report.first.seq, report.first.code) == (
        events[3].case_id, 4, "chain_broken")
    dropped = events[:2] + events[3:]
    assert verify_store(dropped, ring).first.seq == 4  # type: ignore[union-attr]
    resigned = list(events)
    forged_key = generate_key(VILLAGE)
    resigned[1] = replace(events[1], signature=forged_key.sign(events[1].head.statement()))
    assert verify_store(resigned, ring).first.code == "key_unknown"  # type: ignore[union-attr]
    unsigned = [replace(e, signature=None) for e in events]
    assert verify_store(unsigned, ring).first.code == "signature_invalid"  # type: ignore


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40),
                      st.text(max_size=12), st.floats(allow_nan=False, allow_infinity=False))
payloads = st.dictionaries(
    st.text(min_size=1, max_size=6),
    st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(st.text(min_size=1, max_size=4), inner, max_size=3),
                 max_leaves=8),
    max_size=6)


@settings(max_examples=100, deadline=None)
@given(items=st.lists(payloads, min_size=1, max_size=12))
def test_columnar_batches_rebuild_every_payload_exactly(tree: Tree, items: list[dict]) -> None:  # type: ignore[type-arg]
    head = ChainHead.genesis(VILLAGE, 1)
    events = []
    for i, payload in enumerate(items):
        e = append_event(head, tree.keys[VILLAGE], case_id=uuid.uuid4(), actor=f"a{i % 2}",
                         at=T0 + timedelta(seconds=i), type="t", payload=payload)
        events.append(e)
        head = e.head
    (group,) = decode_batch(encode_batch([events]))
    assert [r.payload for r in group.records] == [e.payload for e in events]
    assert [encode(r.payload) for r in group.records] == [encode(e.payload) for e in events]


def test_an_illegal_transition_raises_and_leaves_the_state() -> None:
    m = Machine(CHILD_TRANSITIONS)
    with pytest.raises(LocalProtocolError):
        m.fire(Input.MARK_STORED)
    assert m.state is State.IDLE
    assert "| `idle` | `send_request` | `awaiting_response` |" in transitions_markdown()


def test_the_spec_prints_the_tables_and_every_error_code() -> None:
    from pathlib import Path

    from sync_protocol import ERROR_CODES

    spec = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
    assert transitions_markdown().strip() in spec
    for code in ERROR_CODES:
        if code != "protocol_error":
            assert f"`{code}`" in spec, code
