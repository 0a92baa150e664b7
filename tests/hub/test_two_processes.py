"""Two hub processes on one PostgreSQL database under concurrent load.

Four townships (real enrolment, real keys, their own SQLite stores) send cases to whichever
hub process answers, from four threads at once, with retries that resend what was already
stored. Every case must be stored once, routed once and received once; every child's outbox
must end acknowledged. Then the deadline timers run in two threads at once over overdue joint
cases, and each department's deemed consent (缺席默许) is recorded exactly once.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import text, update
from sqlalchemy.orm import Session, sessionmaker

from hub.ingest import HUB_TIER
from hub.models import HubCase
from hub.settings import HubSettings
from hub.sites import add_site, register_hub
from shared.deciding.deadline_timers import run_due_timers
from shared.domain.catalogue_loader import load_sample_catalogue
from shared.domain.working_days import WorkingDayCalendar
from shared.exchange.child import sync_until_quiet
from shared.exchange.enrolment import enrol
from shared.exchange.site import SyncSite
from shared.exchange.transport import http_transport
from shared.storage.accounts import add_user
from shared.storage.db import Base, make_engine
from shared.storage.sealing import SealedPayloads, load_data_keys
from shared.storage.sync_store import (
    ACKED,
    PENDING,
    SYNC_TABLES,
    PlainPayloads,
    SyncOutbox,
    author_event,
    open_payload,
)
from sync_protocol import generate_key
from sync_protocol.times import to_ms
from tests.integration.processes import Site, free_port, sanji

pytestmark = pytest.mark.postgres

HUB = "431000"
TOWNSHIPS = [f"431002{n:03d}" for n in range(1, 5)]
ROUNDS, CASES_PER_ROUND = 3, 40
PASSWORD = "window-pass-2026"


@dataclass
class Child:
    site: SyncSite
    factory: sessionmaker[Session]


@pytest.fixture
def hubs(tmp_path: Path, pg_schema_url: str) -> Iterator[tuple[list[Site], str, Path]]:
    data_dir = tmp_path / "hub"
    sanji("hub", "init", "--data-dir", str(data_dir), "--database-url", pg_schema_url)
    sites = [Site(f"hub-{n}", ["hub", "run", "--data-dir", str(data_dir), "--no-timers"],
                  free_port(), tmp_path / f"hub-{n}.log") for n in (1, 2)]
    try:
        for site in sites:
            site.start()
        yield sites, pg_schema_url, data_dir
    finally:
        for site in sites:
            site.stop()


def _children(tmp_path: Path, hubs: list[Site], url: str) -> list[Child]:
    engine = make_engine(url)
    now = datetime.now(UTC)
    with Session(engine) as session:
        register_hub(session, HUB, "郴州市政务服务中心", now)
        codes = {code: add_site(session, code=code, name=f"镇 {code}", tier="township",
                                parent=HUB, now=now).code for code in TOWNSHIPS}
        add_user(session, username="sj-1", password=PASSWORD, role="window_operator",
                 site=HUB, window="W-SJ-01", department="SJ", now=now)
        session.commit()
    engine.dispose()
    children = []
    for n, code in enumerate(TOWNSHIPS):
        key = generate_key(code)
        granted, _ = enrol(hubs[n % 2].url, key, codes[code], now=datetime.now(UTC))
        store = make_engine(f"sqlite:///{tmp_path / f'{code}.sqlite'}")
        Base.metadata.create_all(
            store, tables=[Base.metadata.tables[t.__tablename__] for t in SYNC_TABLES]
        )
        site = SyncSite(key=key, hub_site=HUB, hub_public_raw=granted.hub_public_raw,
                        sealer=PlainPayloads(), parent=HUB, parent_url=hubs[0].url,
                        own_credentials=(granted.certificate,))
        children.append(Child(site, sessionmaker(store, expire_on_commit=False)))
    return children


def _register(child: Child, n: int, item: str = "MZ-0520", window: str = "W-MZ-01",
              kind: str = "promised") -> uuid.UUID:
    case_id = uuid.uuid4()
    now = datetime.now(UTC)
    with child.factory() as session:
        author_event(session, child.site.key, child.site.sealer, epoch=1, case_id=case_id,
                     actor="agent:desk", type="registered",
                     payload={"item_code": item, "window": window, "kind": kind,
                              "acceptance_no": f"{child.site.code}-{n:05d}"},
                     at_ms=to_ms(now), up=True, now_ms=to_ms(now))
        session.commit()
    return case_id


def _load(child: Child, hubs: list[Site], errors: list[BaseException]) -> None:
    rng = random.Random(child.site.code)
    urls = [h.url for h in hubs]

    def post(_url: str, data: bytes) -> bytes:
        return http_transport(120)(rng.choice(urls), data)

    try:
        for r in range(ROUNDS):
            for n in range(CASES_PER_ROUND):
                _register(child, r * CASES_PER_ROUND + n)
            if r == 1:  # a restored store: everything it sent is owed again (duplicates)
                with child.factory() as session:
                    session.execute(update(SyncOutbox).values(state=PENDING, done_ms=None))
                    session.commit()
            with child.factory() as session:
                outcomes = sync_until_quiet(session, child.site, post, lambda: datetime.now(UTC))
            assert outcomes[-1].ok, outcomes[-1].error
    except BaseException as exc:
        errors.append(exc)


def test_two_hub_processes_share_one_database_without_doing_anything_twice(
    tmp_path: Path, hubs: tuple[list[Site], str, Path],
) -> None:
    sites, url, _ = hubs
    children = _children(tmp_path, sites, url)
    errors: list[BaseException] = []
    threads = [threading.Thread(target=_load, args=(c, sites, errors)) for c in children]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not errors, errors
    total = len(TOWNSHIPS) * ROUNDS * CASES_PER_ROUND
    engine = make_engine(url)
    with engine.connect() as db:
        assert db.execute(text("SELECT count(*) FROM hub_cases")).scalar() == total
        twice = db.execute(text(
            "SELECT case_id, type, count(*) FROM sync_events WHERE origin = :hub "
            "GROUP BY case_id, type HAVING count(*) > 1"), {"hub": HUB}).fetchall()
        assert twice == []
        routed = db.execute(text(
            "SELECT count(*) FROM sync_events WHERE type = 'routed'")).scalar()
        assert routed == total
        registered = db.execute(text(
            "SELECT count(*) FROM sync_events WHERE type = 'registered'")).scalar()
        assert registered == total
        hub_seqs = db.execute(text(
            "SELECT count(*), max(seq) FROM sync_events WHERE origin = :hub"),
            {"hub": HUB}).one()
        assert hub_seqs[0] == hub_seqs[1]  # one chain, no gap, no seq used twice
    for child in children:
        with child.factory() as session:
            states = set(session.scalars(text("SELECT DISTINCT state FROM sync_outbox")))
            assert states == {ACKED}
    engine.dispose()

    # Deadline timers in two threads at once: each deemed consent exactly once.
    joint = [_register(children[0], 9000 + n, "SJ-0101", "W-SJ-01", "joint") for n in range(6)]
    with children[0].factory() as session:
        assert sync_until_quiet(session, children[0].site, http_transport(120),
                                lambda: datetime.now(UTC))[-1].ok
    token = requests.post(f"{sites[0].url}/api/v1/auth/token", timeout=10,
                          json={"username": "sj-1", "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    for case_id in joint:
        for action in ("claim", "accept"):
            response = requests.post(f"{sites[n_site(case_id)].url}/api/v1/cases/{case_id}"
                                     "/actions", json={"action": action}, headers=headers,
                                     timeout=10)
            assert response.status_code == 200, response.text
    _timers_twice_at_once(url, tmp_path)


def n_site(case_id: uuid.UUID) -> int:
    return case_id.int % 2


def _timers_twice_at_once(url: str, tmp_path: Path) -> None:
    from hub.identity import hub_key

    settings = HubSettings.load(tmp_path / "hub")
    key = hub_key(settings.key_dir, HUB)
    catalogue = load_sample_catalogue()
    engine = make_engine(url)
    factory = sessionmaker(engine, expire_on_commit=False)
    sealer = SealedPayloads(load_data_keys(settings.key_dir))  # as the hub's processes
    site = SyncSite(key=key, hub_site=HUB, hub_public_raw=key.public_raw,
                    sealer=sealer, root=True)
    later = datetime.now(UTC) + timedelta(days=60)
    barrier = threading.Barrier(2)
    applied: list[int] = []

    def run() -> None:
        barrier.wait(timeout=30)
        done = run_due_timers(factory, site, catalogue, WorkingDayCalendar.standard(),
                              HUB_TIER, HubCase, later)
        applied.append(done.applied)

    workers = [threading.Thread(target=run) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert sum(applied) == 6
    with engine.connect() as db:
        per_case = db.execute(text(
            "SELECT case_id, origin, epoch, seq, payload FROM sync_events "
            "WHERE type = 'deemed_consent'")).fetchall()
    engine.dispose()
    # SJ-0101 has three co-approving departments: three deemed consents per case, no more
    assert len(per_case) == 6 * 3
    opened = {(row.case_id, json.dumps(open_payload(row, sealer), sort_keys=True))
              for row in per_case}
    assert len(opened) == len(per_case)
