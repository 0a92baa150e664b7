"""Texts to citizens from the hub (PostgreSQL, a schema of its own): the acceptance and the
one-time supplement notice of a case are each sent once through an HTTP gateway on
127.0.0.1 that refuses at first (the window's work goes on meanwhile), then takes them; the
default log gateway masks the phone; a bad template file is refused naming the entry."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from hub.background import run_texts
from hub.db_session import app_session
from hub.models import HubSms
from shared.domain.errors import InvalidInput
from shared.domain.sms_texts import checked_templates, render
from shared.notify.sms_gateway import HttpGateway
from tests.hub.conftest import Hub, hub_maker, register_at_hub

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 4, 28, 2, 0, tzinfo=UTC)
OPERATOR = "mz-desk"


class _Gateway(BaseHTTPRequestHandler):
    """An SMS provider: answers each POST with the next status of ``statuses`` (200 once
    they run out) and keeps what it was sent."""

    statuses: ClassVar[list[int]] = []
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        status = type(self).statuses.pop(0) if type(self).statuses else 200
        if status == 200:
            type(self).received.append({**body, "auth": self.headers.get("Authorization")})
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def gateway() -> Iterator[tuple[str, type[_Gateway]]]:
    handler = type("Gateway", (_Gateway,), {"statuses": [503], "received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/sms", handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def hub(tmp_path: Path, pg_schema_url: str) -> Hub:
    return hub_maker(tmp_path, pg_schema_url)(NOW, [(OPERATOR, "window_operator", "W-MZ-01")])


def _act(hub: Hub, case_id: Any, **body: Any) -> None:
    response = hub.app.test_client().post(f"/api/v1/cases/{case_id}/actions", json=body,
                                          headers=hub.bearer(OPERATOR))
    assert response.status_code == 200, response.get_json()


def _states(hub: Hub) -> list[tuple[str, str]]:
    with app_session(hub.app) as session:
        return sorted((r.event_type, r.state) for r in session.query(HubSms))


def test_each_event_is_texted_once_and_a_refusing_gateway_waits(
        hub: Hub, gateway: tuple[str, type[_Gateway]]) -> None:
    url, received = gateway
    hub.services.sms = replace(hub.services.sms, gateway=HttpGateway(url, "sms-token"))
    case_id, acceptance_no = register_at_hub(hub)
    for action in ("claim", "accept"):
        _act(hub, case_id, action=action)
    _act(hub, case_id, action="request_supplement", missing=["APPLICATION"],
         reason="申请书缺少法定代表人签字")

    first = run_texts(hub.app)  # the gateway refuses: the batch stops, nothing is lost
    assert (first.queued, first.sent, first.retried) == (2, 0, 1)
    assert received.received == []
    # the next run sends the message not tried yet; the refused one waits out its minute
    second = run_texts(hub.app)
    assert (second.queued, second.sent) == (0, 1)
    assert _states(hub) == [("accepted", "queued"), ("supplement_requested", "sent")]
    hub.clock.now += timedelta(minutes=2)
    assert run_texts(hub.app).sent == 1
    assert run_texts(hub.app).sent == 0  # each sent once
    assert _states(hub) == [("accepted", "sent"), ("supplement_requested", "sent")]

    texts = {m["id"]: m for m in received.received}
    assert len(texts) == 2  # stable ids: one per event
    assert {m["phone"] for m in texts.values()} == {"13800138000"}
    assert {m["auth"] for m in texts.values()} == {"Bearer sms-token"}
    accepted, supplement = sorted(texts.values(), key=lambda m: "补正" in m["text"])
    assert acceptance_no in accepted["text"] and "已受理" in accepted["text"]
    assert "社会团体成立登记" in accepted["text"] and "李四" not in accepted["text"]
    assert "成立登记申请书" in supplement["text"]  # the material by its name


def test_the_log_gateway_is_the_default_and_masks_the_phone(
        hub: Hub, caplog: pytest.LogCaptureFixture) -> None:
    assert hub.services.sms.gateway.name == "log"
    case_id, acceptance_no = register_at_hub(hub)
    for action in ("claim", "accept"):
        _act(hub, case_id, action=action)
    with caplog.at_level(logging.INFO, logger="sanji.sms"):
        assert run_texts(hub.app).sent == 1
    (record,) = [r for r in caplog.records if r.name == "sanji.sms"]
    fields = record.__dict__["fields"]
    assert fields["phone"] == "138****8000" and acceptance_no in fields["text"]


def test_templates_are_checked_and_overridable() -> None:
    with pytest.raises(InvalidInput) as unknown_fact:
        checked_templates({"accepted": "{name}您好"})
    assert unknown_fact.value.field == "sms_templates.accepted"  # type: ignore[attr-defined]
    with pytest.raises(InvalidInput):
        checked_templates({"rated": "谢谢"})
    templates = checked_templates({"accepted": "{acceptance_no}已受理"})
    assert render(templates["accepted"], {"acceptance_no": "X-1"}) == "X-1已受理"
    assert "{missing}" in templates["supplement_requested"]  # the others stay
