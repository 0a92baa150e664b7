"""The down batch (response key 13), case refs and feature negotiation: what a child reads,
what it refuses, what last year's peers still get, and what it costs on the wire."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync_protocol import (
    ChainHead,
    ChildExchange,
    DownItem,
    Event,
    ExchangeResult,
    LinkPosition,
    LocalProtocolError,
    ParentExchange,
    ProtocolError,
    Receipt,
    Refused,
    append_event,
    case_id_for,
    issue_receipt,
    verify_store,
)
from sync_protocol.canonical import encode
from sync_protocol.columns import decode_batch, encode_batch
from sync_protocol.compression import Codec, history_dictionary
from sync_protocol.errors import Malformed, TooLarge
from sync_protocol.features import CASE_REFS, DOWN_BATCH, LINK_HISTORY, SPARSE_SIGNATURES
from sync_protocol.framing import Kind, encode_frame, peek_frame, uvarint
from sync_protocol.keys import SiteKey
from sync_protocol.statements import FRAME
from tests.sync_protocol.conftest import TOWNSHIP, VILLAGE, Link, make_link
from tests.sync_protocol.tree import HUB, T0, Tree

NOW = T0 + timedelta(minutes=5)
ALL = (DOWN_BATCH, SPARSE_SIGNATURES, CASE_REFS)
RELAY = (DOWN_BATCH, CASE_REFS)


def registrations(link: Link, n: int) -> list[Event]:
    """``n`` village registrations whose case ids derive from their own keys."""
    key = link.tree.keys[VILLAGE]
    head = ChainHead.genesis(VILLAGE, 1)
    out = []
    for i in range(n):
        e = append_event(head, key, case_id=case_id_for(VILLAGE, 1, head.seq + 1),
                         actor=f"agent@{VILLAGE}", at=T0 + timedelta(seconds=i),
                         type="registered", payload={"item_code": "MZ-0305", "form": {"n": i}})
        out.append(e)
        head = e.head
    return out


def decisions(key: SiteKey, cases: list[Event], *, per_case: int = 2) -> list[Event]:
    """The township's events on each case: received, then routed (its own chain)."""
    head = ChainHead.genesis(key.site, 1)
    out = []
    for i, reg in enumerate(cases):
        for j, type_ in enumerate(["received", "routed", "decided"][:per_case]):
            e = append_event(head, key, case_id=reg.case_id, actor=f"window-3@{key.site}",
                             at=T0 + timedelta(minutes=10, milliseconds=37 * i + j),
                             type=type_, payload={"window": "MZ", "site": key.site})
            out.append(e)
            head = e.head
    return out


def positioned(items: Sequence[Event | Receipt], first: int = 1) -> list[DownItem]:
    return [DownItem(LinkPosition(1, first + i), x) for i, x in enumerate(items)]


def answer(link: Link, down: list[DownItem], *, child_features: tuple[int, ...],
           parent_features: tuple[int, ...] = ALL, cases: list[Event] | None = None,
           ) -> tuple[ChildExchange, bytes]:
    child = ChildExchange(key=link.tree.keys[VILLAGE], keyring=link.child_ring,
                          link=link.parent_link, own_credentials=[link.tree.certs[VILLAGE]],
                          features=child_features)
    parent = ParentExchange(key=link.tree.keys[TOWNSHIP], keyring=link.parent_ring,
                            link=link.child_link, epoch=1,
                            own_credentials=[link.tree.certs[TOWNSHIP]],
                            features=parent_features)
    parent.receive(child.request(NOW).data, NOW)
    keys = {e.case_id: e.key for e in cases or []}
    return child, parent.respond(NOW, down=down, case_keys=keys.get)


def body_of(data: bytes) -> dict[Any, Any]:
    body = peek_frame(data, dictionaries={}).open()
    assert isinstance(body, dict)
    return body


def resigned(data: bytes, key: SiteKey, change: Callable[[dict[Any, Any]], None]) -> bytes:
    """The same response altered by its hop (a dishonest relay): the frame still verifies."""
    body = copy.deepcopy(body_of(data))
    change(body)
    return encode_frame(Kind.RESPONSE, encode(body), key)


def received(child: ChildExchange, data: bytes) -> ExchangeResult:
    result = child.receive(data, NOW)
    assert not isinstance(result, Refused)
    return result


