"""Hub benchmark: ingest rate on PostgreSQL (verify, deduplicate, store, project and route).

Run from the repository root (PostgreSQL at 127.0.0.1:5432, trust auth)::

    .venv/bin/python -m bench.hub_ingest                       # 20,000 events, then HTTP
    .venv/bin/python -m bench.hub_ingest --events 2000 --no-http   # quick

Each run gets its own database (``sanji_bench_ingest_<pid>``, dropped at the end) made by
the real ``sanji hub init --database-url`` and ``sanji hub import-catalog`` (the sample
catalogue, so every answer carries the release a child must hold). Townships sit under the
hub and villages under the townships, registered with ``add_site`` and certified by the hub
key as enrolment would (``sync_store.add_credentials``). Every village is a real
:class:`SiteKey` with its own signed chain (``bench/hub_bench_data.py``); each township relays
its villages' events in arrival order, ``--batch`` events per request, as
:class:`ChildExchange` builds them, and acknowledges each answer before its next request, so
every answer carries only the receipts and routed events of its own request.

The in-process figure times only the hub's side: a session from the pool, ``answer_child``
with the hub's own ``SyncSite`` (``HubServices.sync_site``, whose hooks project every case
and route the ones the hub decides) and the commit. Building frames and checking answers,
the child's work, is outside the clock; CPU is counted for the hub's thread and for its
PostgreSQL backend. The HTTP figure posts the same kind of frames to ``sanji hub run``
(waitress) one at a time and times the round trip (CPU: the hub process and its backends).
Afterwards the frames are sent again, byte for byte (a replay: refused) and rebuilt with
fresh nonces (a child that never saw the acks): the counts of stored events, cases and down
items must not move. Over HTTP each township posts on a kept-alive session of its own, made
as a township's transport makes it (``frame_session``).

``--tls`` runs every HTTP figure a second time through nginx with TLS, as
``deploy/nginx/sanji-hub.conf`` sets it up (``bench/nginx_tls.py``: a throwaway CA and
certificate, deploy's directives kept, only paths, ports and upstream servers substituted;
nginx as its own process on 127.0.0.1; the hub processes with
``SANJI_HUB_TRUSTED_PROXIES=1`` as deploy's unit sets), the townships verifying the CA, and
prints both side by side, with nginx's CPU, its TLS connections and handshakes, and its own
time per request from its access log::

    .venv/bin/python -m bench.hub_ingest --tls --threads 16 --seconds 600
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import requests
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from bench.hub_bench_data import Village, make_villages, site_codes
from bench.nginx_tls import Nginx, nginx_binary
from bench.node_intake import free_port, percentile, sanji
from shared.domain.catalogue import Catalogue
from shared.domain.catalogue_loader import load_sample_catalogue
from sync_protocol import (
    Certificate,
    ChildExchange,
    Event,
    ExchangeResult,
    KeyRing,
    ParentLink,
    SiteKey,
    generate_key,
    issue_certificate,
)

BASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
HUB = "431000"
SAMPLE_CATALOGUE = Path(__file__).resolve().parents[1] / "shared" / "domain" / "data" / \
    "sample_catalogue.yaml"
Send = Callable[[bytes], tuple[int, bytes]]


def machine_load() -> str:
    """The 1/5/15-minute load averages: on 2 shared cores other work skews every figure."""
    return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


def code_under_test(paths: Sequence[str] = ("hub", "shared", "sync_protocol")) -> str:
    """The commit measured, and any uncommitted change to the code it runs (the tree is
    shared with other work, so a figure must say what it measured)."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                              check=False)
        return done.stdout.rstrip()

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return f"code: {root} (not a git checkout)"
    dirty = git("status", "--porcelain", "--", *paths).splitlines()
    changed = ", ".join(line[3:] for line in dirty) or "none"
    where = " ".join(f"{p}/" for p in paths)
    return f"code: commit {commit} in {root}; uncommitted in {where}: {changed}"


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process (all its threads) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backend_pid(engine: Engine) -> int:
    """The PostgreSQL backend behind the engine's (single) pooled connection."""
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def other_backends(engine: Engine) -> list[int]:
    """The backends on this database that are not the benchmark's own connection."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()")
        return [int(r[0]) for r in rows]


# -- a database of our own -------------------------------------------------------------------


@contextmanager
def scratch_database(base_url: str, name: str, template: str | None = None) -> Iterator[str]:
    """Create database ``name`` next to ``base_url``'s (a copy of ``template``, to which no
    one may be connected, when given) and drop it afterwards, whatever happens, so runs
    never see each other's rows."""
    url = make_url(base_url)
    admin = f"host={url.host} port={url.port or 5432} user={url.username} dbname={url.database}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"{copy}')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def init_hub(data_dir: Path, database_url: str) -> None:
    """The hub's data directory, key and schema, made by the real CLI."""
    subprocess.run(sanji("hub", "init", "--data-dir", str(data_dir), "--database-url",
                         database_url), check=True, stdout=subprocess.DEVNULL)
    subprocess.run(sanji("hub", "import-catalog", str(SAMPLE_CATALOGUE), "--data-dir",
                         str(data_dir)), check=True, stdout=subprocess.DEVNULL)


