"""One exchange between a village and its township: what is accepted, refused, and why."""

from __future__ import annotations

import zlib
from dataclasses import replace
from datetime import timedelta

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_protocol import (
    ChainHead,
    ClockSkew,
    Codec,
    Event,
    KeyRevoked,
    LinkPosition,
    LocalProtocolError,
    Malformed,
    ParentExchange,
    ParentLink,
    ProtocolError,
    Refused,
    Replay,
    Revocation,
    SignatureInvalid,
    TooLarge,
    VersionUnsupported,
    WrongAddress,
    append_event,
    generate_key,
    revocations_content,
    revocations_in,
    sign_release,
    verify_store,
)
from sync_protocol.canonical import encode
from sync_protocol.framing import Kind, encode_frame, uvarint
from sync_protocol.keys import Signature
from sync_protocol.statements import FRAME
from tests.sync_protocol.conftest import SIBLING, TOWNSHIP, VILLAGE, Link, make_link
from tests.sync_protocol.tree import HUB, T0, Tree

NOW = T0 + timedelta(minutes=5)


def test_one_round_trip_moves_events_up_and_acks_after_storing(link: Link) -> None:
    events = link.events(5)
    child = link.child()
    out = child.request(NOW, pending=events)
    parent = link.parent()
    incoming = parent.receive(out.data, NOW)
    assert [e.key for e in incoming.new_events] == [e.key for e in events]
    assert [e.hash for e in incoming.new_events] == [e.hash for e in events]
    stored = parent.stored()
    assert stored.watermark(VILLAGE, 1) == 5
    result = child.receive(parent.respond(NOW), NOW + timedelta(seconds=1))
    assert not isinstance(result, Refused)
    assert result.watermarks == {(VILLAGE, 1): 5}
    assert child.stored().parent_epoch == 1


def test_unstored_events_are_not_acknowledged(link: Link) -> None:
    child = link.child()
    out = child.request(NOW, pending=link.events(3))
    parent = link.parent()
    parent.receive(out.data, NOW)
    result = child.receive(parent.respond(NOW), NOW)
    assert not isinstance(result, Refused)
    assert result.complete and result.watermarks.get((VILLAGE, 1), 0) == 0
    assert parent.link.watermark(VILLAGE, 1) == 0


def test_resent_events_are_duplicates_and_a_gap_is_refused_with_the_watermark(
    link: Link,
) -> None:
    events = link.events(6)
    parent = link.parent()
    parent.receive(link.child().request(NOW, pending=events[:3]).data, NOW)
    state = parent.stored()
    again = link.parent(state)
    incoming = again.receive(link.child().request(NOW, pending=events[1:5]).data, NOW)
    assert [e.key.seq for e in incoming.new_events] == [4, 5]
    assert [k.seq for k in incoming.duplicates] == [2, 3]
    state = again.stored()
    last = link.parent(state).receive(link.child().request(NOW, pending=events[5:]).data, NOW)
    assert [e.key.seq for e in last.new_events] == [6]


def test_gap_refusal_names_the_next_seq(link: Link) -> None:
    events = link.events(4)
    incoming = link.parent().receive(link.child().request(NOW, pending=events[2:]).data, NOW)
    assert incoming.new_events == ()
    assert incoming.refused[0].code == "gap"
    assert "send from 1" in incoming.refused[0].reason


@settings(max_examples=150, deadline=None)
@given(position=st.integers(min_value=0), flip=st.integers(1, 255))
def test_an_altered_request_is_refused_and_changes_nothing(
    tree: Tree, position: int, flip: int
) -> None:
    link = make_link(tree)
    data = bytearray(link.child().request(NOW, pending=link.events(2)).data)
    header_end = data.find(link.tree.keys[VILLAGE].key_id) + 8
    position %= len(data)
    data[position] ^= flip
    parent = link.parent()
    before = parent.link
    with pytest.raises(ProtocolError) as err:
        parent.receive(bytes(data), NOW)
    assert parent.link == before
    if position >= header_end:  # the body or the signature
        assert isinstance(err.value, SignatureInvalid | Malformed | TooLarge)


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=600))
def test_hostile_bytes_raise_only_protocol_errors(tree: Tree, data: bytes) -> None:
    link = make_link(tree)
    with pytest.raises(ProtocolError):
        link.parent().receive(data, NOW)
    child = link.child()
    child.request(NOW)
    with pytest.raises(ProtocolError):
        child.receive(data, NOW)


def _signed_frame(link: Link, payload: bytes, codec: Codec, declared: int) -> bytes:
    """A frame an enrolled but hostile child could send: valid signature, bomb body."""
    key = link.tree.keys[VILLAGE]
    signed = b"SJ" + bytes([1, Kind.REQUEST, codec]) + uvarint(declared) + key.key_id + payload
    return signed + key.sign(FRAME + signed).value


