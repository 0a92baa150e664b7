"""The fault matrix on real processes, run many times with random moments and sizes.

Each row is the run function of its CI test in ``tests/integration/test_faults_*.py``
(hub, township and village as ``sanji`` processes on 127.0.0.1, real HTTP, real databases);
here each run draws its own random moments (how long after an exchange began a process is
killed, after how many bytes a connection is cut, how many bytes are left on the disk, how
far the clock is off, which bit is flipped). Rows take turns until ``--runs`` each or the
``--minutes`` budget is spent (a run that has started finishes). Lost and doubled are
counted from what the applications show (the hub's case API, the window queue, the
village's case API) and ``sanji audit verify``; see ``tests/integration/fault_city.py``.

    .venv/bin/python -m bench.faults --minutes 10          # what docs/reliability.md reports
    .venv/bin/python -m bench.faults --runs 1 --rows kill,link
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tests.integration.fault_city import Tally
from tests.integration.private_postgres import missing_reason
from tests.integration.small_disk import mount_refused
from tests.integration.test_faults_clock import skewed_clock_once
from tests.integration.test_faults_database import database_outage_once
from tests.integration.test_faults_disk import disk_full_once
from tests.integration.test_faults_flipped_byte import flipped_bytes_once
from tests.integration.test_faults_kill import kills_once
from tests.integration.test_faults_link import link_cuts_once
from tests.integration.test_faults_restore import restore_once

Row = Callable[[Path, random.Random], Tally]

ROWS: dict[str, tuple[str, Row]] = {
    "kill": ("kill -9 of village job, serving township, township sync, serving hub "
             "mid-exchange", kills_once),
    "link": ("TCP connection cut mid-request / mid-answer, both links", link_cuts_once),
    "database": ("hub's PostgreSQL stopped during exchanges", database_outage_once),
    "disk": ("village disk full (ENOSPC on a tmpfs)", disk_full_once),
    "clock": ("village clock hours off", skewed_clock_once),
    "restore": ("hub restored from an older backup", restore_once),
    "flip": ("a flipped bit in a stored event (audit)", flipped_bytes_once),
}


def _unavailable(name: str) -> str | None:
    if name == "database":
        return missing_reason()
    if name == "disk":
        return mount_refused()
    return None


def _run(name: str, row: Row, rng: random.Random, totals: Tally) -> None:
    work = Path(tempfile.mkdtemp(prefix=f"sanji-faults-{name}-"))
    try:
        totals.add(row(work, rng))
    except Exception as exc:  # a run that breaks is a finding, not the end of the bench
        totals.runs += 1
        totals.flag(f"{name}: {exc.__class__.__name__}: {str(exc)[:300]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="at most this many per row")
    parser.add_argument("--minutes", type=float, default=10.0, help="time budget")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated row names")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    rng = random.Random(seed)
    names = [n for n in args.rows.split(",") if n]
    totals = {name: Tally() for name in names}
    skipped = {name: reason for name in names if (reason := _unavailable(name)) is not None}
    started = time.monotonic()
    deadline = started + args.minutes * 60
    print(f"bench.faults seed {seed}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", flush=True)
    while time.monotonic() < deadline:
        ran = False
        for name in names:
            if name in skipped or totals[name].runs >= args.runs:
                continue
            if time.monotonic() >= deadline:
                break
            _run(name, ROWS[name][1], rng, totals[name])
            ran = True
            print(f"  {name}: run {totals[name].runs} done at "
                  f"{(time.monotonic() - started) / 60:.1f} min", flush=True)
        if not ran:
            break
    print(f"\n{'row':<10} {'runs':>5} {'lost':>5} {'doubled':>8} {'unexpected':>11}  fault")
    for name in names:
        t = totals[name]
        what = ROWS[name][0] if name not in skipped else f"skipped: {skipped[name]}"
        print(f"{name:<10} {t.runs:>5} {t.lost:>5} {t.duplicated:>8} {t.unexpected:>11}  {what}")
    for name in names:
        for note in totals[name].notes:
            print(f"  {name}: {note[:400]}")
    print(f"total {(time.monotonic() - started) / 60:.1f} min")
    return 0 if all(t.clean for t in totals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
