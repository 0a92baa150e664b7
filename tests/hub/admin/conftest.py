"""Fixtures and form helpers for the tests of the hub's administration pages.

Like the window pages' tests, a hub app is built in-process on a data directory made by the real
``sanji hub init`` and driven with Flask's test client, logging in through the real form (admins
and supervisors with their one-time code, computed for the hub's clock). Facts the pages read
from the exchange (a child's last request, items queued toward it, a village's case) are put
where the exchange and the ingest hook put them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.resources import files
from io import BytesIO
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from hub.db_session import app_session
from tests.hub.conftest import Hub, User

COUNTY = "431002"
TOWNSHIP = "431002001"
OTHER_TOWNSHIP = "431002002"
VILLAGE = "431002001201"
MAX_PAGE_BYTES = 60 * 1024
NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Shanghai


@pytest.fixture
def hub(make_hub: Callable[[datetime, list[User]], Hub]) -> Hub:
    return make_hub(NOW, [("city-admin", "admin", None), ("city-lead", "supervisor", None),
                          ("mz-desk", "window_operator", "W-MZ-01")])


def form_token(page: str) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has no form token"
    return found.group(1)


def post_form(client: FlaskClient, page: str, path: str, **fields: Any) -> TestResponse:
    """Submit a form of ``page`` the way the browser does, with the page's token."""
    body = client.get(page).get_data(as_text=True)
    return client.post(path, data={"csrf_token": form_token(body), **fields})


def submit_site(client: FlaskClient, code: str, name: str, tier: str,
                parent: str) -> TestResponse:
    """The sites page's form that adds a site."""
    return post_form(client, "/admin/sites", "/admin/sites", code=code, name=name, tier=tier,
                     parent=parent)


def problems_on(page: str) -> str:
    """The problems a refused form lists."""
    found = re.search(r'id="problems">(.*?)</div>', page, re.S)
    assert found, "no problems listed"
    return found.group(1)


def catalogue_upload(version: int, *, break_it: bool = False,
                     name: str | None = None) -> tuple[BytesIO, str]:
    """The sample catalogue with its version raised (and, if asked, two mistakes)."""
    text = (files("shared.domain") / "data" / "sample_catalogue.yaml").read_text(encoding="utf-8")
    assert "version: 1\n" in text
    text = text.replace("version: 1\n", f"version: {version}\n", 1)
    if break_it:
        text = text.replace("promised_days: 20", "promised_days: 999", 1)
        text = text.replace("department: MZ", "department: NOPE", 1)
    return BytesIO(text.encode()), name or f"catalogue-v{version}.yaml"


def count_rows(app: Flask, model: Any) -> int:
    """How many rows ``model``'s table holds."""
    with app_session(app) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)