@pytest.mark.parametrize("codec", [Codec.ZSTD, Codec.GZIP])
def test_a_compression_bomb_is_refused_as_too_large(link: Link, codec: Codec) -> None:
    zeros = b"\x00" * (64 << 20)
    if codec is Codec.ZSTD:
        bomb = zstandard.ZstdCompressor(level=3).compress(zeros)
    else:
        c = zlib.compressobj(9, zlib.DEFLATED, 31)
        bomb = c.compress(zeros) + c.flush()
    assert len(bomb) < 200_000
    with pytest.raises(TooLarge):
        link.parent().receive(_signed_frame(link, bomb, codec, declared=1000), NOW)
    with pytest.raises(TooLarge):
        link.parent().receive(_signed_frame(link, bomb, codec, declared=64 << 20), NOW)


def test_a_replayed_request_is_refused(link: Link) -> None:
    data = link.child().request(NOW, pending=link.events(2)).data
    parent = link.parent()
    parent.receive(data, NOW)
    state = parent.stored()
    again = link.parent(state)
    with pytest.raises(Replay):
        again.receive(data, NOW + timedelta(seconds=3))
    assert again.link == state


def test_an_old_request_beyond_the_window_is_clock_skew(link: Link) -> None:
    data = link.child().request(NOW, pending=link.events(1)).data
    with pytest.raises(ClockSkew):
        link.parent().receive(data, NOW + timedelta(minutes=6))


def test_a_wrong_clock_is_corrected_from_the_refusal(link: Link) -> None:
    child = link.child()
    village_clock = NOW + timedelta(hours=7)
    out = child.request(village_clock, pending=link.events(1))
    parent = link.parent()
    with pytest.raises(ClockSkew) as err:
        parent.receive(out.data, NOW)
    refused = child.receive(parent.refuse(err.value, NOW), village_clock)
    assert isinstance(refused, Refused) and refused.code == "clock_skew"
    assert refused.link.clock_offset_ms == -7 * 3600 * 1000
    retry = replace(link, parent_link=refused.link).child()
    incoming = link.parent().receive(retry.request(village_clock, pending=link.events(1)).data,
                                     NOW)
    assert len(incoming.new_events) == 1


def test_wrongly_addressed_requests_are_refused(link: Link) -> None:
    other = replace(link, parent_link=ParentLink(site=VILLAGE, parent="431000002"))
    with pytest.raises(WrongAddress):
        link.parent().receive(other.child().request(NOW).data, NOW)
    sibling = link.child(SIBLING).request(NOW).data
    with pytest.raises(WrongAddress):
        link.parent().receive(sibling, NOW)  # the link state is the village's


def test_events_forged_by_a_relay_are_refused_with_the_specific_code(link: Link) -> None:
    township_key = link.tree.keys[TOWNSHIP]
    honest = link.events(1)[0]
    statement = ChainHead(VILLAGE, 1, 1, honest.hash).statement()
    own_key = replace(honest, signature=township_key.sign(statement))
    stolen_id = replace(honest, signature=Signature(honest.signature.key_id,  # type: ignore
                                                     township_key.sign(statement).value))
    for forged, code in ((own_key, "key_unknown"), (stolen_id, "signature_invalid")):
        incoming = link.parent().receive(link.child().request(NOW, pending=[forged]).data, NOW)
        assert incoming.new_events == ()
        assert incoming.refused[0].code == code


def test_an_event_edited_in_transit_does_not_verify(link: Link) -> None:
    events = link.events(3)
    edited = [events[0], replace(events[1], payload={"item_code": "XX"}), events[2]]
    incoming = link.parent().receive(link.child().request(NOW, pending=edited).data, NOW)
    assert incoming.new_events == ()
    assert incoming.refused[0].code == "signature_invalid"


def test_a_revoked_key_keeps_earlier_events_and_refuses_new_ones(link: Link) -> None:
    key = link.tree.keys[VILLAGE]
    events = link.events(5)
    hub_key = link.tree.hub_key
    release = sign_release(hub_key, kind="revocations", version=1,
                           content=revocations_content([Revocation(key.key_id, VILLAGE, 1, 3)]),
                           effective_from=T0, expires_at=T0 + timedelta(days=30))
    link.parent_ring.revoke(revocations_in(release))
    # the hop key itself is revoked: nothing from it authenticates any more
    with pytest.raises(KeyRevoked):
        link.parent().receive(link.child().request(NOW, pending=events).data, NOW)
    # relayed by the sibling's hop, the village's events up to 1/3 stay valid, 4-5 do not
    ring = link.parent_ring
    assert ring.for_event(key.key_id, VILLAGE, 1, 3)
    with pytest.raises(KeyRevoked):
        ring.for_event(key.key_id, VILLAGE, 1, 4)
    assert verify_store(events[:3], ring).ok
    report = verify_store(events, ring)
    assert report.first is not None and report.first.seq == 4
    assert report.first.code == "key_revoked"


