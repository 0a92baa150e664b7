"""Runs that end at chosen events (全城通办): the events of a case that may be sent down
another branch travel each with its own signature, and a relay keeps them so; every other
event keeps sharing one signature per run."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sync_protocol import ChainHead, Event, append_event, case_id_for, generate_key
from sync_protocol.batching import select_runs
from tests.sync_protocol.tree import T0

VILLAGE = "431002001201"


def _chain(n: int) -> list[Event]:
    key = generate_key(VILLAGE)
    head = ChainHead.genesis(VILLAGE, 1)
    events = []
    for i in range(n):
        event = append_event(head, key, case_id=case_id_for(VILLAGE, 1, 1 + i % 2),
                             actor=f"agent@{VILLAGE}", at=T0 + timedelta(seconds=i),
                             type="registered", payload={"n": i})
        head = event.head
        events.append(event)
    return events


def test_a_chosen_event_ends_its_run_and_others_share_one_signature() -> None:
    events = _chain(6)  # cases alternate: the first case's events are 1, 3 and 5
    crossing = events[0].case_id
    plain = select_runs(events, 100)
    assert [len(run) for run in plain] == [6]  # one signature for the whole chain
    cut = select_runs(events, 100, lambda e: e.case_id == crossing)
    assert [len(run) for run in cut] == [1, 2, 2, 1]
    assert all(run[-1].case_id == crossing for run in cut[:3])
    assert [e.seq for run in cut for e in run] == [1, 2, 3, 4, 5, 6]  # nothing left out


def test_a_relay_can_only_cut_where_it_holds_a_signature() -> None:
    events = _chain(4)
    crossing = events[0].case_id
    # a relay holds the signature of each run it received: here only the chain's last
    relayed = [replace(e, signature=None) for e in events[:-1]] + [events[-1]]
    runs = select_runs(relayed, 100, lambda e: e.case_id == crossing)
    assert [len(run) for run in runs] == [4]