# -- the tree: registry, certificates, the townships' side of the link ---------------------


@dataclass
class Township:
    """A township relaying its villages' events to the hub, one request at a time."""

    key: SiteKey
    certificate: Certificate
    ring: KeyRing
    link: ParentLink
    batches: list[list[Event]]
    frames: list[bytes] = field(default_factory=list)
    via: Send | None = None
    """This township's own connection to the hub (over HTTP: one kept-alive session each, as
    a township's sync run holds one); None: the run's shared ``send``."""
    recorded_at: float = 0.0
    """``time.monotonic()`` when the first kept frame was built."""

    @property
    def code(self) -> str:
        return self.key.site

    def request(self, events: Sequence[Event], batch: int) -> tuple[ChildExchange, bytes]:
        """The next request frame, acknowledging every down item answered so far."""
        # The link adapts its batch size after each answer; the benchmark keeps it fixed.
        self.link = replace(self.link, batch_events=batch)
        ex = ChildExchange(key=self.key, keyring=self.ring, link=self.link,
                           own_credentials=[self.certificate])
        out = ex.request(datetime.now(UTC), pending=events)
        if len(out.sent) != len(events):
            raise SystemExit(f"{self.code}: {len(out.sent)} of {len(events)} events framed")
        return ex, out.data

    def answered(self, ex: ChildExchange, data: bytes, events: Sequence[Event]) -> int:
        """Check the hub's answer as the township would; returns the down items it carried."""
        result = ex.receive(data, datetime.now(UTC))
        if not isinstance(result, ExchangeResult):
            raise SystemExit(f"{self.code}: refused: {result.code}: {result.error.reason}")
        for e in events:
            if result.watermarks.get((e.origin, e.epoch), 0) < e.seq:
                raise SystemExit(f"{self.code}: {e.origin}/{e.seq} not acknowledged")
        self.link = ex.stored()
        return len(result.new_events) + len(result.receipts)


def relay_batches(villages: Sequence[Village], batch: int) -> list[list[Event]]:
    """A township's outbox: its villages' events in the order they arrived, in batches."""
    events = sorted((e for v in villages for e in v.events),
                    key=lambda e: (e.at, e.origin, e.seq))
    return [events[i:i + batch] for i in range(0, len(events), batch)]


def register_tree(factory: sessionmaker[Session], hub_key: SiteKey, villages: list[Village],
                  townships: int, per_township: int, batch: int) -> list[Township]:
    """Record every site under its parent and store its hub-signed certificate, as
    ``sanji hub add-site`` and enrolment do; returns the townships ready to relay."""
    from hub.models import HubSite
    from hub.sites import add_site
    from shared.storage import sync_store

    now = datetime.now(UTC)
    by_code = {v.code: v for v in villages}
    relays: list[Township] = []
    with factory() as session:
        certificates: list[Certificate] = []
        for town_code, village_codes in site_codes(townships, per_township):
            add_site(session, code=town_code, name=f"乡镇{town_code[-3:]}便民服务中心",
                     tier="township", parent=HUB, now=now)
            town_key = generate_key(town_code)
            town_cert = issue_certificate(hub_key, site=town_code, parent=HUB, tier="township",
                                          public_raw=town_key.public_raw, now=now)
            certificates.append(town_cert)
            for code in village_codes:
                add_site(session, code=code, name=f"村{code[-3:]}代办点", tier="village",
                         parent=town_code, now=now)
                certificates.append(issue_certificate(
                    hub_key, site=code, parent=town_code, tier="village",
                    public_raw=by_code[code].key.public_raw, now=now))
            session.flush()
            ring = KeyRing(HUB, hub_key.public_raw)
            ring.add(town_cert)
            relays.append(Township(
                town_key, town_cert, ring, ParentLink(site=town_code, parent=HUB),
                relay_batches([by_code[c] for c in village_codes], batch)))
        sync_store.add_credentials(session, certificates, forward=False)
        for cert in certificates:
            row = session.get(HubSite, cert.site)
            assert row is not None
            row.enrolled_ms = int(now.timestamp() * 1000)
            row.key_id = cert.key_id.hex()
        session.commit()
    return relays


# -- counting what the hub holds -----------------------------------------------------------


@dataclass(frozen=True)
class Held:
    """Row counts that a duplicate must leave unchanged."""

    events_from_below: int
    events_by_hub: int
    cases: int
    down_items: int


