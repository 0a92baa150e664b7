"""Wrong logins at the hub are counted in its database, by the client the trusted proxy saw,
and a JSON body over 1 MiB is refused before it is parsed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from hub.app import create_app
from hub.cli import hub_group
from hub.db_session import app_session
from hub.services import HubServices
from hub.settings import HubSettings
from shared.storage.accounts import add_user
from shared.web.request_limits import JSON_BODY_BYTES
from shared.web.sign_in import MAX_FAILURES

HUB = "431000"
PASSWORD = "correct horse battery"
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def _init(data_dir: Path, *extra: str) -> HubSettings:
    result = CliRunner().invoke(hub_group, ["init", "--data-dir", str(data_dir), *extra])
    assert result.exit_code == 0, result.output
    return replace(HubSettings.load(data_dir), testing=True)


def _app(settings: HubSettings) -> Flask:
    app = create_app(settings)
    services: HubServices = app.extensions["sanji_hub"]
    services.clock = lambda: NOW
    return app


def _add_agent(app: Flask, username: str = "li.agent") -> None:
    with app_session(app) as session:
        add_user(session, username=username, password=PASSWORD, role="agent", site=HUB, now=NOW)
        session.commit()


def _login(client: FlaskClient, password: str, username: str = "li.agent",
           client_address: str | None = None) -> int:
    headers = {"X-Forwarded-For": client_address} if client_address else {}
    response = client.post("/api/v1/auth/token", headers=headers,
                           json={"username": username, "password": password})
    status: int = response.status_code
    return status


@pytest.mark.postgres
def test_two_hub_processes_on_one_database_share_the_count(
    tmp_path: Path, pg_schema_url: str
) -> None:
    settings = _init(tmp_path / "hub", "--database-url", pg_schema_url)
    first, second = _app(settings), _app(settings)
    _add_agent(first)
    clients = [first.test_client(), second.test_client()]
    for attempt in range(MAX_FAILURES):
        assert _login(clients[attempt % 2], "wrong password!") == 401
    # the quota is spent across both processes: neither allows another try
    assert _login(clients[0], PASSWORD) == 429
    assert _login(clients[1], PASSWORD) == 429


def test_behind_a_trusted_proxy_two_clients_are_counted_apart(tmp_path: Path) -> None:
    app = _app(replace(_init(tmp_path / "hub"), trusted_proxies=1))
    _add_agent(app)
    client = app.test_client()
    for _ in range(MAX_FAILURES):
        assert _login(client, "wrong password!", client_address="203.0.113.9") == 401
    assert _login(client, PASSWORD, client_address="203.0.113.9") == 429
    # the same account from another client behind the same nginx still logs in
    assert _login(client, PASSWORD, client_address="198.51.100.4") == 200


def test_an_untrusted_forwarded_for_header_does_not_buy_more_tries(tmp_path: Path) -> None:
    app = _app(_init(tmp_path / "hub"))  # trusted_proxies 0: the header is the client's
    _add_agent(app)
    client = app.test_client()
    for n in range(MAX_FAILURES):
        assert _login(client, "wrong password!", client_address=f"10.9.0.{n}") == 401
    assert _login(client, PASSWORD, client_address="10.9.9.9") == 429


def test_the_environment_sets_the_trusted_proxies(tmp_path: Path) -> None:
    _init(tmp_path / "hub")
    loaded = HubSettings.load(tmp_path / "hub", {"SANJI_HUB_TRUSTED_PROXIES": "1"})
    assert loaded.trusted_proxies == 1
    assert HubSettings.load(tmp_path / "hub", {}).trusted_proxies == 0


def test_a_token_request_over_a_mebibyte_is_413_before_it_is_parsed(tmp_path: Path) -> None:
    app = _app(_init(tmp_path / "hub"))
    parsed: list[int] = []
    loads = app.json.loads

    def counting(text: Any, **kwargs: Any) -> Any:
        parsed.append(len(text))
        return loads(text, **kwargs)

    app.json.loads = counting  # type: ignore[method-assign]
    body = b'{"username": "li.agent", "password": "' + b"x" * JSON_BODY_BYTES + b'"}'
    response = app.test_client().post("/api/v1/auth/token", data=body,
                                      content_type="application/json")
    assert parsed == []
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "too_large"
