"""The city ``sanji demo`` builds: its sites, each with a port, and its demo users.

Pure: given the catalogue and the counts, it names every site (codes in the style of the
administrative division codes, one explicit parent each) and every user, with passwords and
TOTP secrets generated afresh at each start — demo credentials, printed and written to
``demo.json`` in the demo's data directory, never stored anywhere else.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import pyotp

from shared.domain.catalogue import Catalogue, SiteTier

HUB_CODE = "431000"
HUB_NAME = "郴州市政务服务中心"
COUNTY_CODE = "431002"
COUNTY_NAME = "北湖区政务服务中心"
TOWNSHIP_NAMES = ("良田镇", "华塘镇", "保和瑶族乡", "石盖塘街道", "鲁塘镇", "仰天湖瑶族乡")
VILLAGE_NAMES = ("吉村", "白露塘村", "石门村", "大塘村", "新田村", "东河村", "长冲村", "枫树下村")


@dataclass(frozen=True, slots=True)
class PlannedSite:
    code: str
    name: str
    tier: str
    parent: str | None
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass(frozen=True, slots=True)
class PlannedUser:
    username: str
    password: str
    role: str
    site: str
    window: str | None = None
    department: str | None = None
    totp_secret: str | None = None

    def as_json(self) -> dict[str, object]:
        """The contract's user entry of ``demo.json``."""
        return {
            "username": self.username,
            "password": self.password,
            "role": self.role,
            "site": self.site,
            "window": self.window,
            "totp_secret": self.totp_secret,
        }


@dataclass(frozen=True, slots=True)
class DemoPlan:
    sites: tuple[PlannedSite, ...]
    users: tuple[PlannedUser, ...]

    def site(self, code: str) -> PlannedSite:
        return next(s for s in self.sites if s.code == code)


def _password() -> str:
    return "demo-" + secrets.token_urlsafe(8)


def _operators(catalogue: Catalogue, tier: SiteTier, site: str, prefix: str) -> list[PlannedUser]:
    """Two operators per window of ``tier`` (a reviewer and a checker: 一审一核)."""
    users = []
    for window in catalogue.windows_at(tier):
        short = window.code.lower().removeprefix("w-")
        for n in (1, 2):
            users.append(
                PlannedUser(
                    f"{prefix}{short}-{n}",
                    _password(),
                    "window_operator",
                    site,
                    window.code,
                    window.department,
                )
            )
    return users


def _heads(catalogue: Catalogue, tier: SiteTier, site: str, prefix: str) -> list[PlannedUser]:
    """One department head (分管负责人) per department with a window of ``tier`` at
    ``site``: they decide the extensions its windows ask for."""
    departments = sorted({w.department for w in catalogue.windows_at(tier)})
    return [PlannedUser(f"{prefix}head-{d.lower()}", _password(), "department_head", site,
                        department=d) for d in departments]


def plan_city(
    catalogue: Catalogue,
    *,
    townships: int,
    villages_per_township: int,
    depth: int,
    base_port: int,
) -> DemoPlan:
    """Sites and users of a demo city; ``depth`` 3 (hub, township, village) or 4 (a county
    between the hub and the townships)."""
    if depth not in (3, 4):
        raise ValueError("depth is 3 or 4")
    if not 1 <= townships <= len(TOWNSHIP_NAMES):
        raise ValueError(f"between 1 and {len(TOWNSHIP_NAMES)} townships")
    if not 1 <= villages_per_township <= len(VILLAGE_NAMES):
        raise ValueError(f"between 1 and {len(VILLAGE_NAMES)} villages per township")
    port = iter(range(base_port, base_port + 1000))
    sites = [PlannedSite(HUB_CODE, HUB_NAME, "city", None, next(port))]
    users = [
        PlannedUser("admin", _password(), "admin", HUB_CODE, totp_secret=pyotp.random_base32()),
        PlannedUser(
            "supervisor", _password(), "supervisor", HUB_CODE, totp_secret=pyotp.random_base32()
        ),
        PlannedUser("desk", _password(), "agent", HUB_CODE),
        *_operators(catalogue, SiteTier.CITY, HUB_CODE, "city-"),
        *_heads(catalogue, SiteTier.CITY, HUB_CODE, "city-"),
    ]
    township_parent = HUB_CODE
    if depth == 3:  # no county centre: the city hall's windows decide county items
        users += _operators(catalogue, SiteTier.COUNTY, HUB_CODE, "county-")
        users += _heads(catalogue, SiteTier.COUNTY, HUB_CODE, "county-")
    if depth == 4:
        sites.append(PlannedSite(COUNTY_CODE, COUNTY_NAME, "county", HUB_CODE, next(port)))
        users += _operators(catalogue, SiteTier.COUNTY, COUNTY_CODE, "county-")
        users += _heads(catalogue, SiteTier.COUNTY, COUNTY_CODE, "county-")
        township_parent = COUNTY_CODE
    for t in range(townships):
        code = f"{COUNTY_CODE}{t + 1:03d}"
        name = f"{TOWNSHIP_NAMES[t]}便民服务中心"
        sites.append(PlannedSite(code, name, "township", township_parent, next(port)))
        users += _operators(catalogue, SiteTier.TOWNSHIP, code, f"t{t + 1}-")
        for v in range(villages_per_township):
            village = f"{code}{201 + v:03d}"
            village_name = f"{VILLAGE_NAMES[(t * villages_per_township + v) % len(VILLAGE_NAMES)]}"
            sites.append(PlannedSite(village, f"{village_name}代办点", "village", code, next(port)))
            users.append(PlannedUser(f"agent-t{t + 1}v{v + 1}", _password(), "agent", village))
    return DemoPlan(tuple(sites), tuple(users))
