"""What the fault harness found in the glue, each pinned by a schedule that failed before the
fix (docs/reliability.md, "Found and fixed")."""

from __future__ import annotations

from pathlib import Path

from tests.faults.harness import Exchange, Register, Restore, run_schedule


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
