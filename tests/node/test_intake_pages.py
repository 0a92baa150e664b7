"""The HTML intake: item search, the generated form, errors beside fields, one case per
double click, the ID-card reader, and the page's weight."""

from __future__ import annotations

import io
import re
import sqlite3

from flask import Flask
from flask.testing import FlaskClient

from node.id_reader import IdCardData, SimulatedReader
from node.settings import NodeSettings
from shared.domain.identity import uscc_check_char
from tests.node.conftest import ID_LI, ID_ZHAO, PNG, node_services, temporary_assistance_form

PAGE_BUDGET_BYTES = 60 * 1024


def _form_data(key: str = "form-key-1", **extra: object) -> dict[str, object]:
    data: dict[str, object] = {
        "idempotency_key": key,
        "applicant.kind": "person",
        "applicant.name": "王𠮷祥",
        "applicant.id_number": "431002198001010017",
        "applicant.phone": "13800138000",
        "delivery": "village",
        "action": "register",
    }
    data.update({f"form.{k}": v for k, v in temporary_assistance_form().items()})
    data.update(extra)
    return data


def _cases(settings: NodeSettings) -> int:
    with sqlite3.connect(settings.data_dir / "node.sqlite") as db:
        return int(db.execute("select count(*) from node_cases").fetchone()[0])


def test_items_are_found_by_pinyin_initials_code_and_name(client: FlaskClient) -> None:
    for query in ("lsjz", "MZ-0305", "临时救助"):
        page = client.get("/intake", query_string={"q": query}).get_data(as_text=True)
        assert "/intake/MZ-0305" in page, query
    empty = client.get("/intake?q=zzzzqqq").get_data(as_text=True)
    assert "没有找到事项" in empty


def test_the_form_is_generated_from_the_item_definition(client: FlaskClient) -> None:
    page = client.get("/intake/MZ-0305").get_data(as_text=True)
    for key in (
        "hardship_type",
        "hardship_date",
        "amount_requested",
        "description",
        "bank_account",
    ):
        assert f'name="form.{key}"' in page
    assert '<option value="emergency"' in page
    assert 'type="date" id="form.hardship_date"' in page
    assert 'name="file.HARDSHIP_PROOF" accept="image/*,application/pdf" capture' in page
    assert re.search(r'name="idempotency_key" value="[0-9a-f]{32}"', page)
    company = client.get("/intake/MZ-0305?kind=company").get_data(as_text=True)
    assert 'name="applicant.uscc"' in company
    assert 'name="applicant.legal_representative.id_number"' in company
    assert client.get("/intake/NOPE-1").status_code == 404


def test_a_valid_form_registers_and_shows_the_numbers(
    client: FlaskClient, settings: NodeSettings
) -> None:
    data = _form_data()
    data["file.HARDSHIP_PROOF"] = (io.BytesIO(PNG), "bill.png")
    response = client.post("/intake/MZ-0305", data=data, content_type="multipart/form-data")
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert re.search(r'id="acceptance-no">431002001201-20250303-0001<', page)
    assert re.search(r'id="query-code">[2-9A-Z]{8}<', page)
    assert "receipt.pdf?layout=80mm" in page
    assert "HARDSHIP_PROOF" in page
    assert _cases(settings) == 1


def test_a_double_click_creates_one_case(client: FlaskClient, settings: NodeSettings) -> None:
    first = client.post("/intake/MZ-0305", data=_form_data("double"))
    second = client.post("/intake/MZ-0305", data=_form_data("double"))
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert _cases(settings) == 1


def test_errors_come_back_beside_each_field_with_values_kept(
    client: FlaskClient, settings: NodeSettings
) -> None:
    data = _form_data(**{"applicant.phone": "12345", "form.hardship_type": ""})
    data["file.HARDSHIP_PROOF"] = (io.BytesIO(b"plain text, not a scan"), "note.txt")
    response = client.post("/intake/MZ-0305", data=data, content_type="multipart/form-data")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    for name in ("applicant.phone", "form.hardship_type", "file.HARDSHIP_PROOF"):
        block = page.split(f'id="{name}"', 1)[1].split("</div>", 1)[0]
        assert '<div class="err">' in block, name
    assert "not an image (JPEG, PNG, WebP) or a PDF" in page
    assert 'value="王𠮷祥"' in page
    assert 'value="form-key-1"' in page  # the same key, so a corrected resubmit is one case
    assert _cases(settings) == 0


