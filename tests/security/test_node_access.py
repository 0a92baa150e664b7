"""A node's access table names every endpoint of a village's and of a township's app, and
an endpoint missing from it is refused even on a node that serves its own PC."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from node.access_rules import POLICY
from node.app import create_app
from node.cli import node_group
from node.db_session import app_session
from node.services import NodeServices
from node.settings import NodeSettings
from shared.storage.accounts import UserAccount, add_user
from shared.web.access_policy import REFUSED_HEADER, unlisted

VILLAGE = "431002001201"
TOWNSHIP = "431002001"


def _node(data_dir: Path, site_code: str, tier: str) -> Flask:
    result = CliRunner().invoke(node_group, [
        "init", "--data-dir", str(data_dir), "--site-code", site_code, "--name", "测试点",
        "--tier", tier, "--public-base-url", "http://status.example"])
    assert result.exit_code == 0, result.output
    return create_app(replace(NodeSettings.load(data_dir), testing=True))


def test_every_endpoint_of_a_village_and_a_township_is_in_the_table(tmp_path: Path) -> None:
    village = _node(tmp_path / "village", VILLAGE, "village")
    township = _node(tmp_path / "township", TOWNSHIP, "township")
    assert unlisted(village, POLICY) == []
    assert unlisted(township, POLICY) == []
    endpoints = {rule.endpoint for app in (village, township) for rule in app.url_map.iter_rules()}
    assert sorted(set(POLICY) - endpoints) == []  # no rule left for a removed endpoint


def test_an_endpoint_missing_from_the_table_is_refused_on_a_node(tmp_path: Path) -> None:
    village = _node(tmp_path / "village", VILLAGE, "village")
    village.add_url_rule("/added-later", "added_later", lambda: "secret")
    listed = village.test_client().get("/cases")
    assert listed.headers.get(REFUSED_HEADER) is None  # the PC is the site's agent
    response = village.test_client().get("/added-later")
    assert response.status_code == 403
    assert response.headers[REFUSED_HEADER] == "refused"
    assert b"secret" not in response.data


NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OTHER_SITE = "431002002"
ROLES = ("agent", "window_operator", "finance", "supervisor", "admin")
SAMPLE_ARGS: dict[str, Any] = {"case_id": uuid.uuid4(), "list_id": uuid.uuid4(), "index": 0,
                               "code": "W-T-01", "item_code": "MZ-0520", "sha256": "ab" * 32,
                               "filename": "missing.css", "period": "month",
                               "day": "2026-03-02", "bundle_id": str(uuid.uuid4()),
                               "consultation_id": str(uuid.uuid4())}


def test_every_role_gets_what_the_table_says_on_every_endpoint_of_a_township(
        tmp_path: Path) -> None:
    """An enrolled township (its users sign in): anonymous callers and users of another
    site are refused everything but the open endpoints, each role what the table says."""
    app = _node(tmp_path / "township", TOWNSHIP, "township")
    node: NodeServices = app.extensions["sanji_node"]
    node.sync_site.parent = "431002"
    users: dict[str, str] = {}
    with app_session(app) as session:
        for role in ROLES:
            for site in (TOWNSHIP, OTHER_SITE):
                window = "W-T-01" if role in ("window_operator", "finance") else None
                add_user(session, username=f"{role}-{site}", password="correct horse x",
                         role=role, site=site, window=window, now=NOW)
                users[f"{role}-{site}"] = role
        session.commit()

    def token(username: str) -> str:
        """A fresh token each time: signing out everywhere ends the ones before."""
        with app_session(app) as session:
            user = session.scalars(
                select(UserAccount).where(UserAccount.username == username)).one()
            return node.signer.issue(user, node.clock())

    client = app.test_client()
    wrong: list[str] = []
    for url_rule in app.url_map.iter_rules():
        rule = POLICY[url_rule.endpoint]
        with app.test_request_context():
            url = app.url_for(url_rule.endpoint,
                              **{name: SAMPLE_ARGS[name] for name in url_rule.arguments})
        api = url.startswith("/api/")
        for method in sorted((url_rule.methods or set()) - {"HEAD", "OPTIONS"}):
            for username in [None, *users]:
                caller_role = users[username] if username else None
                bearer = token(username) if username else "not-a-token"
                response = client.open(url, method=method, json={} if api else None,
                                       headers={"Authorization": f"Bearer {bearer}"})
                status = response.status_code
                here = username is not None and username.endswith(f"-{TOWNSHIP}")
                if rule.open:
                    ok = response.headers.get(REFUSED_HEADER) is None
                elif username is None:
                    ok = status == 401 if api else status == 302
                elif not here:
                    ok = status == 403
                elif rule.roles is None or caller_role in rule.roles:
                    ok = response.headers.get(REFUSED_HEADER) is None and status not in (401, 403)
                else:
                    ok = status == 403 and response.headers.get(REFUSED_HEADER) == "refused"
                if not ok:
                    wrong.append(f"{method} {url} as {username or 'anonymous'}: {status}")
    assert wrong == [], "\n".join(wrong)


def test_a_townships_window_staff_do_not_read_the_stations_registrations() -> None:
    """The station's own cases hold applicants in full: agents register and hand them over,
    supervisors and admins oversee them; a window operator or finance clerk works the cases
    of their window on the window pages, where each case is scoped to the window."""
    full_records = ["api.show_case", "cases.show_case", "cases.receipt", "cases.list_cases",
                    "cases.transfer_pdf"]
    for endpoint in full_records:
        admitted = POLICY[endpoint].roles
        assert admitted is not None and {"agent", "supervisor", "admin"} <= admitted
        assert not {"window_operator", "finance"} & admitted, endpoint