def held(factory: sessionmaker[Session]) -> Held:
    from hub.models import HubCase
    from shared.storage.sync_store import SyncDown, SyncEvent

    with factory() as session:
        below = session.scalar(select(func.count()).select_from(SyncEvent)
                               .where(SyncEvent.origin != HUB)) or 0
        own = session.scalar(select(func.count()).select_from(SyncEvent)
                             .where(SyncEvent.origin == HUB)) or 0
        cases = session.scalar(select(func.count()).select_from(HubCase)) or 0
        down = session.scalar(select(func.count()).select_from(SyncDown)) or 0
    return Held(below, own, cases, down)


# -- the runs ------------------------------------------------------------------------------------


@dataclass
class Run:
    """What one pass of requests did, as the township and the clock saw it."""

    label: str
    latencies_ms: list[float] = field(default_factory=list)
    events: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    down_items: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    cpu_hub_s: float = 0.0
    cpu_db_s: float | None = None
    cpu_proxy_s: float | None = None
    """nginx's CPU (master and workers), when it is in front."""
    wall_s: float | None = None
    """Elapsed time of a run whose requests overlap (else the sum of their latencies)."""

    @property
    def seconds(self) -> float:
        return self.wall_s if self.wall_s is not None else sum(self.latencies_ms) / 1000

    def line(self) -> str:
        lat = self.latencies_ms
        n = len(lat)
        rate = self.events / self.seconds if self.seconds else 0.0
        return (f"{self.label:<34} {self.events:>7,} ev {n:>5} req  {rate:>8,.0f} ev/s "
                f"{n / self.seconds if self.seconds else 0:>7.1f} req/s  "
                f"p50 {statistics.median(lat):6.1f} ms  p95 {percentile(lat, 0.95):6.1f} ms  "
                f"max {max(lat):6.1f} ms")


def interleaved(relays: Sequence[Township]) -> Iterator[tuple[Township, list[Event]]]:
    """Requests in the order townships would send them: one batch from each in turn."""
    rounds = max(len(t.batches) for t in relays)
    for i in range(rounds):
        for town in relays:
            if i < len(town.batches):
                yield town, town.batches[i]


def ingest(relays: Sequence[Township], send: Send, batch: int, label: str,
           deadline: float, keep_frames: bool) -> Run:
    """Send every batch once (until ``deadline``), timing only ``send``."""
    run = Run(label)
    for town, events in interleaved(relays):
        if time.monotonic() > deadline:
            print(f"  ({label}: stopped at the --seconds cap)")
            break
        ex, data = town.request(events, batch)
        cpu = time.thread_time()
        started = time.perf_counter()
        status, answer = (town.via or send)(data)
        run.latencies_ms.append((time.perf_counter() - started) * 1000)
        run.cpu_hub_s += time.thread_time() - cpu
        if status != 200:
            raise SystemExit(f"{label}: HTTP {status}: {answer[:300]!r}")
        run.down_items += town.answered(ex, answer, events)
        run.events += len(events)
        run.bytes_up += len(data)
        run.bytes_down += len(answer)
        if keep_frames:
            if not town.frames:
                town.recorded_at = time.monotonic()
            town.frames.append(data)
    return run


def replay(relays: Sequence[Township], send: Send, label: str) -> Run:
    """Every frame again, byte for byte: the hub must refuse each (nonce seen, or older than
    its five-minute window)."""
    run = Run(label)
    for town in relays:
        for data in town.frames:
            started = time.perf_counter()
            status, _ = (town.via or send)(data)
            run.latencies_ms.append((time.perf_counter() - started) * 1000)
            run.statuses[status] = run.statuses.get(status, 0) + 1
    return run


def resend(relays: Sequence[Township], send: Send, batch: int, label: str,
           sent: int) -> Run:
    """The same events in new frames (fresh nonces), as a township that lost the acks."""
    run = Run(label)
    for town, events in interleaved(relays):
        if run.events >= sent:
            break
        ex, data = town.request(events, batch)
        started = time.perf_counter()
        status, answer = (town.via or send)(data)
        run.latencies_ms.append((time.perf_counter() - started) * 1000)
        run.statuses[status] = run.statuses.get(status, 0) + 1
        if status == 200:
            run.down_items += town.answered(ex, answer, events)
        run.events += len(events)
    return run


def check_unchanged(before: Held, after: Held, label: str) -> None:
    print(f"  {label}: events from below {before.events_from_below:,} -> "
          f"{after.events_from_below:,}, hub events {before.events_by_hub:,} -> "
          f"{after.events_by_hub:,}, cases {before.cases:,} -> {after.cases:,}, "
          f"down items {before.down_items:,} -> {after.down_items:,}")
    if after != before:
        raise SystemExit(f"{label}: the hub stored something new from a duplicate")


