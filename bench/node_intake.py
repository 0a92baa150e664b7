"""Node benchmark: intake latency with a full database, idle memory, intake page weight.

Run from the repository root (about two minutes)::

    .venv/bin/python -m bench.node_intake              # 20,000 cases seeded, 500 timed
    .venv/bin/python -m bench.node_intake --seed 2000 --timed 100   # quick

It creates a node with the real ``sanji node init``, seeds cases in-process through the
same ``register_case`` the API uses, then starts ``sanji node run`` as its own process and
times ``POST /api/v1/cases`` over real HTTP on 127.0.0.1, one request at a time as an agent
works. Memory is the node process's resident set (VmRSS) after start-up and after the run,
idle. Page weight is the intake form's HTML plus its stylesheet, as a browser fetches them.

``--enrolled`` measures the same figures on a village enrolled the operator's way: a hub
(``sanji hub init`` on a PostgreSQL database of its own, dropped at the end; ``add-site``),
a township and the village as ``sanji`` processes, both nodes made with ``sanji node init
--parent-url --enroll-code`` (the helpers of ``bench/link.py``). The village's parent URL is
a counting TCP proxy with no delay (``bench/link_proxy.py``), so the exchanges made while
intake is timed are counted. The seeded cases are moved up to the hub and the answers down
with ``sanji node sync-now`` before timing, as on a village that has synced its history;
then both nodes run ``sanji node run`` with their sync jobs at the normal interval (60 s,
and 2 s after each new case). The agent signs in with ``POST /api/v1/auth/token`` (the
password checked against the account that came down at enrolment) and every intake carries
its Bearer token. Requests go in bursts (``--burst``, then ``--pause`` seconds): the job
runs 2 s after the last new case, so with the default 2 s pause each burst begins as the job
starts an exchange (a case every second or faster would keep putting the job off). The
proxy's counts say which intakes had an exchange on the wire (request sent, answer not yet
back) while they ran; the job's own work before sending and after the answer is not told
apart::

    .venv/bin/python -m bench.node_intake --enrolled          # 20,000 seeded, 500 timed
    .venv/bin/python -m bench.node_intake --enrolled --seed 2000 --timed 100   # quick
"""

from __future__ import annotations

import argparse
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from bench.node_intake_data import applicant, assistance_form

SITE = "431002001201"
ITEM = "MZ-0305"
HUB_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def sanji(*args: str) -> list[str]:
    return [sys.executable, "-m", "sanji_cli", *args]


def seed(data_dir: Path, count: int, actor: str = f"agent@{SITE}") -> float:
    """Register ``count`` cases in-process; returns seconds taken."""
    from node.app import create_app
    from node.db_session import get_session
    from node.intake import IntakeRequest, register_case
    from node.services import services
    from node.settings import NodeSettings

    app = create_app(NodeSettings.load(data_dir))
    started = time.perf_counter()
    with app.app_context():
        ctx = services().intake_context()
        session = get_session()
        now = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
        for i in range(count):
            register_case(
                session,
                ctx,
                IntakeRequest(ITEM, applicant(i), assistance_form(i), "village"),
                idempotency_key=f"seed-{i}",
                actor=actor,
                now=now + timedelta(seconds=20 * i),
            )
    return time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Timed:
    """The timed requests: latency, and when each began and ended (``time.monotonic()``)."""

    latencies: list[float] = field(default_factory=list)
    spans: list[tuple[float, float]] = field(default_factory=list)
    overlapped: list[bool] = field(default_factory=list)
    """Whether an exchange with the parent was under way at some point of the request."""


def time_intake(http: requests.Session, base: str, first: int, count: int, *,
                burst: int = 0, pause: float = 0.0, end: float = float("inf"),
                probe: Callable[[], tuple[int, int]] | None = None) -> Timed:
    """``count`` intakes, one at a time; with ``burst``, a ``pause`` after every ``burst``.
    ``probe``: the exchange requests and answers seen so far on the village's link."""
    timed = Timed()
    for i in range(count):
        if time.monotonic() > end:
            raise SystemExit("the --minutes budget is spent")
        if burst and i and i % burst == 0:
            time.sleep(pause)
        body: dict[str, Any] = {
            "item_code": ITEM,
            "applicant": applicant(first + i),
            "form": assistance_form(i),
            "delivery": "village",
        }
        before = probe() if probe is not None else (0, 0)
        started = time.perf_counter()
        began = time.monotonic()
        response = http.post(
            f"{base}/api/v1/cases",
            json=body,
            headers={"Idempotency-Key": f"timed-{i}"},
            timeout=30,
        )
        timed.latencies.append((time.perf_counter() - started) * 1000)
        timed.spans.append((began, time.monotonic()))
        after = probe() if probe is not None else (0, 0)
        # an exchange was in flight when it began, or one began while it ran
        timed.overlapped.append(before[0] > before[1] or after[0] > before[0])
        if response.status_code != 201:
            raise SystemExit(f"unexpected {response.status_code}: {response.text}")
    return timed


