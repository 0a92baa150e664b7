"""The blind index of ID numbers and the access request (PIPL art. 45), on PostgreSQL."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, func, select, text

from hub.background import run_erasure
from hub.cli import hub_group
from hub.db_session import app_session
from hub.privacy.tables import HubAccessRequest, HubIdIndex
from shared.storage.id_index import blind_index
from tests.hub.conftest import ID_NUMBER, WINDOW, Hub, register_at_hub
from tests.hub.privacy_fixtures import pg_hub_maker, withdraw

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OTHER_ID = "110105198001011238"  # a valid number, of nobody with a case here
USERS = [("admin1", "admin", None), ("op1", "window_operator", WINDOW)]


@pytest.fixture
def hub(tmp_path: Path, pg_schema_url: str) -> Hub:
    return pg_hub_maker(tmp_path, pg_schema_url)(NOW, USERS)


def _ask(hub: Hub, username: str, id_number: str) -> tuple[int, Any]:
    response = hub.app.test_client().post("/api/v1/admin/access-requests",
                                          json={"id_number": id_number},
                                          headers=hub.bearer(username))
    return response.status_code, response.get_json()


def test_the_index_finds_the_case_by_its_id_number_and_nothing_by_another(hub: Hub) -> None:
    case_id, acceptance_no = register_at_hub(hub)
    keys = hub.services.data_keys
    with app_session(hub.app) as session:
        indexed = session.execute(select(HubIdIndex)).scalars().all()
        assert [(r.blind_index, r.case_id) for r in indexed] == [
            (blind_index(keys, ID_NUMBER), case_id)]
        # lower-case x is the same number
        assert blind_index(keys, ID_NUMBER.lower()) == indexed[0].blind_index
    status, found = _ask(hub, "admin1", ID_NUMBER)
    assert status == 200, found
    cases = found["cases"]
    assert isinstance(cases, list) and len(cases) == 1
    case = cases[0]
    assert case["case_id"] == str(case_id)
    assert case["acceptance_no"] == acceptance_no
    assert case["applicant"]["id_number"] == ID_NUMBER
    assert case["materials"][0]["code"] == "APPLICATION"
    assert case["held_at_sites"] == ["431000"]
    assert case["kept_until"] is None  # open: kept while it is worked
    assert case["scans_kept_until"] is None
    status, nothing = _ask(hub, "admin1", OTHER_ID)
    assert status == 200 and nothing["cases"] == []


def test_the_request_is_logged_with_its_index_and_never_the_number(
        hub: Hub, caplog: pytest.LogCaptureFixture) -> None:
    register_at_hub(hub)
    with caplog.at_level(logging.DEBUG):
        _ask(hub, "admin1", ID_NUMBER)
    assert ID_NUMBER not in caplog.text
    with app_session(hub.app) as session:
        logged = session.scalars(select(HubAccessRequest)).all()
        assert [(r.asked_by, r.channel, r.cases_found) for r in logged] == [
            ("admin1", "api", 1)]
        assert logged[0].blind_index == blind_index(hub.services.data_keys, ID_NUMBER)
        dump = session.execute(text(
            "SELECT row_to_json(r)::text FROM hub_access_requests r")).scalars().all()
    assert all(ID_NUMBER not in row and ID_NUMBER[:17] not in row for row in dump)


def test_only_an_admin_asks_and_a_bad_number_names_its_field(hub: Hub) -> None:
    status, refused = _ask(hub, "op1", ID_NUMBER)
    assert status == 403 and refused["error"]["code"] == "not_permitted"
    status, wrong = _ask(hub, "admin1", "110105194912310021")
    assert status == 400 and set(wrong["error"]["fields"]) == {"id_number"}
    assert "110105194912310021" not in json.dumps(wrong)  # the refusal does not echo it
    with app_session(hub.app) as session:
        assert session.scalar(select(func.count()).select_from(HubAccessRequest)) == 0


def test_reindex_rebuilds_the_index_and_the_command_answers_to_a_file(
        hub: Hub, tmp_path: Path) -> None:
    case_id, _ = register_at_hub(hub)
    with app_session(hub.app) as session:
        session.execute(delete(HubIdIndex))
        session.commit()
    data_dir = str(hub.services.settings.data_dir)
    result = CliRunner().invoke(hub_group, ["reindex-ids", "--data-dir", data_dir])
    assert result.exit_code == 0, result.output
    assert "1 cases indexed" in result.output
    out = tmp_path / "answer.json"
    result = CliRunner().invoke(hub_group, ["access-request", "--data-dir", data_dir,
                                            "--out", str(out)], input=ID_NUMBER + "\n")
    assert result.exit_code == 0, result.output
    assert ID_NUMBER not in result.output
    answer = json.loads(out.read_text(encoding="utf-8"))
    assert [c["case_id"] for c in answer["cases"]] == [str(case_id)]
    assert out.stat().st_mode & 0o077 == 0


def test_init_on_an_upgraded_hub_fills_an_empty_index(hub: Hub) -> None:
    case_id, _ = register_at_hub(hub)
    with app_session(hub.app) as session:
        session.execute(delete(HubIdIndex))  # as a hub of a release without the index
        session.commit()
    settings = hub.services.settings
    result = CliRunner().invoke(hub_group, ["init", "--data-dir", str(settings.data_dir),
                                            "--database-url", settings.database_url])
    assert result.exit_code == 0, result.output
    assert "1 cases indexed by ID number" in result.output
    with app_session(hub.app) as session:
        assert session.scalars(select(HubIdIndex.case_id)).all() == [case_id]


def test_a_closed_case_says_until_when_it_is_kept(hub: Hub) -> None:
    case_id, _ = register_at_hub(hub)
    withdraw(hub, case_id)
    status, found = _ask(hub, "admin1", ID_NUMBER)
    assert status == 200
    case = found["cases"][0]
    assert (case["status"], case["outcome"]) == ("withdrawn", "withdrawn")
    assert case["closed_at"] == NOW.isoformat()
    assert case["kept_until"] == (NOW + timedelta(days=3 * 365)).isoformat()
    assert case["scans_kept_until"] == case["kept_until"]


def test_the_log_of_requests_is_kept_as_long_as_audit_logs(hub: Hub) -> None:
    _ask(hub, "admin1", ID_NUMBER)
    hub.clock.now = NOW + timedelta(days=3 * 365 - 1)
    run_erasure(hub.app)
    with app_session(hub.app) as session:
        assert session.scalar(select(func.count()).select_from(HubAccessRequest)) == 1
    hub.clock.now = NOW + timedelta(days=3 * 365 + 1)
    run_erasure(hub.app)
    with app_session(hub.app) as session:
        assert session.scalar(select(func.count()).select_from(HubAccessRequest)) == 0


def test_rotate_data_key_keeps_everything_readable_and_the_index_under_the_new_key(
        hub: Hub, tmp_path: Path) -> None:
    from hub.identity import data_keys
    from shared.storage.sealing import DATA_KEY_FILE, payload_key_id
    from shared.storage.sync_store import SyncEvent

    case_id, _ = register_at_hub(hub)
    settings = hub.services.settings
    old = data_keys(settings.key_dir)
    result = CliRunner().invoke(hub_group, ["rotate-data-key", "--data-dir",
                                            str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    assert "blind index rebuilt for 1 cases" in result.output
    new = data_keys(settings.key_dir)
    assert new.current != old.current and new.retired == (old.current,)
    assert (settings.key_dir / "data-1.key").read_bytes() == old.current
    assert (settings.key_dir / DATA_KEY_FILE).stat().st_mode & 0o077 == 0
    with app_session(hub.app) as session:
        indexed = session.scalars(select(HubIdIndex.blind_index)).all()
        sealed = [payload_key_id(bytes(p)) for p in session.scalars(select(SyncEvent.payload))]
    assert indexed == [blind_index(new, ID_NUMBER)]  # one index, under the new key
    assert set(sealed) == {old.current_id}  # what the old key sealed is not sealed again
    out = tmp_path / "answer.json"  # a fresh process: the old payloads open, the index finds
    result = CliRunner().invoke(hub_group, ["access-request", "--data-dir",
                                            str(settings.data_dir), "--out", str(out)],
                                input=ID_NUMBER + "\n")
    assert result.exit_code == 0, result.output
    answer = json.loads(out.read_text(encoding="utf-8"))
    assert [(c["case_id"], c["applicant"]["id_number"]) for c in answer["cases"]] == [
        (str(case_id), ID_NUMBER)]