def expected(villages: Sequence[Village], relays: Sequence[Township], sent: int,
             catalogue: Catalogue) -> tuple[int, int]:
    """Registrations among the first ``sent`` events, and how many cases the hub routes: the
    ones it decides, unless withdrawn in the very request that brought the registration."""
    from shared.deciding.case_work import owner_of

    township = {v.code: v.township for v in villages}
    registered = routed = count = 0
    for _, events in interleaved(relays):
        if count >= sent:
            break
        count += len(events)
        withdrawn = {e.case_id for e in events if e.type == "withdrawn"}
        for e in events:
            if e.type != "registered":
                continue
            registered += 1
            item = catalogue.item(str(e.payload["item_code"]))
            path = [(e.origin, "village"), (township[e.origin], "township"), (HUB, "city")]
            routed += owner_of(item, path) == HUB and e.case_id not in withdrawn
    return registered, routed


def report(run: Run) -> None:
    print(run.line())
    if run.events and run.cpu_db_s is not None:
        total = run.cpu_hub_s + run.cpu_db_s + (run.cpu_proxy_s or 0.0)
        n = len(run.latencies_ms)
        nginx = (f" + nginx {run.cpu_proxy_s * 1000 / n:,.1f} ms"
                 if run.cpu_proxy_s is not None else "")
        print(f"{'':<34} CPU per request: hub {run.cpu_hub_s * 1000 / n:,.0f}"
              f" ms + PostgreSQL {run.cpu_db_s * 1000 / n:,.0f} ms{nginx}; "
              f"{total * 1e6 / run.events:,.0f} µs per event = "
              f"{run.events / total:,.0f} events per CPU-second")
    if run.events:
        print(f"{'':<34} request {run.bytes_up / run.events:,.1f} B/event, answer "
              f"{run.bytes_down / run.events:,.1f} B/event"
              + (f" ({run.down_items:,} down items: receipts and routed events)"
                 if run.down_items else ""))


# -- in-process and HTTP -------------------------------------------------------------------


def in_process_sender(factory: sessionmaker[Session], data_dir: Path,
                      catalogue: Catalogue) -> Send:
    """``answer_child`` with the hub's own SyncSite and blob store, a fresh session per request
    (as the Flask app has)."""
    from hub.services import HubServices
    from hub.settings import HubSettings
    from shared.exchange.parent import answer_child
    from shared.exchange.site import use_blob_store
    from shared.storage.blob_store import BlobStore

    services = HubServices(HubSettings.load(data_dir), catalogue)
    site = services.sync_site
    engine = factory.kw["bind"]
    use_blob_store(engine, BlobStore(data_dir / "blobs"))  # as the app factory does

    def send(data: bytes) -> tuple[int, bytes]:
        with factory() as session:
            answer = answer_child(session, site, data, datetime.now(UTC))
        return answer.status, answer.data

    return send


def profiled(send: Send, profiler: cProfile.Profile) -> Send:
    """``send`` with the profiler on only while the hub works (not the townships)."""
    def timed(data: bytes) -> tuple[int, bytes]:
        profiler.enable()
        try:
            return send(data)
        finally:
            profiler.disable()

    return timed


def http_sender(base: str, verify: Path | None = None) -> Send:
    """POST frames on one kept-alive session made as a township's transport makes it
    (``frame_session``: its headers, its keep-alive); ``verify``: the CA for HTTPS."""
    from shared.exchange.site import CONTENT_TYPE, EXCHANGE_PATH
    from shared.exchange.transport import frame_session

    http = frame_session()
    # per request: a session's own ``verify`` loses to REQUESTS_CA_BUNDLE in the environment
    ca: str | bool = str(verify) if verify is not None else True

    def send(data: bytes) -> tuple[int, bytes]:
        response = http.post(f"{base}{EXCHANGE_PATH}", data=data,
                             headers={"Content-Type": CONTENT_TYPE}, timeout=120, verify=ca)
        return response.status_code, response.content

    return send


def connect_townships(relays: Sequence[Township], base: str,
                      verify: Path | None = None) -> None:
    """Each township its own kept-alive connection to ``base``."""
    for town in relays:
        town.via = http_sender(base, verify)


@contextmanager
def nginx_front(upstreams: Sequence[str]) -> Iterator[Nginx]:
    """nginx with TLS on 127.0.0.1 in front of the hub processes at ``upstreams`` (their
    base URLs), deploy's site file rendered (``bench/nginx_tls.py``); stopped afterwards."""
    front = Nginx([int(u.rsplit(":", 1)[1]) for u in upstreams])
    try:
        yield front.start()
    except BaseException:
        print(f"nginx's error log:\n{front.error_log()[-3000:]}")
        raise
    finally:
        front.stop()


def time_wait(port: int) -> int:
    """TCP connections to or from ``port`` in TIME-WAIT: each is a connection that closed."""
    done = subprocess.run(["ss", "-Htan", "state", "time-wait", f"( sport = :{port} or "
                           f"dport = :{port} )"], capture_output=True, text=True, check=False)
    return len(done.stdout.splitlines())


