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
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import click
import requests

from hub.demo_plan import DemoPlan, plan_city

START_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class DemoSite:
    code: str
    name: str
    tier: str
    parent: str | None
    url: str
    data_dir: Path


def _use_simulated_id_reader(site_dir: Path) -> None:
    """Turn the demo card reader on in a demo node's ``node.json`` (a real node has none
    unless configured: the simulator fills the form with a made-up person)."""
    path = site_dir / "node.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["id_reader"] = "simulated"
    path.write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


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
        click.echo(f"{'username':<24}{'password':<20}{'role':<18}{'site':<14}window / TOTP")
        for user in users:
            extra = user.get("window") or user.get("totp_secret") or ""
            click.echo(
                f"{user['username']!s:<24}{user['password']!s:<20}{user['role']!s:<18}"
                f"{user['site']!s:<14}{extra}"
            )


def _register_plan(hub_dir: Path, plan: DemoPlan) -> dict[str, str]:
    """Record every site and user at the hub (in this process); the sites' enrolment codes."""
    from sqlalchemy.orm import sessionmaker

    from hub.db_session import MIGRATIONS
    from hub.settings import HubSettings
    from hub.sites import add_site, register_hub
    from shared.storage.accounts import add_user
    from shared.storage.db import make_engine

    settings = HubSettings.load(hub_dir)
    engine = make_engine(settings.database_url)
    MIGRATIONS.upgrade(engine)
    now = datetime.now(UTC)
    codes: dict[str, str] = {}
    with sessionmaker(engine)() as session:
        register_hub(session, settings.site_code, settings.site_name, now)
        for site in plan.sites:
            if site.parent is not None:
                codes[site.code] = add_site(session, code=site.code, name=site.name,
                                            tier=site.tier, parent=site.parent, now=now).code
        for user in plan.users:
            add_user(session, username=user.username, password=user.password, role=user.role,
                     site=user.site, window=user.window, department=user.department,
                     totp_secret=user.totp_secret, now=now)
        session.commit()
    engine.dispose()
    return codes


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:
        return subprocess.Popen(_sanji(*args), stdout=handle, stderr=subprocess.STDOUT)


def _sync_line(sites: list[DemoSite]) -> str:
    """``code: pending up`` for every node, as their sync status says."""
    parts = []
    for site in sites[1:]:
        try:
            status = requests.get(f"{site.url}/api/v1/sync/status", timeout=2).json()
            parts.append(f"{site.code}:{status.get('pending_up')}")
        except (requests.RequestException, ValueError):
            parts.append(f"{site.code}:?")
    return "sync (events waiting to go up) " + " ".join(parts)


@click.command("demo")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="default: a fresh temporary directory",
)
@click.option("--base-port", default=8000, show_default=True, type=int)
@click.option("--townships", default=2, show_default=True, type=int)
@click.option("--villages-per-township", default=2, show_default=True, type=int)
@click.option("--depth", default=3, show_default=True, type=click.Choice(["3", "4"]),
              help="4 puts a county centre between the hub and the townships")
@click.option("--sync-interval", default=5.0, show_default=True, type=float,
              help="seconds between each node's exchanges with its parent")
@click.option("--scenario", is_flag=True,
              help="also drive one case of each of the six kinds and print their timelines")