def test_the_id_card_reader_fills_the_applicant(app: Flask, client: FlaskClient) -> None:
    reader = SimulatedReader([IdCardData(name="李四", id_number=ID_LI)])
    node_services(app).reader = reader
    data = _form_data(**{"applicant.name": "", "applicant.id_number": "", "action": "read_card"})
    page = client.post("/intake/MZ-0305", data=data).get_data(as_text=True)
    assert 'value="李四"' in page
    assert f'value="{ID_LI}"' in page
    assert 'value="13800138000"' in page  # typed values stay
    assert "已读取身份证" in page
    again = client.post("/intake/MZ-0305", data=data).get_data(as_text=True)
    assert "读卡器上没有身份证" in again


def test_english_on_request(client: FlaskClient) -> None:
    page = client.get("/intake/MZ-0305?lang=en").get_data(as_text=True)
    assert "Application for temporary assistance" in page
    assert "Register and print receipt" in page
    # remembered for the next page
    assert "Cases" in client.get("/cases").get_data(as_text=True)


def test_the_intake_page_with_its_css_weighs_under_60_kb(client: FlaskClient) -> None:
    """The heaviest item form of the sample catalogue, plus every stylesheet it links."""
    heaviest = 0
    for code in ("MZ-0101", "MZ-0305", "MZ-0410"):
        page = client.get(f"/intake/{code}")
        total = len(page.data)
        for href in re.findall(r'<link rel="stylesheet" href="([^"]+)"', page.get_data(True)):
            total += len(client.get(href).data)
        heaviest = max(heaviest, total)
    print(f"intake page with CSS: {heaviest} bytes")
    assert heaviest < PAGE_BUDGET_BYTES


def test_a_company_with_a_proxy_registers_through_the_form(
    client: FlaskClient, settings: NodeSettings
) -> None:
    first17 = "91431000MA4L0XXX0"
    data = _form_data(
        "company-key",
        **{
            "applicant.kind": "company",
            "applicant.name": "郴州市华塘农产品有限公司",
            "applicant.uscc": first17 + uscc_check_char(first17),
            "applicant.legal_representative.name": "李四",
            "applicant.legal_representative.id_number": ID_LI,
            "applicant.legal_representative.phone": "13900139000",
            "applicant.proxy.name": "赵六",
            "applicant.proxy.id_number": ID_ZHAO,
            "applicant.proxy.phone": "13700137000",
        },
    )
    for key in ("applicant.id_number", "applicant.phone"):
        data.pop(key)
    response = client.post("/intake/MZ-0305", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "郴州市华塘农产品有限公司" in page
    assert "4310**********0023" in page  # the legal representative, masked
    assert _cases(settings) == 1
    bad = dict(data, idempotency_key="company-bad", **{"applicant.proxy.id_number": ID_LI})
    refused = client.post("/intake/MZ-0305", data=bad).get_data(as_text=True)
    block = refused.split('id="applicant.proxy.id_number"', 1)[1].split("</div>", 1)[0]
    assert "the proxy must be someone other than the applicant" in block


def test_a_station_of_the_home_area_is_chosen_for_the_hand_over(
    client: FlaskClient, settings: NodeSettings
) -> None:
    """全城通办: the applicant of another township may collect the result at a station of
    their own area; a station elsewhere is named as the problem and nothing is written."""
    page = client.get("/intake/MZ-0305").get_data(as_text=True)
    assert 'name="handover_station"' in page
    assert 'name="handover_station"' not in client.get("/intake/MZ-0101").get_data(
        as_text=True)  # decided on this station's branch: nothing to choose
    stray = client.post("/intake/MZ-0305", data=_form_data(
        "home-1", **{"form.residence_area": "431002002", "handover_station": "431002003201"}))
    assert stray.status_code == 400
    block = stray.get_data(as_text=True).split('id="handover_station"', 1)[1]
    assert '<div class="err">' in block.split("</div>", 1)[0]
    assert "431002002" in block
    assert _cases(settings) == 0
    chosen = client.post("/intake/MZ-0305", data=_form_data(
        "home-2", **{"form.residence_area": "431002002", "handover_station": "431002002201"}))
    assert chosen.status_code == 303
    assert _cases(settings) == 1
