"""The sites the hostile corpus is sent to: a hub (SQLite, and PostgreSQL where the server
runs) with a user of every role signed in through the API, and a village node set up without
enrolment (it serves its own PC as the site's agent). Each site holds one real case, so a
request that names a case reaches the code that validates its body.

:func:`snapshot` is what "nothing changed" means: a digest of every row of every table,
except the failure counters a refused sign-in or lookup is meant to add to.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyotp
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import MetaData, select
from sqlalchemy.engine import Engine
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from hub.app import create_app as create_hub
from hub.cli import hub_group
from hub.db_session import app_session
from hub.services import HubServices
from hub.settings import HubSettings
from node.app import create_app as create_node
from shared.storage.accounts import add_user
from shared.storage.db import make_engine
from tests.hub.conftest import HUB, PASSWORD, WINDOW, Clock, Hub, register_at_hub
from tests.node.conftest import case_body, init_node, node_services
from tests.shared.web.form_client import FormClient

COUNTERS = frozenset({"acct_failures", "record_views"})
"""Tables a request may add to on purpose: wrong passwords and query codes count, and a
case's full record opened (a hostile query string beside it is ignored) is logged."""

USERS = (("desk", "agent", None), ("mz-1", "window_operator", WINDOW),
         ("lead", "supervisor", None), ("root", "admin", None))

ROLE_OF_ENDPOINT = {
    "window_api.queue": "mz-1",
    "window_api.show": "mz-1",
    "window_api.action": "mz-1",
    "window_api.reassign": "lead",
    "materials.material_api": "mz-1",
    "register": "desk",
}
"""Who sends a request to an endpoint of the hub (anyone else: the front desk's agent)."""

NO_BODY_ENDPOINTS = frozenset({"auth.revoke_own_tokens"})
"""Endpoints that read no body and would act on any: sent without a token (401)."""


@dataclass
class Site:
    """An app to attack, what its path parameters name, and who may call it."""

    name: str
    app: Flask
    database_url: str
    path_values: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)

    def headers_for(self, endpoint: str) -> dict[str, str]:
        if endpoint in NO_BODY_ENDPOINTS or not self.tokens:
            return {}
        username = ROLE_OF_ENDPOINT.get(endpoint, "desk")
        return {"Authorization": f"Bearer {self.tokens[username]}"}

    def api_rules(self) -> list[tuple[Rule, str]]:
        """Every ``(rule, method)`` under ``/api/`` this site serves, read from its URL map."""
        found = []
        for rule in self.app.url_map.iter_rules():
            if rule.rule.startswith("/api/"):
                for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                    found.append((rule, method))
        return sorted(found, key=lambda pair: (pair[0].rule, pair[1]))

    def path(self, rule: Rule, replaced: Mapping[str, str] | None = None) -> str:
        """``rule`` with each parameter filled with a real value (or the ``replaced`` one)."""
        values = {name: self.path_values.get(name, "x") for name in rule.arguments}
        values.update(replaced or {})
        parts = []
        for part in rule.rule.split("/"):
            if part.startswith("<"):
                part = values[part[1:-1].split(":")[-1]]
            parts.append(part)
        return "/".join(parts)


def hub_site(data_dir: Path, database_url: str | None = None) -> Iterator[Site]:
    """A hub with a user of each role holding a token, and one case routed to its window."""
    args = ["init", "--data-dir", str(data_dir)]
    if database_url:
        args += ["--database-url", database_url]
    result = CliRunner().invoke(hub_group, args)
    assert result.exit_code == 0, result.output
    settings = replace(HubSettings.load(data_dir), testing=False)
    app = create_hub(settings)
    services: HubServices = app.extensions["sanji_hub"]
    hub = Hub(app, Clock(datetime(2026, 3, 2, 2, 0, tzinfo=UTC)), {})
    services.clock = hub.clock
    with app_session(app) as session:
        for username, role, window in USERS:
            user = add_user(session, username=username, password=PASSWORD, role=role,
                            site=HUB, window=window, now=hub.clock())
            if user.totp_secret:
                hub.secrets[username] = user.totp_secret
        session.commit()
    case_id, _ = register_at_hub(hub)
    site = Site("hub", app, settings.database_url,
                {"case_id": str(case_id), "code": WINDOW, "sha256": "ab" * 32})
    client = app.test_client()
    for username, _, _ in USERS:
        body = {"username": username, "password": PASSWORD}
        if username in hub.secrets:
            body["otp"] = pyotp.TOTP(hub.secrets[username]).at(hub.clock())
        answer = client.post("/api/v1/auth/token", json=body)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        site.tokens[username] = answer.get_json()["access_token"]
    yield site


def node_site(data_dir: Path) -> Iterator[Site]:
    """A village node (not enrolled: its own PC is its agent) holding one registered case."""
    settings = replace(init_node(data_dir), testing=False)
    app = create_node(settings)
    app.test_client_class = FormClient  # the PC's agent posts forms with the page's token
    node_services(app).clock = Clock(datetime(2025, 3, 3, 2, 30, tzinfo=UTC))
    answer = app.test_client().post("/api/v1/cases", json=case_body(),
                                    headers={"Idempotency-Key": "hostile-setup"})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    yield Site("node", app, settings.database_url,
               {"case_id": answer.get_json()["case_id"], "code": "W-MZ-01",
                "sha256": "ab" * 32})


def snapshot(engine: Engine) -> dict[str, str]:
    """A digest of every row of every table (but :data:`COUNTERS`), by table."""
    metadata = MetaData()
    metadata.reflect(engine)
    digests = {}
    with engine.connect() as conn:
        for name, table in sorted(metadata.tables.items()):
            if name in COUNTERS:
                continue
            rows = sorted(repr(tuple(row)) for row in conn.execute(select(table)))
            digests[name] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
    return digests


def site_engine(site: Site) -> Engine:
    return make_engine(site.database_url)


def assert_error_shape(response: TestResponse, what: str) -> None:
    """``response`` is a 4xx in the contract's shape: ``{"error": {"code", "message",
    "fields"}}`` with string codes and messages and a string-to-string ``fields``."""
    assert 400 <= response.status_code < 500, (what, response.status_code,
                                               response.get_data(as_text=True)[:300])
    # the standard parser: the app's own reads requests strictly, and an answer may quote
    # the hostile input back (JSON-escaped)
    body: Any = json.loads(response.get_data())
    assert isinstance(body, dict) and set(body) == {"error"}, (what, body)
    error = body["error"]
    assert set(error) == {"code", "message", "fields"}, (what, error)
    assert isinstance(error["code"], str) and isinstance(error["message"], str), (what, error)
    assert isinstance(error["fields"], dict), (what, error)
    assert all(isinstance(k, str) and isinstance(v, str)
               for k, v in error["fields"].items()), (what, error)


def new_case_id() -> str:
    return str(uuid.uuid4())
