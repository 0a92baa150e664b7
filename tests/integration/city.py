"""A small real city for the integration tests: the hub, one township and one village, each
its own ``sanji`` process on a free 127.0.0.1 port, built as an operator builds it
(``sanji hub init`` / ``add-site``, ``sanji node init --parent-url --enroll-code``). The sync
jobs are off: tests move the queues with ``sanji node sync-now`` so every step is exact."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import requests
from sqlalchemy.orm import Session

from hub.db_session import MIGRATIONS
from hub.settings import HubSettings
from shared.storage.accounts import UserAccount, add_user
from shared.storage.db import make_engine
from tests.integration.processes import Site, free_port, sanji

HUB = "431000"
COUNTY = "431002"
TOWNSHIP = "431002001"
VILLAGE = "431002001201"
PASSWORD = "window-pass-2026"
AGENT = "village-agent"  # the village's agent, sent to the village with its enrolment
TOWNSHIP_AGENT = "township-agent"  # the township's front desk


@dataclass
class Tree:
    hub: Site
    township: Site
    village: Site
    dirs: dict[str, Path]
    county: Site | None = None
    _agent: tuple[tuple[str, int, int, int], requests.Session] | None = None
    others: dict[str, Site] = field(default_factory=dict)
    """More villages under the township and more townships beside it, by site code (their
    data dirs are ``dirs[code]``)."""

    def agent(self) -> requests.Session:
        """An HTTP session signed in as the village's agent (a Bearer token from the
        village itself: the credentials came down at enrolment). Kept while the village's
        token secret is the same file: signing in costs an argon2 hash on purpose."""
        secret = self.dirs["village"] / "keys" / "token.secret"
        stat = secret.stat()
        # a restarted village is locked until an agent signs in again: a new process, a
        # new sign-in
        process = self.village.process.pid if self.village.process is not None else 0
        key = (self.village.url, stat.st_ino, stat.st_mtime_ns, process)
        if self._agent is None or self._agent[0] != key:
            self._agent = (key, signed_in(self.village, AGENT))
        return self._agent[1]

    def sync(self, *names: str) -> None:
        for name in names:
            sanji("node", "sync-now", "--data-dir", str(self.dirs[name]))

    def settle(self) -> None:
        """Up from the village to the hub and back down to the village."""
        middle = ["township", "county"] if self.county is not None else ["township"]
        self.sync("village", *middle, *reversed(middle), "village")


def agent_of(station: str) -> str:
    """The agent's username at a village beyond the first township (``their_villages``)."""
    return f"agent-{station}"


