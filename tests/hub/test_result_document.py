"""The result document (准予决定书) a window prints for a decided case: a real PDF whose text
layer names the case, the applicant, the decision and both operators (一审一核)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from flask import Flask

from tests.hub.test_front_desk import PASSWORD, _headers, _register, app  # noqa: F401


def _pdf_text(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "result.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def test_the_decided_case_prints_its_result_document(app: Flask, tmp_path: Path) -> None:  # noqa: F811
    from hub.db_session import app_session
    from hub.services import HubServices
    from shared.storage.accounts import add_user

    hub: HubServices = app.extensions["sanji_hub"]
    with app_session(app) as session:
        add_user(session, username="mz-2", password=PASSWORD, role="window_operator",
                 site="431000", window="W-MZ-01", now=hub.clock())
        session.commit()
    client = app.test_client()
    case = _register(client, "result-1").get_json()
    url = f"/windows/cases/{case['case_id']}/result.pdf"
    first, second = _headers(client, "mz-1"), _headers(client, "mz-2")
    early = client.get(url, headers=first)
    assert early.status_code == 409
    for headers, action in ((first, "claim"), (first, "accept"), (first, "approve"),
                            (second, "claim"), (second, "check")):
        response = client.post(f"/api/v1/cases/{case['case_id']}/actions",
                               json={"action": action}, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
    pdf = client.get(url, headers=first)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    text = _pdf_text(pdf.data, tmp_path)
    for expected in ("准予决定书", case["acceptance_no"], "李四", "社会团体成立登记", "准予",
                     "mz-1 / mz-2"):
        assert expected in text, expected
