"""The hub keeps personal data sealed at rest: event payloads, the front desk's idempotency
record (which holds the query code) and scans; payloads an earlier release kept in clear are
sealed when the hub starts."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import delete, select, text

from hub.app import create_app
from hub.cli import hub_group
from hub.db_session import app_session
from hub.services import DataKeyMismatch
from hub.settings import HubSettings
from shared.storage import sync_store
from shared.storage.accounts import add_user
from shared.storage.blob_store import SEALED_MARK, BlobStore
from shared.storage.sealing import KEY_ID_BYTES, SealError, is_sealed_payload, key_id_of
from tests.hub import test_front_desk as desk

ID_NUMBER = desk.BODY["applicant"]["id_number"]  # type: ignore[index]


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    data_dir = tmp_path / "hub"
    result = CliRunner().invoke(hub_group, ["init", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    app = create_app(replace(HubSettings.load(data_dir), testing=True))
    hub = app.extensions["sanji_hub"]
    hub.clock = desk.Clock(datetime(2026, 3, 2, 2, 0, tzinfo=UTC))
    with app_session(app) as session:
        add_user(session, username="desk", password=desk.PASSWORD, role="agent", site=desk.HUB,
                 now=hub.clock())
        session.commit()
    return app


def _database_bytes(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(data_dir.glob("*.db*")) if p.is_file())


def _stored_payloads(app: Flask) -> list[bytes]:
    with app_session(app) as session:
        return [bytes(p) for p in session.scalars(select(sync_store.SyncEvent.payload))]


def test_a_walk_in_leaves_no_id_number_or_query_code_in_clear(app: Flask) -> None:
    client = app.test_client()
    first = desk._register(client, "walk-in-1")
    assert first.status_code == 201, first.get_data(as_text=True)
    query_code = first.get_json()["query_code"]
    data_dir = Path(app.extensions["sanji_hub"].settings.data_dir)
    key = (data_dir / "keys" / "data.key").read_bytes()
    payloads = _stored_payloads(app)
    assert payloads and all(is_sealed_payload(p) for p in payloads)
    assert all(p[1:1 + KEY_ID_BYTES] == key_id_of(key) for p in payloads)  # for rotation
    with app_session(app) as session:
        records = session.execute(select(sync_store.SyncState.key, sync_store.SyncState.value)
                                  .where(sync_store.SyncState.key.like("idem:%"))).all()
        session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    assert len(records) == 1 and is_sealed_payload(bytes(records[0].value))
    on_disk = _database_bytes(data_dir)
    assert ID_NUMBER.encode() not in on_disk
    assert query_code.encode() not in on_disk
    # the record still answers a repeat with the same query code
    again = desk._register(client, "walk-in-1")
    assert again.status_code == 200 and again.get_json()["query_code"] == query_code
    # and the public lookup still finds the case through the sealed registration
    found = client.get("/api/v1/public/status", query_string={
        "acceptance_no": first.get_json()["acceptance_no"], "query_code": query_code})
    assert found.status_code == 200, found.get_data(as_text=True)


def test_payloads_kept_in_clear_by_an_earlier_release_are_sealed_at_start(app: Flask) -> None:
    client = app.test_client()
    assert desk._register(client, "walk-in-1").status_code == 201
    hub = app.extensions["sanji_hub"]
    sealer = hub.payload_sealer
    with app_session(app) as session:  # as an earlier release stored them
        rows = session.scalars(select(sync_store.SyncEvent)).all()
        clear = {r.id: sync_store.open_payload(r, sealer) for r in rows}
        for row in rows:
            row.payload = sync_store.PlainPayloads().seal(clear[row.id], "")
        session.execute(delete(sync_store.SyncState).where(
            sync_store.SyncState.key == sync_store.SEALED_THROUGH_KEY))
        session.commit()
    assert not any(is_sealed_payload(p) for p in _stored_payloads(app))
    assert any(ID_NUMBER.encode() in p for p in _stored_payloads(app))
    scan = b"%PDF-1.4 " + ID_NUMBER.encode()
    name = BlobStore(Path(hub.settings.data_dir) / "blobs").put(scan)  # a scan kept in clear
    (Path(hub.settings.data_dir) / "blobs" / SEALED_MARK).unlink(missing_ok=True)
    restarted = create_app(replace(HubSettings.load(Path(hub.settings.data_dir)), testing=True))
    blobs = restarted.extensions["sanji_hub"].blobs
    assert blobs.is_sealed(name) and blobs.get(name) == scan
    payloads = _stored_payloads(restarted)
    assert len(payloads) == len(clear) and all(is_sealed_payload(p) for p in payloads)
    # nothing of the clear rows is left in the database's free space or its WAL
    assert ID_NUMBER.encode() not in _database_bytes(Path(hub.settings.data_dir))
    with app_session(restarted) as session:
        rows = session.scalars(select(sync_store.SyncEvent)).all()
        assert {r.id: sync_store.open_payload(r, sealer) for r in rows} == clear
        # the event itself is unchanged: it still checks against its hash and signature
        events = [sync_store.as_event(r, sealer) for r in rows]
    assert json.dumps(events[0].payload, ensure_ascii=False).find(ID_NUMBER) >= 0
    # a second start finds nothing more to seal
    with app_session(restarted) as session:
        assert sync_store.seal_clear_payloads(session, sealer) == 0


def test_a_sealed_payload_moved_to_another_row_does_not_open(app: Flask) -> None:
    client = app.test_client()
    assert desk._register(client, "walk-in-1").status_code == 201
    sealer = app.extensions["sanji_hub"].payload_sealer
    with app_session(app) as session:
        first, second = session.scalars(select(sync_store.SyncEvent)
                                        .order_by(sync_store.SyncEvent.id).limit(2)).all()
        second.payload = first.payload
        with pytest.raises(SealError):
            sync_store.open_payload(second, sealer)


def test_a_hub_without_the_key_that_sealed_its_data_refuses_to_start(app: Flask) -> None:
    client = app.test_client()
    assert desk._register(client, "walk-in-1").status_code == 201
    data_dir = Path(app.extensions["sanji_hub"].settings.data_dir)
    keys = data_dir / "keys"
    first = keys / "data.key"
    held = first.read_bytes()
    first.unlink()  # as on a second hub machine whose keys/ was not copied
    settings = replace(HubSettings.load(data_dir), testing=True)
    with pytest.raises(DataKeyMismatch, match=r"copy keys/data\.key"):
        create_app(settings)
    # the first key kept as a retired one: the hub starts, opens the old, seals under the new
    (keys / "data-1.key").write_bytes(held)
    rotated = create_app(settings)
    rotated.extensions["sanji_hub"].clock = desk.Clock(datetime(2026, 3, 2, 2, 0, tzinfo=UTC))
    again = desk._register(rotated.test_client(), "walk-in-1")
    assert again.status_code == 200  # the sealed record under the old key still answers
    assert desk._register(rotated.test_client(), "walk-in-2").status_code == 201
    ids = {p[1:1 + KEY_ID_BYTES] for p in _stored_payloads(rotated)}
    assert ids == {key_id_of(held), key_id_of(first.read_bytes())}