def latency_line(latencies: list[float]) -> str:
    return (f"p50 {statistics.median(latencies):.1f} ms   "
            f"p95 {percentile(latencies, 0.95):.1f} ms   max {max(latencies):.1f} ms")


def report(args: argparse.Namespace, timed: Timed, rss_start: float, rss_idle: float,
           page: requests.Response, css: requests.Response) -> None:
    print(f"POST /api/v1/cases with {args.seed:,} cases held, {args.timed} timed requests:")
    print(f"  {latency_line(timed.latencies)}")
    print(f"node RSS: {rss_start:.0f} MB after start-up, {rss_idle:.0f} MB idle after the run")
    print(
        f"intake page: {len(page.content):,} B HTML + {len(css.content):,} B CSS "
        f"= {len(page.content) + len(css.content):,} B (status {page.status_code})"
    )


def unenrolled(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="sanji-bench-") as tmp:
        data_dir = Path(tmp) / "node"
        subprocess.run(
            sanji(
                "node",
                "init",
                "--data-dir",
                str(data_dir),
                "--site-code",
                SITE,
                "--name",
                "吉村代办点",
                "--tier",
                "village",
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        seconds = seed(data_dir, args.seed)
        print(
            f"seeded {args.seed} cases in {seconds:.1f} s "
            f"({args.seed / max(seconds, 1e-9):.0f}/s in-process)"
        )
        port = free_port()
        log = (data_dir / "node.log").open("wb")  # a pipe nobody reads would fill and block
        node = subprocess.Popen(
            sanji("node", "run", "--data-dir", str(data_dir), "--port", str(port)),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if requests.get(f"{base}/healthz", timeout=1).ok:
                        break
                except requests.RequestException:
                    time.sleep(0.1)
            time.sleep(1.0)
            rss_start = rss_mb(node.pid)
            http = requests.Session()
            timed = time_intake(http, base, args.seed, args.timed)
            page = http.get(f"{base}/intake/{ITEM}", timeout=30)
            css = http.get(f"{base}/static/node.css", timeout=30)
            time.sleep(2.0)
            rss_idle = rss_mb(node.pid)
        finally:
            node.terminate()
            node.wait(timeout=20)
            log.close()
    report(args, timed, rss_start, rss_idle, page, css)


# -- an enrolled village, its sync job running ------------------------------------------------


def _wait_quiet(site: Any, deadline: Any, what: str, seconds: float = 300) -> float:
    """Poll ``site``'s sync status until nothing waits to go up; the seconds it took."""
    from bench.link import pending_up

    started = time.monotonic()
    end = started + deadline.left(seconds)
    while pending_up(site):
        if time.monotonic() > end:
            raise SystemExit(f"{what}: events still waiting to go up after {seconds:.0f} s")
        time.sleep(0.2)
    return time.monotonic() - started


def enrolled(args: argparse.Namespace) -> None:
    from bench.hub_ingest import scratch_database
    from bench.link import Deadline, _add_site, sync
    from bench.link_proxy import LinkProxy
    from hub.db_session import MIGRATIONS
    from shared.storage.db import make_engine
    from tests.integration.city import AGENT, HUB, TOWNSHIP, VILLAGE, add_operators, signed_in
    from tests.integration.processes import Site
    from tests.integration.processes import sanji as sanji_done

    deadline = Deadline(args.minutes)
    with tempfile.TemporaryDirectory(prefix="sanji-bench-") as tmp, \
            scratch_database(args.database_url, f"sanji_bench_intake_{os.getpid()}") as url:
        work = Path(tmp)
        dirs = {n: work / n for n in ("hub", "township", "village")}
        sanji_done("hub", "init", "--data-dir", str(dirs["hub"]), "--database-url", url)
        town_code = _add_site(dirs["hub"], TOWNSHIP, "良田镇便民服务中心", "township", HUB)
        village_code = _add_site(dirs["hub"], VILLAGE, "吉村代办点", "village", TOWNSHIP)
        engine = make_engine(url)
        MIGRATIONS.upgrade(engine)  # as bench/link.py and the integration city do
        engine.dispose()
        add_operators(dirs["hub"], {})  # the village's agent, sent down at enrolment
        sites: list[Site] = []
        link: LinkProxy | None = None
        try:
            hub = Site("hub", ["hub", "run", "--data-dir", str(dirs["hub"])], free_port(),
                       work / "hub.log").start()
            sites.append(hub)
            sanji_done("node", "init", "--data-dir", str(dirs["township"]), "--parent-url",
                       hub.url, "--enroll-code", town_code)
            township = Site("township", ["node", "run", "--data-dir", str(dirs["township"]),
                                         "--sync-interval", "0"], free_port(),
                            work / "township.log").start()
            sites.append(township)
            link = LinkProxy(township.port, delay=0.0, rate=None, name="village-township")
            sanji_done("node", "init", "--data-dir", str(dirs["village"]), "--parent-url",
                       link.url, "--enroll-code", village_code)
            seconds = seed(dirs["village"], args.seed, actor=f"agent:{AGENT}")
            print(f"seeded {args.seed} cases in {seconds:.1f} s "
                  f"({args.seed / max(seconds, 1e-9):.0f}/s in-process)", flush=True)
            moved = [sync(link, dirs["village"], "village up", deadline, 1800)]
            for name in ("township", "village"):  # to the hub, and what came back down
                moved.append(sync(link, dirs[name], f"{name} sync-now", deadline, 1800))
            for m in moved:
                print(f"  {m.label}: {m.exchanges} exchange(s), {m.events_up:,} events up, "
                      f"{m.events_down:,} down in {m.wall:.1f} s", flush=True)
            # both nodes as deployed: sync jobs at the normal interval
            township.stop()
            sites.remove(township)
            job = ["--sync-interval", f"{args.sync_interval:g}"]
            township = Site("township", ["node", "run", "--data-dir", str(dirs["township"]),
                                         *job],
                            township.port, work / "township.log").start()
            sites.append(township)
            village = Site("village", ["node", "run", "--data-dir", str(dirs["village"]),
                                       *job],
                           free_port(), work / "village.log").start()
            sites.append(village)
            assert village.process is not None
            time.sleep(4.0)  # the job's first exchange, 2 s after start
            _wait_quiet(village, deadline, "village before timing")
            rss_start = rss_mb(village.process.pid)
            started = time.perf_counter()
            http = signed_in(village, AGENT)
            sign_in_ms = (time.perf_counter() - started) * 1000
            link.reset()
            def probe() -> tuple[int, int]:
                assert link is not None
                seen = link.snapshot()
                return seen.requests, seen.responses

            timed = time_intake(http, village.url, args.seed, args.timed, burst=args.burst,
                                pause=args.pause, end=deadline.end, probe=probe)
            counts = link.snapshot()
            drained = (_wait_quiet(village, deadline, "village after timing")
                       if args.sync_interval > 0 else None)
            page = http.get(f"{village.url}/intake/{ITEM}", timeout=30)
            css = http.get(f"{village.url}/static/node.css", timeout=30)
            time.sleep(2.0)
            rss_idle = rss_mb(village.process.pid)
        finally:
            for site in reversed(sites):
                site.stop()
            if link is not None:
                link.close()
    report(args, timed, rss_start, rss_idle, page, css)
    window = timed.spans[-1][1] - timed.spans[0][0]
    during = [lat for lat, o in zip(timed.latencies, timed.overlapped, strict=True) if o]
    apart = [lat for lat, o in zip(timed.latencies, timed.overlapped, strict=True) if not o]
    print(f"enrolled: agent signed in with a password in {sign_in_ms:.0f} ms (Bearer token "
          f"on every request); bursts of {args.burst}, {args.pause:g} s pauses")
    gone_up = (f"every timed case had gone up {drained:.1f} s after the last one"
               if drained is not None else "sync jobs off (--sync-interval 0)")
    print(f"  the village's sync job made {counts.requests} exchange(s) with the township "
          f"during the {window:.0f} s of timed intake ({counts.total:,} B through the link); "
          f"{gone_up}")
    for title, some in (("with an exchange under way", during), ("without", apart)):
        if some:
            print(f"  intakes {title} ({len(some)}): {latency_line(some)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=20_000)
    parser.add_argument("--timed", type=int, default=500)
    parser.add_argument("--enrolled", action="store_true",
                        help="an enrolled village under a running hub, sign-in on, its sync "
                             "job running")
    parser.add_argument("--burst", type=int, default=10,
                        help="--enrolled: requests between pauses")
    parser.add_argument("--pause", type=float, default=2.0,
                        help="--enrolled: seconds between bursts (the job runs 2 s after the "
                             "last new case)")
    parser.add_argument("--sync-interval", type=float, default=60.0,
                        help="--enrolled: the nodes' sync job interval while timed (60: "
                             "sanji node run's default; 0: jobs off, to compare)")
    parser.add_argument("--database-url", default=HUB_DATABASE,
                        help="--enrolled: any database on the server; the hub gets its own")
    parser.add_argument("--minutes", type=float, default=40.0,
                        help="--enrolled: bound on the whole run")
    args = parser.parse_args(argv)
    from bench.hub_ingest import code_under_test

    command = " ".join(["python -m bench.node_intake",
                        *map(shlex.quote, argv if argv is not None else sys.argv[1:])])
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {command}\n"
          f"{code_under_test(('node', 'hub', 'shared', 'sync_protocol'))}\n"
          f"{os.cpu_count()} cores, load average "
          + " ".join(Path("/proc/loadavg").read_text().split()[:3]), flush=True)
    if args.enrolled:
        enrolled(args)
    else:
        unenrolled(args)
    print("load average after the run " + " ".join(Path("/proc/loadavg").read_text().split()[:3]))


if __name__ == "__main__":
    main()
