"""The node's ``/sync`` page warns when a release is frozen (the one in force expired and no
newer came from the parent) or the parent offered one older than the node holds; it says
nothing when all is well. The state is written by the same functions the exchange uses."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient

from node.db_session import app_session
from shared.exchange.release_watch import ROLLBACK_SHOWN_FOR, note_release_refusals
from shared.storage.link_state import save_parent_link
from sync_protocol import (
    ParentLink,
    ReleaseExpired,
    ReleaseInfo,
    ReleaseLedger,
    ReleaseRollback,
)
from tests.node.conftest import Clock

SITE = "431002001201"
DIGEST = hashlib.sha256(b"x").digest()


def _hold(app: Flask, clock: Clock, *, catalogue_expires_days: int) -> None:
    now = clock()
    ledger = ReleaseLedger({
        "catalogue": (ReleaseInfo("catalogue", 3, DIGEST, now - timedelta(days=400),
                                  now + timedelta(days=catalogue_expires_days)),),
        "calendar": (ReleaseInfo("calendar", 2, DIGEST, now - timedelta(days=10),
                                 now + timedelta(days=300)),),
    })
    with app_session(app) as session:
        save_parent_link(session, ParentLink(site=SITE, parent="431002001", releases=ledger))
        session.commit()


def _page(client: FlaskClient) -> str:
    response = client.get("/sync?lang=en")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_all_well_shows_no_warning(app: Flask, client: FlaskClient, clock: Clock) -> None:
    assert "release-warning" not in _page(client)  # nothing held yet
    _hold(app, clock, catalogue_expires_days=30)
    assert "release-warning" not in _page(client)


def test_a_release_refused_for_another_reason_is_told_for_a_week(
    app: Flask, client: FlaskClient, clock: Clock
) -> None:
    _hold(app, clock, catalogue_expires_days=30)
    with app_session(app) as session:
        note_release_refusals(session, [ReleaseExpired("release.expires_at", "expired on "
                                                        "2025-01-01")], clock())
        session.commit()
    page = _page(client)
    assert 'id="release-refused"' in page and "release-rolled_back" not in page
    assert "On 2025-03-03 10:30 a release from the parent failed its checks" in page
    assert "release_expired: release.expires_at: expired on 2025-01-01" in page
    clock.advance(seconds=ROLLBACK_SHOWN_FOR.total_seconds() + 60)
    assert "release-warning" not in _page(client)


def test_a_frozen_catalogue_is_told_with_since_when_and_what_to_do(
    app: Flask, client: FlaskClient, clock: Clock
) -> None:
    _hold(app, clock, catalogue_expires_days=-2)
    page = _page(client)
    assert 'id="release-frozen-catalogue"' in page
    assert "release-frozen-calendar" not in page  # the calendar is in force
    assert "The catalogue release expired on 2025-03-01 10:30" in page
    assert "Sync now; if no newer release comes" in page
    assert "release-rolled_back" not in page


def test_a_refused_rollback_is_told_for_a_week(
    app: Flask, client: FlaskClient, clock: Clock
) -> None:
    _hold(app, clock, catalogue_expires_days=30)
    with app_session(app) as session:
        note_release_refusals(
            session, [ReleaseRollback("release.version", "catalogue 2 is older than 3")],
            clock())
        session.commit()
    page = _page(client)
    assert 'id="release-rolled_back"' in page
    assert "On 2025-03-03 10:30 the parent offered a release older" in page
    assert "catalogue 2 is older than 3" in page
    assert "release-refused" not in page
    with app_session(app) as session:  # a later refusal of another kind keeps the warning
        note_release_refusals(session, [ReleaseExpired("release.expires_at", "late")], clock())
        session.commit()
    page = _page(client)
    assert 'id="release-rolled_back"' in page and 'id="release-refused"' in page
    clock.advance(seconds=ROLLBACK_SHOWN_FOR.total_seconds() + 60)
    assert "release-warning" not in _page(client)
