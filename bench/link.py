"""The village's line to its parent, measured on the product's real path.

Hub, township and village run as ``sanji`` processes on 127.0.0.1, built as an operator
builds them (``sanji hub init`` / ``add-site``, ``sanji node init --parent-url
--enroll-code``, sync jobs off). The village's parent URL is a counting proxy
(``bench/link_proxy.py``) in front of the township, the township's parent URL another in
front of the hub; both add 150 ms each way (300 ms round trip) and, with ``--slow``, pace
each direction to ``--rate`` bit/s like a serial line. Cases are registered straight at the
village (``POST /api/v1/cases`` as its agent, not through a proxy) from the peer records of
``../shared/bench-data`` (see ``bench/link_data.py``, item 临时救助 MZ-0305, decided at the
township); the queues move with ``sanji node sync-now``, timed around the command (wall)
and by the proxy from the first byte it read to the last byte it delivered (span).

Bytes are everything TCP carried through the proxy both ways (HTTP request and status
lines, headers, bodies); requests are HTTP request heads; connections, TCP connections
accepted. Events down are what ``sync-now`` printed ("N event(s) up, M down").

Phases 1 and 2 (default): 1,000 registrations and one sync, then the 10 new records and
another, compared with the peers' figures measured elsewhere on the same records.

Phase 3 (``--slow``, its own tree): both links paced, 1,000 registrations and 20 cases with
a 200 KB scan each (random bytes, like a JPEG), moved village -> township (village
sync-now) then township -> hub (township sync-now). Each link's time is set against its
physical bound: payload bytes / rate + one round trip per exchange (HTTP request). Two
payloads are given: (a) the link's bytes on the wire minus the HTTP heads (what the frames
carried, both ways), and (b) the application's content: the scans' bytes plus zstd-19 of
the registrations' request bodies as compact JSON, all in one frame. Then, while a scan
moves on the village link, one new case is registered and the village exchanges (and the
township's) are counted until the case is at the township and at the hub, the township
running ``sync-now`` in a loop meanwhile.

    .venv/bin/python -m bench.link                  # phases 1 and 2
    .venv/bin/python -m bench.link --slow           # phase 3 at 64 kbit/s (about 20 min)
    .venv/bin/python -m bench.link --slow --fast    # phase 3, rate x10, delay /10
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import zstandard

from bench.link_data import FIRST, NEXT, records, registration, registrations
from bench.link_proxy import LinkCounts, LinkProxy
from hub.db_session import MIGRATIONS
from hub.settings import HubSettings
from shared.storage.db import make_engine
from tests.integration.city import (
    AGENT,
    HUB,
    TOWNSHIP,
    VILLAGE,
    add_operators,
    signed_in,
)
from tests.integration.processes import Site, free_port, sanji

HUB_READER = "link-reader"  # a hub window operator: reads cases and scans at the hub
HUB_WINDOW = "W-MZ-01"
SCAN_SIZE = 200_000
SCAN_CASES = 20
MATERIAL = "HARDSHIP_PROOF"
SYNC_LINE = re.compile(r"(\d+) exchange\(s\): (\d+) event\(s\) up, (\d+) down, "
                       r"(\d+) bytes up, (\d+) bytes down")
POLL_SECONDS = 0.05

PEERS = (  # ../shared/bench-data/README.md: through a counting proxy, 300 ms round trip
    ("Morango 0.8.15 push, 1,000 (measured elsewhere)", "144,352 (136,583 + 7,769 "
     "certificates)", "20", "—", "10.4 s"),
    ("Morango 0.8.15 push, then 10 new (measured elsewhere)", "21,717", "15", "—", "8.5 s"),
    ("PouchDB 9 push, 1,000 (measured elsewhere)", "748,562", "42", "—", "13.6 s"),
    ("PouchDB 9 push, then 10 new (measured elsewhere)", "11,885", "6", "—", "2.2 s"),
)


class Deadline:
    """The ``--minutes`` budget: every wait is cut to what is left of it."""

    def __init__(self, minutes: float) -> None:
        self.end = time.monotonic() + minutes * 60

    def left(self, at_most: float) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError("the --minutes budget is spent")
        return min(at_most, left)


@dataclass
class LinkTree:
    hub: Site
    township: Site
    village: Site
    dirs: dict[str, Path]
    village_link: LinkProxy
    township_link: LinkProxy


@dataclass
class Synced:
    """One ``sanji node sync-now`` on one link."""

    label: str
    counts: LinkCounts
    wall: float
    exchanges: int
    events_up: int
    events_down: int
    frame_bytes_up: int
    frame_bytes_down: int


def _add_site(hub_dir: Path, code: str, name: str, tier: str, parent: str) -> str:
    out = sanji("hub", "add-site", "--data-dir", str(hub_dir), "--code", code, "--name", name,
                "--tier", tier, "--parent", parent, "--json")
    line: dict[str, str] = json.loads(out.strip().splitlines()[-1])
    return line["code"]


def _node(work: Path, dirs: dict[str, Path], name: str, parent_url: str,
          enroll_code: str) -> Site:
    sanji("node", "init", "--data-dir", str(dirs[name]), "--parent-url", parent_url,
          "--enroll-code", enroll_code)
    return Site(name, ["node", "run", "--data-dir", str(dirs[name]), "--sync-interval", "0"],
                free_port(), work / f"{name}.log").start()


@contextmanager
def link_city(work: Path, *, delay: float, rate: float | None) -> Iterator[LinkTree]:
    """Hub, township behind one proxy, village behind another (the village's parent URL is
    the proxy in front of the township, the township's the proxy in front of the hub)."""
    dirs = {n: work / n for n in ("hub", "township", "village")}
    sanji("hub", "init", "--data-dir", str(dirs["hub"]))
    town_code = _add_site(dirs["hub"], TOWNSHIP, "良田镇便民服务中心", "township", HUB)
    village_code = _add_site(dirs["hub"], VILLAGE, "吉村代办点", "village", TOWNSHIP)
    engine = make_engine(HubSettings.load(dirs["hub"]).database_url)
    MIGRATIONS.upgrade(engine)
    engine.dispose()
    add_operators(dirs["hub"], {HUB: [(HUB_READER, HUB_WINDOW)]})
    sites: list[Site] = []
    proxies: list[LinkProxy] = []
    try:
        hub = Site("hub", ["hub", "run", "--data-dir", str(dirs["hub"])], free_port(),
                   work / "hub.log").start()
        sites.append(hub)
        upper = LinkProxy(hub.port, delay=delay, rate=rate, name="township-hub")
        proxies.append(upper)
        township = _node(work, dirs, "township", upper.url, town_code)
        sites.append(township)
        lower = LinkProxy(township.port, delay=delay, rate=rate, name="village-township")
        proxies.append(lower)
        village = _node(work, dirs, "village", lower.url, village_code)
        sites.append(village)
        yield LinkTree(hub, township, village, dirs, lower, upper)
    finally:
        for site in reversed(sites):
            site.stop()
        for proxy in proxies:
            proxy.close()


def register(agent: requests.Session, village: Site,
             bodies: Sequence[tuple[str, dict[str, Any]]], deadline: Deadline) -> list[str]:
    """Each body through the village's API, one request at a time; the case ids."""
    ids = []
    for key, body in bodies:
        response = agent.post(f"{village.url}/api/v1/cases", json=body,
                              headers={"Idempotency-Key": key}, timeout=deadline.left(60))
        if response.status_code not in (200, 201):
            raise RuntimeError(f"registration {key}: HTTP {response.status_code} "
                               f"{response.text[:500]}")
        ids.append(str(response.json()["case_id"]))
    return ids


def add_scan(agent: requests.Session, village: Site, case_id: str, data: bytes,
             deadline: Deadline) -> str:
    response = agent.post(f"{village.url}/api/v1/cases/{case_id}/materials",
                          data={"material_code": MATERIAL},
                          files={"file": ("proof.jpg", data, "image/jpeg")},
                          timeout=deadline.left(60))
    if response.status_code not in (200, 201):
        raise RuntimeError(f"scan for {case_id}: HTTP {response.status_code} "
                           f"{response.text[:500]}")
    digest: str = response.json()["sha256"]
    if digest != hashlib.sha256(data).hexdigest():
        raise RuntimeError(f"scan for {case_id}: the village holds another digest")
    return digest


def a_scan() -> bytes:
    """A JPEG-like scan of :data:`SCAN_SIZE` bytes (random, so incompressible)."""
    return b"\xff\xd8\xff\xe0" + os.urandom(SCAN_SIZE - 4)


def sync_command(data_dir: Path) -> list[str]:
    return [sys.executable, "-m", "sanji_cli", "node", "sync-now", "--data-dir", str(data_dir)]


def sync(link: LinkProxy, data_dir: Path, label: str, deadline: Deadline,
         timeout: float) -> Synced:
    """``sanji node sync-now`` for ``data_dir``, counted on ``link`` from a reset."""
    link.reset()
    started = time.monotonic()
    done = subprocess.run(sync_command(data_dir), capture_output=True, text=True,
                          timeout=deadline.left(timeout))
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"sync-now {label}: {done.stdout[-800:]}{done.stderr[-2000:]}")
    found = SYNC_LINE.search(done.stdout)
    if found is None:
        raise RuntimeError(f"sync-now {label} printed no outcome: {done.stdout[-500:]}")
    n, up, down, bytes_up, bytes_down = (int(g) for g in found.groups())
    return Synced(label, link.snapshot(), wall, n, up, down, bytes_up, bytes_down)


