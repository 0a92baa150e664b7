"""Materials, the case in the contract's shape, the catalogue and the public status."""

from __future__ import annotations

import hashlib
import io
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from node.settings import NodeSettings
from shared.storage.blob_store import BlobStore
from shared.storage.sealing import SCAN_MAGIC, ScanSealer, load_data_keys
from tests.node.conftest import JPEG, PDF, PNG, WEBP, case_body, post_case


def _new_case(client: FlaskClient) -> dict[str, Any]:
    response = post_case(client, case_body())
    assert response.status_code == 201
    body: dict[str, Any] = response.get_json()
    return body


def _upload(client: FlaskClient, case_id: str, code: str, data: bytes, name: str = "scan") -> Any:
    return client.post(
        f"/api/v1/cases/{case_id}/materials",
        data={"material_code": code, "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def test_scans_of_every_accepted_type_are_stored_by_content(
    client: FlaskClient, settings: NodeSettings
) -> None:
    case_id = _new_case(client)["case_id"]
    for data, media_type in (
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (WEBP, "image/webp"),
        (PDF, "application/pdf"),
    ):
        response = _upload(client, case_id, "HARDSHIP_PROOF", data, "x.bin")
        assert response.status_code == 201, response.get_json()
        body = response.get_json()
        digest = hashlib.sha256(data).hexdigest()
        assert body["sha256"] == digest
        assert body["media_type"] == media_type
        on_disk = (settings.blob_dir / digest[:2] / digest).read_bytes()
        assert on_disk.startswith(SCAN_MAGIC) and data not in on_disk  # sealed at rest
        blobs = BlobStore(settings.blob_dir, ScanSealer(load_data_keys(settings.key_dir)))
        assert blobs.get(digest) == data
    case = client.get(f"/api/v1/cases/{case_id}").get_json()
    assert [m["media_type"] for m in case["materials"]] == [
        "image/png",
        "image/jpeg",
        "image/webp",
        "application/pdf",
    ]
    assert [e["type"] for e in case["events"]] == ["registered"] + ["material_added"] * 4


def test_the_same_scan_twice_is_kept_once(client: FlaskClient) -> None:
    case_id = _new_case(client)["case_id"]
    assert _upload(client, case_id, "HARDSHIP_PROOF", PNG).status_code == 201
    assert _upload(client, case_id, "HARDSHIP_PROOF", PNG).status_code == 200
    case = client.get(f"/api/v1/cases/{case_id}").get_json()
    assert len(case["materials"]) == 1
    assert len(case["events"]) == 2


def test_a_file_that_is_not_an_image_or_pdf_is_refused(client: FlaskClient) -> None:
    case_id = _new_case(client)["case_id"]
    # a Windows executable renamed to .jpg: the name is not trusted
    response = _upload(client, case_id, "HARDSHIP_PROOF", b"MZ\x90\x00" + b"\x00" * 60, "a.jpg")
    assert response.status_code == 400
    assert response.get_json()["error"]["fields"] == {
        "file": "not an image (JPEG, PNG, WebP) or a PDF"
    }
    assert len(client.get(f"/api/v1/cases/{case_id}").get_json()["materials"]) == 0


def test_a_file_over_the_items_limit_is_refused_with_413(client: FlaskClient) -> None:
    body = case_body(
        item_code="MZ-0410",
        form={"partner_name": "李四", "partner_id_number": "431002197503150023"},
    )
    case_id = post_case(client, body, key="marriage").get_json()["case_id"]
    big = PNG + b"\x00" * (2 * 1024 * 1024)  # PHOTO allows 2 MiB
    response = _upload(client, case_id, "PHOTO", big)
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert error["code"] == "too_large"
    assert "2097152" in error["fields"]["file"]
    assert _upload(client, case_id, "PHOTO", PNG).status_code == 201


def test_an_unknown_material_or_missing_file_is_a_400(client: FlaskClient) -> None:
    case_id = _new_case(client)["case_id"]
    unknown = _upload(client, case_id, "PASSPORT", PNG)
    assert unknown.status_code == 400
    assert "PASSPORT" in unknown.get_json()["error"]["fields"]["material_code"]
    missing = client.post(
        f"/api/v1/cases/{case_id}/materials",
        data={"material_code": "ID_CARD"},
        content_type="multipart/form-data",
    )
    assert missing.status_code == 400
    assert "file" in missing.get_json()["error"]["fields"]


def test_an_unknown_case_is_a_404(client: FlaskClient) -> None:
    for path in ("/api/v1/cases/not-a-uuid", "/api/v1/cases/9b2f7c1e-0000-4000-8000-000000000000"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"


def test_the_case_has_the_contract_shape_with_personal_data_masked(
    client: FlaskClient,
) -> None:
    created = _new_case(client)
    case = client.get(f"/api/v1/cases/{created['case_id']}").get_json()
    assert {
        "case_id",
        "acceptance_no",
        "item_code",
        "kind",
        "state",
        "site",
        "window",
        "deadline",
        "events",
    } <= set(case)
    assert case["acceptance_no"] == created["acceptance_no"]
    assert case["item_code"] == "MZ-0305"
    assert case["kind"] == "promised"
    assert case["site"] == "431002001201"
    assert case["window"] == "W-MZ-11"
    assert case["deadline"] is None
    assert case["stage"] == "queued_here"
    (event,) = case["events"]
    assert event["origin"] == "431002001201"
    assert (event["epoch"], event["seq"], event["type"]) == (1, 1, "registered")
    assert event["at"] == "2025-03-03T02:30:00+00:00"
    assert case["applicant"]["name"] == "王**"
    assert case["applicant"]["id_number"] == "4310**********0017"
    assert "13800138000" not in str(case)


def test_the_catalogue_is_listed_and_searchable_by_pinyin(client: FlaskClient) -> None:
    everything = client.get("/api/v1/catalog/items").get_json()
    assert everything["version"] == 1
    assert len(everything["items"]) > 10
    first = everything["items"][0]
    assert {
        "code",
        "name",
        "tier",
        "window",
        "authority",
        "kind",
        "promised_days",
        "legal_days",
        "materials",
        "form",
    } <= set(first)
    found = client.get("/api/v1/catalog/items?q=lsjz").get_json()["items"]  # 临时救助
    assert found[0]["code"] == "MZ-0305"
    english = client.get("/api/v1/catalog/items?q=MZ-0305&lang=en").get_json()["items"]
    assert english[0]["name"] == "Application for temporary assistance"
    bad = client.get("/api/v1/catalog/items?lang=fr")
    assert bad.status_code == 400
    assert "lang" in bad.get_json()["error"]["fields"]


def test_public_status_answers_the_right_pair_only(client: FlaskClient) -> None:
    created = _new_case(client)
    ok = client.get(
        "/api/v1/public/status",
        query_string={
            "acceptance_no": created["acceptance_no"],
            "query_code": created["query_code"].lower(),
        },
    )
    assert ok.status_code == 200
    body = ok.get_json()
    assert set(body) == {
        "acceptance_no",
        "item_name",
        "state",
        "stage",
        "deadline",
        "missing",
        "missing_names",
        "outcome",
        "as_of",
    }
    assert body["item_name"] == "临时救助申请"
    assert body["stage"] == "queued_here"
    wrong = client.get(
        "/api/v1/public/status",
        query_string={"acceptance_no": created["acceptance_no"], "query_code": "AAAAAAAA"},
    )
    unknown = client.get(
        "/api/v1/public/status",
        query_string={
            "acceptance_no": "431002001201-20250303-9999",
            "query_code": created["query_code"],
        },
    )
    for response in (wrong, unknown):
        assert response.status_code == 404
        assert response.get_json() == {
            "error": {"code": "not_found", "message": "no case with this number and code",
                      "fields": {}}
        }


def test_public_status_is_429_after_too_many_wrong_tries(
    client: FlaskClient, settings: NodeSettings
) -> None:
    created = _new_case(client)
    query = {"acceptance_no": created["acceptance_no"], "query_code": "AAAAAAAA"}
    for _ in range(settings.status_max_failures):
        assert client.get("/api/v1/public/status", query_string=query).status_code == 404
    blocked = client.get(
        "/api/v1/public/status", query_string={**query, "query_code": created["query_code"]}
    )
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) >= 1
    other = client.get(
        "/api/v1/public/status",
        query_string={
            "acceptance_no": created["acceptance_no"],
            "query_code": created["query_code"],
        },
        environ_base={"REMOTE_ADDR": "10.0.0.9"},
    )
    assert other.status_code == 200


def test_health_and_metrics(client: FlaskClient) -> None:
    _new_case(client)
    assert client.get("/healthz").get_json()["status"] == "ok"
    text = client.get("/metrics").get_data(as_text=True)
    assert 'sanji_node_cases{site="431002001201"} 1' in text
    assert 'sanji_node_outbox_pending{site="431002001201"} 1' in text


def test_metrics_count_the_deciding_jobs_runs(app: Flask, client: FlaskClient) -> None:
    from node.deciding_jobs import tick

    assert 'sanji_node_deciding_runs_total{site="431002001201"} 0' in client.get(
        "/metrics").get_data(as_text=True)
    tick(app)
    tick(app)
    assert 'sanji_node_deciding_runs_total{site="431002001201"} 2' in client.get(
        "/metrics").get_data(as_text=True)
