"""A scan fetched down the tree (:mod:`shared.web.scan_fetch`), on SQLite and PostgreSQL.

The parent gives a child only a scan an event of the case names, and only when the case goes
down toward that child; a child keeps only bytes that hash to the scan's name."""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from shared.exchange.site import BlobSettings, SyncSite
from shared.storage import sync_store as store
from shared.storage.blob_store import BlobStore
from shared.web.scan_fetch import MISMATCH, Fetched, fetch_scan, scan_for_child, wanted_here
from sync_protocol import Event, SiteKey
from sync_protocol.times import to_ms
from tests.shared.exchange.test_tree import HUB, NOW, OTHER_TOWNSHIP, TOWNSHIP, VILLAGE

SCAN = b"%PDF-1.4\n" + bytes(range(256)) * 40
SHA = hashlib.sha256(SCAN).hexdigest()
CASE = uuid.UUID("0193a5b0-0000-7000-8000-000000000001")


@dataclass
class Site:
    """A site as the fetch sees it: its sync identity, clock and parent."""

    sync_site: SyncSite
    parent_url: str | None = None

    def clock(self) -> datetime:
        return NOW

    def parent(self) -> tuple[str, str | bool] | None:
        return (self.parent_url, True) if self.parent_url else None


@dataclass
class Parent:
    url: str
    body: bytes = b""
    asked: list[str] = field(default_factory=list)


@pytest.fixture
def parent() -> Iterator[Parent]:
    """A real HTTP server in a thread answering every scan request with ``body``."""
    app = Flask(__name__)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    state = Parent(f"http://127.0.0.1:{server.server_port}")

    @app.get("/api/v1/scans/<sha256>")
    def answer(sha256: str) -> Response:
        state.asked.append(sha256)
        return Response(state.body, mimetype="application/octet-stream")

    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield state
    server.shutdown()
    thread.join(timeout=10)


def _site(keys: dict[str, SiteKey], code: str, parent_url: str | None = None) -> Site:
    return Site(SyncSite(key=keys[code], hub_site=HUB, hub_public_raw=keys[HUB].public_raw,
                         sealer=store.PlainPayloads(), blob_settings=BlobSettings()),
                parent_url)


def _event(origin: str, seq: int, type_: str, payload: dict[str, Any]) -> Event:
    return Event(CASE, origin, 1, seq, "system", NOW, type_, payload, b"\0" * 32,
                 bytes([seq]) * 32)


def _online_case(session: Session, scan: str = SHA) -> None:
    """A case applied for online at the hub with one scan, routed by the other township."""
    store.store_received_many(session, store.PlainPayloads(), [
        _event(HUB, 1, "registered", {"item_code": "MZ-0305", "materials": [
            {"code": "HARDSHIP_PROOF", "sha256": scan, "size": len(SCAN),
             "media_type": "application/pdf"}]}),
        _event(OTHER_TOWNSHIP, 1, "routed", {"window": "W-MZ-11", "site": OTHER_TOWNSHIP}),
    ], up=False, now_ms=to_ms(NOW))
    session.commit()


def test_the_parent_gives_the_scan_only_toward_the_office_the_case_goes_to(
        session: Session, keys: dict[str, SiteKey], tmp_path: Path) -> None:
    _online_case(session)
    blobs = BlobStore(tmp_path / "blobs")
    blobs.put(SCAN)
    hub = _site(keys, HUB)
    routed_to = scan_for_child(session, hub, blobs, SHA, CASE,
                               f"{OTHER_TOWNSHIP}/window_operator:a")
    assert routed_to == Fetched(200)
    # the township's branch is not on the case's way: the same answer as for no scan at all
    elsewhere = scan_for_child(session, hub, blobs, SHA, CASE, f"{TOWNSHIP}/window_operator:b")
    unknown_case = scan_for_child(session, hub, blobs, SHA, uuid.uuid4(),
                                  f"{OTHER_TOWNSHIP}/window_operator:a")
    other_scan = scan_for_child(session, hub, blobs, "ab" * 32, CASE,
                                f"{OTHER_TOWNSHIP}/window_operator:a")
    assert elsewhere == unknown_case == other_scan == Fetched(404)


def test_a_scan_registered_below_is_not_fetched_it_is_on_its_way_up(
        session: Session, keys: dict[str, SiteKey]) -> None:
    store.store_received_many(session, store.PlainPayloads(), [
        _event(VILLAGE, 1, "registered", {"materials": [
            {"sha256": SHA, "size": len(SCAN), "media_type": "application/pdf"}]})],
        up=False, now_ms=to_ms(NOW))
    township = _site(keys, TOWNSHIP).sync_site
    assert wanted_here(session, township, SHA, CASE) is None
    assert wanted_here(session, _site(keys, OTHER_TOWNSHIP).sync_site, SHA, CASE) is not None


def test_wrong_bytes_from_the_parent_are_refused_and_nothing_is_kept(
        session: Session, keys: dict[str, SiteKey], tmp_path: Path, parent: Parent) -> None:
    _online_case(session)
    township = _site(keys, OTHER_TOWNSHIP, parent.url)
    wanted = wanted_here(session, township.sync_site, SHA, CASE)
    assert wanted is not None
    blobs = BlobStore(tmp_path / "blobs")
    parent.body = SCAN[:-1] + b"!"  # one byte changed on the way
    assert fetch_scan(session, township, blobs, SHA, wanted, "window_operator:a") == Fetched(
        503, MISMATCH)
    parent.body = SCAN + b"more"  # longer than the scan the case names
    assert fetch_scan(session, township, blobs, SHA, wanted, "window_operator:a") == Fetched(
        503, MISMATCH)
    assert not blobs.has(SHA) and store.blob_record(session, SHA) is None
    assert not any(p.is_file() for p in (tmp_path / "blobs").rglob("*"))

    parent.body = SCAN
    assert fetch_scan(session, township, blobs, SHA, wanted, "window_operator:a") == Fetched(200)
    assert blobs.get(SHA) == SCAN
    record = store.blob_record(session, SHA)
    assert record is not None and record.held and record.media_type == "application/pdf"
    assert parent.asked == [SHA] * 3  # one request per view, no polling


def test_an_unreachable_parent_is_a_503(session: Session, keys: dict[str, SiteKey],
                                        tmp_path: Path) -> None:
    _online_case(session)
    township = _site(keys, OTHER_TOWNSHIP, "http://127.0.0.1:9")
    wanted = wanted_here(session, township.sync_site, SHA, CASE)
    assert wanted is not None
    found = fetch_scan(session, township, BlobStore(tmp_path / "blobs"), SHA, wanted, "x:y")
    assert found.status == 503
