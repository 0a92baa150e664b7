"""Requests compressed against the link's history (feature ``LINK_HISTORY``): a village's
few new cases compress against the body of its last batch, which the parent kept; a lost
answer leaves both sides on a history they share; a parent that lost the history refuses
once and the next request goes plainly."""

from __future__ import annotations

import random

import pytest
import zstandard

from shared.exchange import child as child_glue
from shared.exchange.child import HISTORY_KEY, sync_until_quiet, sync_with_parent
from shared.exchange.parent import held_histories, history_key
from shared.storage import sync_store as store
from sync_protocol import Event, case_id_for
from sync_protocol.canonical import encode
from sync_protocol.compression import Codec, history_dictionary
from sync_protocol.times import to_ms
from tests.shared.exchange.test_down_batch_glue import body
from tests.shared.exchange.test_parent_child import TOWNSHIP, VILLAGE, Place, Tree, sqlite_tree

__all__ = ["sqlite_tree"]

WORDS = ["家庭困难", "申请临时救助", "因病", "住院治疗", "子女上学", "收入微薄", "房屋受损",
         "村委会证明", "户口簿", "身份证复印件", "加急办理", "低保户"]


def register_rich(place: Place, n: int, first_seq: int, tree: Tree,
                  rng: random.Random) -> list[Event]:
    """Registrations shaped like an agent's: a name, an ID number, a phone, free text."""
    at_ms = to_ms(tree.clock())
    own = []
    for i in range(n):
        payload = {
            "acceptance_no": f"{place.code}-20261204-{first_seq + i:04d}",
            "query_verifier": rng.getrandbits(48), "item_code": "MZ-0305",
            "applicant": {"name": rng.choice("王李张刘陈杨") + rng.choice("小明红军芳伟"),
                          "id_number": f"4310{rng.randrange(10**13):013d}X",
                          "phone": f"13{rng.randrange(10**9):09d}"},
            "form": {"description": "，".join(rng.sample(WORDS, 4)),
                     "amount_requested": f"{rng.randrange(5, 30) * 100}.00"}}
        own.append(store.OwnEvent(case_id_for(place.code, 1, first_seq + i), "agent:wang",
                                  "registered", payload, at_ms))
    with place.session() as session:
        events = store.author_events(session, place.site.key, place.site.sealer, own,
                                     epoch=1, up=True, now_ms=at_ms)
        session.commit()
    return events


def codec_of(frame: bytes) -> int:
    return frame[4]


def sync(place: Place, tree: Tree) -> bool:
    with place.session() as session:
        return sync_until_quiet(session, place.site, tree.wire, tree.clock)[-1].ok


def test_a_few_new_cases_compress_against_the_last_batch(sqlite_tree: Tree) -> None:
    tree = sqlite_tree
    township = tree.add(TOWNSHIP, "431000", "township")
    village = tree.add(VILLAGE, TOWNSHIP, "village")
    rng = random.Random(4)
    first = register_rich(village, 300, 1, tree, rng)
    assert sync(village, tree)
    assert codec_of(tree.wire.requests[-1]) == Codec.ZSTD  # nothing to compress against yet
    new = register_rich(village, 10, 301, tree, rng)
    assert sync(village, tree)

    frame = tree.wire.requests[-1]
    assert codec_of(frame) == Codec.ZSTD_DICT
    plain = len(zstandard.ZstdCompressor(level=19).compress(encode(body(frame, township))))
    print(f"10 new cases: {len(frame)} B against the history, body alone {plain} B plainly")
    assert len(frame) < 0.7 * plain
    got = [k for k in township.hooks.events if k[0] == VILLAGE]
    assert got == [(e.origin, e.epoch, e.seq) for e in first + new]  # each once, in chain order
    assert village.pending_up() == 0


def test_a_lost_answer_and_a_forgetful_parent_lose_and_double_nothing(
        sqlite_tree: Tree) -> None:
    tree = sqlite_tree
    township = tree.add(TOWNSHIP, "431000", "township")
    village = tree.add(VILLAGE, TOWNSHIP, "village")
    rng = random.Random(5)
    events = register_rich(village, 100, 1, tree, rng)
    assert sync(village, tree)
    # the answer to a request compressed against the history is lost after the parent
    # stored it: the child keeps the older history, which the parent still holds
    events += register_rich(village, 5, 101, tree, rng)
    tree.wire.lost = {tree.wire.calls + 1}
    assert not sync(village, tree)
    assert codec_of(tree.wire.requests[-1]) == Codec.ZSTD_DICT
    events += register_rich(village, 5, 106, tree, rng)
    assert sync(village, tree)
    assert codec_of(tree.wire.requests[-1]) == Codec.ZSTD_DICT
    # the parent forgets the link's history (restored from a backup without it): one
    # refusal, the child drops its own, the next request goes plainly and starts again
    with township.session() as session:
        store.write_state(session, history_key(VILLAGE), b"")
        session.commit()
    events += register_rich(village, 5, 111, tree, rng)
    with village.session() as session:
        refused = sync_with_parent(session, village.site, tree.wire, tree.clock)
        assert not refused.ok and refused.refused == "malformed"
        assert store.read_state(session, HISTORY_KEY) == b""
    assert sync(village, tree)
    assert codec_of(tree.wire.requests[-1]) == Codec.ZSTD
    events += register_rich(village, 5, 116, tree, rng)
    assert sync(village, tree)
    assert codec_of(tree.wire.requests[-1]) == Codec.ZSTD_DICT

    got = [k for k in township.hooks.events if k[0] == VILLAGE]
    assert got == [(e.origin, e.epoch, e.seq) for e in events]  # every event once, in chain order
    assert village.pending_up() == 0


def test_a_child_that_lists_no_features_gets_no_history_kept(
        sqlite_tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    """A village that does not list ``LINK_HISTORY`` (last year's lists nothing) never
    compresses against a history: its parent keeps none for it, so its batches cost the
    parent no extra writes."""
    tree = sqlite_tree
    township = tree.add(TOWNSHIP, "431000", "township")
    village = tree.add(VILLAGE, TOWNSHIP, "village")
    rng = random.Random(6)
    monkeypatch.setattr(child_glue, "reads", lambda session, site: ())
    events = register_rich(village, 20, 1, tree, rng)
    assert sync(village, tree)
    events += register_rich(village, 5, 21, tree, rng)
    assert sync(village, tree)
    assert all(codec_of(frame) == Codec.ZSTD for frame in tree.wire.requests)
    with township.session() as session:
        assert store.read_state(session, history_key(VILLAGE)) is None
        assert held_histories(session, VILLAGE) == []
    got = [k for k in township.hooks.events if k[0] == VILLAGE]
    assert got == [(e.origin, e.epoch, e.seq) for e in events]


def test_the_parent_keeps_the_two_newest_histories(sqlite_tree: Tree) -> None:
    tree = sqlite_tree
    township = tree.add(TOWNSHIP, "431000", "township")
    village = tree.add(VILLAGE, TOWNSHIP, "village")
    rng = random.Random(7)
    bodies = []
    for first in (1, 31, 61):
        register_rich(village, 30, first, tree, rng)
        assert sync(village, tree)
        bodies.append(body(tree.wire.requests[-1], township))
    with township.session() as session:
        kept = held_histories(session, VILLAGE)
    assert [d.data for d in kept] == [history_dictionary(encode(b)).data for b in bodies[1:]]
