"""The online hall in the hub's retention run: a draft left untouched past its period is
deleted, an account with no case open and no sign-in past its period is anonymised; a fresh
draft, an account with an open case and one signed in lately stay (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from hub.background import run_online_retention
from hub.cli import hub_group
from hub.db_session import MIGRATIONS, app_session
from hub.online_hall_accounts import OnlineHall, account_by_phone, check_sign_up, create_account
from hub.online_hall_cases import Draft, load_draft, save_draft, store_scans, submit
from hub.online_hall_models import OnlineAccount, OnlineCase, OnlineCode, OnlineDraft
from hub.privacy.retention_policy import POLICY_FILE, load_policy
from shared.domain.errors import Problems
from shared.domain.retention import RetentionPolicy
from shared.storage.scan_uploads import check_upload, material_of
from shared.storage.sync_store import SyncState
from shared.web.rate_limit import failure_counts_of
from tests.hub.conftest import Hub
from tests.hub.online_hall_fixtures import JPEG, PNG, SmsSink, hall_hub, sms_sink

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
OPERATOR = "ga-1"
ITEM = "GA-3101"
PEOPLE = {  # phone -> (name, ID number)
    "13900000001": ("王芳", "11010519491231002X"),
    "13900000002": ("赵强", "110105198001010016"),
    "13900000003": ("李四", "431002197503150023"),
    "13900000004": ("张三", "110101199003071233"),
}


@pytest.fixture
def sink() -> Iterator[SmsSink]:
    with sms_sink() as found:
        yield found


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def hub(request: pytest.FixtureRequest, tmp_path: Path, sink: SmsSink) -> Hub:
    url = request.getfixturevalue("pg_schema_url") if request.param == "postgresql" else None
    return hall_hub(tmp_path, T0, sink, ((OPERATOR, "W-GA-01"),), url)


def _hall(hub: Hub) -> OnlineHall:
    services = hub.services
    return OnlineHall(keys=services.data_keys, sealer=services.payload_sealer,
                      counts=failure_counts_of(hub.app), gateway=services.sms.gateway,
                      centre=services.settings.site_name)


def _account(hub: Hub, phone: str) -> int:
    name, number = PEOPLE[phone]
    person = {"kind": "person", "name": name, "id_number": number, "phone": phone}
    with hub.app.test_request_context(), app_session(hub.app) as session:
        account = create_account(session, _hall(hub), check_sign_up(person, hub.clock()),
                                 _hall(hub).phone_index(phone), hub.clock())
        session.commit()
        return account.id


def _draft(hub: Hub, account_id: int, code: str, form: dict[str, str]) -> None:
    with hub.app.test_request_context(), app_session(hub.app) as session:
        save_draft(session, hub.services, account_id, code, Draft(form), hub.clock())
        session.commit()


def _submitted(hub: Hub, account_id: int, phone: str) -> uuid.UUID:
    name, number = PEOPLE[phone]
    item = hub.services.catalogue.item(ITEM)
    with hub.app.test_request_context(), app_session(hub.app) as session:
        draft = Draft({"purpose": "tourism"}, "window", [])
        scans = [check_upload(material_of(item, code), io.BytesIO(data))
                 for code, data in (("ID_CARD", JPEG), ("PHOTO", PNG))]
        store_scans(hub.services, scans)
        draft.add(scans)
        save_draft(session, hub.services, account_id, ITEM, draft, hub.clock())
        session.commit()
        return submit(session, hub.services, account_id, item,
                      {"kind": "person", "name": name, "id_number": number, "phone": phone},
                      hub.clock()).case_id


def _sign_in(hub: Hub, sink: SmsSink, phone: str) -> None:
    client = hub.app.test_client()
    assert client.post("/online/signin", data={"phone": phone}).status_code == 200
    done = client.post("/online/signin", data={"phone": phone, "action": "sign_in",
                                               "code": sink.code_for(phone)})
    assert done.status_code == 303


def _state_keys(hub: Hub, prefix: str) -> list[str]:
    with app_session(hub.app) as session:
        return list(session.scalars(select(SyncState.key).where(
            SyncState.key.startswith(prefix))))


def test_old_drafts_go_and_fresh_ones_stay(hub: Hub) -> None:
    account = _account(hub, "13900000001")
    _draft(hub, account, ITEM, {"purpose": "tourism"})
    hub.clock.now = T0 + timedelta(days=25)
    _draft(hub, account, "YJS-0003", {"residence_address": "北湖区人民路 18 号"})

    hub.clock.now = T0 + timedelta(days=30)  # the old one's 30 days are not over yet
    assert run_online_retention(hub.app).drafts == 0
    hub.clock.now = T0 + timedelta(days=31)
    done = run_online_retention(hub.app)
    assert (done.drafts, done.accounts) == (1, 0)
    assert _state_keys(hub, "online_draft:") == [f"online_draft:{account}:YJS-0003"]
    with hub.app.test_request_context(), app_session(hub.app) as session:
        assert load_draft(session, hub.services, account, ITEM) == Draft()
        assert load_draft(session, hub.services, account, "YJS-0003").form == {
            "residence_address": "北湖区人民路 18 号"}
        assert [d.code for d in session.scalars(select(OnlineDraft))] == ["YJS-0003"]


def test_unused_accounts_are_anonymised_and_those_in_use_stay(
        hub: Hub, sink: SmsSink) -> None:
    idle = _account(hub, "13900000001")  # no case, never back
    _draft(hub, idle, "YJS-0003", {"residence_address": "北湖区人民路 18 号"})
    waiting = _account(hub, "13900000002")  # a case still open
    open_case = _submitted(hub, waiting, "13900000002")
    closed = _account(hub, "13900000003")  # its only case withdrawn
    closed_case = _submitted(hub, closed, "13900000003")
    answer = hub.app.test_client().post(f"/api/v1/cases/{closed_case}/actions",
                                        json={"action": "withdraw", "reason": "申请人撤回"},
                                        headers=hub.bearer(OPERATOR))
    assert answer.status_code == 200, answer.get_json()
    back = _account(hub, "13900000004")  # signs in again later
    hub.clock.now = T0 + timedelta(days=700)
    _sign_in(hub, sink, "13900000004")

    hub.clock.now = T0 + timedelta(days=731)
    done = run_online_retention(hub.app)
    assert (done.accounts, done.drafts) == (2, 1)  # the idle one's draft is over 30 days
    assert done.codes == 1  # the code of the sign-in a month ago

    hall = _hall(hub)
    with app_session(hub.app) as session:
        by_id = {a.id: a for a in session.scalars(select(OnlineAccount))}
        for gone in (idle, closed):
            assert by_id[gone].identity == b"" and len(by_id[gone].phone_index) < 64
        for phone in ("13900000001", "13900000003"):
            assert account_by_phone(session, hall.phone_index(phone)) is None
        for kept, phone in ((waiting, "13900000002"), (back, "13900000004")):
            found = account_by_phone(session, hall.phone_index(phone))
            assert found is not None and found.id == kept
        links = {c.case_id: c.account_id for c in session.scalars(select(OnlineCase))}
    assert links == {open_case: waiting}
    assert _state_keys(hub, f"online_draft:{idle}:") == []
    assert _state_keys(hub, f"online_submitted:{closed}:") == []

    # nothing in the anonymised rows names anyone; signing in finds no account
    client = hub.app.test_client()
    assert client.post("/online/signin", data={"phone": "13900000001"}).status_code == 200
    found = client.post("/online/signin", data={"phone": "13900000001", "action": "sign_in",
                                                "code": sink.code_for("13900000001")})
    assert found.status_code == 404
    assert run_online_retention(hub.app).accounts == 0  # done once

    assert run_online_retention(hub.app).codes == 0  # the code just used stays a day
    hub.clock.now = T0 + timedelta(days=733)
    assert run_online_retention(hub.app).codes == 1
    with app_session(hub.app) as session:
        assert session.scalars(select(OnlineCode)).all() == []


def test_the_periods_are_the_policy_file_s(tmp_path: Path) -> None:
    assert (RetentionPolicy().online_draft_days, RetentionPolicy().online_account_days) == (
        30, 730)
    (tmp_path / POLICY_FILE).write_text(json.dumps({"online_draft_days": 7,
                                                    "online_account_days": 365}))
    policy = load_policy(tmp_path)
    assert (policy.online_draft_days, policy.online_account_days) == (7, 365)
    bad: dict[str, Any] = {"online_draft_days": 0, "online_account_days": 10}
    (tmp_path / POLICY_FILE).write_text(json.dumps(bad))
    with pytest.raises(Problems) as raised:
        load_policy(tmp_path)
    assert set(raised.value.fields) == set(bad)


def test_the_erase_expired_command_reports_the_online_figures(hub: Hub) -> None:
    account = _account(hub, "13900000001")
    _draft(hub, account, ITEM, {"purpose": "tourism"})  # months before the command's today
    data_dir = str(hub.services.settings.data_dir)
    result = CliRunner().invoke(hub_group, ["erase-expired", "--data-dir", data_dir])
    assert result.exit_code == 0, result.output
    assert ("1 online drafts deleted (untouched 30 days), 0 online accounts anonymised "
            "(unused 730 days)") in result.output
    assert _state_keys(hub, "online_draft:") == []


def test_drafts_kept_before_the_upgrade_start_their_period_at_it(db_engine: Engine) -> None:
    MIGRATIONS.upgrade(db_engine, "0023")
    with db_engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO sync_state (key, value, counter) VALUES "
            "('online_draft:7:GA-3101', :v, 0), ('online_draft:7:YJS-0003', :v, 0), "
            "('online_submitted:7:0123', :v, 0)"), {"v": b"sealed"})
    before = int(datetime.now(UTC).timestamp() * 1000)
    MIGRATIONS.upgrade(db_engine)
    with db_engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT account_id, code, touched_ms FROM hub_online_drafts ORDER BY code")).all()
    assert [(r[0], r[1]) for r in rows] == [(7, "GA-3101"), (7, "YJS-0003")]
    assert all(r[2] >= before for r in rows)
