"""Hub benchmark: the supervision scan and the monthly report with 10,000,000 cases in
``hub_cases`` (PostgreSQL).

Run from the repository root (PostgreSQL at 127.0.0.1:5432, trust auth)::

    .venv/bin/python -m bench.supervision_scale                   # 10,000,000 cases
    .venv/bin/python -m bench.supervision_scale --cases 200000    # quick

Free disk is checked first (about 6 GB for ten million rows and their indexes). The hub is
made by the real ``sanji hub init --database-url`` in a database of its own
(``sanji_bench_supervision_<pid>``, dropped at the end); the projection rows go in with COPY
(the indexes in place, as in production), then the table is analysed. Cases are spread over
three years and the city windows; most are closed (decided, a result issued, many rated);
``--open-fraction`` are open, a few of them with the clock stopped, and of those whose clock
runs some are at or past their next signal (warning, yellow or red card) — the ones a scan
has to act on. Signals (warnings, cards, urges) go into ``hub_case_signals``.

Timed, as the hub runs them:

- the scan's claim: the ``SELECT … FOR UPDATE SKIP LOCKED`` of
  :func:`shared.deciding.signal_scan._claim` (one batch), the statement whose cost depends on
  how many cases the hub holds; what the scan then does per claimed case (read its log,
  append a signal) depends only on the cases due, not on the table's size;
- the monthly report: :func:`shared.deciding.supervision_reports.report` for the last full
  month, every window, with the signal counts.

Each is printed with its EXPLAIN (ANALYZE, BUFFERS). Full event histories are not made
here: neither the claim nor the report reads ``sync_events``.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bench.hub_bench_data import site_codes
from bench.hub_ingest import (
    BASE_URL,
    HUB,
    code_under_test,
    init_hub,
    machine_load,
    scratch_database,
)
from bench.window_queue import CityItem, city_items
from hub.models import HubCase
from shared.deciding.signal_scan import BATCH, claim_query
from shared.deciding.supervision_reports import report
from shared.domain.catalogue_loader import load_sample_catalogue
from shared.storage.db import make_engine
from sync_protocol.times import to_ms

DAY_MS = 86_400_000
BYTES_PER_CASE = 600
"""Disk a projection row and its index entries take, with room to spare."""
COLUMNS = ("case_id", "acceptance_no", "origin", "item_code", "kind", "window", "owner_site",
           "state", "stage", "open", "claimed_by", "due_ms", "registered_ms", "updated_ms",
           "legal_due_ms", "warn_ms", "next_signal_ms", "paused", "accepted_ms",
           "decided_ms", "closed_ms", "rating", "signal", "signal_ms")
RATINGS = ("very_satisfied", "satisfied", "basically_satisfied", "dissatisfied",
           "very_dissatisfied")
SIGNAL_COLUMNS = ("origin", "epoch", "seq", "case_id", "owner_site", "window",
                  "acceptance_no", "kind", "rule", "reason", "at_ms", "status")


def case_rows(count: int, open_fraction: float, due_fraction: float,
              items: Sequence[CityItem], now_ms: int, seed: int
              ) -> Iterator[tuple[Any, ...]]:
    """``count`` projection rows; the open ones recent, a ``due_fraction`` of them past
    their next signal."""
    r = random.Random(seed)
    villages = [v for _, vs in site_codes(40, 25) for v in vs]
    weights = [i.weight for i in items]
    span = 3 * 365 * DAY_MS
    for n in range(count):
        item = r.choices(items, weights)[0]
        is_open = r.random() < open_fraction
        origin = r.choice(villages)
        registered = now_ms - (r.randint(0, 60 * DAY_MS) if is_open
                               else r.randint(30 * DAY_MS, span))
        accepted = registered + r.randint(0, 2 * DAY_MS)
        days = item.promised_days * 1.4 * DAY_MS
        due = accepted + int(days)
        legal = accepted + int(days * 2)
        warn = accepted + int(days * 0.8)
        day = datetime.fromtimestamp(registered / 1000, UTC) + timedelta(hours=8)
        number = f"{origin}-{day:%Y%m%d}-{n % 9999 + 1:04d}"
        case_id = uuid.UUID(int=r.getrandbits(128), version=4)
        if is_open:
            paused = 1 if r.random() < 0.05 else 0
            if not paused and r.random() < due_fraction:
                next_signal = now_ms - r.randint(0, DAY_MS)  # due now
            else:
                next_signal = now_ms + r.randint(1, 20 * DAY_MS)
            yield (case_id, number, origin, item.code, item.kind, item.window, HUB,
                   "accepted", "at_window", 1, None, due, registered, now_ms, legal, warn,
                   None if paused else next_signal, paused, accepted, None, None, None,
                   None, None)
        else:
            decided = accepted + int(days * r.uniform(0.2, 1.3))
            rating = r.choices(RATINGS, (50, 30, 12, 5, 3))[0] if r.random() < 0.6 else None
            late = decided > due
            yield (case_id, number, origin, item.code, item.kind, item.window, HUB,
                   "handed_over", "handed_over", 0, None, due, registered, decided, legal,
                   warn, None, 0, accepted, decided, decided + DAY_MS, rating,
                   "yellow_card" if late else None, due if late else None)


def signal_rows(count: int, items: Sequence[CityItem], now_ms: int, seed: int
                ) -> Iterator[tuple[Any, ...]]:
    r = random.Random(seed)
    for n in range(count):
        item = r.choice(items)
        kind = r.choices(("warning", "yellow_card", "red_card", "urge"), (60, 25, 5, 10))[0]
        yield (HUB, 1, n + 1, uuid.uuid4(), HUB, item.window, f"{HUB}-{n:08d}", kind,
               "promised_passed", "承诺办结时限已过", now_ms - r.randint(0, 3 * 365 * DAY_MS),
               "standing")


def copy_rows(engine: Engine, table: str, columns: Sequence[str],
              rows: Iterator[tuple[Any, ...]]) -> float:
    started = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        names = ", ".join(f'"{c}"' for c in columns)
        with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        raw.commit()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"VACUUM ANALYZE {table}"))
    return time.perf_counter() - started


def claim_statement(engine: Engine, now_ms: int) -> tuple[str, dict[str, Any]]:
    """The scan's claim as PostgreSQL receives it."""
    compiled = claim_query(HubCase, HUB, now_ms).compile(dialect=engine.dialect)
    return str(compiled), dict(compiled.params)


