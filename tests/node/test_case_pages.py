"""The case list and page, hand-over and rating, receipts and the hand-over list."""

from __future__ import annotations

import html
import io
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from node.db_session import app_session
from shared.storage.sync_store import (
    SyncEvent,
    SyncOutbox,
    open_payload,
    store_received_many,
)
from sync_protocol import ChainHead, append_event, generate_key
from sync_protocol.times import to_ms
from tests.node.conftest import PNG, Clock, case_body, node_services, post_case

_HUB_KEY = generate_key("431000")


def _register(client: FlaskClient, key: str = "k") -> dict[str, Any]:
    body: dict[str, Any] = post_case(client, case_body(), key=key).get_json()
    return body


def _arrive(
    app: Flask,
    case_id: str,
    clock: Clock,
    seq: int,
    type_: str,
    payload: dict[str, Any] | None = None,
    actor: str = "window_operator:operator",
) -> None:
    """An event coming down from the hub, stored as the exchange stores it."""
    node = node_services(app)
    head = ChainHead("431000", 1, seq - 1, bytes(32))
    event = append_event(head, _HUB_KEY, case_id=uuid.UUID(case_id), actor=actor, at=clock(),
                         type=type_, payload=payload or {})
    with app_session(app) as session:
        assert store_received_many(session, node.sealer, [event], up=False,
                                   now_ms=to_ms(clock())) == [event]
        node.sync_site.hooks.events_arrived(session, [event], clock())
        session.commit()


def _decide(app: Flask, case_id: str, clock: Clock) -> None:
    """The city window's events of an approved case (一审一核), as they come down."""
    steps: list[tuple[str, dict[str, Any], str]] = [
        ("received", {"tier": "city"}, "system:system"),
        ("routed", {"window": "W-MZ-11", "site": "431000"}, "system:system"),
        ("claimed", {}, "window_operator:op-a"),
        ("accepted", {"kind": "promised", "deadline": "2025-03-10T15:59:59+00:00"},
         "window_operator:op-a"),
        ("reviewed", {}, "window_operator:op-a"),
        ("claimed", {}, "window_operator:op-b"),
        ("checked", {}, "window_operator:op-b"),
        ("result_issued", {}, "window_operator:op-b"),
    ]
    for seq, (type_, payload, actor) in enumerate(steps, start=1):
        _arrive(app, case_id, clock, seq, type_, payload, actor)


def _outbox_types(app: Flask, case_id: str) -> list[str]:
    with app_session(app) as session:
        rows = session.execute(
            select(SyncEvent.type)
            .join(SyncOutbox, SyncOutbox.event_id == SyncEvent.id)
            .where(SyncEvent.case_id == uuid.UUID(case_id))
            .order_by(SyncOutbox.event_id)
        )
        return [r[0] for r in rows]


def _outbox_payloads(app: Flask, case_id: str) -> list[dict[str, Any]]:
    """The payloads of the case's events queued up, opened with the node's key."""
    node = node_services(app)
    with app_session(app) as session:
        rows = session.scalars(
            select(SyncEvent)
            .join(SyncOutbox, SyncOutbox.event_id == SyncEvent.id)
            .where(SyncEvent.case_id == uuid.UUID(case_id))
            .order_by(SyncOutbox.event_id))
        return [open_payload(row, node.sealer) for row in rows]


def test_the_list_shows_each_case_with_its_stage(
    app: Flask, client: FlaskClient, clock: Clock
) -> None:
    first = _register(client, "a")
    clock.advance(minutes=5)
    second = _register(client, "b")
    _arrive(app, second["case_id"], clock, 1, "received")
    page = client.get("/cases").get_data(as_text=True)
    assert page.index(second["acceptance_no"]) < page.index(first["acceptance_no"])
    assert "待上传" in page and "市中心已接收" in page
    assert "王**" in page and "王𠮷祥" not in page
    filtered = client.get("/cases?stage=received_by_city").get_data(as_text=True)
    assert second["acceptance_no"] in filtered and first["acceptance_no"] not in filtered


