"""The supervisor's reports at the hub (PostgreSQL, a schema of its own) on real dates of May
2026, around the Labour Day holiday and the adjusted working Saturday 9 May: what each figure
counts, the CSV and PDF forms, the page with its SVG chart, the reports written on schedule
once a period has ended, and who may read them."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from hub.background import run_reports, run_scan
from tests.hub.conftest import Hub, hub_maker, register_at_hub
from tests.hub.test_live_deadlines import OPERATOR, SUPERVISOR, _act, cst

CHECKER = "mz-check"


@pytest.fixture
def hub(tmp_path: Path, pg_schema_url: str) -> Hub:
    return hub_maker(tmp_path, pg_schema_url)(cst(28, 4), [
        (OPERATOR, "window_operator", "W-MZ-01"), (CHECKER, "window_operator", "W-MZ-01"),
        (SUPERVISOR, "supervisor", None)])


def _decided(hub: Hub, number: int) -> uuid.UUID:
    """A case registered and accepted now, then reviewed and checked (approved) later."""
    case_id, _ = register_at_hub(hub, number)
    _act(hub, OPERATOR, case_id, action="claim")
    _act(hub, OPERATOR, case_id, action="accept")
    return case_id


def _approve(hub: Hub, case_id: uuid.UUID) -> None:
    _act(hub, OPERATOR, case_id, action="approve")
    _act(hub, CHECKER, case_id, action="claim")
    _act(hub, CHECKER, case_id, action="check")


def _report(hub: Hub, period: str, day: str, **query: str) -> Any:
    return hub.app.test_client().get(f"/api/v1/reports/{period}",
                                     query_string={"date": day, **query},
                                     headers=hub.bearer(SUPERVISOR))


@pytest.fixture
def may(hub: Hub) -> Hub:
    """Three cases accepted on Tuesday 28 April (20 promised working days: due at the end of
    Thursday 28 May): one approved early on 6 May, one on 28 May (on time, not early), one
    on Friday 29 May (late, after its yellow card)."""
    early, on_time, late = (_decided(hub, n) for n in (1, 2, 3))
    hub.clock.now = cst(6)
    _approve(hub, early)
    hub.clock.now = cst(28, hour=15)
    _approve(hub, on_time)
    hub.clock.now = cst(29, hour=9)
    assert run_scan(hub.app).raised == 1  # the late one's yellow card
    _approve(hub, late)
    return hub


@pytest.mark.postgres
def test_the_month_counts_each_figure_as_documented(may: Hub) -> None:
    response = _report(may, "month", "2026-05-17")
    assert response.status_code == 200
    body = response.get_json()
    assert (body["period"], body["from"], body["to"]) == ("month", "2026-05-01", "2026-05-31")
    [row] = body["rows"]
    assert {k: row[k] for k in ("window", "received", "completed", "on_time", "early",
                                "overdue", "yellow_cards")} == {
        "window": "W-MZ-01", "received": 0, "completed": 3, "on_time": 2, "early": 1,
        "overdue": 1, "yellow_cards": 1}
    assert row["satisfaction_rate"] is None  # nobody rated yet
    april = _report(may, "month", "2026-04-30").get_json()
    assert [(r["received"], r["completed"]) for r in april["rows"]] == [(3, 0)]


@pytest.mark.postgres
def test_the_day_and_the_week_follow_the_calendar(may: Hub) -> None:
    day = _report(may, "day", "2026-05-06").get_json()
    assert [r["completed"] for r in day["rows"]] == [1]
    week = _report(may, "week", "2026-05-28").get_json()
    assert (week["from"], week["to"]) == ("2026-05-25", "2026-05-31")
    assert [(r["completed"], r["on_time"]) for r in week["rows"]] == [(2, 1)]
    year = _report(may, "year", "2026-12-31").get_json()
    assert year["total"]["completed"] == 3


@pytest.mark.postgres
def test_csv_pdf_and_the_page_say_the_same(may: Hub, tmp_path: Path) -> None:
    text = _report(may, "month", "2026-05-01", format="csv").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["window"], r["completed"], r["on_time"]) for r in rows] == [("W-MZ-01", "3", "2")]
    pdf = _report(may, "month", "2026-05-01", format="pdf")
    assert pdf.mimetype == "application/pdf"
    (tmp_path / "r.pdf").write_bytes(pdf.get_data())
    assert shutil.which("pdftotext"), "poppler-utils is part of the set-up"
    printed = subprocess.run(["pdftotext", "-layout", str(tmp_path / "r.pdf"), "-"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    assert "月报" in printed and "W-MZ-01" in printed and "2026-05-01" in printed
    page = may.login(SUPERVISOR).get("/supervision/reports/month?date=2026-05-01")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<svg" in html and "W-MZ-01" in html
    assert len(page.get_data()) < 20_000  # a few seconds at 64 kbit/s


@pytest.mark.postgres
def test_reports_are_written_once_when_their_period_has_ended(may: Hub) -> None:
    may.clock.now = cst(1, month=6, hour=1)
    assert run_reports(may.app) == 4  # 31 May, the week of 25 May, May, and 2025
    reports = may.services.settings.data_dir / "reports"
    month = reports / "month-2026-05-01.csv"
    assert "W-MZ-01,0,3,2,1,1" in month.read_text()
    assert (reports / "month-2026-05-01.pdf").read_bytes().startswith(b"%PDF")
    assert run_reports(may.app) == 0  # written once


@pytest.mark.postgres
def test_only_supervisors_and_admins_read_reports(may: Hub) -> None:
    client = may.app.test_client()
    refused = client.get("/api/v1/reports/month", query_string={"date": "2026-05-01"},
                         headers=may.bearer(OPERATOR))
    assert refused.status_code == 403
    bad_date = _report(may, "month", "2026-13-01")
    assert bad_date.status_code == 400 and "date" in bad_date.get_json()["error"]["fields"]
    bad_period = _report(may, "fortnight", "2026-05-01")
    assert bad_period.status_code == 404
    assert client.get("/api/v1/reports/month?date=2026-05-01").status_code == 401


@pytest.mark.postgres
def test_the_life_long_trace_lists_what_one_person_did(may: Hub) -> None:
    supervisor = may.login(SUPERVISOR)
    page = supervisor.get(f"/supervision/trace?username={CHECKER}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert html.count("<td>checked</td>") == 3 and html.count("<td>claimed</td>") == 3
    assert "<td>accepted</td>" not in html  # the checker accepted nothing
    text = supervisor.get(f"/supervision/trace?username={OPERATOR}&format=csv"
                          ).get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted({r["event"] for r in rows}) == ["accepted", "claimed", "reviewed"]
    assert len(rows) == 9 and {r["window"] for r in rows} == {"W-MZ-01"}
    assert rows[0]["at"] > rows[-1]["at"]  # newest first
    own = may.login(OPERATOR)
    assert own.get("/supervision/trace").status_code == 200  # one's own work
    assert own.get(f"/supervision/trace?username={CHECKER}").status_code == 403