def pending_up(site: Site) -> int:
    body = requests.get(f"{site.url}/api/v1/sync/status", timeout=30).json()
    return int(body["pending_up"])


def figures_row(s: Synced) -> str:
    c = s.counts
    return (f"| {s.label} | {c.total:,} ({c.bytes_up:,} up, {c.bytes_down:,} down: "
            f"{s.events_down:,} events) | {c.requests} | {c.connections} | "
            f"{c.span:.2f} s (wall {s.wall:.2f} s) |")


def _met(ok: bool) -> str:
    return "**met**" if ok else "not met"


def zstd19(data: bytes) -> int:
    return len(zstandard.ZstdCompressor(level=19).compress(data))


def compact(bodies: Sequence[tuple[str, dict[str, Any]]]) -> bytes:
    return "".join(json.dumps(b, ensure_ascii=False, separators=(",", ":")) + "\n"
                   for _, b in bodies).encode()


# -- phases 1 and 2


def phases_one_two(work: Path, delay: float, deadline: Deadline) -> list[str]:
    out: list[str] = []
    first = registrations(FIRST)
    nxt = registrations(NEXT, first_position=len(first))
    with link_city(work, delay=delay, rate=None) as tree:
        agent = signed_in(tree.village, AGENT)
        started = time.monotonic()
        register(agent, tree.village, first, deadline)
        print(f"registered {len(first):,} cases at the village in "
              f"{time.monotonic() - started:.1f} s", flush=True)
        one = sync(tree.village_link, tree.dirs["village"], "Sanji, 1,000 registrations",
                   deadline, 600)
        left_one = pending_up(tree.village)
        register(agent, tree.village, nxt, deadline)
        two = sync(tree.village_link, tree.dirs["village"], "Sanji, then 10 new", deadline,
                   300)
        left_two = pending_up(tree.village)
    out.append(f"Village -> township link, {delay * 1000:.0f} ms each way "
               f"({2 * delay * 1000:.0f} ms round trip), no pacing; "
               "registrations straight to the village, not counted.")
    out.append("")
    out.append("| phase | bytes on the wire | requests | TCP connections | time |")
    out.append("|---|---:|---:|---:|---:|")
    out.append(figures_row(one))
    out.append(figures_row(two))
    for row in PEERS:
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    out.append("Bytes: everything TCP carried both ways through the proxy (HTTP heads and "
               "bodies); events: the events that came down, as `sanji node sync-now` "
               "printed them. Time: the proxy's first byte read to last byte delivered "
               "(wall: around the whole `sync-now` command, process start included). "
               "Peer rows: `../shared/bench-data/README.md` (300 ms round trip; TCP "
               "connections not reported there).")
    out.append("")
    for s in (one, two):
        c = s.counts
        out.append(f"- {s.label}: HTTP heads {c.head_bytes_up:,} B up + "
                   f"{c.head_bytes_down:,} B down; frames as sync-now counted them "
                   f"{s.frame_bytes_up:,} B up + {s.frame_bytes_down:,} B down; "
                   f"{s.exchanges} exchange(s), {s.events_up:,} events up; "
                   f"responses seen {c.responses}")
    out.append(f"- events still queued at the village after each phase: {left_one}, "
               f"{left_two}")
    out.append("")
    c1, c2 = one.counts, two.counts
    out.append("| target | measured | |")
    out.append("|---|---:|---|")
    out.append(f"| 1,000 phase: ≤ 68,000 B both directions | {c1.total:,} B | "
               f"{_met(c1.total <= 68_000)} |")
    out.append(f"| 1,000 phase: ≤ 2 requests | {c1.requests} | {_met(c1.requests <= 2)} |")
    out.append(f"| 1,000 phase: ≤ 1 TCP connection | {c1.connections} | "
               f"{_met(c1.connections <= 1)} |")
    out.append(f"| 1,000 phase: < 1.5 s (proxy span) | {c1.span:.2f} s (wall "
               f"{one.wall:.2f} s) | {_met(c1.span < 1.5)} |")
    out.append(f"| 10 new: ≤ 2,000 B | {c2.total:,} B | {_met(c2.total <= 2_000)} |")
    out.append(f"| 10 new: 1 request | {c2.requests} | {_met(c2.requests <= 1)} |")
    return out


