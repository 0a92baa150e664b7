"""Registering cases through ``POST /api/v1/cases``: numbers, idempotency, bad input."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from node.settings import NodeSettings
from shared.domain.application import QUERY_CODE_ALPHABET
from shared.domain.identity import uscc_check_char
from sync_protocol import case_id_for
from tests.node.conftest import (
    ID_LI,
    ID_ZHAO,
    SITE,
    Clock,
    case_body,
    person,
    post_case,
)


def _count(settings: NodeSettings, table: str) -> int:
    with sqlite3.connect(settings.data_dir / "node.sqlite") as db:
        return int(db.execute(f"select count(*) from {table}").fetchone()[0])


def test_a_valid_case_gets_numbers_at_once(client: FlaskClient, settings: NodeSettings) -> None:
    response = post_case(client, case_body())
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"case_id", "acceptance_no", "query_code", "state"}
    uuid.UUID(body["case_id"])
    assert body["acceptance_no"] == f"{SITE}-20250303-0001"
    assert re.fullmatch(f"[{QUERY_CODE_ALPHABET}]{{8}}", body["query_code"])
    assert body["state"] == "registered"
    # the case, its registered event and the event's outbox row, together
    assert _count(settings, "node_cases") == 1
    assert _count(settings, "sync_events") == 1
    assert _count(settings, "sync_outbox") == 1


def test_acceptance_numbers_count_per_day_in_shanghai_time(
    client: FlaskClient, clock: Clock
) -> None:
    first = post_case(client, case_body(), key="a").get_json()["acceptance_no"]
    second = post_case(client, case_body(applicant=person(id_number=ID_LI)), key="b").get_json()
    clock.advance(hours=14)  # 2025-03-04 00:30 in Shanghai
    third = post_case(client, case_body(applicant=person(id_number=ID_ZHAO)), key="c").get_json()
    assert first.endswith("-20250303-0001")
    assert second["acceptance_no"].endswith("-20250303-0002")
    assert third["acceptance_no"] == f"{SITE}-20250304-0001"


def test_the_same_idempotency_key_returns_the_same_case(
    client: FlaskClient, settings: NodeSettings
) -> None:
    first = post_case(client, case_body(), key="same")
    again = post_case(client, case_body(), key="same")
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.get_json() == first.get_json()
    assert _count(settings, "node_cases") == 1
    assert _count(settings, "sync_outbox") == 1


def test_a_key_reused_for_another_application_is_refused(client: FlaskClient) -> None:
    post_case(client, case_body(), key="same")
    other = post_case(client, case_body(applicant=person(id_number=ID_LI)), key="same")
    assert other.status_code == 409
    assert other.get_json()["error"]["fields"] == {
        "Idempotency-Key": "this key was already used for a different application"
    }


def test_concurrent_double_submission_creates_one_case(app: Flask, settings: NodeSettings) -> None:
    def submit(_: int) -> int:
        return post_case(app.test_client(), case_body(), key="double").status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = sorted(pool.map(submit, range(8)))
    assert statuses.count(201) == 1
    assert statuses.count(200) == 7
    assert _count(settings, "node_cases") == 1


def test_each_case_id_is_derived_from_its_registration_even_under_concurrency(
    app: Flask, settings: NodeSettings
) -> None:
    """The wire names a case by the key of the event that opened it, so that id must be
    the one ``case_id_for`` derives from the registration's place in the chain, also
    when agents submit at the same moment (each id then takes its own seq)."""
    def submit(n: int) -> str:
        response = post_case(app.test_client(), case_body(), key=f"parallel-{n}")
        assert response.status_code == 201, response.get_data(as_text=True)
        return str(response.get_json()["case_id"])

    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = set(pool.map(submit, range(8)))
    assert len(ids) == 8
    with sqlite3.connect(settings.data_dir / "node.sqlite") as db:
        rows = db.execute("select case_id, origin, epoch, seq from sync_events "
                          "where type = 'registered'").fetchall()
    assert len(rows) == 8
    for case_id, origin, epoch, seq in rows:
        assert uuid.UUID(case_id) == case_id_for(origin, epoch, seq)
        assert str(uuid.UUID(case_id)) in ids


def test_the_idempotency_key_is_required(client: FlaskClient) -> None:
    response = client.post("/api/v1/cases", json=case_body())
    assert response.status_code == 400
    assert "Idempotency-Key" in response.get_json()["error"]["fields"]


@pytest.mark.parametrize(
    ("change", "field", "reason_part"),
    [
        ({"item_code": "XX-9999"}, "item_code", "no service item"),
        ({"applicant": person(id_number="431002198001010018")}, "applicant.id_number", "checksum"),
        ({"applicant": person(phone="12345")}, "applicant.phone", ""),
        ({"applicant": person(name="")}, "applicant.name", ""),
        ({"form": {"hardship_type": "flood"}}, "form.hardship_type", "not one of"),
        ({"form": {"surprise": "x"}}, "form.surprise", "unknown field"),
        ({"delivery": "pigeon"}, "delivery", ""),
        ({"extra": 1}, "extra", ""),
        ({"applicant": "王五"}, "applicant", ""),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(
    client: FlaskClient,
    settings: NodeSettings,
    change: dict[str, Any],
    field: str,
    reason_part: str,
) -> None:
    response = post_case(client, case_body(**change), key=f"bad-{field}")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"]
    assert reason_part in error["fields"][field]
    assert _count(settings, "node_cases") == 0
    assert _count(settings, "sync_events") == 0
    assert _count(settings, "sync_outbox") == 0
    assert _count(settings, "node_idempotency") == 0


def test_every_bad_field_is_reported_at_once(client: FlaskClient) -> None:
    body = case_body(applicant=person(phone="1", id_number="1"), form={})
    fields = post_case(client, body).get_json()["error"]["fields"]
    assert {
        "applicant.phone",
        "applicant.id_number",
        "form.hardship_type",
        "form.bank_account",
    } <= set(fields)


def test_a_company_with_a_proxy_is_registered(client: FlaskClient) -> None:
    applicant = {
        "kind": "company",
        "name": "郴州市华塘农产品有限公司",
        "uscc": "91431000MA4L0XXX0" + ("0" if uscc_check_char("91431000MA4L0XXX0") != "0" else "1"),
        "legal_representative": person(name="李四", id_number=ID_LI),
        "proxy": person(name="赵六", id_number=ID_ZHAO, phone="13900139000"),
    }
    bad = post_case(client, case_body(applicant=applicant), key="co-bad")
    assert "applicant.uscc" in bad.get_json()["error"]["fields"]

    applicant["uscc"] = "91431000MA4L0XXX0" + uscc_check_char("91431000MA4L0XXX0")
    good = post_case(client, case_body(applicant=applicant), key="co-good")
    assert good.status_code == 201, good.get_json()


def test_a_malformed_json_body_is_a_400(client: FlaskClient) -> None:
    response = client.post(
        "/api/v1/cases",
        data="{not json",
        content_type="application/json",
        headers={"Idempotency-Key": "x"},
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["fields"] == {
        "body": "must be a JSON object (Content-Type: application/json)"
    }


def test_personal_data_is_not_stored_in_the_clear(
    client: FlaskClient, settings: NodeSettings
) -> None:
    post_case(client, case_body())
    raw = (settings.data_dir / "node.sqlite").read_bytes()
    wal = settings.data_dir / "node.sqlite-wal"
    if wal.exists():
        raw += wal.read_bytes()
    for secret in ("431002198001010017", "13800138000", "6217001234567890123"):
        assert secret.encode() not in raw
    assert "𠮷".encode() not in raw


def test_an_unreachable_database_is_a_503_with_retry_after(
    settings: NodeSettings, tmp_path: Any
) -> None:
    from dataclasses import replace

    from node.app import create_app

    gone = replace(settings, database_url=f"sqlite:///{tmp_path}/missing/dir/node.sqlite")
    response = post_case(create_app(gone).test_client(), case_body())
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.get_json()["error"]["code"] == "unavailable"


def test_personal_data_is_never_logged(app: Flask, client: FlaskClient) -> None:
    lines: list[str] = []
    formatter = app.logger.handlers[0].formatter
    assert formatter is not None

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(formatter.format(record))

    app.logger.addHandler(Collect())
    created = post_case(client, case_body()).get_json()
    client.get(
        "/api/v1/public/status",
        query_string={"acceptance_no": created["acceptance_no"], "query_code": "WRONG234"},
    )
    logged = "\n".join(lines)
    assert json.loads(lines[0])["case_id"] == created["case_id"]  # logged by id
    assert json.loads(lines[0])["site"] == SITE
    for secret in ("王", "431002198001010017", "13800138000", created["query_code"]):
        assert secret not in logged
