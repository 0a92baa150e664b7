"""The period report's CSV and PDF carry the consultation and complaint figures (咨询投诉) per
department that the JSON and the page carry: read back by column name from the CSV the API
answers and the one written when the month has ended, and from the PDF's text."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.background import run_reports
from shared.deciding.supervision_reports import FIGURES
from shared.domain.consultations import CONSULTATION_COLUMNS
from tests.hub.conftest import Hub, hub_maker
from tests.hub.test_consultations import MAY_4, PERSON, USERS, _record


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def hub(request: pytest.FixtureRequest, tmp_path: Path) -> Hub:
    url = None if request.param == "sqlite" else str(request.getfixturevalue("pg_schema_url"))
    return hub_maker(tmp_path, url)(MAY_4, USERS)


def _departments(text: str) -> dict[str, dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO(text)))
    return {r["department"]: r for r in rows if r["department"]}


def test_the_reports_csv_and_pdf_carry_the_consultation_figures(hub: Hub,
                                                                 tmp_path: Path) -> None:
    complaint = _record(hub, {"channel": "phone", "kind": "complaint", **PERSON,
                              "text": "窗口让我跑了三趟", "item_code": "MZ-0520"})
    question = _record(hub, {"channel": "phone", "kind": "consultation", **PERSON,
                             "text": "摆摊要办什么证", "department": "SJ"})
    assert complaint.status_code == question.status_code == 201
    hub.clock.now = MAY_4 + timedelta(days=1)
    answered = hub.app.test_client().post(
        f"/api/v1/consultations/{complaint.get_json()['id']}/answer",
        json={"answer": "已约谈窗口人员,一次性告知全部材料"}, headers=hub.bearer("mz-op"))
    assert answered.status_code == 200, answered.get_json()

    client = hub.app.test_client()
    month = {"date": "2026-05-06"}
    text = client.get("/api/v1/reports/month", query_string={**month, "format": "csv"},
                      headers=hub.bearer("sup")).get_data(as_text=True)
    header = next(csv.reader(io.StringIO(text)))
    assert header == ["window", *FIGURES, *CONSULTATION_COLUMNS]
    departments = _departments(text)
    assert {k: departments["MZ"][k] for k in CONSULTATION_COLUMNS} == {
        "department": "MZ", "consultations_received": "0", "consultations_answered": "0",
        "consultations_answered_on_time": "0", "consultations_overdue": "0",
        "complaints_received": "1", "complaints_answered": "1",
        "complaints_answered_on_time": "1", "complaints_overdue": "0"}
    assert (departments["SJ"]["consultations_received"],
            departments["SJ"]["consultations_answered"],
            departments["SJ"]["consultations_overdue"]) == ("1", "0", "1")
    # a department's line leaves the window's columns empty, and the other way round
    assert departments["SJ"]["window"] == "" and departments["SJ"]["received"] == ""
    assert all(r["department"] == "" for r in csv.DictReader(io.StringIO(text))
               if r["window"])
    # the same figures as the JSON
    body = client.get("/api/v1/reports/month", query_string=month,
                      headers=hub.bearer("sup")).get_json()
    mz = next(r for r in body["consultations"] if r["department"] == "MZ")
    assert mz["complaints"]["answered_on_time"] == int(
        departments["MZ"]["complaints_answered_on_time"])

    pdf = client.get("/api/v1/reports/month", query_string={**month, "format": "pdf"},
                     headers=hub.bearer("sup"))
    assert pdf.mimetype == "application/pdf"
    (tmp_path / "month.pdf").write_bytes(pdf.get_data())
    assert shutil.which("pdftotext"), "poppler-utils is part of the set-up"
    printed = subprocess.run(["pdftotext", "-layout", str(tmp_path / "month.pdf"), "-"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    section = printed.split("咨询投诉", 1)[1]
    assert "答复部门" in section and "投诉按时答复" in section and "咨询登记" in section
    mz_line = next(line for line in section.splitlines() if line.strip().startswith("MZ"))
    assert mz_line.split() == ["MZ", "0", "0", "0", "0", "1", "1", "1", "0"]
    sj_line = next(line for line in section.splitlines() if line.strip().startswith("SJ"))
    # unanswered when the month ended, past its deadline: overdue
    assert sj_line.split() == ["SJ", "1", "0", "0", "1", "0", "0", "0", "0"]

    # the month's files written once it has ended say the same
    hub.clock.now = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)
    assert run_reports(hub.app) >= 1
    written = hub.services.settings.data_dir / "reports" / "month-2026-05-01.csv"
    assert _departments(written.read_text()) == departments