def front_summary(front: Nginx) -> str:
    """Connections, TLS handshakes and nginx's own time, from its access log."""
    lines = [a for a in front.access() if a.status == 200 or a.status >= 400]
    if not lines:
        return "  nginx: no requests logged"
    connections = {a.connection for a in lines}
    firsts = [a for a in lines if a.request_on_connection == 1]
    resumed = sum(1 for a in firsts if a.resumed)
    overhead = [(a.request_time - a.upstream_time) * 1000 for a in lines
                if a.upstream_time is not None]
    protocols = sorted({a.protocol for a in lines})
    upstream_closed = sum(time_wait(p) for p in front.upstream_ports)
    return (f"  nginx: {len(lines):,} requests on {len(connections)} TLS connection(s) "
            f"({', '.join(protocols)}; {len(firsts)} handshake(s), {resumed} resumed), "
            f"{len(lines) / len(connections):,.0f} requests per connection; nginx's time "
            f"beyond the upstream's p50 {statistics.median(overhead):.1f} ms, p95 "
            f"{percentile(overhead, 0.95):.1f} ms; connections to the hub processes closed "
            f"(TIME-WAIT after the run): {upstream_closed:,}")


@contextmanager
def hub_process(data_dir: Path, threads: int, env: dict[str, str] | None = None
                ) -> Iterator[tuple[str, int]]:
    """``sanji hub run`` on a free port (``env`` added to its environment); yields its base
    URL and process id. Without a proxy in front it trusts none (``SANJI_HUB_TRUSTED_PROXIES``
    0), as deploy's unit says; behind nginx pass 1, as the unit sets."""
    env = {"SANJI_HUB_TRUSTED_PROXIES": "0", **(env or {})}
    port = free_port()
    log = (data_dir / f"hub-{port}.log").open("wb")
    proc = subprocess.Popen(sanji("hub", "run", "--data-dir", str(data_dir), "--port",
                                  str(port), "--threads", str(threads)),
                            stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, **env})
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if requests.get(f"{base}/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        else:
            raise SystemExit("sanji hub run did not answer /healthz")
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@contextmanager
def statement_count(engine: Engine, kinds: Counter[str] | None = None
                    ) -> Iterator[list[int]]:
    """How many statements the engine sends inside the block (one counter, no timing);
    ``kinds`` (``--sql``): also counted by their first words and the product's function
    that sent them, to see what a request costs."""
    count = [0]

    def bump(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        count[0] += 1
        if kinds is not None:
            sender = next((f"{f.filename.rsplit('/', 2)[-2]}/{f.name}"
                           for f in reversed(traceback.extract_stack())
                           if "/site-packages/" not in f.filename
                           and "/bench/" not in f.filename), "?")
            kinds[f"{' '.join(statement.split())[:70]} @ {sender}"] += 1

    event.listen(engine, "before_cursor_execute", bump)
    try:
        yield count
    finally:
        event.remove(engine, "before_cursor_execute", bump)


@dataclass
class Setup:
    factory: sessionmaker[Session]
    engine: Engine
    relays: list[Township]
    hub_key: SiteKey


@contextmanager
def hub_on(base_url: str, name: str, tmp: Path, villages: list[Village],
           args: argparse.Namespace) -> Iterator[tuple[Setup, Path]]:
    """A fresh hub database and data directory with the tree registered."""
    from hub.identity import hub_key
    from shared.storage.db import make_engine

    with scratch_database(base_url, name) as url:
        data_dir = tmp / name
        init_hub(data_dir, url)
        key = hub_key(data_dir / "keys", HUB)
        engine = make_engine(url, pool_pre_ping=True)
        try:
            factory = sessionmaker(engine, expire_on_commit=False)
            relays = register_tree(factory, key, villages, args.townships, args.villages,
                                   args.batch)
            yield Setup(factory, engine, relays, key), data_dir
        finally:
            engine.dispose()


def duplicate_runs(setup: Setup, send: Send, args: argparse.Namespace, sent: int,
                   prefix: str) -> None:
    before = held(setup.factory)
    again = replay(setup.relays, send, f"{prefix} replay (same bytes)")
    after = held(setup.factory)
    print(again.line() + f"  statuses {again.statuses}")
    check_unchanged(before, after, "replay")
    if 200 in again.statuses:
        raise SystemExit("a replayed frame was accepted")
    rebuilt = resend(setup.relays, send, args.batch, f"{prefix} resend (new frames)", sent)
    print(rebuilt.line() + f"  statuses {rebuilt.statuses}")
    check_unchanged(after, held(setup.factory), "resend")
    if set(rebuilt.statuses) != {200}:
        raise SystemExit("a resent batch was not answered 200")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100, help="events per request")
    parser.add_argument("--townships", type=int, default=10)
    parser.add_argument("--villages", type=int, default=10, help="villages per township")
    parser.add_argument("--seconds", type=float, default=300.0,
                        help="cap on each timed run (in-process, HTTP)")
    parser.add_argument("--database-url", default=BASE_URL,
                        help="any database on the server; the benchmark makes its own")
    parser.add_argument("--no-http", action="store_true", help="skip the sanji hub run figure")
    parser.add_argument("--tls", action="store_true",
                        help="also every HTTP run through nginx with TLS as "
                             "deploy/nginx/sanji-hub.conf sets it up (bench/nginx_tls.py), "
                             "side by side with the direct runs")
    parser.add_argument("--threads", type=int, default=8, help="waitress threads")
    parser.add_argument("--processes", type=int, default=2,
                        help="hub processes on one database for the replayed parallel run "
                             "(0: skip it)")
    parser.add_argument("--sql", action="store_true",
                        help="list the in-process run's statements by kind, per request")
    parser.add_argument("--profile", action="store_true",
                        help="print the hub side's hottest functions in the in-process run "
                             "(slower) and keep "
                             "the profile in $TMPDIR/sanji-hub-ingest.prof")
    args = parser.parse_args(argv)

    if args.tls:
        nginx_binary()  # stop now, saying how to install it, rather than after the runs
    command = " ".join(["python -m bench.hub_ingest",
                        *map(shlex.quote, argv if argv is not None else sys.argv[1:])])
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {command}\n"
          f"{os.cpu_count()} cores, {machine_load()}\n{code_under_test()}")
    catalogue = load_sample_catalogue()
    started = time.perf_counter()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
    villages = make_villages(args.townships, args.villages, args.events, catalogue, start)
    types: dict[str, int] = {}
    for v in villages:
        for e in v.events:
            types[e.type] = types.get(e.type, 0) + 1
    payload = sum(len(json.dumps(dict(e.payload), ensure_ascii=False,
                                 separators=(",", ":")).encode())
                  for v in villages for e in v.events) / max(1, args.events)
    print(f"{len(villages)} villages under {args.townships} townships authored "
          f"{args.events:,} signed events in {time.perf_counter() - started:.1f} s: "
          + ", ".join(f"{k} {n:,}" for k, n in sorted(types.items()))
          + f"; payload {payload:,.0f} B of JSON per event on average")

    runs: dict[str, Run] = {}
    with tempfile.TemporaryDirectory(prefix="sanji-bench-") as tmp_name:
        tmp = Path(tmp_name)
        name = f"sanji_bench_ingest_{os.getpid()}"
        with hub_on(args.database_url, name, tmp, villages, args) as (setup, data_dir), \
                ExitStack() as copies:
            twin = twin_tls = None
            if args.processes > 0:  # the same hub, before anything arrived, for the replay
                setup.engine.dispose()
                twin = copies.enter_context(scratch_database(args.database_url,
                                                             f"{name}_twin", template=name))
                if args.tls:
                    twin_tls = copies.enter_context(scratch_database(
                        args.database_url, f"{name}_twin_tls", template=name))
            send = in_process_sender(setup.factory, data_dir, catalogue)
            profiler = cProfile.Profile() if args.profile else None
            if profiler is not None:
                send = profiled(send, profiler)
            deadline = time.monotonic() + args.seconds
            backend = backend_pid(setup.engine)
            db_cpu = cpu_seconds(backend)
            kinds: Counter[str] | None = Counter() if args.sql else None
            with statement_count(setup.engine, kinds) as statements:
                run = ingest(setup.relays, send, args.batch, "in-process answer_child",
                             deadline, keep_frames=True)
            if backend_pid(setup.engine) == backend:  # one pooled connection did all the work
                run.cpu_db_s = cpu_seconds(backend) - db_cpu
            counts = held(setup.factory)
            registered, routed = expected(villages, setup.relays, run.events, catalogue)
            print(f"\nin-process, PostgreSQL, batches of {args.batch} "
                  f"({machine_load()} after the run)"
                  f"\n({args.townships} townships relaying {len(villages)} villages):")
            report(run)
            runs["in-process"] = run
            sql = statements[0]
            print(f"  SQL: {sql:,} statements, {sql / len(run.latencies_ms):,.0f} per request, "
                  f"{sql / max(1, run.events):.1f} per event")
            for text, times in (kinds or Counter()).most_common(40):
                print(f"    {times / len(run.latencies_ms):5.1f} per request  {text}")
            print(f"  held: {counts.events_from_below:,} events from below, "
                  f"{counts.events_by_hub:,} authored by the hub (received + routed), "
                  f"{counts.cases:,} cases projected, {counts.down_items:,} down items")
            if (counts.events_from_below, counts.cases, counts.events_by_hub) != (
                    run.events, registered, 2 * routed):
                raise SystemExit(f"expected {run.events} events, {registered} cases and "
                                 f"{2 * routed} hub events")
            if twin is not None:
                replayed = parallel_replay(args, setup.relays, data_dir, twin, counts)
                if replayed is not None:
                    runs[f"HTTP, {args.processes} processes"] = replayed
            if twin_tls is not None:
                replayed = parallel_replay(args, setup.relays, data_dir, twin_tls, counts,
                                           tls=True)
                if replayed is not None:
                    runs[f"HTTPS nginx, {args.processes} processes"] = replayed
            duplicate_runs(setup, send, args, run.events, "in-process")
            if profiler is not None:
                out = io.StringIO()
                profiler.dump_stats(Path(tempfile.gettempdir()) / "sanji-hub-ingest.prof")
                stats = pstats.Stats(profiler, stream=out)
                stats.sort_stats("cumulative").print_stats(45)
                stats.sort_stats("tottime").print_stats(30)
                print(out.getvalue())

        if args.no_http:
            return
        runs["HTTP, 1 process"] = http_run(args, villages, tmp, tls=False)
        if args.tls:
            runs["HTTPS nginx, 1 process"] = http_run(args, villages, tmp, tls=True)
    if args.tls:
        print()
        print(side_by_side(runs))


