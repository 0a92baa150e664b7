"""The courier address of an online application (快递送达): required when the result goes by
courier and refused otherwise, every bad field named; carried with the case in its own
sealed event, shown on the window's case page where the result is issued and handed over,
and changed by the applicant on the case's page until the result is issued."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from hub.db_session import app_session
from hub.models import HubCase, HubReceiptBook
from shared.deciding import case_work
from shared.deciding.receipt_books import NewBook, register_book
from shared.domain.case_events import EventType
from shared.storage.accounts import add_user
from shared.storage.sync_store import SyncEvent, SyncState
from tests.hub.conftest import HUB, PASSWORD, Hub
from tests.hub.online_hall_fixtures import (
    COURIER,
    COURIER_FORM,
    JPEG,
    PERSON,
    PNG,
    SmsSink,
    hall_hub,
    sms_sink,
)

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
REVIEW, CHECK, CASHIER = "ga-1", "ga-2", "ga-cashier"
ITEM = "GA-3101"  # ordinary passport: ID card and photo, purpose; a fee


@pytest.fixture
def sink() -> Iterator[SmsSink]:
    with sms_sink() as found:
        yield found


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def hub(request: pytest.FixtureRequest, tmp_path: Path, sink: SmsSink) -> Hub:
    url = request.getfixturevalue("pg_schema_url") if request.param == "postgresql" else None
    return hall_hub(tmp_path, NOW, sink, ((REVIEW, "W-GA-01"), (CHECK, "W-GA-01")), url)


def _page(response: Any) -> str:
    body = response.get_data()
    assert len(body) < 60 * 1024 and b"<script" not in body
    return str(response.get_data(as_text=True))


def _signed_up(hub: Hub, sink: SmsSink) -> FlaskClient:
    client = hub.app.test_client()
    form = {f"applicant.{k}": v for k, v in PERSON.items() if k != "kind"}
    form["applicant.kind"] = "person"
    assert client.post("/online/signup", data={**form, "action": "send_code"}).status_code == 200
    done = client.post("/online/signup", data={**form, "action": "sign_up",
                                               "code": sink.code_for(PERSON["phone"])})
    assert done.status_code == 303, _page(done)
    return client


def _scans() -> dict[str, Any]:
    return {"file.ID_CARD": (io.BytesIO(JPEG), "id.jpg"),
            "file.PHOTO": (io.BytesIO(PNG), "photo.png")}


def _submit(client: FlaskClient, **fields: Any) -> Any:
    return client.post(f"/online/apply/{ITEM}", data={
        "form.purpose": "tourism", "action": "submit", **fields, **_scans()},
        content_type="multipart/form-data")


def _cases(hub: Hub) -> int:
    with app_session(hub.app) as session:
        return int(session.scalar(select(func.count()).select_from(HubCase)) or 0)


def _case_id(response: Any) -> uuid.UUID:
    assert response.status_code == 303, _page(response)
    found = re.search(r"/online/cases/([0-9a-f-]{36})", response.headers["Location"])
    assert found is not None
    return uuid.UUID(found.group(1))


def _act(hub: Hub, who: str, case_id: uuid.UUID, **body: Any) -> None:
    answer = hub.app.test_client().post(f"/api/v1/cases/{case_id}/actions", json=body,
                                        headers=hub.bearer(who))
    assert answer.status_code == 200, answer.get_json()


def test_the_courier_needs_an_address_and_every_bad_field_is_named(
        hub: Hub, sink: SmsSink) -> None:
    client = _signed_up(hub, sink)
    page = _page(client.get(f"/online/apply/{ITEM}"))
    assert all(f'name="courier.{k}"' in page for k in COURIER)

    none = _submit(client, delivery="courier")
    assert none.status_code == 400
    shown = _page(none)
    assert all(f'data-field="courier.{k}"' in shown for k in COURIER)

    bad = _submit(client, delivery="courier", **{
        **COURIER_FORM, "courier.name": "王3", "courier.phone": "1381234",
        "courier.area": "991002001"})
    assert bad.status_code == 400
    shown = _page(bad)
    for name in ("courier.name", "courier.phone", "courier.area"):
        assert f'id="err-{name}"' in shown, name
    assert 'id="err-courier.address"' not in shown  # the street was fine
    assert 'value="良田镇中心街 8 号 2 单元 301"' in shown  # what was typed is kept

    # collecting at the window takes no address: one given is refused, named
    stray = _submit(client, delivery="window", **{"courier.address": COURIER["address"]})
    assert stray.status_code == 400 and 'id="err-courier.address"' in _page(stray)
    assert _cases(hub) == 0  # nothing written by any of them


def test_the_address_travels_sealed_to_the_window_and_changes_until_the_result(
        hub: Hub, sink: SmsSink) -> None:
    client = _signed_up(hub, sink)
    case_id = _case_id(_submit(client, delivery="courier", **COURIER_FORM))
    with app_session(hub.app) as session:
        events = case_work.case_events(session, hub.services.sync_site, case_id)
        stored = [bytes(p) for p in session.scalars(select(SyncEvent.payload))]
        drafts = [bytes(v) for v in session.scalars(select(SyncState.value)) if v]
    given = [e for e in events if e.type is EventType.COURIER_ADDRESS_GIVEN]
    assert len(given) == 1 and given[0].payload["recipient"] == COURIER
    assert given[0].actor.to_wire().startswith("applicant:online-")
    assert events[0].payload["delivery"] == "courier"
    for secret in (COURIER["address"], "良田镇中心街", COURIER["phone"]):
        assert not any(secret.encode() in raw for raw in stored + drafts), secret

    mine = _page(client.get(f"/online/cases/{case_id}"))
    assert COURIER["address"] in mine and 'id="change-address"' in mine

    # the window where the result is issued and handed over sees where it goes
    window = hub.login(REVIEW)
    seen = window.get(f"/windows/cases/{case_id}").get_data(as_text=True)
    assert ('id="courier-address">王芳 13912345678<br>431002001 良田镇中心街 8 号 2 单元 301'
            in seen)
    _act(hub, REVIEW, case_id, action="claim")

    # the applicant moves house: a bad address is named, a good one stands
    wrong = client.post(f"/online/cases/{case_id}/courier", data={
        **COURIER_FORM, "courier.phone": "", "courier.area": "43100"})
    assert wrong.status_code == 400
    assert 'id="err-courier.phone"' in _page(wrong) and 'id="err-courier.area"' in _page(wrong)
    moved = client.post(f"/online/cases/{case_id}/courier", data={
        **COURIER_FORM, "courier.name": "李四", "courier.area": "431002002",
        "courier.address": "华塘镇新村路 3 号"})
    assert moved.status_code == 303
    assert "华塘镇新村路 3 号" in _page(client.get(moved.headers["Location"]))
    seen = window.get(f"/windows/cases/{case_id}").get_data(as_text=True)
    assert "李四" in seen and "华塘镇新村路 3 号" in seen and COURIER["address"] not in seen

    # once the result is issued, the address is the one it is sent to: no more changes
    for who, action in ((REVIEW, "accept"), (REVIEW, "approve"), (CHECK, "claim"),
                        (CHECK, "check")):
        _act(hub, who, case_id, action=action)
    with app_session(hub.app) as session:
        add_user(session, username=CASHIER, password=PASSWORD, role="finance", site=HUB,
                 window="W-GA-01", now=NOW)
        register_book(session, HubReceiptBook, site=HUB, registered_by="city-admin", now=NOW,
                      book=NewBook(window="W-GA-01", prefix="GA2026", first=1, last=100,
                                   width=4))
        session.commit()
        row = session.get(HubCase, case_id)
        assert row is not None and row.fee_due_fen
        fee = row.fee_due_fen
    _act(hub, CASHIER, case_id, action="pay", receipt_no="GA20260001", amount_fen=fee)
    _act(hub, CHECK, case_id, action="issue_result")
    issued = _page(client.get(f"/online/cases/{case_id}"))
    assert 'id="change-address"' not in issued and "华塘镇新村路 3 号" in issued
    late = client.post(f"/online/cases/{case_id}/courier", data=COURIER_FORM)
    assert late.status_code == 409
    with app_session(hub.app) as session:
        kinds = [e.type for e in case_work.case_events(session, hub.services.sync_site,
                                                       case_id)]
    assert kinds.count(EventType.COURIER_ADDRESS_GIVEN) == 2


def test_a_case_collected_at_the_window_takes_no_address_later(
        hub: Hub, sink: SmsSink) -> None:
    client = _signed_up(hub, sink)
    case_id = _case_id(_submit(client, delivery="window"))
    page = _page(client.get(f"/online/cases/{case_id}"))
    assert 'id="change-address"' not in page and 'id="courier-address"' not in page
    refused = client.post(f"/online/cases/{case_id}/courier", data=COURIER_FORM)
    assert refused.status_code == 409


def test_a_one_form_application_by_courier_gives_each_part_the_address(
        hub: Hub, sink: SmsSink) -> None:
    client = _signed_up(hub, sink)
    answers = {"form.residence_address": "北湖区人民路 18 号",
               "form.residence_since": "2024-06-01", "form.employment_status": "flexible",
               "delivery": "courier", "action": "submit"}
    files = {"file.RESIDENCE_PROOF": (io.BytesIO(PNG + b"lease"), "lease.png")}
    missing = client.post("/online/one/YJS-0003", data={**answers, **_scans(), **files},
                          content_type="multipart/form-data")
    assert missing.status_code == 400
    assert 'data-field="courier.address"' in _page(missing) and _cases(hub) == 0
    submitted = client.post("/online/one/YJS-0003", data={**answers, **COURIER_FORM},
                            content_type="multipart/form-data")  # the scans kept in the draft
    assert submitted.status_code == 303, _page(submitted)
    with app_session(hub.app) as session:
        rows = session.scalars(select(HubCase).where(HubCase.composite == "YJS-0003")).all()
        given = {r.item_code: [e.payload["recipient"] for e in case_work.case_events(
            session, hub.services.sync_site, r.case_id)
            if e.type is EventType.COURIER_ADDRESS_GIVEN] for r in rows}
    assert given == {"GA-4410": [COURIER], "RS-2205": [COURIER]}
