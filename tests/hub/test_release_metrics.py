"""The hub's ``/metrics`` says when each release it passes down expires, and whether the one
in force already has (then every node holding it works on in a frozen release)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path

from hub.db_session import app_session
from hub.releases import import_catalogue
from sync_protocol.times import to_ms
from tests.hub.conftest import Hub, User

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def test_the_hub_tells_when_its_catalogue_release_expires(
    make_hub: Callable[[datetime, Sequence[User]], Hub], tmp_path: Path,
) -> None:
    hub = make_hub(NOW, [])
    text = (files("shared.domain") / "data" / "sample_catalogue.yaml").read_text("utf-8")
    path = tmp_path / "catalogue.yaml"
    path.write_text(text.replace("version: 1\n", "version: 2\n", 1), encoding="utf-8")
    with app_session(hub.app) as session:
        release = import_catalogue(session, hub.services.key, path,
                                   effective_from=None, now=NOW, by="admin")
        session.commit()
    client = hub.app.test_client()
    text = client.get("/metrics").get_data(as_text=True)
    assert 'sanji_hub_release_frozen{site="431000",kind="catalogue"} 0' in text
    expires = to_ms(release.expires_at) // 1000
    assert ('sanji_hub_release_expires_timestamp_seconds{site="431000",kind="catalogue"} '
            f"{expires}") in text
    hub.clock.now = release.expires_at + timedelta(minutes=1)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'sanji_hub_release_frozen{site="431000",kind="catalogue"} 1' in text
