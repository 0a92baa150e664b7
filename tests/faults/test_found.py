"""What the fault harness found in the glue, each pinned by a schedule that failed before the
fix (docs/reliability.md, "Found and fixed")."""

from __future__ import annotations

from pathlib import Path

from tests.faults.harness import (
    CrashAt,
    Exchange,
    Publish,
    Register,
    Restore,
    Revoke,
    Snapshot,
    Tick,
    run_schedule,
)


def test_a_decision_reaching_a_restored_relay_before_its_case_still_reaches_the_village(
        tmp_path: Path) -> None:
    """A township restored from a backup older than a case gets the hub's decision (its down
    ack went back) before the village sends the case again: the township cannot tell yet
    which village the decision is for. It used to drop it (stored, acknowledged, never
    routed); it must keep it until the case arrives and then send it on."""
    steps = [Register(0), Exchange(1), Exchange(0), Exchange(0),  # village -> township -> hub
             Restore(1, 0),  # the township back to its first, empty snapshot
             Exchange(0)]  # the decision comes down to it first
    run = run_schedule(tmp_path, steps, depth=3)
    assert run.totals.ok, run.totals.problems
    assert run.totals.expected > 0


def test_a_scan_a_restored_relay_lost_is_offered_again(tmp_path: Path) -> None:
    """Found by the long run (1 scan in 10,000 schedules): the township's backup was taken
    while a village's scan was on its way, after the case's events had arrived. Restored,
    the township held the events (so nothing was sent again) but not the scan, which the
    village counted as delivered: it never reached the hub. After a complete answer (the
    parent's epoch changed) the child now offers its delivered scans again."""
    steps = [
        Exchange(site=5, fault="hold_and_reorder", arg=78), Register(village=3, scan=False),
        Register(village=1, scan=False), Register(village=6, scan=True),
        CrashAt(site=5, point="parent.mid_scan_chunk"), Tick(seconds=400), Publish(),
        Tick(seconds=3600), CrashAt(site=5, point="parent.mid_scan_chunk"),
        Register(village=3, scan=True), Register(village=6, scan=False),
        Register(village=7, scan=False), Exchange(site=3, fault="duplicate_request", arg=9),
        CrashAt(site=1, point="parent.mid_scan_chunk"), Register(village=2, scan=False),
        Register(village=3, scan=False), Register(village=1, scan=False),
        Register(village=2, scan=False), Snapshot(site=5),
        CrashAt(site=1, point="parent.stored_not_acked"), Revoke(),
        Exchange(site=3, fault="truncate_request", arg=32), Revoke(),
        Register(village=5, scan=True), CrashAt(site=7, point="child.before_commit"),
        CrashAt(site=3, point="parent.mid_scan_chunk"),
        CrashAt(site=7, point="parent.mid_scan_chunk"),
        Exchange(site=4, fault="truncate_request", arg=58), Revoke(),
        CrashAt(site=4, point="parent.before_commit"),
        CrashAt(site=2, point="child.after_commit"), Register(village=5, scan=False),
        CrashAt(site=5, point="child.after_commit"), Restore(site=1, pick=59),
        CrashAt(site=5, point="parent.stored_not_acked"), Register(village=6, scan=False),
        Exchange(site=7, fault="duplicate_request", arg=61), Snapshot(site=4),
        CrashAt(site=6, point="child.before_commit"),
        CrashAt(site=1, point="parent.before_commit")]
    run = run_schedule(tmp_path, steps, depth=3,
                       skews_ms=[-17269, -17269, -17269, 1658318])
    assert run.totals.ok, run.totals.problems
    assert run.totals.expected > 0


def test_a_restored_hub_gets_its_decision_back_instead_of_deciding_again(
        tmp_path: Path) -> None:
    """Found by the long run (1,888 cases in 10,000 schedules): the hub, restored to a backup
    older than a decision it had already sent down, decided the case again when the
    township sent the case again, and the village held two decisions. The township now
    hands the restored hub back its own events of the old epoch first."""
    steps = [Register(0), Exchange(1), Exchange(0), Exchange(0),  # case up, decision down
             Exchange(1),  # ... to the village
             Restore(0, 0),  # the hub back to its first, empty backup: a new epoch
             Exchange(0), Exchange(0), Exchange(1), Exchange(1)]
    run = run_schedule(tmp_path, steps, depth=3)
    assert run.totals.ok, run.totals.problems
    assert run.totals.expected > 0
    assert run.totals.redecided == 0


def test_a_decision_handed_back_to_a_restored_hub_reaches_a_township_restored_after(
        tmp_path: Path) -> None:
    """Found by the long run on the first hand-back: the township handed the restored hub
    its decisions back, then was itself restored to a backup from before it held them; the
    hub kept them (and rightly decided nothing again) but never sent them down again, and
    the village never got a decision. Handed-back events are now queued down again, with
    every signature the child held (a relay needs each one)."""
    steps = [
        Register(village=5, scan=False), Exchange(site=4, fault="drop_request", arg=5),
        Register(village=1, scan=True), Exchange(site=5, fault="hold_and_reorder", arg=82),
        Exchange(site=4), Exchange(site=2), Register(village=1, scan=True), Tick(seconds=30),
        Register(village=6, scan=True), Exchange(site=6),
        CrashAt(site=6, point="child.before_commit"),
        CrashAt(site=5, point="child.before_commit"), Restore(site=0, pick=48),
        CrashAt(site=3, point="parent.mid_scan_chunk"),
        CrashAt(site=6, point="child.stored_not_acked"), Register(village=1, scan=True),
        Register(village=3, scan=False), Exchange(site=1, fault="hold_and_reorder", arg=21),
        Restore(site=7, pick=34), Publish(), Exchange(site=3),
        Register(village=7, scan=False), Exchange(site=3), Tick(seconds=30),
        CrashAt(site=0, point="child.stored_not_acked"), Register(village=7, scan=False),
        Register(village=7, scan=False), CrashAt(site=3, point="parent.stored_not_acked"),
        Tick(seconds=30)]
    run = run_schedule(tmp_path, steps, depth=3, skews_ms=[0, 0, 0, 0])
    assert run.totals.ok, run.totals.problems
    assert run.totals.expected > 0
