"""An application at the online hall (网上服务大厅), Flask test client on a real hub app
(SQLite) with its texts going to an SMS provider on 127.0.0.1: the applicant signs up on the
pages, fills the passport item's form, is told by the pre-check what is missing, uploads and
submits; the case is routed to the authorised window like any other; the window asks for a
supplement (一次性告知), the applicant answers it online, the window decides, and the
applicant's page follows every step."""

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

from hub.background import run_texts
from hub.db_session import app_session
from hub.models import HubCase, HubMaterialReuse, HubReceiptBook
from hub.online_hall_models import OnlineCase
from shared.deciding import case_work
from shared.deciding.receipt_books import NewBook, register_book
from shared.domain.case_events import EventType
from shared.storage.accounts import add_user
from tests.hub.conftest import HUB, PASSWORD, Hub
from tests.hub.online_hall_fixtures import (
    COMPANY,
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
ITEM = "GA-3101"  # ordinary passport: ID card and photo, purpose, urgent


@pytest.fixture
def sink() -> Iterator[SmsSink]:
    with sms_sink() as found:
        yield found


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def hub(request: pytest.FixtureRequest, tmp_path: Path, sink: SmsSink) -> Hub:
    """The hub on SQLite (the demo) and on a PostgreSQL schema of its own (production)."""
    url = request.getfixturevalue("pg_schema_url") if request.param == "postgresql" else None
    return hall_hub(tmp_path, NOW, sink, ((REVIEW, "W-GA-01"), (CHECK, "W-GA-01")), url)


def _page(response: Any) -> str:
    """The page's text; every page of the hall is light enough for a 64 kbit/s link."""
    body = response.get_data()
    assert len(body) < 60 * 1024 and b"<script" not in body
    return str(response.get_data(as_text=True))


def sign_up_on_the_pages(hub: Hub, sink: SmsSink) -> FlaskClient:
    client = hub.app.test_client()
    form = {f"applicant.{k}": v for k, v in PERSON.items() if k != "kind"}
    form["applicant.kind"] = "person"
    bad = client.post("/online/signup", data={**form, "applicant.id_number": "110105",
                                             "action": "send_code"})
    assert bad.status_code == 400 and 'id="err-applicant.id_number"' in _page(bad)
    sent = client.post("/online/signup", data={**form, "action": "send_code"})
    assert sent.status_code == 200 and 'name="code"' in _page(sent)
    done = client.post("/online/signup", data={**form, "action": "sign_up",
                                               "code": sink.code_for(PERSON["phone"])})
    assert done.status_code == 303, _page(done)
    return client


def _act(hub: Hub, who: str, case_id: Any, **body: Any) -> None:
    answer = hub.app.test_client().post(f"/api/v1/cases/{case_id}/actions", json=body,
                                        headers=hub.bearer(who))
    assert answer.status_code == 200, answer.get_json()


def test_an_online_application_goes_through_a_supplement_round_to_its_result(
        hub: Hub, sink: SmsSink) -> None:
    client = sign_up_on_the_pages(hub, sink)
    home = client.get("/online")
    assert home.status_code == 200 and f"/online/apply/{ITEM}" in _page(home)
    assert f'id="apply-online" href="/online/apply/{ITEM}"' in _page(client.get(f"/guide/{ITEM}"))

    # the pre-check names what is missing before anything is submitted
    checked = client.post(f"/online/apply/{ITEM}", data={
        "form.purpose": "tourism", "delivery": "courier", "action": "check",
        "file.ID_CARD": (io.BytesIO(JPEG), "id.jpg")}, content_type="multipart/form-data")
    assert checked.status_code == 200
    page = _page(checked)
    assert 'data-field="file.PHOTO"' in page and 'data-field="file.ID_CARD"' not in page
    early = client.post(f"/online/apply/{ITEM}", data={"form.purpose": "tourism",
                                                       "delivery": "courier",
                                                       "action": "submit"},
                        content_type="multipart/form-data")
    assert early.status_code == 400 and 'data-field="file.PHOTO"' in _page(early)
    with app_session(hub.app) as session:
        assert session.scalar(select(func.count()).select_from(HubCase)) == 0

    # the scan kept from the first round is not uploaded again
    submitted = client.post(f"/online/apply/{ITEM}", data={
        "form.purpose": "tourism", "delivery": "courier", "action": "submit", **COURIER_FORM,
        "file.PHOTO": (io.BytesIO(PNG), "photo.png")}, content_type="multipart/form-data")
    assert submitted.status_code == 303, _page(submitted)
    case_id = uuid.UUID(re.search(r"/online/cases/([0-9a-f-]{36})",
                                  submitted.headers["Location"]).group(1))  # type: ignore[union-attr]
    shown = _page(client.get(submitted.headers["Location"]))
    acceptance_no = re.search(r'id="acceptance-no">([^<]+)<', shown).group(1)  # type: ignore[union-attr]
    assert acceptance_no.startswith("431000-") and 'id="query-code"' in shown

    with app_session(hub.app) as session:
        row = session.get(HubCase, case_id)
        assert row is not None and (row.window, row.state) == ("W-GA-01", "routed")
        events = case_work.case_events(session, hub.services.sync_site, case_id)
    registered = events[0]
    assert registered.type is EventType.REGISTERED
    assert registered.actor.to_wire().startswith("applicant:online-")
    assert registered.payload["delivery"] == "courier"
    assert registered.payload["applicant"]["id_number"] == PERSON["id_number"]
    assert [m["code"] for m in registered.payload["materials"]] == ["ID_CARD", "PHOTO"]
    assert hub.services.blobs.get(registered.payload["materials"][1]["sha256"]) == PNG

    # the window asks once for what is missing; the applicant answers online
    _act(hub, REVIEW, case_id, action="claim")
    _act(hub, REVIEW, case_id, action="accept")
    _act(hub, REVIEW, case_id, action="request_supplement", missing=["PHOTO"],
         reason="照片背景不符合要求")
    run_texts(hub.app)  # texted like any case: the acceptance and the supplement notice
    texts = [m["text"] for m in sink.received if m["phone"] == PERSON["phone"]]
    assert any(acceptance_no in text and "已受理" in text for text in texts)
    assert any("补正" in text for text in texts)
    asked = _page(client.get(f"/online/cases/{case_id}"))
    assert 'id="supplement"' in asked and 'name="file.PHOTO"' in asked
    wrong = client.post(f"/online/cases/{case_id}/supplement",
                        data={"file.ID_CARD": (io.BytesIO(JPEG), "id.jpg")},
                        content_type="multipart/form-data")
    assert wrong.status_code == 400
    answered = client.post(f"/online/cases/{case_id}/supplement",
                           data={"file.PHOTO": (io.BytesIO(PNG + b"new"), "photo2.png")},
                           content_type="multipart/form-data")
    assert answered.status_code == 303
    with app_session(hub.app) as session:
        row = session.get(HubCase, case_id)
        assert row is not None and row.state == "accepted"
        kinds = [e.type for e in case_work.case_events(session, hub.services.sync_site,
                                                       case_id)]
    assert kinds[-2:] == [EventType.MATERIAL_ADDED, EventType.SUPPLEMENT_PROVIDED]
    after = _page(client.get(f"/online/cases/{case_id}"))
    assert 'id="supplement"' not in after
    # the window sees the scan sent online after the registration's two
    window = hub.login(REVIEW)
    assert f"/materials/case/{case_id}/2" in window.get(f"/windows/cases/{case_id}").get_data(
        as_text=True)
    link = window.get(f"/materials/case/{case_id}/2")
    assert link.status_code == 302
    assert window.get(link.headers["Location"]).get_data() == PNG + b"new"

    for who, action in ((REVIEW, "claim"), (REVIEW, "approve"), (CHECK, "claim"),
                        (CHECK, "check")):  # 一审一核: reviewed by one, checked by another
        _act(hub, who, case_id, action=action)
    final = _page(client.get(f"/online/cases/{case_id}", query_string={"lang": "en"}))
    assert 'id="outcome">approved' in final and 'id="stage">decided' in final
    assert "supplement provided" in final  # the steps, the applicant's own among them
    listed = _page(client.get("/online", query_string={"lang": "en"}))
    assert acceptance_no in listed and "decided" in listed

    # the passport's fee is paid at the finance window against a receipt; then the result
    with app_session(hub.app) as session:
        add_user(session, username=CASHIER, password=PASSWORD, role="finance", site=HUB,
                 window="W-GA-01", now=NOW)
        register_book(session, HubReceiptBook, site=HUB, registered_by="city-admin", now=NOW,
                      book=NewBook(window="W-GA-01", prefix="GA2026", first=1, last=100,
                                   width=4))
        session.commit()
        due = session.get(HubCase, case_id)
        assert due is not None and due.fee_due_fen
        fee = due.fee_due_fen
    _act(hub, CASHIER, case_id, action="pay", receipt_no="GA20260001", amount_fen=fee)
    _act(hub, CHECK, case_id, action="issue_result")  # the checker still holds the claim
    issued = _page(client.get(f"/online/cases/{case_id}", query_string={"lang": "en"}))
    assert 'id="outcome">approved' in issued and "result issued" in issued.lower()
    run_texts(hub.app)  # the result is texted like any case's
    assert any("办结" in m["text"] or "结果" in m["text"] for m in sink.received
               if m["phone"] == PERSON["phone"] and acceptance_no in m["text"])

    # another applicant never sees the case
    other = hub.app.test_client()
    assert other.get(f"/online/cases/{case_id}").status_code == 302  # not signed in
    rep_phone = COMPANY["legal_representative"]["phone"]
    assert other.post("/api/v1/online/codes", json={"phone": rep_phone}).status_code == 202
    assert other.post("/api/v1/online/accounts", json={
        "applicant": COMPANY, "code": sink.code_for(rep_phone)}).status_code == 201
    assert other.get(f"/online/cases/{case_id}").status_code == 404
    assert acceptance_no not in _page(other.get("/online"))
    with app_session(hub.app) as session:
        assert session.scalar(select(func.count()).select_from(OnlineCase)) == 1


def test_a_scan_is_removed_from_the_draft_and_the_same_form_sent_twice_registers_once(
        hub: Hub, sink: SmsSink) -> None:
    client = sign_up_on_the_pages(hub, sink)
    kept = client.post(f"/online/apply/{ITEM}", data={
        "form.purpose": "study", "action": "check",
        "file.ID_CARD": (io.BytesIO(JPEG), "id.jpg"),
        "file.PHOTO": (io.BytesIO(PNG), "photo.png")}, content_type="multipart/form-data")
    assert 'id="ready"' in _page(kept)
    dropped = client.post(f"/online/apply/{ITEM}", data={
        "form.purpose": "study", "action": "check", "drop": "PHOTO"},
        content_type="multipart/form-data")
    assert 'data-field="file.PHOTO"' in _page(dropped)  # missing again
    key = re.search(r'name="submit_key" value="([0-9a-f]{32})"', _page(dropped)).group(1)  # type: ignore[union-attr]

    def body() -> dict[str, Any]:
        return {"form.purpose": "study", "action": "submit", "submit_key": key,
                "file.PHOTO": (io.BytesIO(PNG), "photo.png")}

    first = client.post(f"/online/apply/{ITEM}", data=body(),
                        content_type="multipart/form-data")
    assert first.status_code == 303 and "/online/cases/" in first.headers["Location"]
    twice = client.post(f"/online/apply/{ITEM}", data=body(),  # a double click
                        content_type="multipart/form-data")
    assert twice.status_code == 303 and twice.headers["Location"] == first.headers["Location"]
    again = client.post(f"/online/apply/{ITEM}", data={"form.purpose": "study",
                                                       "action": "submit"},
                        content_type="multipart/form-data")
    assert again.status_code == 400  # an empty draft again: the materials are missing
    with app_session(hub.app) as session:
        assert session.scalar(select(func.count()).select_from(HubCase)) == 1


def test_a_one_form_application_online_registers_a_case_per_department(
        hub: Hub, sink: SmsSink) -> None:
    """一表制 in the online hall: the home page offers the composite and the adaptor's
    wizard; one form with one ID card and one photo registers the residence permit and the
    employment certificate, each with the scans its own item asks for, under one parent."""
    client = sign_up_on_the_pages(hub, sink)
    home = _page(client.get("/online"))
    assert "/online/one/YJS-0003" in home and "/guide/adapt/ZNSP-0001" in home
    page = _page(client.get("/online/one/YJS-0003"))
    assert 'id="one-form-parts"' in page and "GA-4410" in page and "RS-2205" in page
    assert page.count('name="form.employer"') == 1 and page.count('name="file.PHOTO"') == 1
    answers = {"form.residence_address": "北湖区人民路 18 号",
               "form.residence_since": "2024-06-01", "form.employment_status": "flexible",
               "delivery": "window"}
    early = client.post("/online/one/YJS-0003", data={**answers, "action": "submit"},
                        content_type="multipart/form-data")
    assert early.status_code == 400 and 'data-field="file.RESIDENCE_PROOF"' in _page(early)
    submitted = client.post("/online/one/YJS-0003", data={
        **answers, "action": "submit", "file.ID_CARD": (io.BytesIO(JPEG), "id.jpg"),
        "file.PHOTO": (io.BytesIO(PNG), "photo.png"),
        "file.RESIDENCE_PROOF": (io.BytesIO(PNG + b"lease"), "lease.png")},
        content_type="multipart/form-data")
    assert submitted.status_code == 303, _page(submitted)
    with app_session(hub.app) as session:
        rows = session.scalars(select(HubCase).where(HubCase.composite == "YJS-0003")).all()
        assert sorted(r.item_code for r in rows) == ["GA-4410", "RS-2205"]
        assert len({r.bundle_id for r in rows}) == 1
        mine = session.scalars(select(OnlineCase.case_id)).all()
        assert set(mine) == {r.case_id for r in rows}  # both parts follow on the account
        scans = {r.item_code: [m["code"] for m in case_work.case_events(
            session, hub.services.sync_site, r.case_id)[0].payload["materials"]] for r in rows}
    assert scans == {"GA-4410": ["ID_CARD", "PHOTO", "RESIDENCE_PROOF"],
                     "RS-2205": ["ID_CARD", "PHOTO"]}
    listed = _page(client.get("/online"))
    assert listed.count("/online/cases/") >= 2


def test_a_copy_handed_in_online_is_offered_again_and_reused_with_consent(
        hub: Hub, sink: SmsSink) -> None:
    """证照库 in the online hall: the ID card scanned for a passport application is offered,
    marked as held, to the same applicant's next application; it is taken by reference only
    with the applicant's consent, and the hub trusts the reference."""
    client = sign_up_on_the_pages(hub, sink)
    first = client.post(f"/online/apply/{ITEM}", data={
        "form.purpose": "tourism", "delivery": "window", "action": "submit",
        "file.ID_CARD": (io.BytesIO(JPEG), "id.jpg"),
        "file.PHOTO": (io.BytesIO(PNG), "photo.png")}, content_type="multipart/form-data")
    assert first.status_code == 303, _page(first)
    assert 'id="held-ID_CARD"' not in _page(client.get("/online/apply/JT-2201"))  # not asked
    page = _page(client.post("/online/apply/JT-2201", data={"action": "find_held"},
                             content_type="multipart/form-data"))
    assert 'id="held-ID_CARD"' in page and 'id="held-PHOTO"' not in page
    ref = re.search(r'name="reuse\.ID_CARD" value="([0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]
    answers = {"form.qualification": "freight", "form.exam_passed_on": "2026-02-20",
               "delivery": "window", "reuse.ID_CARD": ref,
               "file.PHOTO": (io.BytesIO(PNG + b"2"), "photo.png"),
               "file.DRIVING_LICENCE": (io.BytesIO(PNG + b"3"), "licence.png")}
    no_consent = client.post("/online/apply/JT-2201", data={**answers, "action": "submit"},
                             content_type="multipart/form-data")
    assert no_consent.status_code == 400
    assert 'data-field="reuse_consent"' in _page(no_consent)
    done = client.post("/online/apply/JT-2201", data={
        "form.qualification": "freight", "form.exam_passed_on": "2026-02-20",
        "delivery": "window", "reuse.ID_CARD": ref, "reuse_consent": "yes",
        "action": "submit"}, content_type="multipart/form-data")
    assert done.status_code == 303, _page(done)
    with app_session(hub.app) as session:
        row = session.scalar(select(HubCase).where(HubCase.item_code == "JT-2201"))
        assert row is not None
        registered = case_work.case_events(session, hub.services.sync_site, row.case_id)[0]
        reuses = session.scalars(select(HubMaterialReuse)).all()
    reused = [m for m in registered.payload["materials"] if m["code"] == "ID_CARD"]
    assert reused and "sha256" not in reused[0]  # by reference: no second scan
    assert registered.payload["reuse_consent"]
    assert [(r.material_code, r.trusted) for r in reuses] == [("ID_CARD", 1)]