def http_run(args: argparse.Namespace, villages: list[Village], tmp: Path, tls: bool) -> Run:
    """The townships' requests one at a time to a fresh hub, ``sanji hub run`` (waitress),
    straight or through nginx with TLS; then the replay and the resend."""
    name = f"sanji_bench_ingest_{'tls' if tls else 'http'}_{os.getpid()}"
    env = {"SANJI_HUB_TRUSTED_PROXIES": "1" if tls else "0"}
    with hub_on(args.database_url, name, tmp, villages, args) as (setup, data_dir), \
            hub_process(data_dir, args.threads, env) as (base, pid), ExitStack() as stack:
        front = stack.enter_context(nginx_front([base])) if tls else None
        if front is not None:
            connect_townships(setup.relays, front.url, front.ca)
        else:
            connect_townships(setup.relays, base)
        deadline = time.monotonic() + args.seconds
        hub_cpu = cpu_seconds(pid)
        proxy_cpu = sum(cpu_seconds(p) for p in front.pids()) if front else 0.0
        label = "HTTPS nginx, sanji hub run" if tls else "HTTP sanji hub run"
        run = ingest(setup.relays, unused_sender, args.batch, label, deadline,
                     keep_frames=True)
        run.cpu_hub_s = cpu_seconds(pid) - hub_cpu  # the hub's own CPU, not the client's
        run.cpu_db_s = sum(cpu_seconds(b) for b in other_backends(setup.engine))
        if front is not None:
            run.cpu_proxy_s = sum(cpu_seconds(p) for p in front.pids()) - proxy_cpu
        counts = held(setup.factory)
        where = ("through nginx with TLS (deploy's site file) to" if tls else "over HTTP to")
        print(f"\n{where} sanji hub run (waitress, {args.threads} threads), one request at "
              f"a time, each township on its own kept-alive connection ({machine_load()} "
              "after the run):")
        report(run)
        if front is not None:
            print(front_summary(front))
        if counts.events_from_below != run.events:
            raise SystemExit(f"expected {run.events} events, hold "
                             f"{counts.events_from_below}")
        duplicate_runs(setup, unused_sender, args, run.events, "HTTPS" if tls else "HTTP")
        return run


