"""The city hall keeps a booking's name and phone sealed at rest (on SQLite and on
PostgreSQL): neither is in the database's rows or file, yet the staff's list shows them,
one phone still holds a limited number of bookings, a check-in by code and phone still
finds its booking, also after the data key is rotated; and the upgrade (hub revision 0025)
turns a clear booking into one the hub seals when it starts, and the downgrade back."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.orm import Session

from hub.app import create_app
from hub.db_session import MIGRATIONS, app_session
from hub.hall_models import (
    HubHallBooking,
    Personal,
    open_personal,
    phone_index,
    seal_clear_bookings,
)
from shared.storage.db import make_engine
from shared.storage.sealing import DataKeys, is_sealed_payload
from tests.hub.conftest import WINDOW, Hub, hub_maker
from tests.hub.test_hall import DAY, USERS, _book, _hall, at

PHONE = "13912345678"
NAME = "欧阳娜娜"


@pytest.fixture
def hub(tmp_path: Path, db_url: str) -> Hub:
    database = None if db_url.startswith("sqlite") else db_url  # SQLite: in the data dir
    made = hub_maker(tmp_path, database)(at(8, 30), USERS)
    _hall(made, areas=[{"code": "A", "name": "民政", "windows": [WINDOW, "W-MZ-02"]}],
          window_capacity=2, bookings_per_phone=2)
    return made


def _stored_text(hub: Hub) -> str:
    """Every booking row as the database gives it back, as text."""
    with app_session(hub.app) as session:
        rows = session.execute(select(HubHallBooking.__table__)).all()
        return "\n".join(repr(tuple(row)) for row in rows)


def _file_bytes(hub: Hub) -> bytes:
    with app_session(hub.app) as session:
        if session.get_bind().dialect.name != "sqlite":
            return b""
        session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    data_dir = Path(hub.services.settings.data_dir)
    return b"".join(p.read_bytes() for p in sorted(data_dir.glob("*.db*")) if p.is_file())


def _listed(hub: Hub) -> list[tuple[str, str]]:
    answer = hub.app.test_client().get(f"/api/v1/hall/bookings?target={WINDOW}&date={DAY}",
                                       headers=hub.bearer("sup"))
    assert answer.status_code == 200, answer.get_json()
    return [(b["name"], b["phone"]) for b in answer.get_json()["bookings"]]


def test_a_booking_keeps_no_name_or_phone_in_clear_yet_the_staff_read_them(hub: Hub) -> None:
    booked = _book(hub, PHONE, name=NAME)
    assert booked.status_code == 201, booked.get_json()
    stored = _stored_text(hub)
    assert PHONE not in stored and NAME not in stored
    with app_session(hub.app) as session:
        row = session.scalars(select(HubHallBooking)).one()
        assert row.personal is not None and is_sealed_payload(row.personal)
        assert row.phone_index == phone_index(hub.services.data_keys, PHONE)
    on_disk = _file_bytes(hub)
    assert PHONE.encode() not in on_disk and NAME.encode() not in on_disk
    assert _listed(hub) == [(NAME, PHONE)]
    page = hub.login("sup").get(f"/hall/bookings?target={WINDOW}&date={DAY}")
    assert page.status_code == 200 and PHONE in page.get_data(as_text=True)
    assert NAME in page.get_data(as_text=True)


def test_the_per_phone_limit_and_the_check_in_work_on_the_blind_index(hub: Hub) -> None:
    first = _book(hub, PHONE, "09:00")
    assert first.status_code == 201
    assert _book(hub, PHONE, "09:30").status_code == 201
    third = _book(hub, PHONE, "10:00")
    assert third.status_code == 409 and "phone" in third.get_json()["error"]["fields"]
    assert _book(hub, "13800138009", "10:00").status_code == 201  # another phone books
    code = first.get_json()["code"]
    client = hub.app.test_client()
    wrong = client.post("/api/v1/hall/tickets", json={"booking_code": code,
                                                      "phone": "13800138009"})
    assert wrong.status_code == 404
    ticket = client.post("/api/v1/hall/tickets", json={"booking_code": code, "phone": PHONE})
    assert ticket.status_code == 201, ticket.get_json()
    assert ticket.get_json()["booking"] is True


def test_a_booking_sealed_under_a_retired_key_still_opens_counts_and_checks_in(
        hub: Hub) -> None:
    first = _book(hub, PHONE, "09:00", name=NAME)
    assert first.status_code == 201
    old = hub.services.data_keys
    hub.services.data_keys = DataKeys(secrets.token_bytes(32), (old.current,))
    assert _listed(hub) == [(NAME, PHONE)]
    assert _book(hub, PHONE, "09:30").status_code == 201  # under the new key
    third = _book(hub, PHONE, "10:00")
    assert third.status_code == 409, third.get_json()  # both counted, under either key
    ticket = hub.app.test_client().post("/api/v1/hall/tickets", json={
        "booking_code": first.get_json()["code"], "phone": PHONE})
    assert ticket.status_code == 201, ticket.get_json()


def _migrate(engine: Engine, revision: str, *, down: bool = False,
             keys: DataKeys | None = None) -> None:
    config = MIGRATIONS.config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        if keys is not None:
            config.attributes["data_keys"] = keys
        (command.downgrade if down else command.upgrade)(config, revision)


def _columns(engine: Engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("hub_hall_bookings")}


def _insert_clear(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO hub_hall_bookings (code, target_kind, target, day, slot_ms, name, "
            "phone, item_code, state, created_ms) VALUES ('ABCD2345', 'window', :w, :d, 1, "
            ":n, :p, NULL, 'booked', 0)"), {"w": WINDOW, "d": DAY, "n": NAME, "p": PHONE})


def test_the_upgrade_turns_a_clear_booking_into_a_sealed_one_and_back(
        db_engine: Engine) -> None:
    keys = DataKeys(secrets.token_bytes(32))
    _migrate(db_engine, "0024")
    _insert_clear(db_engine)
    _migrate(db_engine, "head")
    assert {"name", "phone"}.isdisjoint(_columns(db_engine))
    with Session(db_engine) as session:
        assert seal_clear_bookings(session, keys) == 1  # the hub's start-up
        session.commit()
        assert seal_clear_bookings(session, keys) == 0  # once
        row = session.scalars(select(HubHallBooking)).one()
        assert row.personal is not None and is_sealed_payload(row.personal)
        assert PHONE.encode() not in row.personal and NAME.encode() not in row.personal
        assert row.phone_index == phone_index(keys, PHONE)
        assert open_personal(keys, row) == Personal(NAME, PHONE)
    with pytest.raises(RuntimeError, match="data keys"):
        _migrate(db_engine, "0024", down=True)  # sealed ones need the keys
    assert "personal" in _columns(db_engine)  # nothing changed
    _migrate(db_engine, "0024", down=True, keys=keys)
    assert {"name", "phone"} <= _columns(db_engine) and "personal" not in _columns(db_engine)
    with db_engine.connect() as connection:
        assert connection.execute(text("SELECT name, phone FROM hub_hall_bookings")).one() \
            == (NAME, PHONE)
    _migrate(db_engine, "head")  # and a clear row goes up again
    with Session(db_engine) as session:
        row = session.scalars(select(HubHallBooking)).one()
        assert row.personal is not None and not is_sealed_payload(row.personal)




def test_a_hub_started_after_the_upgrade_seals_the_clear_bookings(hub: Hub) -> None:
    settings = hub.services.settings
    engine = make_engine(settings.database_url)
    try:
        _migrate(engine, "0024", down=True)  # a hub of the release before, with a booking
        _insert_clear(engine)
        _migrate(engine, "head")
    finally:
        engine.dispose()
    started = create_app(settings)
    keys = started.extensions["sanji_hub"].data_keys
    with app_session(started) as session:
        row = session.scalars(select(HubHallBooking)).one()
        assert row.personal is not None and is_sealed_payload(row.personal)
        assert row.phone_index == phone_index(keys, PHONE)
        assert open_personal(keys, row) == Personal(NAME, PHONE)
    assert PHONE not in _stored_text(hub) and NAME not in _stored_text(hub)
