"""A hub on PostgreSQL in a schema of its own, made by the real ``sanji hub init``, for the
personal-information tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from hub.app import create_app
from hub.cli import hub_group
from hub.db_session import app_session
from hub.settings import HubSettings
from shared.storage import sync_store
from shared.storage.accounts import add_user
from sync_protocol.times import to_ms
from tests.hub.conftest import HUB, PASSWORD, Clock, Hub, User
from tests.shared.web.form_client import FormClient


def pg_hub_maker(tmp_path: Path, url: str) -> Callable[[datetime, Sequence[User]], Hub]:
    """``make(now, users)`` as :func:`tests.hub.conftest.make_hub`, on ``url``."""

    def make(now: datetime, users: Sequence[User]) -> Hub:
        data_dir = tmp_path / "hub"
        result = CliRunner().invoke(hub_group, ["init", "--data-dir", str(data_dir),
                                                "--database-url", url])
        assert result.exit_code == 0, result.output
        app = create_app(replace(HubSettings.load(data_dir), testing=True))
        app.test_client_class = FormClient
        hub = Hub(app, Clock(now), {})
        hub.services.clock = hub.clock
        with app_session(app) as session:
            for username, role, window in users:
                user = add_user(session, username=username, password=PASSWORD, role=role,
                                site=HUB, window=window, now=now)
                if user.totp_secret:
                    hub.secrets[username] = user.totp_secret
            session.commit()
        return hub

    return make


def withdraw(hub: Hub, case_id: Any) -> None:
    """The applicant withdraws the case at the city's front desk: it is closed."""
    site = hub.services.sync_site
    now = hub.clock()
    with app_session(hub.app) as session:
        row = sync_store.author_event(
            session, site.key, site.sealer, epoch=site.epoch, case_id=case_id,
            actor="window_operator:front-desk", type="withdrawn",
            payload={"reason": "the applicant withdrew"}, at_ms=to_ms(now), up=False,
            now_ms=to_ms(now))
        site.hooks.events_arrived(session, [sync_store.as_event(row, site.sealer)], now)
        session.commit()
