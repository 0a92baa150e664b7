"""``sanji demo``: start the city on 127.0.0.1, each site a separate process, and say where.

It creates a fresh data directory (or uses ``--data-dir``), initialises every site, starts
each as its own ``sanji ... run`` process, waits until each answers ``/healthz``, writes
``demo.json`` (the contract's shape) and prints the same facts as a table. Ctrl-C or SIGTERM
stops every process it started.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import click
import requests

START_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class DemoSite:
    code: str
    name: str
    tier: str
    parent: str | None
    url: str
    data_dir: Path


def _wait_healthy(url: str, process: subprocess.Popen[bytes], deadline: float) -> None:
    """Poll ``/healthz`` until it answers 200, the process dies, or the deadline passes."""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise click.ClickException(f"{url} exited with code {process.returncode}")
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise click.ClickException(f"{url} did not answer within {START_TIMEOUT_SECONDS:.0f} s")


def _sanji(*args: str) -> list[str]:
    return [sys.executable, "-m", "sanji_cli", *args]


def demo_facts(sites: list[DemoSite], users: list[dict[str, object]]) -> dict[str, object]:
    """What ``demo.json`` holds."""
    return {
        "sites": [
            {"code": s.code, "name": s.name, "tier": s.tier, "parent": s.parent, "url": s.url}
            for s in sites
        ],
        "users": users,
    }


def print_table(sites: list[DemoSite], users: list[dict[str, object]]) -> None:
    click.echo(f"{'code':<14}{'tier':<10}{'url':<28}name")
    for site in sites:
        click.echo(f"{site.code:<14}{site.tier:<10}{site.url:<28}{site.name}")
    if users:
        click.echo("")
        click.echo(f"{'username':<24}{'password':<20}{'role':<18}site")
        for user in users:
            click.echo(
                f"{user['username']!s:<24}{user['password']!s:<20}{user['role']!s:<18}"
                f"{user['site']}"
            )


@click.command("demo")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="default: a fresh temporary directory",
)
@click.option("--base-port", default=8000, show_default=True, type=int)
def demo_command(data_dir: Path | None, base_port: int) -> None:
    """Start the city hub on 127.0.0.1 with the sample catalogue and print where it is."""
    root = data_dir or Path(tempfile.mkdtemp(prefix="sanji-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    hub_dir = root / "hub"
    url = f"http://127.0.0.1:{base_port}"
    hub = DemoSite("431000", "郴州市政务服务中心", "city", None, url, hub_dir)
    subprocess.run(
        _sanji("hub", "init", "--data-dir", str(hub_dir), "--public-base-url", url),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    processes: list[subprocess.Popen[bytes]] = []

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)  # unwinds to the ``finally`` below, which stops every process

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        log = (root / "hub.log").open("ab")
        processes.append(
            subprocess.Popen(
                _sanji("hub", "run", "--data-dir", str(hub_dir), "--port", str(base_port)),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        _wait_healthy(url, processes[0], deadline)
        sites = [hub]
        users: list[dict[str, object]] = []
        (root / "demo.json").write_text(
            json.dumps(demo_facts(sites, users), ensure_ascii=False, indent=2) + "\n"
        )
        print_table(sites, users)
        click.echo(f"\n办事指南 service guide: {url}/guide")
        click.echo(f"data and logs in {root}; Ctrl-C stops everything")
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        raise click.ClickException("a site stopped; see the logs in " + str(root))
    except KeyboardInterrupt:
        click.echo("stopping ...")
    finally:
        stop_quietly(processes)


def stop_quietly(processes: list[subprocess.Popen[bytes]]) -> None:
    """Terminate every process still running, then kill what does not stop in 10 s."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