def unused_sender(data: bytes) -> tuple[int, bytes]:
    raise AssertionError("every township posts on its own connection")


def side_by_side(runs: Mapping[str, Run]) -> str:
    """The runs' figures as one markdown table, a column each."""
    cols = list(runs.values())

    def row(title: str, cell: Callable[[Run], str]) -> str:
        return f"| {title} | " + " | ".join(cell(r) for r in cols) + " |"

    def cpu(r: Run) -> str:
        n = len(r.latencies_ms)
        parts = [f"{r.cpu_hub_s * 1000 / n:,.0f}"]
        if r.cpu_db_s is not None:
            parts.append(f"{r.cpu_db_s * 1000 / n:,.0f}")
        if r.cpu_proxy_s is not None:
            parts.append(f"{r.cpu_proxy_s * 1000 / n:,.1f} (nginx)")
        return " + ".join(parts) + " ms"

    def per_cpu_second(r: Run) -> str:
        total = r.cpu_hub_s + (r.cpu_db_s or 0.0) + (r.cpu_proxy_s or 0.0)
        return f"{r.events / total:,.0f}" if total else "—"

    lines = [
        "| figure | " + " | ".join(runs) + " |",
        "|---|" + "---:|" * len(cols),
        row("events/s", lambda r: f"{r.events / r.seconds:,.0f}"),
        row("requests/s", lambda r: f"{len(r.latencies_ms) / r.seconds:,.1f}"),
        row("per request p50 / p95 / max", lambda r: (
            f"{statistics.median(r.latencies_ms):.0f} / "
            f"{percentile(r.latencies_ms, 0.95):.0f} / {max(r.latencies_ms):.0f} ms")),
        row("CPU per request: hub + PostgreSQL (+ nginx)", cpu),
        row("events per CPU-second", per_cpu_second),
        row("bytes per event: request / answer (HTTP bodies)", lambda r: (
            f"{r.bytes_up / r.events:,.1f} / {r.bytes_down / r.events:,.1f} B")),
    ]
    return "\n".join(lines)


