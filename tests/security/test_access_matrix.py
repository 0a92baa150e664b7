"""Every endpoint of the hub against every role, anonymous and a user of another site: the
access table (:mod:`hub.access_rules`) names each endpoint, and the gate answers exactly as
the table says before the view runs."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.routing import Rule as UrlRule

from hub.access_rules import POLICY
from hub.db_session import app_session
from shared.storage.accounts import Claims, UserAccount, add_user
from shared.web.access_policy import REFUSED_HEADER, unlisted
from tests.hub.conftest import HUB, PASSWORD, WINDOW, Hub, User

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OTHER_SITE = "431002001001"
USERS: Sequence[User] = [
    ("desk", "agent", None),
    ("operator", "window_operator", WINDOW),
    ("cashier", "finance", WINDOW),
    ("chief", "supervisor", None),
    ("root", "admin", None),
]
SAMPLE_ARGS: dict[str, Any] = {"case_id": uuid.uuid4(), "index": 0, "year": 2026, "code": WINDOW,
               "username": "operator", "sha256": "ab" * 32, "filename": "missing.css",
               "period": "month", "day": "2026-03-02", "window": WINDOW,
               "token": "NO-SUCH-TICKET", "bundle_id": str(uuid.uuid4()),
               "item_code": "MZ-0520", "consultation_id": str(uuid.uuid4())}


@pytest.fixture
def hub(make_hub: Callable[[datetime, Sequence[User]], Hub]) -> Hub:
    made = make_hub(NOW, USERS)
    with app_session(made.app) as session:
        add_user(session, username="stranger", password=PASSWORD, role="admin",
                 site=OTHER_SITE, now=NOW)
        session.commit()
    return made


def _token(hub: Hub, username: str) -> str:
    with app_session(hub.app) as session:
        user = session.scalars(select(UserAccount).where(UserAccount.username == username)).one()
        return hub.services.signer.issue(user, NOW)


def _url(app: Flask, rule: UrlRule) -> str:
    with app.test_request_context():
        args = {name: SAMPLE_ARGS[name] for name in rule.arguments}
        return app.url_for(rule.endpoint, **args)


def _claims(username: str, role: str, site: str) -> Claims:
    return Claims(username=username, role=role, site=site, window=None, department=None,
                  expires_at=NOW)


def test_every_endpoint_of_the_hub_is_in_its_table(hub: Hub) -> None:
    assert unlisted(hub.app, POLICY) == []
    endpoints = {rule.endpoint for rule in hub.app.url_map.iter_rules()}
    assert sorted(set(POLICY) - endpoints) == []  # no rule left for a removed endpoint


CALLERS = [(None, None, None)] + [(u, r, HUB) for u, r, _ in USERS] + [
    ("stranger", "admin", OTHER_SITE)]


def test_every_role_gets_what_the_table_says_on_every_endpoint(hub: Hub) -> None:
    client = hub.app.test_client()
    wrong: list[str] = []
    for url_rule in hub.app.url_map.iter_rules():
        rule = POLICY[url_rule.endpoint]
        url = _url(hub.app, url_rule)
        api = url.startswith("/api/")
        for method in sorted((url_rule.methods or set()) - {"HEAD", "OPTIONS"}):
            for username, role, site in CALLERS:
                # An anonymous caller sends a token that is not one: it passes the form-token
                # check (meant for browsers) and is nobody to the gate.
                token = _token(hub, username) if username else "not-a-token"
                response = client.open(url, method=method, json={} if api else None,
                                       headers={"Authorization": f"Bearer {token}"})
                refused = response.headers.get(REFUSED_HEADER) == "refused"
                claims = _claims(username, role, site) if username and role and site else None
                if rule.admits(claims) and (rule.open or site == HUB):
                    ok = not refused
                elif claims is None:
                    ok = refused and (response.status_code == 401 if api else
                                      response.status_code == 302
                                      and "/login" in response.headers["Location"])
                else:
                    ok = refused and response.status_code == 403
                    if ok and api:
                        ok = response.get_json()["error"]["code"] == "not_permitted"
                if not ok:
                    wrong.append(f"{method} {url} as {username or 'anonymous'}/{role}: "
                                 f"{response.status_code}")
    assert wrong == []


def test_an_endpoint_missing_from_the_table_is_refused_to_everyone(hub: Hub) -> None:
    """Deny by default: a view added without a rule is closed, even to an admin."""
    hub.app.add_url_rule("/added-later", "added_later", lambda: "secret")
    client = hub.app.test_client()
    assert unlisted(hub.app, POLICY) == ["added_later"]
    for username in (None, "root"):
        headers = {"Authorization": f"Bearer {_token(hub, username)}"} if username else {}
        response = client.get("/added-later", headers=headers)
        assert response.status_code == 403
        assert b"secret" not in response.data
