"""A frozen or rolled-back release is told in ``/metrics``: per kind whether the release in
force has expired and when it does, and the releases from the parent that were refused."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient

from node.db_session import app_session
from shared.exchange.release_watch import note_release_refusals, passed_down_watch
from shared.storage.link_state import save_parent_link
from sync_protocol import (
    ParentLink,
    Release,
    ReleaseExpired,
    ReleaseInfo,
    ReleaseLedger,
    ReleaseRollback,
    generate_key,
    sign_release,
)
from sync_protocol.times import to_ms
from tests.node.conftest import Clock

SITE = "431002001201"


def test_a_frozen_release_and_refused_ones_show_in_metrics(
    app: Flask, client: FlaskClient, clock: Clock
) -> None:
    text = client.get("/metrics").get_data(as_text=True)
    assert "sanji_node_release_frozen{" not in text  # nothing held yet: nothing to say
    now = clock()
    digest = hashlib.sha256(b"x").digest()
    ledger = ReleaseLedger({
        "catalogue": (ReleaseInfo("catalogue", 3, digest, now - timedelta(days=400),
                                  now - timedelta(days=1)),),
        "calendar": (ReleaseInfo("calendar", 2, digest, now - timedelta(days=10),
                                 now + timedelta(days=300)),),
    })
    with app_session(app) as session:
        save_parent_link(session, ParentLink(site=SITE, parent="431002001", releases=ledger))
        note_release_refusals(session, [ReleaseRollback("release.version", "2 is older than 3")],
                              now)
        note_release_refusals(session, [ReleaseRollback("release.version", "again"),
                                        ReleaseExpired("release.expires_at", "late")], now)
        note_release_refusals(session, [], now)  # an answer without refusals changes nothing
        session.commit()
    text = client.get("/metrics").get_data(as_text=True)
    assert f'sanji_node_release_frozen{{site="{SITE}",kind="catalogue"}} 1' in text
    assert f'sanji_node_release_frozen{{site="{SITE}",kind="calendar"}} 0' in text
    expires = to_ms(now + timedelta(days=300)) // 1000
    assert (f'sanji_node_release_expires_timestamp_seconds{{site="{SITE}",kind="calendar"}} '
            f"{expires}") in text
    assert f'sanji_node_releases_refused_total{{site="{SITE}",code="release_rollback"}} 2' in text
    assert f'sanji_node_releases_refused_total{{site="{SITE}",code="release_expired"}} 1' in text


def test_what_the_hub_passes_down_is_watched_by_the_release_in_force(clock: Clock) -> None:
    hub = generate_key("431000")
    now = clock()

    def release(version: int, start_days: int, end_days: int) -> Release:
        return sign_release(hub, kind="catalogue", version=version, content=b"{}",
                            effective_from=now + timedelta(days=start_days),
                            expires_at=now + timedelta(days=end_days))

    in_force = release(4, -30, -1)
    later = release(5, 10, 400)
    watch = passed_down_watch([later, in_force], now)
    assert watch.frozen == {"catalogue": True}
    assert watch.expires_at == {"catalogue": now + timedelta(days=-1)}
    only_later = passed_down_watch([later], now)
    assert only_later.frozen == {"catalogue": False}