@pytest.mark.parametrize("features", [ALL, RELAY, (DOWN_BATCH,)])
def test_a_down_batch_round_trips_with_or_without_sparse_signatures_and_refs(
        link: Link, features: tuple[int, ...]) -> None:
    cases = registrations(link, 6)
    events = decisions(link.tree.keys[TOWNSHIP], cases)
    receipt = issue_receipt(link.tree.hub_key, origin=VILLAGE, epoch=1, through_seq=6, now=NOW)
    items = positioned([*events[:5], receipt, *events[5:]])
    child, data = answer(link, items, child_features=features, cases=cases)
    body = body_of(data)
    assert 13 in body and 8 not in body
    assert (6 in body[13][4]) == (CASE_REFS in features)
    got = received(child, data)
    assert [e.key for e in got.new_events] == [e.key for e in events]
    assert [e.hash for e in got.new_events] == [e.hash for e in events]
    assert [e.case_id for e in got.new_events] == [e.case_id for e in events]
    assert got.receipts == (receipt,) and got.rejected == ()
    assert got.down_through == LinkPosition(1, 13) and got.down_items == 13
    assert got.down_more is False
    signed = [e.seq for e in got.new_events if e.signature is not None]
    if SPARSE_SIGNATURES in features:  # one run (the receipt between does not cut it)
        assert signed == [12]
    else:
        assert signed == list(range(1, 13))
        assert [e.signature for e in got.new_events] == [e.signature for e in events]
    assert child.stored().parent_reads == ALL
    # what the village holds of the township's chain verifies as a selection
    report = verify_store(list(got.new_events), link.child_ring,
                          selection=lambda origin, _epoch: origin != VILLAGE)
    assert report.ok, report.first


def test_the_audit_names_a_selection_stretch_left_unsigned(link: Link) -> None:
    events = decisions(link.tree.keys[TOWNSHIP], registrations(link, 4))
    held = [replace(e, signature=None) if e.seq not in (3, 8) else e for e in events]
    selection = lambda origin, _epoch: True  # noqa: E731
    assert verify_store([*held[:3], *held[5:]], link.child_ring, selection=selection).ok
    report = verify_store([*held[:2], *held[5:]], link.child_ring, selection=selection)
    assert report.first is not None and report.first.seq == 1
    assert report.first.code == "signature_invalid"
    # a chain held whole still may not have holes
    assert verify_store([*events[:3], *events[5:]], link.child_ring).first.seq == 6  # type: ignore


def _payload_column(body: dict[Any, Any]) -> list[Any]:
    columns: list[Any] = body[13][4][5][3]
    return columns


@pytest.mark.parametrize("features", [ALL, RELAY])
def test_a_tampered_event_rejects_its_whole_run_and_nothing_is_applied(
        link: Link, features: tuple[int, ...]) -> None:
    cases = registrations(link, 3)
    events = decisions(link.tree.keys[TOWNSHIP], cases)
    receipt = issue_receipt(link.tree.hub_key, origin=VILLAGE, epoch=1, through_seq=3, now=NOW)
    child, data = answer(link, positioned([*events, receipt]), child_features=features,
                         cases=cases)

    def edit(body: dict[Any, Any]) -> None:
        _payload_column(body)[0][2] = "XX"  # the window of the third event

    got = received(child, resigned(data, link.tree.keys[TOWNSHIP], edit))
    assert got.new_events == ()
    assert [r.position.seq for r in got.rejected] == [1, 2, 3, 4, 5, 6]
    assert {r.code for r in got.rejected} == {"signature_invalid"}
    assert got.receipts == (receipt,)
    assert child.stored().down_ack == LinkPosition(1, 7)  # acked, so the link moves on


@pytest.mark.parametrize("wrong", [[VILLAGE, 1, 3], 2, [VILLAGE, 2, 2]])
def test_a_wrong_case_ref_gives_a_wrong_hash_and_is_rejected(link: Link, wrong: Any) -> None:
    cases = registrations(link, 3)
    events = decisions(link.tree.keys[TOWNSHIP], cases)
    child, data = answer(link, positioned(events), child_features=ALL, cases=cases)
    # the first ref in full, then seq deltas from the ref before
    assert body_of(data)[13][4][6] == [[VILLAGE, 1, 1], 0, 1, 0, 1, 0]

    def point_elsewhere(body: dict[Any, Any]) -> None:
        body[13][4][6][2] = wrong  # the third event claims another case

    got = received(child, resigned(data, link.tree.keys[TOWNSHIP], point_elsewhere))
    assert got.new_events == ()
    assert len(got.rejected) == 6 and got.rejected[0].code == "signature_invalid"


