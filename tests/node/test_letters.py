"""The letters a station prints for the applicant from the events that came down: the
one-time notice (一次性告知书), the refusal notice and the decision document, A4 and on the
80 mm roll, each with a QR code; the decision's verification code answered by the station's
own verify API, which says when it does not know the issuing site's key."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from node.db_session import app_session
from shared.deciding import case_work
from shared.pdf.document_facts import issue_fields
from tests.node.conftest import Clock, node_services
from tests.node.test_case_pages import _HUB_KEY, _arrive, _register

ROUTED: list[tuple[str, dict[str, Any]]] = [
    ("received", {"tier": "city"}), ("routed", {"window": "W-MZ-11", "site": "431000"}),
    ("claimed", {}),
]
ACCEPTED = ("accepted", {"kind": "promised", "deadline": "2025-03-10T15:59:59+00:00"})


def _flat_text(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "letter.pdf"
    path.write_bytes(data)
    text = subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout
    return "".join(text.split())


def _qr_links(data: bytes, tmp_path: Path) -> list[str]:
    """Every page drawn (pdftoppm) and the QR codes on them read (zxing-cpp)."""
    import zxingcpp
    from PIL import Image

    path = tmp_path / "letter.pdf"
    path.write_bytes(data)
    for old in tmp_path.glob("page*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-r", "150", "-png", str(path), str(tmp_path / "page")],
                   check=True)
    links: list[str] = []
    for png in sorted(tmp_path.glob("page*.png")):
        with Image.open(png) as image:
            assert image.width > 0
            links += [b.text for b in zxingcpp.read_barcodes(image)]
    return links


def _arrive_all(app: Flask, case_id: str, clock: Clock,
                steps: list[tuple[str, dict[str, Any]]]) -> None:
    """The deciding site's events in order, the system's own by the system."""
    for seq, (type_, payload) in enumerate(steps, start=1):
        actor = ("system:system" if type_ in ("received", "routed") else
                 "window_operator:op-b" if seq >= 6 else "window_operator:op-a")
        _arrive(app, case_id, clock, seq, type_, payload, actor)


def _issue(app: Flask, case_id: str, clock: Clock, seq: int,
           actor: str = "window_operator:op-b") -> None:
    """The deciding site's ``result_issued``, with the document's digest and code worked out
    from the events the station holds (as the deciding site did from its copy)."""
    node = node_services(app)
    with app_session(app) as session:
        events = case_work.case_events(session, node.sync_site, uuid.UUID(case_id))
    payload = issue_fields(events, {"document": None, "reference": "郴民救字〔2025〕3号"},
                           _HUB_KEY.key_id)
    _arrive(app, case_id, clock, seq, "result_issued", payload, actor)


@pytest.mark.parametrize("layout", ["a4", "80mm"])
def test_the_one_time_notice_on_both_layouts_links_to_the_status_page(
        app: Flask, client: FlaskClient, clock: Clock, tmp_path: Path, layout: str) -> None:
    case = _register(client)
    steps = [*ROUTED, ACCEPTED, ("supplement_requested", {
        "missing": ["INCOME_PROOF"], "reason": "收入证明未加盖村委会公章"})]
    _arrive_all(app, case["case_id"], clock, steps)
    response = client.get(f"/cases/{case['case_id']}/supplement.pdf?layout={layout}")
    assert response.status_code == 200
    text = _flat_text(response.data, tmp_path)
    for expected in ("补正材料一次性告知书", case["acceptance_no"], "王𠮷祥", "家庭收入情况说明",
                     "收入证明未加盖村委会公章"):
        assert expected in text, expected
    assert _qr_links(response.data, tmp_path) == [
        f"http://status.example/status?acceptance_no={case['acceptance_no']}"]
    assert client.get(f"/cases/{case['case_id']}/supplement.pdf?layout=a3").status_code == 400
    page = client.get(f"/cases/{case['case_id']}").get_data(as_text=True)
    assert 'id="supplement-pdf-80"' in page and "supplement.pdf?layout=80mm" in page


@pytest.mark.parametrize("layout", ["a4", "80mm"])
def test_a_refusal_before_acceptance_prints_the_not_accepted_notice(
        app: Flask, client: FlaskClient, clock: Clock, tmp_path: Path, layout: str) -> None:
    case = _register(client)
    steps = [*ROUTED, ("rejected", {"reason": "申请人户籍不在本乡镇"})]
    _arrive_all(app, case["case_id"], clock, steps)
    response = client.get(f"/cases/{case['case_id']}/result.pdf?layout={layout}")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    text = _flat_text(response.data, tmp_path)
    for expected in ("不予受理决定书", "王𠮷祥", "申请人户籍不在本乡镇", "行政复议", "行政诉讼",
                     "六十日内", "六个月内"):
        assert expected in text, expected
    assert "不予许可" not in text and "验证码" not in text  # not issued yet: no code
    (link,) = _qr_links(response.data, tmp_path)
    assert link.startswith("http://status.example/status?acceptance_no=")


@pytest.mark.parametrize("layout", ["a4", "80mm"])
def test_the_issued_decision_carries_its_code_and_the_station_checks_what_it_can(
        app: Flask, client: FlaskClient, clock: Clock, tmp_path: Path, layout: str) -> None:
    case = _register(client)
    steps = [*ROUTED, ACCEPTED, ("reviewed", {}), ("claimed", {}), ("checked", {})]
    _arrive_all(app, case["case_id"], clock, steps)
    _issue(app, case["case_id"], clock, len(steps) + 1)
    response = client.get(f"/cases/{case['case_id']}/result.pdf?layout={layout}")
    assert response.status_code == 200
    text = _flat_text(response.data, tmp_path)
    for expected in ("准予决定书", "王𠮷祥", "郴民救字〔2025〕3号", "验证码", "431000",
                     _HUB_KEY.key_id.hex()):
        assert expected in text, expected
    (link,) = _qr_links(response.data, tmp_path)
    parts = urlsplit(link)
    assert link.startswith("http://status.example/verify?")
    body = client.get(f"/api/v1/public/verify?{parts.query}").get_json()
    assert body["genuine"] is True and body["code"] in text
    assert body["checks"]["facts_digest"] is True
    assert body["facts"]["applicant_name"] == "王**"
    assert body["facts"]["reference"] == "郴民救字〔2025〕3号"
    # the station was never given this issuer's key: it cannot vouch for the signature
    signature = body["checks"]["signature"]
    assert signature["verified"] is None and "not known" in signature["note"]
    assert signature["key_id"] == _HUB_KEY.key_id.hex() and body["unaltered"] is False
    page = client.get(f"/verify?{parts.query}").get_data(as_text=True)
    assert 'id="genuine"' in page and 'id="altered"' in page
    case_page = client.get(f"/cases/{case['case_id']}").get_data(as_text=True)
    assert "result.pdf?layout=80mm" in case_page


def test_a_result_approved_by_the_rule_says_so_and_its_code_covers_it(
        app: Flask, client: FlaskClient, clock: Clock, tmp_path: Path) -> None:
    """超时许可: the timers' ``deemed_approved``, then the window issues the result; the
    document says the approval is by the rule, and the signed facts say so too."""
    case = _register(client)
    steps = [*ROUTED, ACCEPTED]
    _arrive_all(app, case["case_id"], clock, steps)
    _arrive(app, case["case_id"], clock, len(steps) + 1, "deemed_approved",
            {"due_at": "2025-03-10T15:59:59+00:00"}, "system:system")
    _issue(app, case["case_id"], clock, len(steps) + 2, "window_operator:op-a")
    response = client.get(f"/cases/{case['case_id']}/result.pdf?layout=80mm")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    text = _flat_text(response.data, tmp_path)
    assert "超时默认许可" in text and "王𠮷祥" in text and "验证码" in text
    (link,) = _qr_links(response.data, tmp_path)
    body = client.get(f"/api/v1/public/verify?{urlsplit(link).query}").get_json()
    assert body["facts"]["deemed"] is True and body["checks"]["facts_digest"] is True


def test_a_higher_authoritys_refusal_is_not_permitted_and_names_the_authority(
        app: Flask, client: FlaskClient, clock: Clock, tmp_path: Path) -> None:
    case = _register(client)
    steps = [*ROUTED, ACCEPTED, ("reviewed", {}), ("claimed", {}),
             ("reported_up", {"authority": "湖南省民政厅"}), ("claimed", {}),
             ("external_decision_recorded", {"outcome": "rejected", "authority": "湖南省民政厅",
                                             "reference": "湘民函〔2025〕8号",
                                             "reason": "不符合临时救助条件"})]
    _arrive_all(app, case["case_id"], clock, steps)
    response = client.get(f"/cases/{case['case_id']}/result.pdf")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    text = _flat_text(response.data, tmp_path)
    for expected in ("不予许可决定书", "湖南省民政厅", "湘民函〔2025〕8号", "不符合临时救助条件",
                     "王𠮷祥", "行政复议"):
        assert expected in text, expected
    assert "不予受理" not in text
