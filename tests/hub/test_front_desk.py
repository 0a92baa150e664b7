"""The city hall's front desk (``POST /api/v1/cases`` at the hub) and the public status
lookup at the hub, through the Flask test client on a real hub data directory."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from hub.app import create_app
from hub.cli import hub_group
from hub.db_session import app_session
from hub.models import HubCase
from hub.services import HubServices
from hub.settings import HubSettings
from shared.storage.accounts import add_user

HUB = "431000"
PASSWORD = "desk-pass-2026"
BODY = {
    "item_code": "MZ-0520",
    "applicant": {"name": "李四", "id_number": "11010519491231002X", "phone": "13800138000"},
    "form": {"org_name": "郴州市摄影家协会", "registered_funds": 30000, "member_count": 60,
             "business_scope": "摄影交流与培训"},
    "delivery": "window",
}


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    data_dir = tmp_path / "hub"
    result = CliRunner().invoke(hub_group, ["init", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    app = create_app(replace(HubSettings.load(data_dir), testing=True))
    hub: HubServices = app.extensions["sanji_hub"]
    hub.clock = Clock(datetime(2026, 3, 2, 2, 0, tzinfo=UTC))
    with app_session(app) as session:
        add_user(session, username="desk", password=PASSWORD, role="agent", site=HUB,
                 now=hub.clock())
        add_user(session, username="mz-1", password=PASSWORD, role="window_operator",
                 site=HUB, window="W-MZ-01", now=hub.clock())
        session.commit()
    return app


def _headers(client: FlaskClient, username: str, key: str | None = None) -> dict[str, str]:
    token = client.post("/api/v1/auth/token",
                        json={"username": username, "password": PASSWORD}).get_json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


def _register(client: FlaskClient, key: str, body: dict[str, Any] | None = None) -> Any:
    return client.post("/api/v1/cases", json=body or BODY, headers=_headers(client, "desk", key))


def test_a_walk_in_is_registered_once_and_routed_to_the_authorised_window(app: Flask) -> None:
    client = app.test_client()
    first = _register(client, "walk-in-1")
    assert first.status_code == 201, first.get_data(as_text=True)
    case = first.get_json()
    assert case["acceptance_no"] == f"{HUB}-20260302-0001"
    assert case["state"] == "routed" and len(case["query_code"]) == 8
    assert uuid.UUID(case["case_id"]).version == 8  # derived from its registration's key
    again = _register(client, "walk-in-1")
    assert again.status_code == 200 and again.get_json() == case
    other = dict(BODY, delivery="courier")
    conflict = _register(client, "walk-in-1", other)
    assert conflict.status_code == 409
    queue = client.get("/api/v1/windows/W-MZ-01/cases",
                       headers=_headers(client, "mz-1")).get_json()["cases"]
    assert [c["case_id"] for c in queue] == [case["case_id"]]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'sanji_hub_cases_open{site="431000",window="W-MZ-01"} 1' in metrics


def test_a_bad_application_lists_every_problem_and_writes_nothing(app: Flask) -> None:
    client = app.test_client()
    bad = dict(BODY, applicant={"name": "", "id_number": "110105194912310021",
                                "phone": "12"}, form={})
    response = _register(client, "bad", bad)
    assert response.status_code == 400
    fields = response.get_json()["error"]["fields"]
    assert {"applicant.id_number", "applicant.phone", "form.org_name"} <= set(fields)
    no_key = client.post("/api/v1/cases", json=BODY, headers=_headers(client, "desk"))
    assert no_key.status_code == 400
    operator = client.post("/api/v1/cases", json=BODY,
                           headers=_headers(client, "mz-1", "op-key"))
    assert operator.status_code == 403
    anonymous = client.post("/api/v1/cases", json=BODY, headers={"Idempotency-Key": "x"})
    assert anonymous.status_code == 401
    queue = client.get("/api/v1/windows/W-MZ-01/cases",
                       headers=_headers(client, "mz-1")).get_json()["cases"]
    assert queue == []


def test_the_citizen_looks_the_case_up_with_number_and_code(app: Flask) -> None:
    client = app.test_client()
    case = _register(client, "walk-in-2").get_json()
    found = client.get("/api/v1/public/status", query_string={
        "acceptance_no": case["acceptance_no"], "query_code": case["query_code"].lower()})
    assert found.status_code == 200
    body = found.get_json()
    assert body["item_name"] == "社会团体成立登记" and body["stage"] == "at_window"
    wrong = client.get("/api/v1/public/status", query_string={
        "acceptance_no": case["acceptance_no"], "query_code": "WRONG234"})
    assert wrong.status_code == 404
    assert wrong.get_json()["error"]["message"] == "no case with this number and code"
    for _ in range(12):
        last = client.get("/api/v1/public/status", query_string={
            "acceptance_no": case["acceptance_no"], "query_code": "WRONG234"})
    assert last.status_code == 429 and last.headers["Retry-After"]


ONE_FORM = {
    "composite": "YJS-0003",
    "applicant": {"name": "李四", "id_number": "11010519491231002X", "phone": "13800138000"},
    "form": {"residence_address": "北湖区人民路 18 号", "residence_since": "2024-06-01",
             "employment_status": "flexible"},
    "delivery": "window",
}


def test_the_desk_registers_a_one_form_application_as_a_case_per_part(app: Flask) -> None:
    client = app.test_client()
    created = client.post("/api/v1/bundles", json=ONE_FORM,
                          headers=_headers(client, "desk", "one-1"))
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert len(body["cases"]) == 2
    again = client.post("/api/v1/bundles", json=ONE_FORM,
                        headers=_headers(client, "desk", "one-1"))
    assert (again.status_code, again.get_json()) == (200, body)
    with app_session(app) as session:
        rows = session.scalars(select(HubCase).where(
            HubCase.bundle_id == uuid.UUID(body["bundle_id"]))).all()
    assert sorted(r.item_code for r in rows) == ["GA-4410", "RS-2205"]
    assert {r.composite for r in rows} == {"YJS-0003"}
    assert all(r.state == "routed" for r in rows)  # each routed to its window at once
    parent = client.get(f"/api/v1/bundles/{body['bundle_id']}",
                        headers=_headers(client, "desk")).get_json()
    assert parent["acceptance_no"] == body["acceptance_no"]
    assert (parent["state"], parent["parts_expected"], parent["parts_closed"]) == (
        "in_progress", 2, 0)
    for part in body["cases"]:
        status = client.get("/api/v1/public/status", query_string={
            "acceptance_no": part["acceptance_no"], "query_code": body["query_code"]})
        assert status.status_code == 200


def test_a_bad_one_form_at_the_desk_is_refused_whole(app: Flask) -> None:
    client = app.test_client()
    bad = dict(ONE_FORM, form={"residence_since": "2999-01-01"})
    refused = client.post("/api/v1/bundles", json=bad,
                          headers=_headers(client, "desk", "one-2"))
    assert refused.status_code == 400
    fields = refused.get_json()["error"]["fields"]
    assert {"form.residence_address", "form.residence_since",
            "form.employment_status"} <= set(fields)
    no_key = client.post("/api/v1/bundles", json=ONE_FORM, headers=_headers(client, "desk"))
    assert no_key.status_code == 400
    assert "Idempotency-Key" in no_key.get_json()["error"]["fields"]
    with app_session(app) as session:
        assert session.scalar(select(func.count()).select_from(HubCase)) == 0
    operator = client.post("/api/v1/bundles", json=ONE_FORM,
                           headers=_headers(client, "mz-1", "one-3"))
    assert operator.status_code == 403
