"""At the hub (PostgreSQL, a schema of its own), a case is decided under the catalogue
release it was accepted under: a case accepted under v2 keeps v2's promised days and v2's
steps after v3 shortens the promised days and makes an overdue case deemed approved (超时
许可); a case accepted after v3 follows v3. The case page names the version."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from hub.background import run_timers
from hub.db_session import app_session
from hub.models import HubCase
from hub.releases import import_catalogue
from shared.deciding import case_work
from shared.domain.case_events import EventType
from tests.hub.conftest import Hub, hub_maker, register_at_hub
from tests.hub.test_result_document import _pdf_text

NOW = datetime(2025, 3, 3, 2, 30, tzinfo=UTC)  # Monday 10:30 in Shanghai
OPERATOR = "mz-desk"
ANCHOR = "    legal_days: 60\n    promised_days: 20\n    materials:\n      - {code: APPLICATION, "
V3_CHANGE = (ANCHOR, ANCHOR.replace("promised_days: 20\n",
                                    "promised_days: 10\n    overdue_means_approval: true\n"))


@pytest.fixture
def hub(tmp_path: Path, pg_schema_url: str) -> Hub:
    return hub_maker(tmp_path, pg_schema_url)(NOW, [(OPERATOR, "window_operator", "W-MZ-01")])


def _publish(hub: Hub, tmp_path: Path, version: int, *, changed: bool = False) -> None:
    text = (files("shared.domain") / "data" / "sample_catalogue.yaml").read_text("utf-8")
    text = text.replace("version: 1\n", f"version: {version}\n", 1)
    if changed:
        assert text.count(V3_CHANGE[0]) == 1
        text = text.replace(*V3_CHANGE)
    path = tmp_path / f"catalogue-{version}.yaml"
    path.write_text(text, encoding="utf-8")
    with app_session(hub.app) as session:
        import_catalogue(session, hub.services.key, path, effective_from=None,
                         now=hub.clock.now, by="city-admin")
        session.commit()
    hub.services.catalogue_checked_at = None  # every process re-reads within seconds
    assert hub.services.catalogue.version == version


def _accept(client: FlaskClient, case_id: uuid.UUID) -> str:
    url = f"/windows/cases/{case_id}"
    for action in ("claim", "accept"):
        page = client.get(url).get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        done = client.post(f"{url}/act", data={"csrf_token": token.group(1), "action": action})
        assert done.status_code == 303, done.get_data(as_text=True)
    return client.get(url).get_data(as_text=True)


def _acceptance(hub: Hub, case_id: uuid.UUID) -> dict[str, object]:
    with app_session(hub.app) as session:
        events = case_work.case_events(session, hub.services.sync_site, case_id)
    return dict(next(e.payload for e in events if e.type is EventType.ACCEPTED))


@pytest.mark.postgres
def test_an_open_case_follows_the_release_it_was_accepted_under(
    hub: Hub, tmp_path: Path
) -> None:
    _publish(hub, tmp_path, 2)
    older, _ = register_at_hub(hub, 1)
    hub.clock.now += timedelta(hours=1)
    _publish(hub, tmp_path, 3, changed=True)
    newer, _ = register_at_hub(hub, 2)
    client = hub.login(OPERATOR)

    older_page, newer_page = _accept(client, older), _accept(client, newer)
    assert 'id="catalogue-version">v2' in older_page and "catalogue-note" not in older_page
    assert 'id="catalogue-version">v3' in newer_page
    calendar = hub.services.calendar
    accepted_at = hub.clock.now
    old_due = _acceptance(hub, older)
    new_due = _acceptance(hub, newer)
    assert old_due["catalogue_version"] == 2 and new_due["catalogue_version"] == 3
    for payload, days in ((old_due, 20), (new_due, 10)):
        due = calendar.deadline(accepted_at, days, ()).due_at
        assert due is not None and payload["deadline"] == due.isoformat()

    # both past their legal deadline (60 working days): only the case accepted under v3
    # has the step "deemed approved" (超时许可 falls due at the legal deadline)
    legal = calendar.deadline(accepted_at, 60, ()).due_at
    assert legal is not None and new_due["legal_deadline"] == legal.isoformat()
    hub.clock.now = legal - timedelta(minutes=1)
    assert run_timers(hub.app).applied == 0  # past the promised deadline is not enough
    hub.clock.now = legal + timedelta(minutes=1)
    assert run_timers(hub.app).applied == 1
    with app_session(hub.app) as session:
        rows = {c: session.execute(select(HubCase.state, HubCase.catalogue_version)
                                   .where(HubCase.case_id == c)).one()
                for c in (older, newer)}
    assert {c: tuple(r) for c, r in rows.items()} == {older: ("accepted", 2),
                                                      newer: ("decided", 3)}
    # the result document says the approval came by the rule (超时默认许可)
    pdf = hub.login(OPERATOR).get(f"/windows/cases/{newer}/result.pdf")  # months later
    assert pdf.status_code == 200
    assert "超时默认许可" in _pdf_text(pdf.get_data(), tmp_path)
