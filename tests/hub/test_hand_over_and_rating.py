"""Delivery by courier (快递送达) recorded at the city window (PostgreSQL): the hand-over
names carrier, tracking number and address, a bad one is refused naming each field and
changes nothing, the public lookup shows carrier and number (never the address), and
erasure drops the address, the number and the receiver's name. The applicant then rates
the service at the window through the contract's ``rate`` action, with the indicators a
window scores, once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from hub.db_session import app_session
from shared.deciding import case_work
from shared.domain.application import query_verifier
from shared.domain.retention import erased_payload
from tests.hub.conftest import Hub, hub_maker, register_at_hub

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 4, 28, 2, 0, tzinfo=UTC)
REVIEW, CHECK = "mz-review", "mz-check"
CODE = "ABCD2345"
COURIER = {"method": "courier", "receiver_name": "李四", "carrier": "sf",
           "tracking_no": "sf1234567890123", "address": "郴州市北湖区人民西路12号"}


@pytest.fixture
def hub(tmp_path: Path, pg_schema_url: str) -> Hub:
    return hub_maker(tmp_path, pg_schema_url)(NOW, [(REVIEW, "window_operator", "W-MZ-01"),
                                                   (CHECK, "window_operator", "W-MZ-01")])


def _act(client: FlaskClient, hub: Hub, who: str, case_id: Any, **body: Any) -> Any:
    return client.post(f"/api/v1/cases/{case_id}/actions", json=body,
                       headers=hub.bearer(who))


def test_the_window_sends_the_result_by_courier_and_the_lookup_shows_it(hub: Hub) -> None:
    client = hub.app.test_client()
    case_id = uuid.uuid4()
    case_id, acceptance_no = register_at_hub(
        hub, case_id=case_id, query_verifier=query_verifier(case_id, CODE))
    for who, action in ((REVIEW, "claim"), (REVIEW, "accept"), (REVIEW, "approve"),
                        (CHECK, "claim"), (CHECK, "check"), (CHECK, "issue_result")):
        assert _act(client, hub, who, case_id, action=action).status_code == 200

    bad = _act(client, hub, CHECK, case_id, action="hand_over",
               **{**COURIER, "tracking_no": "短", "address": ""})
    assert bad.status_code == 400
    assert {"tracking_no", "address"} <= set(bad.get_json()["error"]["fields"])
    sent = _act(client, hub, CHECK, case_id, action="hand_over", **COURIER)
    assert sent.status_code == 200, sent.get_json()
    assert sent.get_json()["state"] == "handed_over"

    status = client.get("/api/v1/public/status", query_string={
        "acceptance_no": acceptance_no, "query_code": CODE})
    assert status.status_code == 200, status.get_json()
    assert status.get_json()["courier"]["carrier"] == "sf"
    assert status.get_json()["courier"]["tracking_no"] == "SF1234567890123"  # in capitals
    assert "人民西路" not in status.get_data(as_text=True)

    with app_session(hub.app) as session:
        events = case_work.case_events(session, hub.services.sync_site, case_id)
    handed = events[-1]
    erased = erased_payload("result_handed_over", handed.payload)
    assert {"address", "tracking_no", "receiver_name"}.isdisjoint(erased)
    assert erased["method"] == "courier" and erased["carrier"] == "sf"

    bad = _act(client, hub, CHECK, case_id, action="rate", rating="satisfied",
               indicators={"guide_accuracy": 5, "efficiency": 7})
    assert bad.status_code == 400
    assert set(bad.get_json()["error"]["fields"]) == {"indicators.guide_accuracy",
                                                      "indicators.efficiency"}
    rated = _act(client, hub, CHECK, case_id, action="rate", rating="very_satisfied",
                 indicators={"efficiency": 5, "attitude": 5, "service_level": 4},
                 comment="邮寄到家,很方便")
    assert rated.status_code == 200, rated.get_json()
    again = _act(client, hub, CHECK, case_id, action="rate", rating="dissatisfied")
    assert again.status_code == 409
    with app_session(hub.app) as session:
        last = case_work.case_events(session, hub.services.sync_site, case_id)[-1]
    assert last.payload == {"rating": "very_satisfied", "channel": "window",
                            "indicators": {"efficiency": 5, "attitude": 5, "service_level": 4},
                            "comment": "邮寄到家,很方便"}
