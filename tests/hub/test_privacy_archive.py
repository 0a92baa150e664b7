"""Archiving closed cases on PostgreSQL: the archive is signed and sealed, verifies, and a
changed one is caught; an archived case takes no more window actions, and nothing of a
refused one is written."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select

from hub.background import run_archiving
from hub.cli import hub_group
from hub.db_session import app_session
from hub.privacy.archive import ArchiveInvalid, archive_case, archive_path, verify_archive
from hub.privacy.tables import HubArchivedCase
from shared.storage import sync_store
from shared.storage.sealing import SealedRecords
from tests.hub.conftest import ID_NUMBER, PASSWORD, WINDOW, Hub, register_at_hub
from tests.hub.privacy_fixtures import pg_hub_maker, withdraw

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
USERS = [("op1", "window_operator", WINDOW)]


@pytest.fixture
def hub(tmp_path: Path, pg_schema_url: str) -> Hub:
    return pg_hub_maker(tmp_path, pg_schema_url)(NOW, USERS)


def _run(*args: str) -> Any:
    return CliRunner().invoke(hub_group, list(args))


def test_closed_cases_are_archived_signed_and_verify(hub: Hub) -> None:
    closed, _ = register_at_hub(hub, 1)
    still_open, _ = register_at_hub(hub, 2)
    withdraw(hub, closed)
    data_dir = str(hub.services.settings.data_dir)
    result = _run("archive-closed", "--data-dir", data_dir, "--before", "2026-03-03")
    assert result.exit_code == 0, result.output
    assert "1 closed cases archived" in result.output
    with app_session(hub.app) as session:
        assert session.scalars(select(HubArchivedCase.case_id)).all() == [closed]
    path = archive_path(hub.services.settings.data_dir, closed)
    assert ID_NUMBER.encode() not in path.read_bytes()  # sealed at rest
    assert not archive_path(hub.services.settings.data_dir, still_open).exists()
    result = _run("verify-archive", "--data-dir", data_dir, "--case-id", str(closed))
    assert result.exit_code == 0, result.output
    assert "signature valid (4 events, 1 scans" in result.output
    # a second run finds nothing more to do
    again = _run("archive-closed", "--data-dir", data_dir, "--before", "2026-03-03")
    assert "0 closed cases archived" in again.output
    # signed before the hub's key was rotated: still the hub's, found by its id
    rotated = _run("rotate-key", "--data-dir", data_dir)
    assert rotated.exit_code == 0, rotated.output
    result = _run("verify-archive", "--data-dir", data_dir, "--case-id", str(closed))
    assert result.exit_code == 0, result.output


def test_a_changed_archive_is_caught(hub: Hub) -> None:
    case_id, _ = register_at_hub(hub)
    withdraw(hub, case_id)
    services = hub.services
    with app_session(hub.app) as session:
        path = archive_case(session, services.settings.data_dir, services.key,
                            services.data_keys, services.payload_sealer, case_id, NOW)
        session.commit()
    key = services.key

    def public(key_id: bytes) -> Ed25519PublicKey | None:
        return key.private.public_key() if key_id == key.key_id else None

    assert verify_archive(path, services.data_keys, public).events == 4
    original = path.read_bytes()
    # a flipped byte: the seal does not open
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 1
    path.write_bytes(bytes(flipped))
    with pytest.raises(ArchiveInvalid, match="does not open"):
        verify_archive(path, services.data_keys, public)
    # rewritten by someone holding the data key but not the hub's key: the signature fails
    records = SealedRecords(services.data_keys)
    context = f"case-archive:{case_id}"
    signed = json.loads(records.open(original, context))
    signed["record"]["events"][0]["payload"]["applicant"]["name"] = "王五"
    path.write_bytes(records.seal(json.dumps(signed).encode(), context))
    with pytest.raises(ArchiveInvalid, match="does not verify"):
        verify_archive(path, services.data_keys, public)


def test_a_window_action_on_an_archived_case_is_refused_and_nothing_is_written(
        hub: Hub) -> None:
    case_id, _ = register_at_hub(hub)
    services = hub.services
    with app_session(hub.app) as session:
        archive_case(session, services.settings.data_dir, services.key, services.data_keys,
                     services.payload_sealer, case_id, NOW)
        session.commit()
        before = session.scalar(select(func.count()).select_from(sync_store.SyncEvent))
    client = hub.app.test_client()
    token = client.post("/api/v1/auth/token",
                        json={"username": "op1", "password": PASSWORD}).get_json()
    hub.clock.now = NOW + timedelta(minutes=5)
    response = client.post(f"/api/v1/cases/{case_id}/actions", json={"action": "claim"},
                           headers={"Authorization": f"Bearer {token['access_token']}"})
    assert response.status_code == 409, response.get_json()
    assert response.get_json()["error"]["code"] == "case_archived"
    with app_session(hub.app) as session:
        after = session.scalar(select(func.count()).select_from(sync_store.SyncEvent))
    assert after == before


def test_the_scheduled_run_archives_what_the_policy_says(hub: Hub) -> None:
    case_id, _ = register_at_hub(hub)
    withdraw(hub, case_id)
    hub.clock.now = NOW + timedelta(days=89)
    assert run_archiving(hub.app) == 0  # closed 89 days ago: the default is 90
    hub.clock.now = NOW + timedelta(days=91)
    assert run_archiving(hub.app) == 1
    assert archive_path(hub.services.settings.data_dir, case_id).exists()
