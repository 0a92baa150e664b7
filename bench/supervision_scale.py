"""Hub benchmark: the supervision scan and the monthly report with 10,000,000 cases in
``hub_cases`` (PostgreSQL).

Run from the repository root (PostgreSQL at 127.0.0.1:5432, trust auth)::

    .venv/bin/python -m bench.supervision_scale       # 10,000,000 cases, 1,000,000 histories
    .venv/bin/python -m bench.supervision_scale --cases 200000 --histories 20000  # quick

Free disk is checked first (about 6 GB for ten million rows and their indexes, and up to
11 kB for each full history). The hub is made by the real ``sanji hub init --database-url``
in a database of its own (``sanji_bench_supervision_<pid>``, dropped at the end, whatever
happens); the projection rows go in with COPY (the indexes in place, as in production),
then the tables are analysed. Cases are spread over three years and the city windows; most
are closed (decided, a result issued, many rated); ``--open-fraction`` are open, a few of
them with the clock stopped, and of those whose clock runs some are at or past their next
signal (warning, yellow or red card) — the ones a scan has to act on. Signals (warnings,
cards, urges) go into ``hub_case_signals``; the townships and villages into ``hub_sites``.

The latest ``--histories`` cases (by registration time: at the default shares every open
case, and the closed ones of the last months) get their full event history in
``sync_events``, made by the real workflow and signed and sealed as the hub stores them
(:mod:`bench.supervision_histories`), streamed by COPY with the projection rows; their
``hub_cases`` and ``hub_case_signals`` rows are the ones the hub's fold makes of that
history. A case due a signal has one passed deadline its log has no signal for yet; the
deadlines it passed before carry theirs.

Timed, as the hub runs them:

- the scan's claim: the ``SELECT … FOR UPDATE SKIP LOCKED`` of
  :func:`shared.deciding.signal_scan._claim` (one batch), the statement whose cost depends on
  how many cases the hub holds;
- the monthly report: :func:`shared.deciding.supervision_reports.report` for the last full
  month, every window, with the signal counts;
- the whole scan, last (it changes the cases): :func:`hub.background.run_scan`, the
  function the hub's scheduler calls — the claim, then for each claimed case its log read
  and folded, a ``signalled`` event signed, sealed, stored and queued down toward the
  case's village, the projection refreshed — for ``--scan-runs`` batches, per due case.

The claim and the report are printed with their EXPLAIN (ANALYZE, BUFFERS).
"""

from __future__ import annotations

import argparse
import heapq
import os
import random
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
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
from bench.supervision_histories import (
    BYTES_PER_EVENT,
    EVENT_COLUMNS,
    EVENTS_PER_CASE,
    SITE_COLUMNS,
    HistoryMaker,
    site_rows,
)
from bench.window_queue import CityItem, city_items
from hub.app import create_app
from hub.background import run_scan
from hub.models import HubCase
from hub.services import services_of
from hub.settings import HubSettings
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
PROJECTION_EXTRA = ("timer_ms", "urged_ms", "pending_departments", "catalogue_version")
"""Columns the fold writes that the made-up rows leave empty."""
SIGNAL_COLUMNS = ("origin", "epoch", "seq", "case_id", "owner_site", "window",
                  "acceptance_no", "kind", "rule", "reason", "at_ms", "status")