def parallel_replay(args: argparse.Namespace, relays: Sequence[Township], data_dir: Path,
                    url: str, expected_counts: Held, tls: bool = False) -> Run | None:
    """The hub's capacity on this machine: ``--processes`` ``sanji hub run`` processes on one
    database, as deployed behind nginx, each posting townships' frames at once.

    A township's own work (framing its batches, checking every answer's signatures) runs on
    its own PC; here it would take a share of the same two cores. So the frames recorded in
    the in-process run are posted again, unchanged and in each township's order, to a copy
    of that hub's database taken before anything arrived: the hub does exactly the same work
    (the frames are new to the copy, and its answers come at the same link positions, which
    the frames acknowledge), while the sender only posts bytes and checks the status.

    Each township posts on a kept-alive connection of its own: straight to the process of
    its group, or (``tls``) to nginx in front of all the processes, as deploy's upstream
    balances them."""
    from shared.storage.db import make_engine

    n = args.processes
    window = time.monotonic() - min(t.recorded_at for t in relays if t.frames)
    if window > 240:
        print(f"\n(parallel replay skipped: the frames are {window:.0f} s old, too near the "
              "hub's five-minute window)")
        return None
    env = {"SANJI_HUB_DATABASE_URL": url, "SANJI_HUB_TRUSTED_PROXIES": "1" if tls else "0"}
    engine = make_engine(url)
    groups = [relays[i::n] for i in range(n)]
    front: Nginx | None = None
    try:
        with ExitStack() as stack:
            hubs = [stack.enter_context(hub_process(data_dir, args.threads, env))
                    for _ in range(n)]
            senders: dict[str, Send] = {}
            if tls:
                front = stack.enter_context(nginx_front([base for base, _ in hubs]))
                senders = {t.code: http_sender(front.url, front.ca) for t in relays}
            else:
                senders = {t.code: http_sender(hubs[i][0]) for i, g in enumerate(groups)
                           for t in g}
            hub_cpu = sum(cpu_seconds(pid) for _, pid in hubs)
            proxy_cpu = sum(cpu_seconds(pid) for pid in front.pids()) if front else 0.0
            label = f"HTTPS nginx, {n} processes, replayed" if tls else \
                f"HTTP {n} processes, replayed"
            run = replay_parallel(groups, senders, label)
            run.cpu_hub_s = sum(cpu_seconds(pid) for _, pid in hubs) - hub_cpu
            run.cpu_db_s = sum(cpu_seconds(b) for b in other_backends(engine))
            summary = ""
            if front is not None:
                run.cpu_proxy_s = sum(cpu_seconds(pid) for pid in front.pids()) - proxy_cpu
                summary = front_summary(front)
        counts = held(sessionmaker(engine))
    finally:
        engine.dispose()
    where = "through nginx with TLS (deploy's site file) to" if tls else "over HTTP to"
    print(f"\n{where} {n} sanji hub run processes on one database, {n} townships "
          f"posting at once, the recorded frames replayed ({machine_load()} after the run):")
    report(run)
    if summary:
        print(summary)
    print(f"  held: {counts.events_from_below:,} events from below, "
          f"{counts.events_by_hub:,} authored by the hub, {counts.cases:,} cases, "
          f"{counts.down_items:,} down items")
    if counts != expected_counts:
        raise SystemExit(f"the replay left {counts}, the recording {expected_counts}")
    return run


def replay_parallel(groups: Sequence[Sequence[Township]], senders: Mapping[str, Send],
                    label: str) -> Run:
    """Each group's recorded frames, in order, through its own sender; all groups at once."""
    runs = [Run(label) for _ in groups]
    failures: list[BaseException] = []

    def drive(i: int) -> None:
        run = runs[i]
        try:
            for town, frame, events in recorded(groups[i]):
                started = time.perf_counter()
                status, answer = senders[town.code](frame)
                run.latencies_ms.append((time.perf_counter() - started) * 1000)
                if status != 200:
                    raise SystemExit(f"{label}: HTTP {status}: {answer[:300]!r}")
                run.events += events
                run.bytes_up += len(frame)
                run.bytes_down += len(answer)
        except BaseException as exc:  # SystemExit too: raised again after the join
            failures.append(exc)

    threads = [threading.Thread(target=drive, args=(i,)) for i in range(len(groups))]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    merged = Run(label, wall_s=time.perf_counter() - started)
    for run in runs:
        merged.latencies_ms += run.latencies_ms
        merged.events += run.events
        merged.bytes_up += run.bytes_up
        merged.bytes_down += run.bytes_down
    return merged


def recorded(relays: Sequence[Township]) -> Iterator[tuple[Township, bytes, int]]:
    """The frames the townships sent, in the order they were sent, with their event counts."""
    rounds = max(len(t.frames) for t in relays)
    for i in range(rounds):
        for town in relays:
            if i < len(town.frames):
                yield town, town.frames[i], len(town.batches[i])


if __name__ == "__main__":
    main()
