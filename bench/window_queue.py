"""Hub benchmark: a window's queue page with 1,000,000 cases in ``hub_cases`` (PostgreSQL).

Run from the repository root (PostgreSQL at 127.0.0.1:5432, trust auth; about 1 GB of disk
and two minutes to load)::

    .venv/bin/python -m bench.window_queue                     # 1,000,000 cases, 3 % open
    .venv/bin/python -m bench.window_queue --cases 100000 --repeat 100   # quick

The hub is made by the real ``sanji hub init --database-url`` in a database of its own
(``sanji_bench_queue_<pid>``, dropped at the end); the cases go into ``hub_cases`` with COPY,
spread over the sample catalogue's city windows with uneven volumes (one busy window,
several quiet ones). Most are closed (result issued or withdrawn); ``--open-fraction`` are
still at a window: routed and not yet accepted (no deadline), accepted, reviewed, waiting
for a supplement or decided, some claimed. The table is then analysed as autovacuum would.

Timed: ``HubWindowStore.queue(session, window, 200)`` (a fresh session each time, as a
request has), and ``GET /api/v1/windows/<code>/cases`` through Flask's test client with a
window operator's bearer token from ``TokenSigner``, over every city window in turn. The
query's plan is printed with EXPLAIN (ANALYZE, BUFFERS) for the busiest window.
``--try-index`` adds, in this scratch database only, a partial index that matches the
query's ORDER BY, and times the queue again, to show what such an index would change.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from bench.hub_bench_data import site_codes
from bench.hub_ingest import (
    BASE_URL,
    HUB,
    code_under_test,
    init_hub,
    machine_load,
    scratch_database,
)
from bench.node_intake import percentile
from shared.domain.catalogue import Catalogue
from shared.domain.catalogue_loader import load_sample_catalogue

DAY_MS = 86_400_000
COLUMNS = ("case_id", "acceptance_no", "origin", "item_code", "kind", "window", "owner_site",
           "state", "stage", "open", "claimed_by", "due_ms", "registered_ms", "updated_ms")
OPEN_STATES = (  # (state, stage, share of open cases, has a deadline)
    ("routed", "at_window", 0.25, False),
    ("accepted", "at_window", 0.45, True),
    ("reviewed", "at_window", 0.12, True),
    ("awaiting_supplement", "awaiting_supplement", 0.08, False),
    ("paused_for_supplement", "awaiting_supplement", 0.04, True),
    ("decided", "decided", 0.06, True),
)
CLOSED_STATES = (("handed_over", "handed_over", 0.80), ("result_issued", "result_issued", 0.16),
                 ("withdrawn", "withdrawn", 0.04))
TRY_INDEX = ("CREATE INDEX ix_bench_hub_cases_queue_open ON hub_cases "
             '(owner_site, "window", (due_ms IS NULL), due_ms, registered_ms) WHERE open = 1')


@dataclass(frozen=True)
class CityItem:
    code: str
    kind: str
    window: str
    promised_days: int
    weight: float


def city_items(catalogue: Catalogue, r: random.Random) -> list[CityItem]:
    """The items decided at city windows, with uneven volumes (one window clearly busiest)."""
    items = [i for i in catalogue.items if str(i.tier) in ("city", "external")]
    out: list[CityItem] = []
    for i in items:
        weight = r.uniform(1, 4) * (3 if i.window == "W-GA-01" else 1)
        out.append(CityItem(i.code, i.kind.value, i.window, max(1, i.promised_days), weight))
    return out


def rows(count: int, open_fraction: float, items: Sequence[CityItem], now_ms: int,
         seed: int) -> Iterator[tuple[Any, ...]]:
    """``count`` projection rows, registered over the last three years."""
    r = random.Random(seed)
    villages = [v for _, vs in site_codes(40, 25) for v in vs]
    weights = [i.weight for i in items]
    operators = [f"op{n:02d}" for n in range(1, 13)]
    open_w = [s[2] for s in OPEN_STATES]
    closed_w = [s[2] for s in CLOSED_STATES]
    span = 3 * 365 * DAY_MS
    for n in range(count):
        item = r.choices(items, weights)[0]
        is_open = r.random() < open_fraction
        if is_open:  # open cases are recent: registered in the last two months
            registered = now_ms - r.randint(0, 60 * DAY_MS)
            state, stage, _, has_due = r.choices(OPEN_STATES, open_w)[0]
            claimed = r.choice(operators) if state != "routed" and r.random() < 0.6 else None
        else:
            registered = now_ms - r.randint(30 * DAY_MS, span)
            state, stage, _ = r.choices(CLOSED_STATES, closed_w)[0]
            has_due, claimed = state != "withdrawn", None
        due = registered + int(item.promised_days * 1.4 * DAY_MS) if has_due else None
        origin = r.choice(villages)
        day = datetime.fromtimestamp(registered / 1000, UTC) + timedelta(hours=8)
        acceptance_no = f"{origin}-{day:%Y%m%d}-{n % 9999 + 1:04d}"
        yield (uuid.UUID(int=r.getrandbits(128), version=4), acceptance_no, origin, item.code,
               item.kind, item.window, HUB, state, stage, int(is_open), claimed, due,
               registered, registered + r.randint(0, 20 * DAY_MS))


def bulk_load(engine: Engine, count: int, open_fraction: float, items: Sequence[CityItem],
              now_ms: int, seed: int) -> float:
    """COPY the rows into ``hub_cases`` (indexes in place, as in production); seconds."""
    started = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        names = ", ".join(f'"{c}"' for c in COLUMNS)
        with cursor.copy(f"COPY hub_cases ({names}) FROM STDIN") as copy:
            for row in rows(count, open_fraction, items, now_ms, seed):
                copy.write_row(row)
        raw.commit()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE hub_cases"))
    return time.perf_counter() - started


@dataclass
class Timing:
    label: str
    ms: list[float]

    def line(self) -> str:
        return (f"  {self.label:<46} p50 {statistics.median(self.ms):7.2f} ms   "
                f"p95 {percentile(self.ms, 0.95):7.2f} ms   max {max(self.ms):7.2f} ms   "
                f"(n={len(self.ms)})")


def time_calls(label: str, repeat: int, windows: Sequence[str],
               call: Callable[[str], int], expect: dict[str, int]) -> Timing:
    """Call ``call(window)`` ``repeat`` times over the windows in turn; checks page sizes."""
    ms: list[float] = []
    for n in range(repeat):
        window = windows[n % len(windows)]
        started = time.perf_counter()
        got = call(window)
        ms.append((time.perf_counter() - started) * 1000)
        if got != expect[window]:
            raise SystemExit(f"{label}: {window} gave {got} cases, expected {expect[window]}")
    return Timing(label, ms)


@contextmanager
def captured(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The statements (and parameters) the engine runs inside the block."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
               executemany: bool) -> None:
        seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def explain(engine: Engine, statement: str, params: Any) -> list[str]:
    with engine.connect() as conn:
        result = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
        return [str(r[0]) for r in result]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--open-fraction", type=float, default=0.03)
    parser.add_argument("--repeat", type=int, default=450, help="timed calls of each kind")
    parser.add_argument("--database-url", default=BASE_URL)
    parser.add_argument("--try-index", action="store_true",
                        help="also time the queue with an index matching its ORDER BY")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)

    from hub.app import create_app
    from hub.identity import token_secret
    from hub.ingest import HubWindowStore
    from hub.services import HubServices
    from hub.settings import HubSettings
    from shared.storage.accounts import TokenSigner, add_user
    from shared.storage.db import make_engine

    print(code_under_test())
    catalogue = load_sample_catalogue()
    items = city_items(catalogue, random.Random(args.seed))
    windows = sorted({i.window for i in items})
    now = datetime.now(UTC)
    name = f"sanji_bench_queue_{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="sanji-bench-") as tmp, \
            scratch_database(args.database_url, name) as url:
        data_dir = Path(tmp) / "hub"
        init_hub(data_dir, url)
        engine = make_engine(url, pool_pre_ping=True)
        try:
            seconds = bulk_load(engine, args.cases, args.open_fraction, items,
                                int(now.timestamp() * 1000), args.seed)
            factory = sessionmaker(engine, expire_on_commit=False)
            with factory() as session:
                counts = {w: int(session.execute(text(
                    'SELECT count(*) FROM hub_cases WHERE owner_site = :o AND "window" = :w '
                    "AND open = 1"), {"o": HUB, "w": w}).scalar_one()) for w in windows}
                totals = session.execute(text(
                    "SELECT count(*), count(*) FILTER (WHERE open = 1), "
                    "pg_size_pretty(pg_total_relation_size('hub_cases')) FROM hub_cases")).one()
            print(f"loaded {totals[0]:,} cases ({totals[1]:,} open) into hub_cases with COPY "
                  f"in {seconds:.1f} s (incl. VACUUM ANALYZE); table + indexes {totals[2]}")
            busiest = max(windows, key=lambda w: counts[w])
            print("open cases per city window: " + ", ".join(
                f"{w} {counts[w]:,}" for w in sorted(windows, key=lambda w: -counts[w])))
            expect = {w: min(200, counts[w]) for w in windows}

            settings = HubSettings.load(data_dir)
            services = HubServices(settings, catalogue)
            store = HubWindowStore(lambda: services.sync_site)

            def queue(window: str) -> int:
                with factory() as session:
                    return len(store.queue(session, window, 200))

            queue(busiest)  # warm the pool and the statement cache
            results = [time_calls("HubWindowStore.queue, every window in turn",
                                  args.repeat, windows, queue, expect),
                       time_calls(f"HubWindowStore.queue, {busiest} only", args.repeat,
                                  [busiest], queue, expect)]

            app = create_app(settings)
            client = app.test_client()
            signer = TokenSigner(token_secret(settings.key_dir))
            headers: dict[str, dict[str, str]] = {}
            with factory() as session:
                for w in windows:
                    user = add_user(session, username=f"op-{w.lower()}",
                                    password="queue-bench-2026", role="window_operator",
                                    site=HUB, window=w, now=now)
                    headers[w] = {"Authorization": f"Bearer {signer.issue(user, now)}"}
                session.commit()

            def page(window: str) -> int:
                response = client.get(f"/api/v1/windows/{window}/cases",
                                      headers=headers[window])
                if response.status_code != 200:
                    raise SystemExit(f"GET {window}: {response.status_code} {response.text}")
                body = response.get_json()
                return len(body["cases"])

            page(busiest)
            results += [time_calls("GET /api/v1/windows/<code>/cases, every window",
                                   args.repeat, windows, page, expect),
                        time_calls(f"GET /api/v1/windows/{busiest}/cases", args.repeat,
                                   [busiest], page, expect)]
            print(f"\nqueue page (limit 200) with {totals[0]:,} cases in hub_cases "
                  f"({os.cpu_count()} cores, {machine_load()} after the runs):")
            for timing in results:
                print(timing.line())

            with captured(engine) as seen, factory() as session:
                store.queue(session, busiest, 200)
            statement, params = next((s, p) for s, p in seen if "hub_cases" in s)
            print(f"\nthe query ({busiest}):\n  " + " ".join(statement.split()))
            plan = explain(engine, statement, params)
            print("EXPLAIN (ANALYZE, BUFFERS):\n" + "\n".join("  " + line for line in plan))
            joined = "\n".join(plan)
            uses = "ix_hub_cases_queue" in joined
            sorts = "Sort" in joined
            print(f"uses ix_hub_cases_queue: {'yes' if uses else 'no'}; "
                  f"sorts the window's open rows: {'yes' if sorts else 'no'}")

            if args.try_index:
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.execute(text(TRY_INDEX))
                    conn.execute(text("ANALYZE hub_cases"))
                tried = time_calls("queue with the trial partial index, busiest", args.repeat,
                                   [busiest], queue, expect)
                print(f"\nwith {TRY_INDEX}:")
                print(tried.line())
                plan = explain(engine, statement, params)
                print("\n".join("  " + line for line in plan))
        finally:
            engine.dispose()


if __name__ == "__main__":
    main()