def test_a_run_with_a_forged_signature_is_rejected(link: Link, tree: Tree) -> None:
    cases = registrations(link, 2)
    events = decisions(link.tree.keys[TOWNSHIP], cases)
    others = decisions(tree.keys[HUB], cases)  # signed by the hub, claimed as the township's
    for features in (ALL, RELAY):
        child, data = answer(link, positioned(events), child_features=features, cases=cases)
        forged = answer(link, positioned(others), child_features=features, cases=cases)[1]

        def swap(body: dict[Any, Any], forged: bytes = forged) -> None:
            body[13][3][0][6] = body_of(forged)[13][3][0][6]  # the hub's signatures

        got = received(child, resigned(data, link.tree.keys[TOWNSHIP], swap))
        assert got.new_events == () and len(got.rejected) == 4
        assert got.rejected[0].code == "signature_invalid"


def test_last_years_child_gets_the_items_one_by_one(link: Link) -> None:
    cases = registrations(link, 2)
    events = decisions(link.tree.keys[TOWNSHIP], cases)
    child, data = answer(link, positioned(events), child_features=(), cases=cases)
    body = body_of(data)
    assert 8 in body and 13 not in body and len(body[8]) == 4
    got = received(child, data)
    assert [e.signature for e in got.new_events] == [e.signature for e in events]
    # the request of last year's child carries no key 14: built by hand without it
    out = ChildExchange(key=link.tree.keys[VILLAGE], keyring=link.child_ring,
                        link=link.parent_link, features=()).request(NOW)
    assert 14 not in body_of(out.data)


def test_a_new_child_sends_case_refs_only_to_a_parent_that_reads_them(link: Link) -> None:
    cases = registrations(link, 5)
    # last year's parent: no key 12 in its answer, and it ignores key 14
    child, data = answer(link, positioned(decisions(link.tree.keys[TOWNSHIP], cases)),
                         child_features=ALL, parent_features=())
    body = body_of(data)
    assert 12 not in body and 13 not in body and 8 in body
    got = received(child, data)
    assert len(got.new_events) == 10 and all(e.signature for e in got.new_events)
    learnt = child.stored()
    assert learnt.parent_reads == ()
    up = ChildExchange(key=link.tree.keys[VILLAGE], keyring=link.child_ring, link=learnt,
                       features=ALL).request(NOW, pending=cases)
    batch = body_of(up.data)[7]
    assert 1 in batch and 6 not in batch  # 16 bytes per case, as last year's parent reads
    # a new parent answers with what it reads; the next batch names cases by refs
    newer = replace(learnt, parent_reads=ALL)
    up = ChildExchange(key=link.tree.keys[VILLAGE], keyring=link.child_ring, link=newer,
                       features=ALL).request(NOW, pending=cases)
    batch = body_of(up.data)[7]
    assert batch[6] == [None] * 5 and 1 not in batch
    incoming = make_link(link.tree).parent().receive(up.data, NOW)
    assert [e.case_id for e in incoming.new_events] == [e.case_id for e in cases]
    assert [e.hash for e in incoming.new_events] == [e.hash for e in cases]


def test_the_upward_batch_resolves_refs_in_the_batch_and_by_lookup(link: Link) -> None:
    cases = registrations(link, 3)
    key = link.tree.keys[VILLAGE]
    head = cases[-1].head
    follow = []
    for reg in (cases[2], cases[0]):
        e = append_event(head, key, case_id=reg.case_id, actor="agent@x", at=NOW,
                         type="collected", payload={})
        follow.append(e)
        head = e.head
    lookup = {cases[0].case_id: cases[0].key}
    wire = encode_batch([[*cases[2:], *follow]], refs=True, case_keys=lookup.get)
    assert wire[6] == [None, [VILLAGE, 1, 3], -2]  # a delta from the ref before
    (group,) = decode_batch(wire)
    assert [r.case_id for r in group.records] == [cases[2].case_id, cases[2].case_id,
                                                  cases[0].case_id]
    # a random id, or a case nobody can name, travels as its 16 bytes
    odd = append_event(head, key, case_id=uuid.uuid4(), actor="agent@x", at=NOW,
                       type="registered", payload={})
    wire = encode_batch([[odd]], refs=True, case_keys=lookup.get)
    assert wire[6] == [odd.case_id.bytes]


