"""Signed result documents at the hub: the decision document and the refusal notices
(不予受理 / 不予许可决定书), A4 and 80 mm, read back with pdftotext (a rare-character name
included), drawn with pdftoppm, their QR code read with a real decoder (zxing-cpp), and the
public verify API and page answering for the code they carry: genuine and unaltered, or
"not found", or altered once a stored fact was changed."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from hub.db_session import app_session
from hub.services import HubServices
from shared.pdf.document_facts import CODE_FIELD, DIGEST_FIELD, grouped
from shared.storage.accounts import add_user
from shared.storage.sync_store import SyncEvent, event_context, open_payload
from tests.hub.test_front_desk import BODY, PASSWORD, _headers, _register, app  # noqa: F401

RARE = {**BODY, "applicant": {**BODY["applicant"], "name": "王𠮷祥"}}
REMEDY = ("六十日内依法申请行政复议", "六个月内依法向人民法院提起行政诉讼")


@pytest.fixture
def client(app: Flask) -> FlaskClient:  # noqa: F811
    hub: HubServices = app.extensions["sanji_hub"]
    with app_session(app) as session:
        add_user(session, username="mz-2", password=PASSWORD, role="window_operator",
                 site="431000", window="W-MZ-01", now=hub.clock())
        session.commit()
    return app.test_client()


def _decide(client: FlaskClient, key: str, steps: list[tuple[str, dict[str, Any]]]) -> Any:
    """A case of the rare-character applicant taken through ``(operator, action)`` steps."""
    case = _register(client, key, RARE).get_json()
    for user, action in steps:
        response = client.post(f"/api/v1/cases/{case['case_id']}/actions", json=action,
                               headers=_headers(client, user))
        assert response.status_code == 200, response.get_data(as_text=True)
    return case


APPROVE = [("mz-1", {"action": "claim"}), ("mz-1", {"action": "accept"}),
           ("mz-1", {"action": "approve"}), ("mz-2", {"action": "claim"}),
           ("mz-2", {"action": "check"}),
           ("mz-2", {"action": "issue_result", "reference": "郴民社准字〔2026〕12号"})]


def _pdf(client: FlaskClient, case: Any, layout: str) -> bytes:
    response = client.get(f"/windows/cases/{case['case_id']}/result.pdf?layout={layout}",
                          headers=_headers(client, "mz-1"))
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    return response.data


def _text(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(data)
    text = subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout
    return "".join(text.split())  # lines wrap differently on A4 and on the roll


def _pages_and_qr(data: bytes, tmp_path: Path) -> list[str]:
    """Render every page (pdftoppm) and read the QR codes found on them."""
    import zxingcpp
    from PIL import Image

    path = tmp_path / "qr.pdf"
    path.write_bytes(data)
    for old in tmp_path.glob("page*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-r", "150", "-png", str(path), str(tmp_path / "page")],
                   check=True)
    found: list[str] = []
    pages = sorted(tmp_path.glob("page*.png"))
    assert pages
    for png in pages:
        with Image.open(png) as image:
            found += [b.text for b in zxingcpp.read_barcodes(image)
                      if b.format == zxingcpp.BarcodeFormat.QRCode]
    return found


def _verify(client: FlaskClient, **query: str) -> Any:
    return client.get("/api/v1/public/verify", query_string=query)


@pytest.mark.parametrize("layout", ["a4", "80mm"])
def test_the_decision_document_is_signed_and_its_qr_code_verifies_it(
        client: FlaskClient, tmp_path: Path, layout: str) -> None:
    case = _decide(client, f"approve-{layout}", APPROVE)
    data = _pdf(client, case, layout)
    text = _text(data, tmp_path)
    for expected in ("准予决定书", case["acceptance_no"], "王𠮷祥", "社会团体成立登记",
                     "郴民社准字〔2026〕12号", "验证码", "431000"):
        assert expected in text, expected
    (link,) = _pages_and_qr(data, tmp_path)
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}" == "http://127.0.0.1:8000"  # the public address
    assert parts.path == "/verify"
    page = client.get(f"/verify?{parts.query}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="genuine"' in html and 'id="unaltered"' in html and "王**" in html
    answer = client.get(f"/api/v1/public/verify?{parts.query}")
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["code"] in text  # the code printed is the one the QR code carries
    hub: HubServices = client.application.extensions["sanji_hub"]
    key_id = hub.sync_site.key.key_id.hex()
    assert body["genuine"] is True and body["unaltered"] is True
    assert body["issuer"] == {"site": "431000", "key_id": key_id} and key_id in text
    assert body["checks"]["signature"]["verified"] is True
    assert body["checks"]["signature"]["key_id"] == key_id
    assert body["facts"] == {
        "applicant_name": "王**", "item_code": "MZ-0520", "item_name": "社会团体成立登记",
        "outcome": "approved", "decision_date": "2026-03-02",
        "reference": "郴民社准字〔2026〕12号", "authority": None, "deemed": False,
        "refusal": None}
    # typed by hand: any case, without hyphens, O for 0
    typed = body["code"].replace("-", "").lower().replace("0", "o")
    assert _verify(client, acceptance_no=case["acceptance_no"], code=typed).status_code == 200


def test_a_wrong_code_is_not_found_and_counts_with_the_status_lookups(
        client: FlaskClient) -> None:
    case = _decide(client, "wrong-code", APPROVE)
    wrong = _verify(client, acceptance_no=case["acceptance_no"], code="0000-0000-0000-0000")
    assert wrong.status_code == 404
    assert wrong.get_json() == {"error": {"code": "not_found", "fields": {},
                                          "message": "no document with this number and code"}}
    unknown = _verify(client, acceptance_no="431000-20991231-0001", code="0000-0000-0000-0000")
    assert unknown.status_code == 404
    missing = _verify(client, acceptance_no=case["acceptance_no"])
    assert missing.status_code == 400 and "code" in missing.get_json()["error"]["fields"]
    for _ in range(8):
        client.get("/api/v1/public/status", query_string={
            "acceptance_no": case["acceptance_no"], "query_code": "WRONG234"})
    blocked = _verify(client, acceptance_no=case["acceptance_no"], code="0000-0000-0000-0000")
    assert blocked.status_code == 429 and blocked.headers["Retry-After"]


def _tamper(app: Flask, case_id: str, type_: str, change: dict[str, Any]) -> None:  # noqa: F811
    """Change a stored event's payload, sealed again as the site seals it (as someone with
    the database and the data key could)."""
    hub: HubServices = app.extensions["sanji_hub"]
    sealer = hub.sync_site.sealer
    with app_session(app) as session:
        row = session.scalars(select(SyncEvent).where(
            SyncEvent.case_id == uuid.UUID(case_id), SyncEvent.type == type_)).one()
        payload = {**open_payload(row, sealer), **change}
        row.payload = sealer.seal(payload, event_context(row.origin, row.epoch, row.seq))
        session.commit()


def test_a_changed_fact_or_digest_is_no_longer_unaltered(
        app: Flask, client: FlaskClient) -> None:  # noqa: F811
    first = _decide(client, "tamper-1", APPROVE)
    body = _verify(client, acceptance_no=first["acceptance_no"], code="x" * 16)
    assert body.status_code == 404
    code = _verify_code(app, first)
    _tamper(app, first["case_id"], "result_issued", {DIGEST_FIELD: "0" * 64})
    altered = _verify(client, acceptance_no=first["acceptance_no"], code=code).get_json()
    assert altered["genuine"] is True and altered["unaltered"] is False
    assert altered["checks"]["facts_digest"] is False
    assert altered["checks"]["signature"]["verified"] is False
    second = _decide(client, "tamper-2", APPROVE)
    code = _verify_code(app, second)
    _tamper(app, second["case_id"], "registered",
            {"applicant": {**RARE["applicant"], "name": "王吉祥"}})
    renamed = _verify(client, acceptance_no=second["acceptance_no"], code=code).get_json()
    assert renamed["unaltered"] is False and renamed["checks"]["facts_digest"] is False
    assert renamed["facts"]["applicant_name"] == "王**"
    _tamper(app, second["case_id"], "result_issued", {CODE_FIELD: "0" * 16})
    assert _verify(client, acceptance_no=second["acceptance_no"],
                   code=code).status_code == 404  # the code recorded is another now


def _verify_code(app: Flask, case: Any) -> str:  # noqa: F811
    """The code the case's document prints, as its ``result_issued`` event recorded it."""
    hub: HubServices = app.extensions["sanji_hub"]
    with app_session(app) as session:
        row = session.scalars(select(SyncEvent).where(
            SyncEvent.case_id == uuid.UUID(case["case_id"]),
            SyncEvent.type == "result_issued")).one()
        return grouped(open_payload(row, hub.sync_site.sealer)[CODE_FIELD])


