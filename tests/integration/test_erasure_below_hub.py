"""Erasure reaches every tier: a case registered at a village with a scan travels to the hub
as it does in service, is withdrawn there (a window's note naming the person goes down the
tree with the withdrawal), and is erased at the hub when its retention
period is over (the hub's own library call, with the clock moved past the period). The
``erased`` event goes down the tree with the next exchanges; then

- the village's API and case page no longer show the applicant nor the scan, and the case
  keeps its acceptance number and history, ending with ``erased``;
- ``sanji audit verify`` passes at the hub, the township and the village, naming the case's
  erased events as erased;
- no site holds the scan's file;
- every file under every site's data directory holds neither the ID number nor any of the
  scan's bytes;
- opened with their data keys, the hub's and the township's stored payloads and queued
  down copies hold neither the applicant's name nor the ID number.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.city import AGENT, HUB, TOWNSHIP, VILLAGE, Tree, city, signed_in
from tests.integration.fault_city import Tally, settle
from tests.integration.processes import sanji
from tests.integration.test_id_number_at_rest import (
    APPLICANT,
    ID_NUMBER,
    SCAN,
    _hits,
    register_with_scan,
)

SCAN_SHA = hashlib.sha256(SCAN).hexdigest()
NAME = str(APPLICANT["name"])


def _hub(tree: Tree) -> tuple[Any, Any]:
    from hub.app import create_app
    from hub.services import services_of
    from hub.settings import HubSettings

    app = create_app(HubSettings.load(tree.dirs["hub"]))
    return app, services_of(app)


def _withdraw_at_hub(tree: Tree, case_id: str) -> None:
    """The applicant withdraws at the city's front desk; the window's note names the person
    (so the event that goes down the tree to the village carries personal data too)."""
    from shared.deciding import case_work
    from shared.domain.case_events import EventActor, EventDraft, EventType, Role
    from shared.web.request_db import app_session

    app, hub = _hub(tree)
    site, now = hub.sync_site, hub.clock()
    draft = EventDraft(EventType.WITHDRAWN, EventActor("front-desk", Role.WINDOW_OPERATOR), now,
                       {"reason": "the applicant withdrew",
                        "note": f"{NAME} ({ID_NUMBER}) came in person"})
    with app_session(app) as session:
        authored = case_work.append_drafts(session, site, uuid.UUID(case_id), [draft], now,
                                           VILLAGE)
        site.hooks.events_arrived(session, authored, now)
        session.commit()


def _erase_at_hub(tree: Tree, case_id: str) -> None:
    """Four years on (a withdrawn case is kept three) the hub erases the case: the library
    call ``sanji hub erase-expired`` makes."""
    from hub.privacy.erasure import erase_expired
    from hub.privacy.retention_policy import load_policy
    from shared.web.request_db import session_factory

    app, hub = _hub(tree)
    data_dir = hub.settings.data_dir
    done = erase_expired(session_factory(app), hub.sync_site, hub.data_keys, hub.blobs,
                         data_dir, load_policy(data_dir), hub.clock() + timedelta(days=4 * 365))
    assert [str(e.case_id) for e in done] == [case_id]


def _opened_records(name: str, data_dir: Path, child: str) -> Iterator[str]:
    """Every stored payload and every queued copy toward ``child`` of the site in
    ``data_dir``, opened with its data key, as JSON text."""
    from sqlalchemy import select

    from shared.storage import sync_store
    from shared.web.request_db import app_session
    from sync_protocol import Event, LinkPosition

    sealer: sync_store.PayloadSealer
    if name == "hub":
        from hub.app import create_app as hub_app
        from hub.services import services_of as hub_services
        from hub.settings import HubSettings

        app = hub_app(HubSettings.load(data_dir))
        sealer = hub_services(app).payload_sealer
    else:
        from node.app import create_app as node_app
        from node.services import services_of as node_services
        from node.settings import NodeSettings

        app = node_app(NodeSettings.load(data_dir))
        sealer = node_services(app).sealer
    with app_session(app) as session:
        for row in session.scalars(select(sync_store.SyncEvent)):
            yield json.dumps(sync_store.open_payload(row, sealer), ensure_ascii=False)
        for item in sync_store.down_after(session, child, LinkPosition(), 100_000):
            if isinstance(item.item, Event):
                yield json.dumps(dict(item.item.payload), ensure_ascii=False)


@pytest.mark.parametrize("delivered", [True, False], ids=["delivered", "on-their-way"])
def test_an_erasure_at_the_hub_erases_the_case_at_every_tier(tmp_path: Path,
                                                            delivered: bool) -> None:
    """``delivered``: the withdrawal reached the village before the erasure; otherwise its
    copies are still queued at the hub and the township when the case is erased, and each
    is erased once the child acknowledges it."""
    with city(tmp_path, {HUB: [("mz-review", "W-MZ-01")]}) as tree:
        agent = signed_in(tree.village, AGENT)
        case_id = register_with_scan(agent, tree.village.url, "erasure-1")
        tree.settle()
        shown = agent.get(f"{tree.village.url}/api/v1/cases/{case_id}", timeout=10).json()
        assert "id_number" in shown["applicant"] and shown["applicant"]["name"]
        assert [m["sha256"] for m in shown["materials"]] == [SCAN_SHA]
        before = {name: (tree.dirs[name] / "blobs" / SCAN_SHA[:2] / SCAN_SHA).is_file()
                  for name in ("hub", "township", "village")}
        assert before == {"hub": True, "township": True, "village": True}, before

        _withdraw_at_hub(tree, case_id)
        if delivered:
            tree.settle()  # the withdrawal reaches the village
        _erase_at_hub(tree, case_id)
        tree.settle()
        tree.sync("village", "township")  # the last copies received are acknowledged

        shown = agent.get(f"{tree.village.url}/api/v1/cases/{case_id}", timeout=10).json()
        assert shown["applicant"] == {"kind": "person", "name": ""}, shown["applicant"]
        assert shown["materials"] == []
        assert [e["type"] for e in shown["events"]][-1] == "erased"
        assert shown["acceptance_no"]  # the case stays, without its person
        page = agent.get(f"{tree.village.url}/cases/{case_id}", timeout=10)
        assert page.status_code == 200
        assert ID_NUMBER[:6] not in page.text and NAME not in page.text
        for name in ("hub", "township", "village"):  # erased events are erased, not edited
            audit = sanji("audit", "verify", "--data-dir", str(tree.dirs[name]))
            assert "every chain verifies" in audit, (name, audit)
            assert f"erased: case {case_id}:" in audit, (name, audit)
    after = {name: list((tree.dirs[name] / "blobs").rglob(f"{SCAN_SHA}*"))
             for name in ("hub", "township", "village")}
    assert after == {"hub": [], "township": [], "village": []}, after

    roots = [tree.dirs[name] for name in ("hub", "township", "village")]
    assert _hits(roots) == []
    fragment = SCAN[100:164]  # random bytes: found only where the scan is kept in clear
    files = [p for root in roots for p in root.rglob("*") if p.is_file()]
    assert [str(p) for p in files if fragment in p.read_bytes()] == []

    for name, child in (("hub", TOWNSHIP), ("township", VILLAGE)):
        opened = list(_opened_records(name, tree.dirs[name], child))
        assert opened, name
        assert [p for p in opened if ID_NUMBER[:17] in p or NAME in p] == [], name


def test_a_hub_restored_from_before_the_case_gets_it_back_erased(tmp_path: Path) -> None:
    """The hub's disk is restored from a backup taken before the case reached it, after the
    case was erased: the township sends the village's events again, erased (they keep their
    hashes), and hands back the hub's own events, the erasure among them. The restored hub
    takes them all, its chains verify with the case's events counted as erased, and no file
    of its data directory holds the person."""
    import shutil

    with city(tmp_path, {HUB: [("mz-review", "W-MZ-01")]}) as tree:
        hub_dir = tree.dirs["hub"]
        tree.hub.stop()
        backup = tmp_path / "hub-backup"
        shutil.copytree(hub_dir, backup)
        tree.hub.start()
        agent = signed_in(tree.village, AGENT)
        case_id = register_with_scan(agent, tree.village.url, "erasure-restored")
        tree.settle()
        _withdraw_at_hub(tree, case_id)
        tree.settle()
        _erase_at_hub(tree, case_id)
        tree.settle()
        tree.sync("village", "township")

        tree.hub.stop()
        shutil.rmtree(hub_dir)
        shutil.copytree(backup, hub_dir)
        sanji("hub", "init", "--data-dir", str(hub_dir), "--new-epoch")
        tree.hub.start()
        tally = Tally(runs=1)
        settle(tree, tally)  # the first answers of a restored hub may refuse (its histories)
        assert tally.clean, tally.notes
        tree.sync("township", "village")

        app, hub = _hub(tree)
        from shared.deciding import case_work
        from shared.web.request_db import app_session

        with app_session(app) as session:
            events = case_work.case_events(session, hub.sync_site, uuid.UUID(case_id))
        types = [e.type for e in events]
        assert types[0] == "registered" and "erased" in types, types
        assert types.count("routed") == 1, types  # handed back, not routed again
        audit = sanji("audit", "verify", "--data-dir", str(hub_dir))
        assert "every chain verifies" in audit, audit
        assert f"erased: case {case_id}:" in audit, audit
        shown = agent.get(f"{tree.village.url}/api/v1/cases/{case_id}", timeout=10).json()
        assert [e["type"] for e in shown["events"]].count("routed") == 1
    assert _hits([hub_dir]) == []
    opened = list(_opened_records("hub", hub_dir, TOWNSHIP))
    assert [p for p in opened if ID_NUMBER[:17] in p or NAME in p] == []


def test_a_scan_another_live_case_names_is_kept_at_every_tier(tmp_path: Path) -> None:
    """Two cases of one person carry the same scan (one file, content-addressed). Erasing
    the first keeps the file wherever the second is held: at the village (its own
    registrations), at the township (a relay, which knows the cases from the events it
    passed on) and at the hub (the blind index)."""
    with city(tmp_path, {HUB: [("mz-review", "W-MZ-01")]}) as tree:
        agent = signed_in(tree.village, AGENT)
        first = register_with_scan(agent, tree.village.url, "erasure-shared-1")
        second = register_with_scan(agent, tree.village.url, "erasure-shared-2")
        tree.settle()
        _withdraw_at_hub(tree, first)
        tree.settle()
        _erase_at_hub(tree, first)
        tree.settle()
        tree.sync("village", "township")
        kept = {name: (tree.dirs[name] / "blobs" / SCAN_SHA[:2] / SCAN_SHA).is_file()
                for name in ("hub", "township", "village")}
        assert kept == {"hub": True, "township": True, "village": True}, kept
        shown = agent.get(f"{tree.village.url}/api/v1/cases/{second}", timeout=10).json()
        assert [m["sha256"] for m in shown["materials"]] == [SCAN_SHA]
        gone = agent.get(f"{tree.village.url}/api/v1/cases/{first}", timeout=10).json()
        assert gone["materials"] == []