SIGNAL_SEQ_BASE = 1_000_000_000
"""The made-up signal rows take keys of the hub's chain far above any event it holds (the
histories' own signals have the real keys of their ``signalled`` events)."""


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
        yield (HUB, 1, SIGNAL_SEQ_BASE + n + 1, uuid.uuid4(), HUB, item.window,
               f"{HUB}-{n:08d}", kind,
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


def latest_cutoff(rows: Iterable[tuple[Any, ...]], histories: int) -> int:
    """The registration time from which on the ``histories`` latest cases were registered
    (a pass over the rows keeping only the newest times)."""
    if histories <= 0:
        return 2**62
    newest = heapq.nlargest(histories, (row[12] for row in rows))
    return newest[-1] if newest else 0


@dataclass
class Loaded:
    cases: int
    histories: int
    events: int
    seconds: float


def load_with_histories(engine: Engine, rows: Iterator[tuple[Any, ...]], cutoff: int,
                        histories: int, maker: HistoryMaker | None, due_fraction: float
                        ) -> Loaded:
    """COPY the projection rows; for the cases registered at ``cutoff`` or later (at most
    ``histories``), their full history into ``sync_events``, their projection row and
    signal rows as the hub's fold makes them. Three COPY streams at once, row by row:
    memory stays bounded whatever the size."""
    started = time.perf_counter()
    made = events = cases = 0
    columns = (*COLUMNS, *PROJECTION_EXTRA)
    pad = (None,) * len(PROJECTION_EXTRA)
    raws = [engine.raw_connection() for _ in range(3)]
    try:
        cursors = [raw.cursor() for raw in raws]
        with cursors[0].copy(_copy("hub_cases", columns)) as to_cases, \
                cursors[1].copy(_copy("sync_events", EVENT_COLUMNS)) as to_events, \
                cursors[2].copy(_copy("hub_case_signals", SIGNAL_COLUMNS)) as to_signals:
            for row in rows:
                cases += 1
                if maker is None or made >= histories or row[12] < cutoff:
                    to_cases.write_row(row + pad)
                    continue
                history = maker.make(row[0], row, due_fraction)
                made += 1
                for event in history.events:
                    to_events.write_row(event)
                events += len(history.events)
                values = history.projection
                to_cases.write_row(tuple(values[c] for c in columns))
                for signal in history.signals:
                    to_signals.write_row(tuple(signal[c] for c in SIGNAL_COLUMNS))
                if made % 100_000 == 0:
                    print(f"  ... {made:,} histories ({events:,} events) in "
                          f"{time.perf_counter() - started:.0f} s", flush=True)
        for raw in raws:
            raw.commit()
    finally:
        for raw in raws:
            raw.close()
    return Loaded(cases, made, events, time.perf_counter() - started)


def _copy(table: str, columns: Sequence[str]) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    return f"COPY {table} ({names}) FROM STDIN"


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
    parser.add_argument("--histories", type=int, default=1_000_000,
                        help="full event histories for this many latest cases")
    parser.add_argument("--scan-runs", type=int, default=10,
                        help="runs of the whole scan timed (each signals one batch)")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database-url", default=BASE_URL)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args(argv)

    histories = min(args.histories, args.cases)
    need = args.cases * BYTES_PER_CASE + histories * EVENTS_PER_CASE * BYTES_PER_EVENT
    free = shutil.disk_usage("/").free
    print(f"free disk {free / 1e9:.1f} GB; about {need / 1e9:.1f} GB needed "
          f"({args.cases:,} cases, {histories:,} full histories)")
    if free < need * 1.5:
        raise SystemExit("not enough free disk: use --cases or --histories to make fewer")
    print(code_under_test())
    now = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
    now_ms = to_ms(now)
    items = city_items(load_sample_catalogue(), random.Random(args.seed))
    name = f"sanji_bench_supervision_{os.getpid()}"

    def rows() -> Iterator[tuple[Any, ...]]:
        return case_rows(args.cases, args.open_fraction, args.due_fraction, items, now_ms,
                         args.seed)

    with scratch_database(args.database_url, name) as url, \
            tempfile.TemporaryDirectory() as scratch:
        data_dir = Path(scratch) / "hub"
        init_hub(data_dir, url)
        engine = make_engine(url)
        app = create_app(HubSettings.load(data_dir))
        hub = services_of(app)
        hub.clock = lambda: now
        copy_rows(engine, "hub_sites", SITE_COLUMNS, site_rows(HUB, now_ms))
        started = time.perf_counter()
        cutoff = latest_cutoff(rows(), histories)
        print(f"the latest {histories:,} cases: registered from "
              f"{datetime.fromtimestamp(cutoff / 1000, UTC):%Y-%m-%d %H:%M} UTC on "
              f"({time.perf_counter() - started:.0f} s to find)")
        maker = HistoryMaker(hub.catalogue, hub.calendar, hub.sync_site, now, args.seed)
        loaded = load_with_histories(engine, rows(), cutoff, histories, maker,
                                     args.due_fraction)
        print(f"loaded {loaded.cases:,} cases, {loaded.histories:,} of them with their "
              f"history ({loaded.events:,} events) in {loaded.seconds:.0f} s")
        with engine.begin() as conn:  # each chain's counter, as its authors left it
            heads = [maker.authors.hub, *maker.authors.villages.values()]
            conn.execute(text(
                "INSERT INTO sync_state (key, value, counter) VALUES (:key, '', :counter)"),
                [{"key": f"counter:chain:{c.head.origin}:{c.head.epoch}",
                  "counter": c.head.seq} for c in heads if c.head.seq > 0])
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("hub_cases", "sync_events", "hub_case_signals", "sync_state"):
                conn.execute(text(f"VACUUM ANALYZE {table}"))
        seconds = copy_rows(engine, "hub_case_signals", SIGNAL_COLUMNS,
                            signal_rows(args.signals, items, now_ms, args.seed))
        print(f"loaded {args.signals:,} signals in {seconds:.0f} s")
        with engine.connect() as conn:
            size = conn.execute(text("SELECT pg_size_pretty(pg_total_relation_size("
                                     "'hub_cases'))")).scalar()
            events_size = conn.execute(text("SELECT pg_size_pretty(pg_total_relation_size("
                                            "'sync_events'))")).scalar()
            due = conn.execute(text(
                "SELECT count(*) FROM hub_cases WHERE open = 1 AND paused = 0 AND "
                "next_signal_ms <= :now"), {"now": now_ms}).scalar() or 0
            due_with_history = conn.execute(text(
                "SELECT count(*) FROM hub_cases WHERE open = 1 AND paused = 0 AND "
                "next_signal_ms <= :now AND catalogue_version IS NOT NULL"),
                {"now": now_ms}).scalar() or 0
        print(f"hub_cases with its indexes: {size}; sync_events with its indexes: "
              f"{events_size}; cases due a signal now: {due:,} "
              f"({due_with_history:,} of them with their history)")
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
        if due_with_history < due:  # its log would be empty: raise --histories
            print("the whole scan is not timed: some due cases have no history")
        else:
            scan_runs(app, args.scan_runs)
        print(machine_load())
        engine.dispose()


def scan_runs(app: Any, runs: int) -> None:
    """Time the whole scan as the hub's scheduler runs it (:func:`hub.background.run_scan`:
    the claim, then for each claimed case its log read and folded, the ``signalled`` event
    signed, sealed, stored and queued down, the projection and signal rows refreshed, one
    commit); each run takes the next batch of due cases."""
    print(f"the whole scan (hub.background.run_scan, up to {BATCH} due cases a run):")
    per_case: list[float] = []
    total_ms = 0.0
    examined = raised = 0
    for n in range(runs):
        started = time.perf_counter()
        run = run_scan(app)
        ms = (time.perf_counter() - started) * 1000
        if run.examined == 0:
            print(f"  run {n + 1}: no case due any more ({ms:.1f} ms)")
            break
        total_ms += ms
        examined += run.examined
        raised += run.raised
        per_case.append(ms / run.examined)
        print(f"  run {n + 1}: {run.examined} cases claimed, {run.raised} signals raised in "
              f"{ms:8.1f} ms ({ms / run.examined:6.2f} ms a case)", flush=True)
    if per_case:
        print(f"  {'whole scan, per due case':<40} median {statistics.median(per_case):9.2f} "
              f"ms   max {max(per_case):9.2f} ms   (n={len(per_case)} runs, {examined:,} "
              f"cases, {raised:,} signals, {total_ms / examined:.2f} ms a case overall)")


def _report(session: Session, day: date) -> dict[str, Any]:
    return report(session, HubCase, HUB, "month", day, load_sample_catalogue())


if __name__ == "__main__":
    main()