@pytest.mark.parametrize("layout", ["a4", "80mm"])
def test_a_refusal_before_acceptance_is_not_accepted_and_after_it_not_permitted(
        client: FlaskClient, tmp_path: Path, layout: str) -> None:
    reason = "章程草案与业务主管单位批准文件不一致"
    before = _decide(client, f"refuse-early-{layout}", [
        ("mz-1", {"action": "claim"}), ("mz-1", {"action": "reject", "reason": reason}),
        ("mz-1", {"action": "issue_result"})])
    after = _decide(client, f"refuse-late-{layout}", [
        ("mz-1", {"action": "claim"}), ("mz-1", {"action": "accept"}),
        ("mz-1", {"action": "reject", "reason": reason}),
        ("mz-1", {"action": "issue_result"})])
    for case, title, other in ((before, "不予受理决定书", "不予许可"),
                               (after, "不予许可决定书", "不予受理")):
        data = _pdf(client, case, layout)
        text = _text(data, tmp_path)
        for expected in (title, case["acceptance_no"], "王𠮷祥", reason, *REMEDY, "验证码"):
            assert expected in text, (title, expected)
        assert other not in text
        (link,) = _pages_and_qr(data, tmp_path)
        body = client.get(f"/api/v1/public/verify?{urlsplit(link).query}").get_json()
        assert body["unaltered"] is True and body["facts"]["outcome"] == "rejected"
        assert body["facts"]["refusal"] == ("not_accepted" if case is before
                                            else "not_permitted")


def test_a_decided_case_not_yet_issued_prints_a_status_link_and_no_code(
        client: FlaskClient, tmp_path: Path) -> None:
    case = _decide(client, "not-issued", APPROVE[:-1])
    data = _pdf(client, case, "80mm")
    text = _text(data, tmp_path)
    assert "准予决定书" in text and "王𠮷祥" in text and "验证码" not in text
    (link,) = _pages_and_qr(data, tmp_path)
    assert link == f"http://127.0.0.1:8000/status?acceptance_no={case['acceptance_no']}"
    page = client.get(f"/windows/cases/{case['case_id']}", headers=_headers(client, "mz-1"))
    assert 'id="result-pdf-80"' in page.get_data(as_text=True)
    bad = client.get(f"/windows/cases/{case['case_id']}/result.pdf?layout=a5",
                     headers=_headers(client, "mz-1"))
    assert bad.status_code == 400
