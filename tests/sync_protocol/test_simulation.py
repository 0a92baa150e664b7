"""Property tests over random schedules of the in-memory network (no sockets).

Links drop, duplicate, truncate, delay and reorder messages; sites crash at
any step of an exchange and restart from their durable state; parents are
restored from older snapshots. After the schedule, the links heal and every
invariant the protocol promises must hold.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync_protocol import verify_store
from tests.sync_protocol.simulator import Faults, Network
from tests.sync_protocol.tree import HUB, make_tree

SETTINGS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

FAULT_KINDS = [
    "drop_request", "duplicate_request", "hold_request", "drop_response",
    "crash_parent_before_store", "crash_parent_before_respond", "crash_child_before_store",
]

faults = st.one_of(
    st.just(Faults()),
    st.builds(lambda kind: Faults(**{kind: True}), st.sampled_from(FAULT_KINDS)),
    st.builds(lambda n: Faults(truncate_request=n), st.integers(1, 200)),
    st.builds(lambda n: Faults(truncate_response=n), st.integers(1, 200)),
    st.builds(lambda n: Faults(duplicate_request=True, truncate_response=2 * n + 1),
              st.integers(0, 3)),
)

base_steps = [
    st.tuples(st.just("register"), st.integers(0, 99)),
    st.tuples(st.just("register"), st.integers(0, 99)),
    st.tuples(st.just("exchange"), st.integers(0, 99), faults),
    st.tuples(st.just("exchange"), st.integers(0, 99), faults),
    st.tuples(st.just("exchange"), st.integers(0, 99), faults),
    st.tuples(st.just("crash"), st.integers(0, 99)),
    st.tuples(st.just("deliver_held")),
    st.tuples(st.just("tick"), st.integers(0, 900)),
]
restore_steps = [
    st.tuples(st.just("snapshot"), st.integers(0, 99)),
    st.tuples(st.just("restore"), st.integers(0, 99)),
]

schedules = st.lists(st.one_of(*base_steps), min_size=5, max_size=40)
schedules_with_restores = st.lists(st.one_of(*base_steps, *restore_steps),
                                   min_size=5, max_size=40)


def network(depth: int) -> Network:
    tree = make_tree(depth, fanouts=(2, 1, 2) if depth == 4 else (2, 2))
    skews = {code: timedelta(minutes=37 * (i % 5) - 60)
             for i, code in enumerate(sorted(tree.parents)) if code != HUB}
    return Network(tree, skews)


def run(net: Network, schedule: list[tuple[object, ...]]) -> None:
    villages = net.villages()
    parents = [c for c in net.sites if c not in villages]
    others = net.non_hub()
    for step in schedule:
        kind = step[0]
        if kind == "register":
            net.register(villages[int(step[1]) % len(villages)])  # type: ignore[call-overload]
        elif kind == "exchange":
            net.exchange(others[int(step[1]) % len(others)], step[2])  # type: ignore
        elif kind == "crash":
            net.sites[others[int(step[1]) % len(others)]].restart()  # type: ignore
        elif kind == "deliver_held":
            net.deliver_held()
        elif kind == "tick":
            net.tick(int(step[1]))  # type: ignore[call-overload]
        elif kind == "snapshot":
            net.sites[parents[int(step[1]) % len(parents)]].snapshot()  # type: ignore
        elif kind == "restore":
            net.sites[parents[int(step[1]) % len(parents)]].restore()  # type: ignore
        net.tick(3)
    net.tick(60)
    while net.held:
        net.deliver_held()
    net.heal()


def _not_own(code: str) -> Callable[[str, int], bool]:
    return lambda origin, _epoch: origin != code


def check_exactly_once(net: Network) -> None:
    hub = net.hub
    for key in net.registered:
        assert key in hub.d.events, f"{key} never reached the hub"
    assert all(n == 1 for n in hub.d.applied.values())
    for code, site in net.sites.items():
        assert all(n == 1 for n in site.d.applied.values()), code
    results = [e for e in hub.d.events.values() if e.type == "decided"]
    cases_with_result = set()
    for result in results:
        village = net.sites[str(result.payload["for"])]
        assert village.d.applied[result.key] == 1, f"result {result.key} not at its origin"
        cases_with_result.add(result.case_id)
    for key in net.registered:
        assert net.hub.d.events[key].case_id in cases_with_result
        assert net.sites[key.origin].d.receipts.get((key.origin, key.epoch), 0) >= key.seq
    ordered = sorted(hub.d.events.values(), key=lambda e: (e.origin, e.epoch, e.seq))
    relayed = [e for e in ordered if e.origin != HUB]
    report = verify_store(relayed, hub.keyring)
    assert report.ok, report.first
    for code in net.villages():  # the results a village holds: a selection, sparsely signed
        village = net.sites[code]
        held = sorted(village.d.events.values(), key=lambda e: (e.origin, e.epoch, e.seq))
        report = verify_store(held, village.keyring, selection=_not_own(code))
        assert report.ok, report.first


@pytest.mark.parametrize("depth", [3, 4])
@SETTINGS
@given(schedule=schedules)
def test_every_event_applied_exactly_once_at_hub_and_results_at_origin(
    depth: int, schedule: list[tuple[object, ...]]
) -> None:
    net = network(depth)
    for village in net.villages():
        net.register(village)
    run(net, schedule)
    check_exactly_once(net)


@pytest.mark.parametrize("depth", [3, 4])
@SETTINGS
@given(schedule=schedules_with_restores)
def test_parent_restored_from_older_snapshot_ends_with_every_event_once(
    depth: int, schedule: list[tuple[object, ...]]
) -> None:
    net = network(depth)
    for code in net.sites:
        if code not in net.villages():
            net.sites[code].snapshot()
    for village in net.villages():
        net.register(village)
    run(net, schedule)
    check_exactly_once(net)


def test_hub_restore_starts_a_new_epoch_and_children_resend() -> None:
    net = network(3)
    net.hub.snapshot()
    for village in net.villages():
        for _ in range(3):
            net.register(village)
    net.heal()
    assert len([e for e in net.hub.d.events.values() if e.type == "registered"]) == 12
    net.hub.restore()
    assert net.hub.d.epoch == 2
    assert not [e for e in net.hub.d.events.values() if e.type == "registered"]
    net.heal()
    check_exactly_once(net)


def test_a_restored_county_relearns_village_keys_and_loses_nothing() -> None:
    net = network(4)
    county = net.sites["43100001"]
    county.snapshot()
    for village in net.villages():
        net.register(village)
    net.heal()
    assert any(k.origin.endswith("201") for k in county.d.events)
    county.restore()
    for village in net.villages():
        net.register(village)
    net.heal()
    check_exactly_once(net)
    assert not any(site.d.dead for site in net.sites.values())