def signed_in(site: Site, username: str) -> requests.Session:
    """A ``requests`` session carrying a token ``site`` issued to ``username``."""
    response = requests.post(f"{site.url}/api/v1/auth/token", timeout=10,
                             json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
    return session


def _add_site(hub_dir: Path, code: str, name: str, tier: str, parent: str) -> str:
    out = sanji("hub", "add-site", "--data-dir", str(hub_dir), "--code", code, "--name", name,
                "--tier", tier, "--parent", parent, "--json")
    code_line: dict[str, str] = json.loads(out.strip().splitlines()[-1])
    return code_line["code"]


def add_operators(hub_dir: Path, operators: Mapping[str, Sequence[tuple[str, str]]],
                  agents: Mapping[str, str] | None = None) -> None:
    """Window operators ``{site: [(username, window), ...]}`` and more stations' agents
    ``{username: site}``, all with :data:`PASSWORD`."""
    from shared.domain.catalogue_loader import load_sample_catalogue

    catalogue = load_sample_catalogue()
    engine = make_engine(HubSettings.load(hub_dir).database_url)
    with Session(engine) as session:
        for username, site in ((AGENT, VILLAGE), (TOWNSHIP_AGENT, TOWNSHIP),
                               *(agents or {}).items()):
            if session.get(UserAccount, username) is None:
                add_user(session, username=username, password=PASSWORD, role="agent",
                         site=site, now=datetime.now(UTC))
        for site, users in operators.items():
            for username, window in users:
                add_user(session, username=username, password=PASSWORD,
                         role="window_operator", site=site, window=window,
                         department=catalogue.window(window).department,
                         now=datetime.now(UTC))
        session.commit()
    engine.dispose()


def _start_node(tmp_path: Path, dirs: dict[str, Path], name: str, parent: Site,
                code: str, sites: list[Site]) -> Site:
    sanji("node", "init", "--data-dir", str(dirs[name]), "--parent-url", parent.url,
          "--enroll-code", code)
    site = Site(name, ["node", "run", "--data-dir", str(dirs[name]), "--sync-interval", "0"],
                free_port(), tmp_path / f"{name}.log").start()
    sites.append(site)
    return site


@contextmanager
def city(tmp_path: Path, operators: Mapping[str, Sequence[tuple[str, str]]], *,
         depth: int = 3, other_villages: Sequence[str] = (),
         other_townships: Sequence[str] = (),
         their_villages: Sequence[str] = (),
         hub_agents: Mapping[str, str] | None = None,
         hub_database_url: str = "") -> Iterator[Tree]:
    """Hub, township and village (``depth`` 4: a county centre between hub and township;
    ``other_villages``: more village codes under the same township; ``other_townships``:
    more township codes beside it; ``their_villages``: village codes under those townships
    (each with the agent :func:`agent_of`); ``hub_agents``: more agents ``{username:
    site}``, e.g. at the city's own desk; ``hub_database_url``: the hub's database,
    SQLite in its data directory when empty)."""
    dirs = {n: tmp_path / n for n in ("hub", "county", "township", "village", *other_villages,
                                      *other_townships, *their_villages)}
    sanji("hub", "init", "--data-dir", str(dirs["hub"]),
          *(["--database-url", hub_database_url] if hub_database_url else []))
    top = HUB
    county_code = ""
    if depth == 4:
        county_code = _add_site(dirs["hub"], COUNTY, "北湖区政务服务中心", "county", HUB)
        top = COUNTY
    town_code = _add_site(dirs["hub"], TOWNSHIP, "良田镇便民服务中心", "township", top)
    village_code = _add_site(dirs["hub"], VILLAGE, "吉村代办点", "village", TOWNSHIP)
    other_codes = {code: _add_site(dirs["hub"], code, f"代办点{code[-3:]}", "village", TOWNSHIP)
                   for code in other_villages}
    town_codes = {code: _add_site(dirs["hub"], code, f"便民服务中心{code[-3:]}", "township", top)
                  for code in other_townships}
    far_codes = {code: _add_site(dirs["hub"], code, f"代办点{code[-3:]}", "village", code[:9])
                 for code in their_villages}
    engine = make_engine(HubSettings.load(dirs["hub"]).database_url)
    MIGRATIONS.upgrade(engine)
    engine.dispose()
    add_operators(dirs["hub"], operators, {**{agent_of(code): code for code in their_villages},
                                           **(hub_agents or {})})
    hub = Site("hub", ["hub", "run", "--data-dir", str(dirs["hub"])], free_port(),
               tmp_path / "hub.log").start()
    sites: list[Site] = [hub]
    try:
        county = None
        parent = hub
        if depth == 4:
            county = _start_node(tmp_path, dirs, "county", hub, county_code, sites)
            parent = county
        township = _start_node(tmp_path, dirs, "township", parent, town_code, sites)
        village = _start_node(tmp_path, dirs, "village", township, village_code, sites)
        others = {code: _start_node(tmp_path, dirs, code, township, enrol_code, sites)
                  for code, enrol_code in other_codes.items()}
        others.update({code: _start_node(tmp_path, dirs, code, parent, enrol_code, sites)
                       for code, enrol_code in town_codes.items()})
        others.update({code: _start_node(tmp_path, dirs, code, others[code[:9]], enrol_code,
                                         sites) for code, enrol_code in far_codes.items()})
        yield Tree(hub, township, village, dirs, county, others=others)
    finally:
        for site in reversed(sites):
            site.stop()
