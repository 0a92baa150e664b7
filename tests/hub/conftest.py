"""Fixtures for the hub's page tests: a hub app built in-process on a data directory made by
the real ``sanji hub init``, a clock the test moves, users who log in through the real form
(supervisors and admins with their one-time code, computed for the hub's clock), and cases
that enter the hub's event store the way the city centre's front desk puts them there."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pyotp
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from hub.app import create_app
from hub.cli import hub_group
from hub.db_session import app_session
from hub.services import HubServices
from hub.settings import HubSettings
from shared.storage import sync_store
from shared.storage.accounts import UserAccount, add_user
from sync_protocol.times import to_ms
from tests.integration.test_three_tiers import FORM
from tests.shared.web.form_client import FormClient

HUB = "431000"
PASSWORD = "correct horse battery"
WINDOW = "W-MZ-01"
ITEM = "MZ-0520"  # 社会团体成立登记, decided at the city window W-MZ-01 (20 working days)
ID_NUMBER = "11010519491231002X"

User = tuple[str, str, str | None]
"""``(username, role, window)`` of an account at the hub (a department head: its department)."""


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Hub:
    """A hub app with its clock and the one-time-code secrets of its supervisors and
    admins."""

    app: Flask
    clock: Clock
    secrets: dict[str, str]

    @property
    def services(self) -> HubServices:
        found: HubServices = self.app.extensions["sanji_hub"]
        return found

    def one_time_code(self, username: str) -> str:
        """``username``'s code at the hub's clock. The hub takes each code once; a test that
        signs one person in again at the same moment stands for a person who waited for the
        next code, so the step taken before is forgotten first."""
        with app_session(self.app) as session:
            session.execute(update(UserAccount).where(UserAccount.username == username)
                            .values(totp_last_step=None))
            session.commit()
        return pyotp.TOTP(self.secrets[username]).at(self.clock.now)

    def bearer(self, username: str) -> dict[str, str]:
        """The ``Authorization`` header of a token ``username`` gets from the token
        endpoint (with a one-time code where the account needs one)."""
        body = {"username": username, "password": PASSWORD}
        if username in self.secrets:
            body["otp"] = self.one_time_code(username)
        response = self.app.test_client().post("/api/v1/auth/token", json=body)
        assert response.status_code == 200, response.get_json()
        return {"Authorization": f"Bearer {response.get_json()['access_token']}"}

    def login(self, username: str, **query: str) -> FlaskClient:
        """A browser session signed in through the login form (``query`` is added to the
        form's address, e.g. ``lang="en"``)."""
        client = self.app.test_client()
        data = {"username": username, "password": PASSWORD}
        if username in self.secrets:
            data["otp"] = self.one_time_code(username)
        response = client.post("/login", data=data, query_string=query)
        assert response.status_code == 302, response.get_data(as_text=True)
        return client


def hub_maker(tmp_path: Path,
              database_url: str | None = None) -> Callable[[datetime, Sequence[User]], Hub]:
    """``make(now, users)``: a freshly initialised hub (on SQLite in its data directory, or
    on ``database_url``) whose clock reads ``now``, with ``users`` added (password
    :data:`PASSWORD`)."""

    def make(now: datetime, users: Sequence[User]) -> Hub:
        data_dir = tmp_path / "hub"
        database = ["--database-url", database_url] if database_url else []
        result = CliRunner().invoke(hub_group, ["init", "--data-dir", str(data_dir), *database])
        assert result.exit_code == 0, result.output
        app = create_app(replace(HubSettings.load(data_dir), testing=True))
        app.test_client_class = FormClient
        hub = Hub(app, Clock(now), {})
        hub.services.clock = hub.clock
        with app_session(app) as session:
            for username, role, window in users:
                head = role == "department_head"  # the third field: their department
                user = add_user(session, username=username, password=PASSWORD, role=role,
                                site=HUB, window=None if head else window,
                                department=window if head else None, now=now)
                if user.totp_secret:
                    hub.secrets[username] = user.totp_secret
            session.commit()
        return hub

    return make


@pytest.fixture
def make_hub(tmp_path: Path) -> Callable[[datetime, Sequence[User]], Hub]:
    """``make_hub(now, users)``: :func:`hub_maker` on SQLite."""
    return hub_maker(tmp_path)


def register_at_hub(hub: Hub, number: int = 1, **overrides: Any) -> tuple[uuid.UUID, str]:
    """A registration of :data:`ITEM` signed by the hub (its front desk) and handed to the
    hook the exchange calls, so it is routed to its window as a village's case is."""
    services = hub.services
    site = services.sync_site
    now = hub.clock()
    case_id = uuid.UUID(str(overrides.pop("case_id"))) if "case_id" in overrides else uuid.uuid4()
    acceptance_no = f"{HUB}-{now:%Y%m%d}-{number:04d}"
    payload = {
        "case_id": str(case_id), "acceptance_no": acceptance_no, "item_code": ITEM,
        "catalogue_version": services.catalogue.version, "kind": "promised", "window": WINDOW,
        "delivery": "window",
        "applicant": {"kind": "person", "name": "李四", "id_number": ID_NUMBER,
                      "phone": "13800138000"},
        "form": FORM,
        "materials": [{"code": "APPLICATION", "sha256": "ab" * 32, "size": 245_760,
                       "media_type": "application/pdf"}],
        **overrides,
    }
    with app_session(hub.app) as session:
        row = sync_store.author_event(
            session, site.key, site.sealer, epoch=site.epoch, case_id=case_id,
            actor="window_operator:front-desk", type="registered", payload=payload,
            at_ms=to_ms(now), up=False, now_ms=to_ms(now))
        site.hooks.events_arrived(session, [sync_store.as_event(row, site.sealer)], now)
        session.commit()
    return case_id, acceptance_no