def test_the_encoder_leaves_an_unsigned_tail_for_the_next_answer(link: Link) -> None:
    cases = registrations(link, 3)
    events = decisions(link.tree.keys[TOWNSHIP], cases)
    held = [*events[:3], replace(events[3], signature=None), replace(events[4], signature=None),
            events[5]]
    for features in (ALL, RELAY):
        # the unsigned events end at a signed one: one run, its last signature
        child, data = answer(link, positioned(held), child_features=features, cases=cases)
        got = received(child, data)
        assert [e.key for e in got.new_events] == [e.key for e in events]
        tail = held[:5]
        child, data = answer(link, positioned(tail), child_features=features, cases=cases)
        got = received(child, data)
        assert [e.seq for e in got.new_events] == [1, 2, 3]
        assert got.down_more is True and got.down_through == LinkPosition(1, 3)
    with pytest.raises(LocalProtocolError):
        answer(link, positioned(held[3:5]), child_features=ALL, cases=cases)


def test_a_village_s_day_of_results_costs_a_few_bytes_per_event(link: Link) -> None:
    """1,000 registrations decided at the township, two events per case coming down."""
    cases = registrations(link, 1000)
    events = decisions(link.tree.keys[TOWNSHIP], cases)
    assert len(events) == 2000
    sizes = {}
    for name, features in (("old", ()), ("relay", RELAY), ("leaf", ALL)):
        child, data = answer(link, positioned(events), child_features=features, cases=cases)
        got = received(child, data)
        assert len(got.new_events) == 2000
        sizes[name] = len(data)
    per_event = {k: v / 2000 for k, v in sizes.items()}
    print(f"down bytes per event: {per_event}")
    assert per_event["leaf"] < 15
    assert per_event["old"] > 10 * per_event["leaf"]
    assert per_event["relay"] < per_event["old"]


# -- hostile down batches --------------------------------------------------------------


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _put(root: Any, path: tuple[Any, ...], value: Any) -> None:
    for p in path[:-1]:
        root = root[p]
    root[path[-1]] = value


hostile = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.binary(max_size=80)
    | st.text(max_size=20) | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=8) | st.dictionaries(
        st.integers(0, 8) | st.text(max_size=4), inner, max_size=6),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def batch_sample(tree: Tree) -> tuple[Link, bytes, list[Event]]:
    link = make_link(tree)
    cases = registrations(link, 4)
    events = decisions(link.tree.keys[TOWNSHIP], cases)
    receipt = issue_receipt(link.tree.hub_key, origin=VILLAGE, epoch=1, through_seq=4, now=NOW)
    items = positioned([*events[:3], receipt, *events[3:]])
    data = answer(link, items, child_features=ALL, cases=cases)[1]
    return link, data, events


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pick=st.integers(min_value=0), value=hostile)
def test_a_hostile_down_batch_raises_only_protocol_errors(
        batch_sample: tuple[Link, bytes, list[Event]], pick: int, value: Any) -> None:
    link, data, _ = batch_sample
    paths = [p for p in _paths(body_of(data)[13], (13,))]
    path = paths[pick % len(paths)]

    def change(body: dict[Any, Any]) -> None:
        if len(path) == 1:
            body[13] = value
        else:
            _put(body, path, value)

    child = ChildExchange(key=link.tree.keys[VILLAGE], keyring=link.child_ring,
                          link=link.parent_link, features=ALL)
    request = child.request(NOW)
    parent = ParentExchange(key=link.tree.keys[TOWNSHIP], keyring=link.parent_ring,
                            link=link.child_link, epoch=1)
    parent.receive(request.data, NOW)
    honest = parent.respond(NOW)  # only to bind the digest: the body is replaced below
    body = copy.deepcopy(body_of(data))
    body[3] = body_of(honest)[3]
    change(body)
    try:
        encoded = encode(body)
    except Exception:
        return
    forged = encode_frame(Kind.RESPONSE, encoded, link.tree.keys[TOWNSHIP])
    try:
        result = child.receive(forged, NOW)
    except ProtocolError:
        return
    assert not isinstance(result, Refused)
    # whatever was accepted verified: every new event is one the township authored
    assert all(e.hash in {x.hash for x in batch_sample[2]} for e in result.new_events)


def test_oversized_counts_are_refused_before_any_work(link: Link) -> None:
    cases = registrations(link, 2)
    child, data = answer(link, positioned(decisions(link.tree.keys[TOWNSHIP], cases)),
                         child_features=ALL, cases=cases)

    def huge(body: dict[Any, Any]) -> None:
        body[13][0] = [[1, 1, 10**9]]

    with pytest.raises(ProtocolError) as err:
        child.receive(resigned(data, link.tree.keys[TOWNSHIP], huge), NOW)
    assert err.value.code in ("malformed", "too_large")


