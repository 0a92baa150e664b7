"""The long fault run: the harness of ``tests/faults`` over many random schedules.

Run from the repository root::

    .venv/bin/python -m bench.faults_long                       # 10,000 schedules
    .venv/bin/python -m bench.faults_long --minutes 25          # as many as fit in 25 min

Schedules come from the ``faults-long`` hypothesis profile's strategies, in chunks that
alternate the tree's depth (3, then 4). Nothing stops at a failing schedule: every schedule is
checked and the totals are added up; the first failing schedules are printed in full. The
last lines are the figures docs/reliability.md records.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings

from tests.faults.checker import Totals
from tests.faults.faults import Reached
from tests.faults.harness import Step, run_schedule, tree_codes
from tests.faults.schedules import schedules, skews

CHUNK = 100
SHOWN_FAILURES = 5


def _chunk(depth: int, size: int, stop_at: float, totals: Totals, reached: Reached,
           failures: list[str]) -> int:
    """Run up to ``size`` schedules of ``depth``; returns how many ran."""
    ran = [0]

    @settings(settings.get_profile("faults-long"), max_examples=size, database=None)
    @given(steps=schedules, clocks=skews(len(tree_codes(depth))))
    def one(steps: list[Step], clocks: list[int]) -> None:
        if time.monotonic() >= stop_at:
            return
        with tempfile.TemporaryDirectory(prefix="faults-long-") as root:
            run = run_schedule(Path(root), steps, depth=depth, skews_ms=clocks)
        ran[0] += 1
        totals.add(run.totals)
        reached.add(run.reached)
        if not run.totals.ok and len(failures) < SHOWN_FAILURES:
            failure = (f"depth {depth} clocks {clocks}\n  steps {steps}\n"
                       f"  {run.totals.line()}\n  {run.totals.problems[:5]}")
            failures.append(failure)
            print("FAILED (as found) " + failure, flush=True)  # a long run may be cut short

    one()
    return ran[0]


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=10_000)
    parser.add_argument("--minutes", type=float, default=0.0,
                        help="stop starting schedules after this long (0: no limit)")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # the glue's warnings about refused frames are expected
    started = time.monotonic()
    stop_at = started + args.minutes * 60 if args.minutes > 0 else float("inf")
    totals, reached = Totals(), Reached()
    failures: list[str] = []
    ran = {3: 0, 4: 0}
    depth = 3
    while sum(ran.values()) < args.schedules and time.monotonic() < stop_at:
        size = min(CHUNK, args.schedules - sum(ran.values()))
        ran[depth] += _chunk(depth, size, stop_at, totals, reached, failures)
        depth = 4 if depth == 3 else 3
        out(f"{sum(ran.values())} schedules, {time.monotonic() - started:.0f} s: "
            f"{totals.line()}")
    for failure in failures:
        out("FAILED " + failure)
    out(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; command: python -m bench.faults_long "
        + " ".join(argv if argv is not None else sys.argv[1:]))
    out(f"schedules: {sum(ran.values())} (depth 3: {ran[3]}, depth 4: {ran[4]}) "
        f"in {time.monotonic() - started:.0f} s")
    out(f"totals: {totals.line()}")
    out("reached: " + ", ".join(f"{k} {v}" for k, v in sorted(reached.counts.items())))
    return 0 if totals.ok else 1


if __name__ == "__main__":
    sys.exit(main())