def timed(label: str, repeat: int, call: Any) -> list[float]:
    ms = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        ms.append((time.perf_counter() - started) * 1000)
    print(f"  {label:<40} median {statistics.median(ms):9.1f} ms   max {max(ms):9.1f} ms"
          f"   (n={repeat})")
    return ms


def explain(engine: Engine, statement: str, params: dict[str, Any]) -> None:
    with engine.connect() as conn:
        for row in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params):
            print("    " + str(row[0]))
        conn.rollback()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10_000_000)
    parser.add_argument("--open-fraction", type=float, default=0.03)
    parser.add_argument("--due-fraction", type=float, default=0.02,
                        help="of the open cases whose clock runs, the share due a signal")
    parser.add_argument("--signals", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database-url", default=BASE_URL)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args(argv)

    need = args.cases * BYTES_PER_CASE
    free = shutil.disk_usage("/").free
    print(f"free disk {free / 1e9:.1f} GB; about {need / 1e9:.1f} GB needed")
    if free < need * 1.5:
        raise SystemExit("not enough free disk: use --cases to make fewer")
    print(code_under_test())
    now = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
    now_ms = to_ms(now)
    items = city_items(load_sample_catalogue(), random.Random(args.seed))
    name = f"sanji_bench_supervision_{os.getpid()}"
    with scratch_database(args.database_url, name) as url, \
            tempfile.TemporaryDirectory() as scratch:
        init_hub(Path(scratch) / "hub", url)
        engine = make_engine(url)
        seconds = copy_rows(engine, "hub_cases", COLUMNS, case_rows(
            args.cases, args.open_fraction, args.due_fraction, items, now_ms, args.seed))
        print(f"loaded {args.cases:,} cases in {seconds:.0f} s")
        seconds = copy_rows(engine, "hub_case_signals", SIGNAL_COLUMNS,
                            signal_rows(args.signals, items, now_ms, args.seed))
        print(f"loaded {args.signals:,} signals in {seconds:.0f} s")
        with engine.connect() as conn:
            size = conn.execute(text("SELECT pg_size_pretty(pg_total_relation_size("
                                     "'hub_cases'))")).scalar()
            due = conn.execute(text(
                "SELECT count(*) FROM hub_cases WHERE open = 1 AND paused = 0 AND "
                "next_signal_ms <= :now"), {"now": now_ms}).scalar()
        print(f"hub_cases with its indexes: {size}; cases due a signal now: {due:,}")
        print(machine_load())
        statement, params = claim_statement(engine, now_ms)

        def claim() -> None:
            with engine.connect() as conn:
                conn.exec_driver_sql(statement, params).fetchall()
                conn.rollback()

        print("the scan's claim (one batch of", BATCH, "cases):")
        timed("SELECT ... FOR UPDATE SKIP LOCKED", args.repeat, claim)
        explain(engine, statement, params)
        factory = sessionmaker(engine)
        last_month = (now.date().replace(day=1) - timedelta(days=1))

        def month() -> None:
            with factory() as session:
                body = _report(session, last_month)
                assert body["rows"], "the month has figures"

        print(f"the monthly report ({last_month:%Y-%m}, every window):")
        timed("report(month)", max(3, args.repeat // 4), month)
        with factory() as session:
            body = _report(session, last_month)
        total = body["total"]
        print(f"  total: received {total['received']:,}, completed {total['completed']:,}, "
              f"on time {total['on_time']:,}, overdue {total['overdue']:,}")
        print(machine_load())
        engine.dispose()


def _report(session: Session, day: date) -> dict[str, Any]:
    return report(session, HubCase, HUB, "month", day)


if __name__ == "__main__":
    main()