@settings(max_examples=200, deadline=None)
@given(pick=st.integers(min_value=0), value=hostile)
def test_a_hostile_case_column_raises_only_protocol_errors(
        tree: Tree, pick: int, value: Any) -> None:
    link = make_link(tree)
    cases = registrations(link, 3)
    wire = encode_batch([cases], refs=True)
    column = wire[6]
    assert isinstance(column, list)
    if pick % 4 == 3:
        wire[6] = value
    else:
        column[pick % 3] = value
    try:
        (group,) = decode_batch(wire)
    except ProtocolError:
        return
    # whatever decoded names some case: the chain's signature decides whether it is right
    assert len(group.records) == 3 and all(isinstance(r.case_id, uuid.UUID)
                                           for r in group.records)


def test_a_refusal_from_last_years_parent_makes_the_child_forget_what_it_read(
        link: Link) -> None:
    child = ChildExchange(key=link.tree.keys[VILLAGE], keyring=link.child_ring,
                          link=replace(link.parent_link, parent_reads=ALL), features=ALL)
    out = child.request(NOW + timedelta(hours=2), pending=registrations(link, 2))
    assert 6 in body_of(out.data)[7]
    old = ParentExchange(key=link.tree.keys[TOWNSHIP], keyring=link.parent_ring,
                         link=link.child_link, epoch=1, features=())
    with pytest.raises(ProtocolError) as err:
        old.receive(out.data, NOW)
    refused = child.receive(old.refuse(err.value, NOW), NOW + timedelta(hours=2))
    assert isinstance(refused, Refused) and refused.link.parent_reads == ()


def test_the_links_history_is_used_only_with_a_parent_that_reads_it(link: Link) -> None:
    """A request is compressed against the link's history only when the child and the
    parent both list ``LINK_HISTORY``; a parent holding that history opens it, one without
    refuses it as ``malformed`` before anything is applied."""
    earlier = registrations(link, 40)
    history = history_dictionary(ChildExchange(
        key=link.tree.keys[VILLAGE], keyring=link.child_ring, link=link.parent_link,
        features=ALL).request(NOW, pending=earlier).body)
    cases = registrations(link, 3)
    old_parent = replace(link.parent_link, parent_reads=ALL)
    assert LINK_HISTORY not in ALL
    out = ChildExchange(key=link.tree.keys[VILLAGE], keyring=link.child_ring, link=old_parent,
                        features=ALL, history=history).request(NOW, pending=cases)
    assert out.data[4] == Codec.ZSTD and out.dictionary_id == 0
    new_parent = replace(link.parent_link, parent_reads=(*ALL, LINK_HISTORY))
    out = ChildExchange(key=link.tree.keys[VILLAGE], keyring=link.child_ring, link=new_parent,
                        features=ALL, history=history).request(NOW, pending=cases)
    assert out.data[4] == Codec.ZSTD, "a child not listing LINK_HISTORY goes plainly"
    out = ChildExchange(key=link.tree.keys[VILLAGE], keyring=link.child_ring, link=new_parent,
                        features=(*ALL, LINK_HISTORY), history=history
                        ).request(NOW, pending=cases)
    assert out.data[4] == Codec.ZSTD_DICT and out.dictionary_id == history.dict_id
    with pytest.raises(Malformed):
        make_link(link.tree).parent().receive(out.data, NOW)
    holding = ParentExchange(key=link.tree.keys[TOWNSHIP], keyring=link.parent_ring,
                             link=link.child_link, epoch=1,
                             dictionaries={history.dict_id: history})
    incoming = holding.receive(out.data, NOW)
    assert [e.hash for e in incoming.new_events] == [e.hash for e in cases]


def test_a_bomb_against_the_links_history_costs_no_more_than_its_declared_length(
        link: Link) -> None:
    """Decompressing against a history dictionary keeps the bounds of every codec: at most
    the declared length (one byte more is ``too_large``), and never above 32 MiB."""

    history = history_dictionary(b"\x00" * 4096)
    bomb = zstandard.ZstdCompressor(level=3, dict_data=history.zstd()).compress(
        b"\x00" * (64 << 20))
    assert len(bomb) < 200_000
    key = link.tree.keys[VILLAGE]
    parent = ParentExchange(key=link.tree.keys[TOWNSHIP], keyring=link.parent_ring,
                            link=link.child_link, epoch=1,
                            dictionaries={history.dict_id: history})
    for declared in (1000, 64 << 20):
        signed = (b"SJ" + bytes([1, Kind.REQUEST, Codec.ZSTD_DICT])
                  + history.dict_id.to_bytes(4, "big") + uvarint(declared) + key.key_id + bomb)
        with pytest.raises(TooLarge):
            parent.receive(signed + key.sign(FRAME + signed).value, NOW)