# -- phase 3


def bound_rows(s: Synced, rate: float, delay: float, content: int) -> list[str]:
    c = s.counts
    rtt = 2 * delay
    body = c.total - c.heads
    wire_bound = body * 8 / rate + c.requests * rtt
    content_bound = content * 8 / rate + c.requests * rtt
    return [
        f"| {s.label} | {c.total:,} ({c.bytes_up:,} up, {c.bytes_down:,} down; heads "
        f"{c.heads:,}) | {c.requests} | {c.connections} | {s.events_up:,} | {c.span:.1f} s "
        f"(wall {s.wall:.1f} s) | {wire_bound:.1f} s | {c.span / wire_bound:.2f}x | "
        f"{content_bound:.1f} s | {c.span / content_bound:.2f}x |"
    ]


def _found(http: requests.Session, url: str) -> bool:
    try:
        return http.get(url, timeout=10).status_code == 200
    except requests.RequestException:
        return False


def _held(data_dir: Path, case_id: str) -> float | None:
    """When the site stored its first event of ``case_id`` (its ``recorded_ms``, as
    ``time.monotonic()`` of this process), or None while it holds none. The database is read
    directly: a node's case API shows only the cases registered there, not those it relays."""
    path = data_dir / "node.sqlite"
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
            row = db.execute("SELECT min(recorded_ms) FROM sync_events WHERE case_id IN (?, ?)",
                             (uuid.UUID(case_id).hex, case_id)).fetchone()
    except sqlite3.Error:
        return None
    if row is None or row[0] is None:
        return None
    return float(row[0]) / 1000 - (time.time() - time.monotonic())


