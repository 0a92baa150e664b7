"""Node benchmark: intake latency with a full database, idle memory, intake page weight.

Run from the repository root (about two minutes)::

    .venv/bin/python -m bench.node_intake              # 20,000 cases seeded, 500 timed
    .venv/bin/python -m bench.node_intake --seed 2000 --timed 100   # quick

It creates a node with the real ``sanji node init``, seeds cases in-process through the
same ``register_case`` the API uses, then starts ``sanji node run`` as its own process and
times ``POST /api/v1/cases`` over real HTTP on 127.0.0.1, one request at a time as an agent
works. Memory is the node process's resident set (VmRSS) after start-up and after the run,
idle. Page weight is the intake form's HTML plus its stylesheet, as a browser fetches them.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from bench.node_intake_data import applicant, assistance_form

SITE = "431002001201"
ITEM = "MZ-0305"


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


def seed(data_dir: Path, count: int) -> float:
    """Register ``count`` cases in-process; returns seconds taken."""
    from node.app import create_app, services
    from node.db_session import get_session
    from node.intake import IntakeRequest, register_case
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
                actor=f"agent@{SITE}",
                now=now + timedelta(seconds=20 * i),
            )
    return time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=20_000)
    parser.add_argument("--timed", type=int, default=500)
    args = parser.parse_args(argv)
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
            latencies: list[float] = []
            for i in range(args.timed):
                body: dict[str, Any] = {
                    "item_code": ITEM,
                    "applicant": applicant(args.seed + i),
                    "form": assistance_form(i),
                    "delivery": "village",
                }
                started = time.perf_counter()
                response = http.post(
                    f"{base}/api/v1/cases",
                    json=body,
                    headers={"Idempotency-Key": f"timed-{i}"},
                    timeout=30,
                )
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code != 201:
                    raise SystemExit(f"unexpected {response.status_code}: {response.text}")
            page = http.get(f"{base}/intake/{ITEM}", timeout=30)
            css = http.get(f"{base}/static/node.css", timeout=30)
            time.sleep(2.0)
            rss_idle = rss_mb(node.pid)
        finally:
            node.terminate()
            node.wait(timeout=20)
    print(f"POST /api/v1/cases with {args.seed:,} cases held, {args.timed} timed requests:")
    print(
        f"  p50 {statistics.median(latencies):.1f} ms   p95 {percentile(latencies, 0.95):.1f} ms"
        f"   max {max(latencies):.1f} ms"
    )
    print(f"node RSS: {rss_start:.0f} MB after start-up, {rss_idle:.0f} MB idle after the run")
    print(
        f"intake page: {len(page.content):,} B HTML + {len(css.content):,} B CSS "
        f"= {len(page.content) + len(css.content):,} B (status {page.status_code})"
    )


if __name__ == "__main__":
    main()
