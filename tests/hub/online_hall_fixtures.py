"""What the online hall's tests share: an SMS provider on 127.0.0.1 that keeps the texts it
is sent (so a test reads the one-time code as the applicant's phone would), a hub whose
texts go there, and small scans."""

from __future__ import annotations

import io
import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from flask.testing import FlaskClient

from hub.app import create_app
from hub.cli import hub_group
from hub.db_session import app_session
from hub.online_hall_accounts import OnlineHall, check_sign_up, create_account
from hub.online_hall_cases import Draft, save_draft, store_scans, submit
from hub.online_hall_views import ACCOUNT_KEY
from hub.settings import HubSettings
from shared.storage.accounts import add_user
from shared.storage.scan_uploads import check_upload, material_of
from shared.web.rate_limit import failure_counts_of
from shared.web.security_policy import SEEN_KEY, STARTED_KEY
from tests.hub.conftest import HUB, PASSWORD, Clock, Hub
from tests.shared.web.form_client import FormClient

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
PERSON: dict[str, Any] = {"kind": "person", "name": "王芳",
                          "id_number": "11010519491231002X", "phone": "13912345678"}
COMPANY: dict[str, Any] = {
    "kind": "company", "name": "郴州市光明贸易有限公司", "uscc": "91431000MA4L0PQR7L",
    "legal_representative": {"name": "赵强", "id_number": "110105198001010016",
                             "phone": "13712345678"}}

COURIER: dict[str, str] = {"name": "王芳", "phone": "13912345678", "area": "431002001",
                           "address": "良田镇中心街 8 号 2 单元 301"}
"""A courier address, as the online form takes it."""
COURIER_FORM = {f"courier.{k}": v for k, v in COURIER.items()}


@dataclass
class SmsSink:
    """The texts an SMS provider was sent, newest last."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)

    def code_for(self, phone: str) -> str:
        """The six digits of the newest code texted to ``phone``."""
        texts = [m["text"] for m in self.received if m["phone"] == phone]
        assert texts, f"no text to {phone}"
        found = re.search(r"\b(\d{6})\b", texts[-1])
        assert found is not None, texts[-1]
        return found.group(1)


@contextmanager
def sms_sink() -> Iterator[SmsSink]:
    """An SMS provider's HTTP endpoint on 127.0.0.1 that takes every text."""
    sink = SmsSink("")

    class Provider(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            sink.received.append(body)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Provider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    sink.url = f"http://127.0.0.1:{server.server_port}/sms"
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()


def hall_hub(tmp_path: Path, now: datetime, sink: SmsSink,
             operators: tuple[tuple[str, str], ...] = (),
             database_url: str | None = None) -> Hub:
    """A fresh hub (SQLite, or ``database_url``) texting through ``sink``, with window
    operators ``(username, window)``."""
    data_dir = tmp_path / "hub"
    database = ["--database-url", database_url] if database_url else []
    result = CliRunner().invoke(hub_group, ["init", "--data-dir", str(data_dir), *database])
    assert result.exit_code == 0, result.output
    settings = replace(HubSettings.load(data_dir), testing=True, sms_gateway_url=sink.url)
    app = create_app(settings)
    app.test_client_class = FormClient
    hub = Hub(app, Clock(now), {})
    hub.services.clock = hub.clock
    with app_session(app) as session:
        for username, window in operators:
            add_user(session, username=username, password=PASSWORD, role="window_operator",
                     site=HUB, window=window, now=now)
        session.commit()
    return hub


def online_case_awaiting_supplement(hub: Hub, operator: str) -> tuple[int, uuid.UUID]:
    """An online account (:data:`PERSON`) and a passport application it submitted, to be
    sent by courier to :data:`COURIER`, which ``operator`` of W-GA-01 has asked to
    supplement with a new photo; (account id, case id).
    Made through the hall's own functions, as its pages make them."""
    services = hub.services
    hall = OnlineHall(keys=services.data_keys, sealer=services.payload_sealer,
                      counts=failure_counts_of(hub.app), gateway=services.sms.gateway,
                      centre=services.settings.site_name)
    now = hub.clock()
    item = services.catalogue.item("GA-3101")
    with hub.app.test_request_context(), app_session(hub.app) as session:
        applicant = check_sign_up(PERSON, now)
        account = create_account(session, hall, applicant, hall.phone_index(PERSON["phone"]),
                                 now)
        session.commit()
        draft = Draft({"purpose": "tourism"}, "courier", [], courier=dict(COURIER))
        scans = [check_upload(material_of(item, code), io.BytesIO(data))
                 for code, data in (("ID_CARD", JPEG), ("PHOTO", PNG))]
        store_scans(services, scans)
        draft.add(scans)
        save_draft(session, services, account.id, item.code, draft, now)
        session.commit()
        case_id = submit(session, services, account.id, item, applicant.to_dict(), now).case_id
        account_id = account.id
    client = hub.app.test_client()
    for body in ({"action": "claim"}, {"action": "request_supplement", "missing": ["PHOTO"],
                                       "reason": "照片背景不符合要求"}):
        done = client.post(f"/api/v1/cases/{case_id}/actions", json=body,
                           headers=hub.bearer(operator))
        assert done.status_code == 200, done.get_json()
    return account_id, case_id


def applicant_client(hub: Hub, account_id: int) -> FlaskClient:
    """A browser signed in to the online hall as the account ``account_id`` (the session
    the sign-in pages start)."""
    client = hub.app.test_client()
    at = int(hub.clock().timestamp())
    with client.session_transaction() as session:
        session[ACCOUNT_KEY] = account_id
        session[STARTED_KEY] = at
        session[SEEN_KEY] = at
    return client