def test_version_negotiation_and_unknown_fields(link: Link) -> None:
    key = link.tree.keys[VILLAGE]
    future = bytearray(link.child().request(NOW).data)
    future[2] = 9
    with pytest.raises(VersionUnsupported) as err:
        link.parent().receive(bytes(future), NOW)
    parent = link.parent()
    refusal = parent.refuse(err.value, NOW)
    child = link.child()
    child.request(NOW)
    # the refusal answers another digest, so the child refuses it as a replay
    with pytest.raises(Replay):
        child.receive(refusal, NOW)
    # last year's child: no zstd in its accept list, and a body with an extra field
    body = {0: VILLAGE, 1: TOWNSHIP, 2: 1_795_420_800_000 + 300_000, 3: b"n" * 16, 4: 1,
            5: 0, 6: [0, 0], 12: [0], 99: "a field from the future"}
    body[2] = int(NOW.timestamp() * 1000)
    data = encode_frame(Kind.REQUEST, encode(body), key, codec=Codec.NONE)
    parent = link.parent()
    parent.receive(data, NOW)
    response = parent.respond(NOW)
    assert response[4] == Codec.NONE


def test_down_items_and_receipts_reach_the_child_once(link: Link) -> None:
    from sync_protocol import DownItem, issue_receipt

    hub_key = link.tree.hub_key
    result = append_event(ChainHead.genesis(HUB, 1), hub_key, case_id=link.events(1)[0].case_id,
                          actor="window@431000", at=NOW, type="decided", payload={"ok": True})
    receipt = issue_receipt(hub_key, origin=VILLAGE, epoch=1, through_seq=1, now=NOW)
    items = [DownItem(LinkPosition(1, 1), result), DownItem(LinkPosition(1, 2), receipt)]
    child = link.child()
    parent = link.parent()
    parent.receive(child.request(NOW).data, NOW)
    got = child.receive(parent.respond(NOW, down=items), NOW)
    assert not isinstance(got, Refused)
    assert [e.key for e in got.new_events] == [result.key]
    assert got.receipts == (receipt,)
    state = child.stored()
    assert state.down_ack == LinkPosition(1, 2)
    # sent again (the ack was lost): known to the store, reported as a duplicate
    again = replace(link, parent_link=replace(state, down_ack=LinkPosition())).child()
    parent = link.parent()
    parent.receive(again.request(NOW + timedelta(seconds=2)).data, NOW)
    got = again.receive(parent.respond(NOW, down=items), NOW, known=lambda k: k == result.key)
    assert not isinstance(got, Refused)
    assert got.new_events == () and got.duplicates == (result.key,)


def test_a_forged_down_item_is_rejected_and_the_link_moves_on(link: Link) -> None:
    from sync_protocol import DownItem

    impostor = generate_key(HUB)
    fake = append_event(ChainHead.genesis(HUB, 1), impostor, case_id=link.events(1)[0].case_id,
                        actor="window@431000", at=NOW, type="decided", payload={})
    child = link.child()
    parent = link.parent()
    parent.receive(child.request(NOW).data, NOW)
    got = child.receive(parent.respond(NOW, down=[DownItem(LinkPosition(1, 1), fake)]), NOW)
    assert not isinstance(got, Refused)
    assert got.new_events == ()
    assert got.rejected[0].code == "key_unknown"
    assert child.stored().down_ack == LinkPosition(1, 1)


def test_out_of_order_use_is_a_local_error(link: Link) -> None:
    child = link.child()
    with pytest.raises(LocalProtocolError):
        child.stored()
    assert child.state == "idle"
    parent = link.parent()
    with pytest.raises(LocalProtocolError):
        parent.respond(NOW)


def test_a_busy_parent_compresses_large_answers_less_and_the_child_reads_them(
        link: Link) -> None:
    from sync_protocol import DownItem
    from sync_protocol.compression import LARGE_BODY, ZSTD_LEVEL_LARGE

    hub_key = link.tree.hub_key
    head = ChainHead.genesis(HUB, 1)
    items = []
    for i in range(200):  # results with some bulk: the body is over LARGE_BODY
        event = append_event(head, hub_key, case_id=link.events(1)[0].case_id,
                             actor="window@431000", at=NOW, type="decided",
                             payload={"ok": True, "note": f"决定书 {i} " * 8})
        items.append(DownItem(LinkPosition(1, i + 1), event))
        head = event.head
    answers = []
    for level in (None, ZSTD_LEVEL_LARGE):
        child = link.child()
        parent = ParentExchange(key=link.tree.keys[TOWNSHIP], keyring=link.parent_ring,
                                link=link.child_link, epoch=1, large_level=level)
        parent.receive(child.request(NOW).data, NOW)
        data = parent.respond(NOW, down=items)
        got = child.receive(data, NOW)
        assert not isinstance(got, Refused)
        assert [e.key for e in got.new_events] == [d.item.key for d in items
                                                   if isinstance(d.item, Event)]
        answers.append(len(data))
    default, busy = answers
    assert default > LARGE_BODY // 20  # compressed, yet clearly a large answer
    assert busy > default  # level 12 as chosen: a few more bytes for much less CPU
