"""No ID number in clear on any disk: a case registered at a village with a scan of the
application travels to the hub as it does in service; then every process is stopped and
every file under every site's data directory (databases with their -wal/-shm files, scans,
keys, settings, anything else) and every site's log is searched for the applicant's ID
number, as ASCII digits (JSON and CBOR carry it so) and as UTF-16; with the hub on
PostgreSQL, every row of every table of its database too. Expected: 0 hits; every hit is
printed with its file and offset (or table and column)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import requests
from sqlalchemy import MetaData, select

from shared.storage.db import make_engine
from tests.integration.city import AGENT, HUB, PASSWORD, city, signed_in

ID_NUMBER = "11010519491231002X"
APPLICANT = {"name": "李四", "id_number": ID_NUMBER, "phone": "13800138000"}
FORM = {"org_name": "郴州市摄影家协会", "registered_funds": 30000, "member_count": 60,
        "business_scope": "摄影交流与培训"}
# a scan of the application form, which shows the ID number (as a scanned page's text would)
SCAN = (b"%PDF-1.4\n" + os.urandom(100_000) + f"(ID {ID_NUMBER}) Tj\n".encode()
        + os.urandom(100_000))
MAX_FILES = 10_000


def register_with_scan(agent: requests.Session, village_url: str, key: str) -> str:
    """Register :data:`APPLICANT`'s case at the village with :data:`SCAN`; its case id."""
    registered = agent.post(f"{village_url}/api/v1/cases", timeout=10,
                            headers={"Idempotency-Key": key},
                            json={"item_code": "MZ-0520", "applicant": APPLICANT,
                                  "form": FORM, "delivery": "village"})
    assert registered.status_code == 201, registered.text
    case_id: str = registered.json()["case_id"]
    scan = agent.post(f"{village_url}/api/v1/cases/{case_id}/materials", timeout=30,
                      data={"material_code": "APPLICATION"},
                      files={"file": ("application.pdf", SCAN)})
    assert scan.status_code == 201, scan.text
    return case_id


def _needles() -> dict[str, bytes]:
    """The ID number as a file may hold it (its 17 digits, so a check letter in either case
    or a digit split off after them is still found)."""
    digits = ID_NUMBER[:17]
    return {
        "ASCII/UTF-8 (also inside JSON and CBOR text)": digits.encode("ascii"),
        "UTF-16-LE": digits.encode("utf-16-le"),
        "UTF-16-BE": digits.encode("utf-16-be"),
    }


def _hits(roots: list[Path]) -> list[str]:
    found: list[str] = []
    files = sorted(p for root in roots for p in ([root] if root.is_file() else root.rglob("*"))
                   if p.is_file())
    assert 0 < len(files) <= MAX_FILES
    for path in files:
        data = path.read_bytes()
        for name, needle in _needles().items():
            start = data.find(needle)
            while start >= 0:  # each pass moves past the hit
                found.append(f"{path} @ {start}: {name}")
                start = data.find(needle, start + 1)
    return found


def _database_hits(url: str) -> list[str]:
    """Hits in every row of every table of a hub database on PostgreSQL (its files are the
    server's, shared with other databases: the rows are what the hub wrote)."""
    engine = make_engine(url)
    found: list[str] = []
    try:
        tables = MetaData()
        tables.reflect(engine)
        with engine.connect() as connection:
            for table in tables.sorted_tables:
                for row in connection.execute(select(table)).all():
                    for column, value in zip(table.columns, row, strict=True):
                        data = (bytes(value) if isinstance(value, (bytes, memoryview))
                                else str(value).encode("utf-8"))
                        found += [f"{table.name}.{column.name}: {name}"
                                  for name, needle in _needles().items() if needle in data]
    finally:
        engine.dispose()
    return found


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def hub_database_url(request: pytest.FixtureRequest) -> str:
    """The hub's database: SQLite in its data directory, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        return ""
    return str(request.getfixturevalue("pg_schema_url"))


def test_no_site_keeps_the_id_number_in_clear_on_disk(tmp_path: Path,
                                                       hub_database_url: str) -> None:
    with city(tmp_path, {HUB: [("mz-review", "W-MZ-01")]},
              hub_database_url=hub_database_url) as tree:
        agent = signed_in(tree.village, AGENT)
        case_id = register_with_scan(agent, tree.village.url, "at-rest-1")
        tree.settle()
        reviewer = requests.post(f"{tree.hub.url}/api/v1/auth/token", timeout=10,
                                 json={"username": "mz-review", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {reviewer.json()['access_token']}"}
        queue = requests.get(f"{tree.hub.url}/api/v1/windows/W-MZ-01/cases", headers=headers,
                             timeout=10).json()["cases"]
        assert [c["case_id"] for c in queue] == [case_id]  # the case reached the hub
        served = requests.get(f"{tree.hub.url}/api/v1/materials/"
                              f"{hashlib.sha256(SCAN).hexdigest()}", headers=headers,
                              timeout=10)
        assert served.status_code == 200 and served.content == SCAN  # and its scan
    # every process has stopped: what is on the disks now is what a thief would carry away
    roots = [tree.dirs[name] for name in ("hub", "township", "village")]
    logs = sorted(tmp_path.glob("*.log"))
    hits = _hits(roots + logs)
    if hub_database_url:
        hits += _database_hits(hub_database_url)
    searched = [str(r) for r in roots + logs] + (["the hub's tables"] if hub_database_url else [])
    print(f"ID numbers found in clear on disk: {len(hits)} (searched {', '.join(searched)})")
    for hit in hits:
        print("  " + hit)
    assert hits == []