def _exchanges_begun(starts: Sequence[float], since: float, until: float) -> int:
    """Exchanges that began from ``since`` (the case was there to be sent) to ``until`` (it
    was at the other end): the ones it could have taken. 1: it took the first one."""
    return sum(1 for s in starts if since <= s <= until)


def _in_flight(starts: Sequence[float], at: float) -> bool:
    return any(s < at for s in starts)


def interleave(tree: LinkTree, agent: requests.Session, deadline: Deadline,
               timeout: float) -> list[str]:
    """Scans moving on the village link; one new case registered meanwhile; how many
    exchanges until it is at the township, and at the hub."""
    scans = 3  # more than two exchanges' budget of 256 KiB: a scan moves for a while
    bodies = [(f"interleave-{i}", registration(r, 2000 + i))
              for i, r in enumerate(records(FIRST)[:scans])]
    for case_id in register(agent, tree.village, bodies, deadline):
        add_scan(agent, tree.village, case_id, a_scan(), deadline)
    tree.village_link.reset()
    tree.township_link.reset()
    with (tree.dirs["village"].parent / "interleave-sync.log").open("wb") as log:
        village_sync = subprocess.Popen(sync_command(tree.dirs["village"]), stdout=log,
                                        stderr=subprocess.STDOUT)
    stop = threading.Event()
    township_runs: list[int] = []

    def township_loop() -> None:
        while not stop.is_set() and time.monotonic() < deadline.end:
            done = subprocess.run(sync_command(tree.dirs["township"]), capture_output=True,
                                  timeout=timeout)
            township_runs.append(done.returncode)
            stop.wait(0.2)

    try:
        end = time.monotonic() + deadline.left(timeout)
        while tree.village_link.snapshot().bytes_up < 100_000:  # a scan chunk is moving
            if time.monotonic() > end or village_sync.poll() is not None:
                raise RuntimeError("no scan moved on the village link")
            time.sleep(POLL_SECONDS)
        new_key, new_body = f"interleave-new-{time.time_ns()}", registration(records(NEXT)[0],
                                                                             3000)
        registered_at = time.monotonic()
        case_id = register(agent, tree.village, [(new_key, new_body)], deadline)[0]
        in_flight = tree.village_link.snapshot().requests
        loop = threading.Thread(target=township_loop, daemon=True)
        loop.start()
        hub = signed_in(tree.hub, HUB_READER)
        at_township: float | None = None
        at_hub: float | None = None
        while at_hub is None:
            if time.monotonic() > end:
                raise RuntimeError("the new case did not reach the hub in time")
            now = time.monotonic()
            if at_township is None:
                at_township = _held(tree.dirs["township"], case_id)
            if _found(hub, f"{tree.hub.url}/api/v1/cases/{case_id}"):
                at_hub = now
                at_township = at_township or now
            time.sleep(POLL_SECONDS)
        assert at_township is not None
        village_starts = tree.village_link.snapshot().request_starts
        township_starts = tree.township_link.snapshot().request_starts
    finally:
        stop.set()
        try:
            village_sync.wait(timeout=deadline.left(timeout) if time.monotonic()
                              < deadline.end else 1)
        except (subprocess.TimeoutExpired, TimeoutError):
            village_sync.kill()
            village_sync.wait(timeout=10)
    village_took = _exchanges_begun(village_starts, registered_at, at_township)
    township_took = _exchanges_begun(township_starts, at_township, at_hub)
    waited = ("a village exchange was in flight (it carried a scan chunk; the case took the "
              "next)" if _in_flight(village_starts, registered_at) else "no exchange in flight")
    return [
        f"While scan chunks moved on the village link ({scans} scans of {SCAN_SIZE:,} B; "
        f"the new case was registered during village exchange {in_flight}: {waited}):",
        "",
        "| new case | exchanges it could take until there | seconds after registration |",
        "|---|---:|---:|",
        f"| at the township | {village_took} (village link) | "
        f"{at_township - registered_at:.1f} |",
        f"| at the hub | {township_took} (township link, from its arrival at the township) | "
        f"{at_hub - registered_at:.1f} |",
        "",
        f"Target, reached the hub within two exchanges: {village_took} + {township_took} = "
        f"{village_took + township_took}, {_met(village_took + township_took <= 2)}.",
        "",
        "Exchanges counted on each link: those that began after the case was there to be "
        "sent and before it was at the other end (1: it took the first; the one in flight "
        "when it arrived is not one it could take). Arrival at the township: the "
        "`recorded_ms` of its event in the township's database (read-only, since a node's "
        "case API shows only its own registrations); at the hub: the hub's case API, polled "
        f"every {POLL_SECONDS * 1000:.0f} ms (an exchange begun between arrival and the poll "
        "counts against the target). "
        f"The township ran `sync-now` {len(township_runs)} time(s) in a loop meanwhile "
        f"({sum(1 for r in township_runs if r != 0)} failed).",
    ]