def demo_command(data_dir: Path | None, base_port: int, townships: int,
                 villages_per_township: int, depth: str, sync_interval: float,
                 scenario: bool) -> None:
    """Start a living city on 127.0.0.1: the hub, townships and villages, each a process,
    enrolled through the real enrolment path; print every site, URL and login."""
    from shared.domain.catalogue_loader import load_sample_catalogue

    root = data_dir or Path(tempfile.mkdtemp(prefix="sanji-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        plan = plan_city(load_sample_catalogue(), townships=townships,
                         villages_per_township=villages_per_township, depth=int(depth),
                         base_port=base_port)
    except ValueError as exc:
        raise click.UsageError(str(exc))
    hub_plan = plan.sites[0]
    hub_dir = root / "hub"
    subprocess.run(
        _sanji("hub", "init", "--data-dir", str(hub_dir), "--public-base-url", hub_plan.url),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    codes = _register_plan(hub_dir, plan)
    processes: list[subprocess.Popen[bytes]] = []

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)  # unwinds to the ``finally`` below, which stops every process

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        processes.append(_start(["hub", "run", "--data-dir", str(hub_dir), "--port",
                                 str(hub_plan.port)], root / "hub.log"))
        _wait_healthy(hub_plan.url, processes[0], time.monotonic() + START_TIMEOUT_SECONDS)
        sites = [DemoSite(hub_plan.code, hub_plan.name, hub_plan.tier, None, hub_plan.url,
                          hub_dir)]
        urls = {hub_plan.code: hub_plan.url}
        for planned in plan.sites[1:]:
            assert planned.parent is not None
            site_dir = root / planned.code
            subprocess.run(
                _sanji("node", "init", "--data-dir", str(site_dir), "--parent-url",
                       urls[planned.parent], "--enroll-code", codes[planned.code],
                       "--public-base-url", hub_plan.url),
                check=True, stdout=subprocess.DEVNULL,
            )
            _use_simulated_id_reader(site_dir)
            process = _start(["node", "run", "--data-dir", str(site_dir), "--port",
                              str(planned.port), "--sync-interval", str(sync_interval)],
                             root / f"{planned.code}.log")
            processes.append(process)
            _wait_healthy(planned.url, process, time.monotonic() + START_TIMEOUT_SECONDS)
            urls[planned.code] = planned.url
            sites.append(DemoSite(planned.code, planned.name, planned.tier, planned.parent,
                                  planned.url, site_dir))
        users = [u.as_json() for u in plan.users]
        (root / "demo.json").write_text(
            json.dumps(demo_facts(sites, users), ensure_ascii=False, indent=2) + "\n"
        )
        print_table(sites, users)
        click.echo(f"\n办事指南 service guide: {hub_plan.url}/guide")
        click.echo(f"demo.json, data and logs in {root}; Ctrl-C stops everything")
        if scenario:
            run_scenario(sites, users)
        last = ""
        while all(p.poll() is None for p in processes):
            line = _sync_line(sites)
            if line != last:
                click.echo(line)
                last = line
            time.sleep(max(1.0, sync_interval))
        raise click.ClickException("a site stopped; see the logs in " + str(root))
    except KeyboardInterrupt:
        click.echo("stopping ...")
    finally:
        stop_quietly(processes)


def wait_for_sync(sites: list[DemoSite], rounds: int = 3, limit_seconds: float = 180) -> None:
    """Wait until every node has exchanged with its parent ``rounds`` times since now (each
    round moves events one hop) with nothing left to send; bounded."""
    deadline = time.monotonic() + limit_seconds
    for _ in range(rounds):
        mark = datetime.now(UTC)
        while time.monotonic() < deadline:
            done = True
            for site in sites[1:]:
                try:
                    status = requests.get(f"{site.url}/api/v1/sync/status", timeout=2).json()
                except (requests.RequestException, ValueError):
                    done = False
                    break
                last = status.get("last_success")
                if not last or datetime.fromisoformat(last) <= mark:
                    done = False
                    break
            if done:
                break
            time.sleep(0.5)


def run_scenario(sites: list[DemoSite], users: list[dict[str, object]]) -> None:
    """The six kinds through the public API, each case's timeline, then a case decided by
    the applicant's own township though registered in another (全城通办)."""
    from hub.demo_scenario import (
        STORIES,
        Office,
        Scenario,
        ScenarioError,
        agent_of,
        operators_from,
        timeline,
    )

    hub = sites[0]
    village = next(s for s in sites if s.tier == "village")
    tiers = {s.code: s.tier for s in sites}
    click.echo(f"\nscenario: six cases registered at {village.code} {village.name}")
    driver = Scenario(hub.url, village.url, operators_from(users, hub.code),
                      lambda: wait_for_sync(sites), agent_of(users, village.code),
                      say=click.echo)
    try:
        finished = driver.run()
    except ScenarioError as exc:
        click.echo(f"scenario stopped: {exc}")
        return
    for story in STORIES:
        case = finished[story.kind]
        click.echo(f"\n{story.title}  {case.get('acceptance_no')}  -> {case.get('stage')}")
        for line in timeline(case, tiers):
            click.echo(line)
    other = next((s for s in sites if s.tier == "township" and s.code != village.parent), None)
    if other is None:
        return
    click.echo(f"\nhandle anywhere (全城通办): an applicant of {other.code} {other.name} "
               f"applies at {village.name}")
    try:
        case = driver.run_anywhere(Office(other.code, other.url,
                                          operators_from(users, other.code)))
    except ScenarioError as exc:
        click.echo(f"scenario stopped: {exc}")
        return
    referred = case.get("referred") or {}
    click.echo(f"{case.get('acceptance_no')}  -> {case.get('stage')}  "
               f"decided at {referred.get('to')}: {referred.get('reason')}")
    for line in timeline(case, tiers):
        click.echo(line)


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