def test_the_case_list_pages_on(app: Flask, client: FlaskClient, clock: Clock) -> None:
    for n in range(node_services(app).settings.page_size + 3):
        _register(client, f"p{n}")
        clock.advance(seconds=30)
    size = node_services(app).settings.page_size
    page = client.get("/cases").get_data(as_text=True)
    assert page.count('<td><a href="/cases/') == size
    more = re.search(r'id="more" href="([^"]+)"', page)
    assert more is not None
    rest = client.get(html.unescape(more.group(1))).get_data(as_text=True)
    assert rest.count('<td><a href="/cases/') == 3
    assert "-0001<" in rest and 'id="more"' not in rest


def test_a_supplement_request_lists_everything_missing_and_a_scan_answers_it(
    app: Flask, client: FlaskClient, clock: Clock
) -> None:
    case = _register(client)
    _arrive(app, case["case_id"], clock, 1, "received")
    _arrive(
        app,
        case["case_id"],
        clock,
        2,
        "supplement_requested",
        {"missing": ["HARDSHIP_PROOF", "INCOME_PROOF"]},
    )
    page = client.get(f"/cases/{case['case_id']}").get_data(as_text=True)
    assert "待补正材料" in page
    assert "遭遇困难的相关证明" in page and "家庭收入情况说明" in page
    response = client.post(
        f"/cases/{case['case_id']}/materials",
        data={"material_code": "HARDSHIP_PROOF", "file": (io.BytesIO(PNG), "bill.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    assert _outbox_types(app, case["case_id"]) == ["registered", "material_added"]
    shown = client.get(f"/api/v1/cases/{case['case_id']}").get_json()
    assert shown["stage"] == "supplement_requested"  # one of two is not an answer yet
    response = client.post(
        f"/cases/{case['case_id']}/materials",
        data={"material_code": "INCOME_PROOF", "file": (io.BytesIO(PNG + b"2"), "pay.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    assert _outbox_types(app, case["case_id"]) == [
        "registered", "material_added", "material_added", "supplement_provided"
    ]
    assert client.get(f"/api/v1/cases/{case['case_id']}").get_json()["stage"] == "at_window"


def test_hand_over_and_rating_are_events_that_travel_up(
    app: Flask, client: FlaskClient, clock: Clock
) -> None:
    case = _register(client)
    url = f"/cases/{case['case_id']}"
    early = client.post(f"{url}/handover", data={"method": "in_person", "receiver_name": "王𠮷祥"})
    assert early.status_code == 409
    assert "no result has arrived" in early.get_data(as_text=True)
    assert client.get(f"{url}/result.pdf").status_code == 404  # no decision yet
    _decide(app, case["case_id"], clock)
    page = client.get(url).get_data(as_text=True)
    assert "已办结" in page and "非常满意" in page
    assert 'id="result-pdf"' in page and 'id="deemed"' not in page
    result = client.get(f"{url}/result.pdf")
    assert result.status_code == 200 and result.data.startswith(b"%PDF")
    assert "准予" in page and "2025-03-10" in page  # the decision and the deadline
    assert client.post(f"{url}/rating", data={"rating": "great"}).status_code == 400
    assert client.post(f"{url}/rating", data={"rating": "satisfied",
                                              "efficiency": "9"}).status_code == 400
    assert (
        client.post(
            f"{url}/rating", data={"rating": "very_satisfied", "comment": "办事快",
                                   "efficiency": "5", "attitude": "4", "service_level": ""}
        ).status_code
        == 303
    )
    assert _outbox_payloads(app, case["case_id"])[-1] == {
        "rating": "very_satisfied", "channel": "village", "comment": "办事快",
        "indicators": {"efficiency": 5, "attitude": 4}}
    assert client.post(f"{url}/rating", data={"rating": "satisfied"}).status_code == 409
    done = client.post(f"{url}/handover", data={"method": "in_person", "receiver_name": "王𠮷祥"})
    assert done.status_code == 303
    assert (
        client.post(
            f"{url}/handover", data={"method": "in_person", "receiver_name": "王𠮷祥"}
        ).status_code
        == 409
    )
    assert _outbox_types(app, case["case_id"]) == ["registered", "rated", "result_handed_over"]
    final = client.get(url).get_data(as_text=True)
    assert "已转交申请人" in final
    status = client.get(
        "/api/v1/public/status",
        query_string={"acceptance_no": case["acceptance_no"], "query_code": case["query_code"]},
    ).get_json()
    assert (status["stage"], status["outcome"]) == ("handed_over", "approved")


def _pdf_text(pdf: bytes, tmp_path: Path, name: str) -> str:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


@pytest.mark.parametrize("layout", ["a4", "80mm"])
def test_the_receipt_carries_the_rare_name_numbers_and_a_drawn_page(
    client: FlaskClient, tmp_path: Path, layout: str
) -> None:
    case = _register(client)
    response = client.get(f"/cases/{case['case_id']}/receipt.pdf?layout={layout}")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    text = _pdf_text(response.data, tmp_path, layout)
    assert "王𠮷祥" in text  # CJK Extension B through the fallback font
    assert case["acceptance_no"] in text
    assert f"{case['query_code'][:4]}-{case['query_code'][4:]}" in text
    assert "临时救助申请" in text
    assert "4310**********0017" in text and "431002198001010017" not in text
    assert "http://status.example/status" in text  # the page's address, the code only in the QR
    fonts = subprocess.run(
        ["pdffonts", str(tmp_path / f"{layout}.pdf")], check=True, capture_output=True, text=True
    ).stdout
    assert "WenQuanYi" in fonts and "HanaMinB" in fonts
    subprocess.run(
        ["pdftoppm", "-r", "40", "-png", str(tmp_path / f"{layout}.pdf"), str(tmp_path / "page")],
        check=True,
    )
    (png,) = tmp_path.glob("page*.png")
    from PIL import Image

    with Image.open(png) as image:
        dark = sum(1 for p in image.convert("L").get_flattened_data() if p < 128)
    assert dark > 500  # text and the QR code are drawn, not a blank page


@pytest.mark.parametrize("layout", ["a4", "80mm"])
def test_the_receipts_qr_code_opens_the_cases_status(
    client: FlaskClient, tmp_path: Path, layout: str
) -> None:
    """A real decoder (zxing-cpp) reads the QR code off the rendered page; the link it holds
    shows this case's status without typing anything."""
    import zxingcpp
    from PIL import Image

    case = _register(client)
    pdf = tmp_path / "receipt.pdf"
    pdf.write_bytes(client.get(f"/cases/{case['case_id']}/receipt.pdf?layout={layout}").data)
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-f", "1", "-l", "1", str(pdf),
                    str(tmp_path / "page")], check=True)
    (png,) = tmp_path.glob("page*.png")
    with Image.open(png) as image:
        found = zxingcpp.read_barcodes(image)
    assert [b.format for b in found] == [zxingcpp.BarcodeFormat.QRCode]
    link = found[0].text
    assert link.startswith("http://status.example/status?")
    page = client.get(link.removeprefix("http://status.example"))
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert case["acceptance_no"] in text and "临时救助申请" in text and 'id="as-of"' in text


def test_a_courier_hand_over_names_carrier_number_and_address_and_the_lookup_shows_it(
    app: Flask, client: FlaskClient, clock: Clock
) -> None:
    case = _register(client)
    _decide(app, case["case_id"], clock)
    url = f"/cases/{case['case_id']}/handover"
    incomplete = client.post(url, data={"method": "courier", "receiver_name": "王𠮷祥",
                                        "carrier": "ems", "tracking_no": "12"})
    assert incomplete.status_code == 400
    text = incomplete.get_data(as_text=True)
    assert "tracking_no" in text and "address" in text
    sent = client.post(url, data={"method": "courier", "receiver_name": "王𠮷祥",
                                  "carrier": "ems", "tracking_no": "1190223344556",
                                  "address": "北湖区人民西路12号"})
    assert sent.status_code == 303
    payload = _outbox_payloads(app, case["case_id"])[-1]
    assert payload == {"method": "courier", "receiver_name": "王𠮷祥", "carrier": "ems",
                       "tracking_no": "1190223344556", "address": "北湖区人民西路12号"}
    status = client.get("/api/v1/public/status", query_string={
        "acceptance_no": case["acceptance_no"], "query_code": case["query_code"]}).get_json()
    assert status["courier"]["carrier"] == "ems"
    assert status["courier"]["tracking_no"] == "1190223344556"
    page = client.get("/status", query_string={"acceptance_no": case["acceptance_no"],
                                               "query_code": case["query_code"]})
    assert "中国邮政EMS 1190223344556" in page.get_data(as_text=True)
    assert "人民西路" not in page.get_data(as_text=True)  # the address stays private


def test_the_one_time_notice_lists_every_missing_material_by_name(
    app: Flask, client: FlaskClient, clock: Clock, tmp_path: Path
) -> None:
    case = _register(client)
    url = f"/cases/{case['case_id']}/supplement.pdf"
    assert client.get(url).status_code == 404  # nothing asked yet
    steps: list[tuple[str, dict[str, Any]]] = [
        ("received", {"tier": "city"}), ("routed", {"window": "W-MZ-11", "site": "431000"}),
        ("claimed", {}),
        ("accepted", {"kind": "promised", "deadline": "2025-03-10T15:59:59+00:00"}),
        ("supplement_requested", {"missing": ["INCOME_PROOF", "HARDSHIP_PROOF"],
                                  "reason": "收入证明未加盖村委会公章"}),
    ]
    for seq, (type_, payload) in enumerate(steps, start=1):
        _arrive(app, case["case_id"], clock, seq, type_, payload)
    page = client.get(f"/cases/{case['case_id']}").get_data(as_text=True)
    assert 'id="supplement-pdf"' in page
    notice = client.get(url)
    assert notice.status_code == 200 and notice.mimetype == "application/pdf"
    text = "".join(_pdf_text(notice.data, tmp_path, "notice").split())
    assert "补正材料一次性告知书" in text and case["acceptance_no"] in text
    assert "1.家庭收入情况说明" in text and "2.遭遇困难的相关证明" in text  # by name, in order
    assert "收入证明未加盖村委会公章" in text and "王𠮷祥" in text
    assert "补正期间不计入办理时限" in text


def test_the_hand_over_list_dispatches_originals_once(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    with_scan = _register(client, "a")
    client.post(
        f"/api/v1/cases/{with_scan['case_id']}/materials",
        data={"material_code": "INCOME_PROOF", "file": (io.BytesIO(PNG), "p.png")},
        content_type="multipart/form-data",
    )
    without = _register(client, "b")
    page = client.get("/transfer").get_data(as_text=True)
    assert with_scan["acceptance_no"] in page and without["acceptance_no"] not in page
    bad = client.post("/transfer", data={"destination": "华塘镇便民服务中心"})
    assert bad.status_code == 400
    response = client.post(
        "/transfer", data={"case_ids": [with_scan["case_id"]], "destination": "华塘镇便民服务中心"}
    )
    assert response.status_code == 303
    pdf = client.get(response.headers["Location"])
    text = _pdf_text(pdf.data, tmp_path, "list")
    assert "纸质材料移交清单" in text and with_scan["acceptance_no"] in text
    assert "家庭收入情况说明" in text and "华塘镇便民服务中心" in text
    assert "王𠮷祥" in text
    assert with_scan["acceptance_no"] not in client.get("/transfer").get_data(as_text=True)
    assert _outbox_types(app, with_scan["case_id"])[-1] == "originals_dispatched"


def test_the_public_status_page(client: FlaskClient) -> None:
    case = _register(client)
    page = client.get(
        "/status",
        query_string={"acceptance_no": case["acceptance_no"], "query_code": case["query_code"]},
    )
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "临时救助申请" in text and "待上传" in text and "王" not in text  # nothing personal
    wrong = client.get(
        "/status", query_string={"acceptance_no": case["acceptance_no"], "query_code": "ZZZZZZZZ"}
    )
    assert wrong.status_code == 404