def phase_three(work: Path, rate: float, delay: float, deadline: Deadline) -> list[str]:
    first = registrations(FIRST)
    scanned = [(f"scan-{i}", registration(r, 1000 + i))
               for i, r in enumerate(records(FIRST)[:SCAN_CASES])]
    content_events = zstd19(compact(first + scanned))
    scan_bytes = SCAN_CASES * SCAN_SIZE
    content = scan_bytes + content_events
    expected = content * 8 / rate
    timeout = max(300.0, 4 * expected)
    out: list[str] = []
    with link_city(work, delay=delay, rate=rate) as tree:
        agent = signed_in(tree.village, AGENT)
        register(agent, tree.village, first, deadline)
        digests = []
        for case_id in register(agent, tree.village, scanned, deadline):
            digests.append(add_scan(agent, tree.village, case_id, a_scan(), deadline))
        print(f"registered {len(first) + len(scanned):,} cases, {len(digests)} scans; "
              f"syncing at {rate:,.0f} bit/s (bound about {expected:.0f} s per link)",
              flush=True)
        village = sync(tree.village_link, tree.dirs["village"],
                       "village -> township (village sync-now)", deadline, timeout)
        print(f"village link done in {village.wall:.1f} s", flush=True)
        township = sync(tree.township_link, tree.dirs["township"],
                        "township -> hub (township sync-now)", deadline, timeout)
        print(f"township link done in {township.wall:.1f} s", flush=True)
        hub = signed_in(tree.hub, HUB_READER)
        at_hub = sum(1 for d in digests if hub.get(
            f"{tree.hub.url}/api/v1/materials/{d}", timeout=60).status_code == 200)
        out.append(f"Both links paced at {rate:,.0f} bit/s each way, {delay * 1000:.0f} ms "
                   f"each way ({2 * delay * 1000:.0f} ms round trip). "
                   f"{len(first):,} registrations, then {SCAN_CASES} cases with a "
                   f"{SCAN_SIZE:,} B scan each ({scan_bytes:,} B of scans); "
                   f"scans whole at the hub afterwards: {at_hub} of {len(digests)}.")
        out.append("")
        out.append("| link | bytes on the wire | requests | TCP connections | events up | "
                   "time (proxy span) | bound (a) | ratio (a) | bound (b) | ratio (b) |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for s in (village, township):
            out.extend(bound_rows(s, rate, delay, content))
        out.append("")
        out.append("Bound = payload bytes × 8 / rate + one round trip per exchange (HTTP "
                   "request seen by the proxy). Payload (a): the link's bytes on the wire "
                   "minus the HTTP request/status lines and headers, both ways (what the "
                   "frames carried). Payload (b): the application's content, the scans' "
                   f"bytes ({scan_bytes:,}) plus zstd-19 of the {len(first) + len(scanned):,}"
                   f" registrations' request bodies as compact JSON in one frame "
                   f"({content_events:,}), = {content:,} B. Target: within 1.2x of the "
                   "bound.")
        for s in (village, township):
            c = s.counts
            wire_bound = (c.total - c.heads) * 8 / rate + c.requests * 2 * delay
            out.append(f"- {s.label}: ratio (a) {c.span / wire_bound:.2f}x "
                       f"{_met(c.span <= 1.2 * wire_bound)}; wall ratio "
                       f"{s.wall / wire_bound:.2f}x; {s.exchanges} exchange(s) as sync-now "
                       f"counted them")
        out.append("")
        out.extend(interleave(tree, agent, deadline, timeout))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow", action="store_true",
                        help="phase 3: both links paced at --rate, scans moved to the hub")
    parser.add_argument("--rate", type=float, default=64_000.0, help="bit/s per direction")
    parser.add_argument("--delay-ms", type=float, default=150.0, help="each way")
    parser.add_argument("--fast", action="store_true", help="rate x10 and delay /10")
    parser.add_argument("--minutes", type=float, default=60.0, help="bound on the whole run")
    parser.add_argument("--keep", action="store_true", help="keep the data directories")
    args = parser.parse_args(argv)
    rate = args.rate * (10 if args.fast else 1)
    delay = args.delay_ms / 1000 / (10 if args.fast else 1)
    deadline = Deadline(args.minutes)
    work = Path(tempfile.mkdtemp(prefix="sanji-link-"))
    started = datetime.now(UTC)
    try:
        if args.slow:
            lines = phase_three(work, rate, delay, deadline)
        else:
            lines = phases_one_two(work, delay, deadline)
    finally:
        if args.keep:
            print(f"data directories kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print("\n".join(lines))
    print()
    command = " ".join(["python -m bench.link", *map(shlex.quote, argv if argv is not None
                                                        else sys.argv[1:])])
    print(f"date: {started:%Y-%m-%d %H:%M} UTC ; command: {command}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
