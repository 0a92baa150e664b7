"""Every admin page warns when the release the hub passes down has expired (every site
holding it is frozen) or a direct child still holds an older release a day after the one in
force took effect; nothing is shown when all is well."""

from __future__ import annotations

import json
from datetime import timedelta
from importlib.resources import files
from pathlib import Path

from hub.db_session import app_session
from hub.releases import import_catalogue
from shared.exchange.status import child_info_key
from shared.storage import sync_store
from sync_protocol import Release
from sync_protocol.times import to_ms
from tests.hub.admin.conftest import MAX_PAGE_BYTES, NOW, TOWNSHIP, submit_site
from tests.hub.conftest import HUB, Hub

PAGES = ("/admin/sites", "/admin/users", "/admin/releases", "/admin/users/city-lead")


def _publish(hub: Hub, tmp_path: Path, version: int) -> Release:
    text = (files("shared.domain") / "data" / "sample_catalogue.yaml").read_text("utf-8")
    path = tmp_path / f"catalogue-{version}.yaml"
    path.write_text(text.replace("version: 1\n", f"version: {version}\n", 1), encoding="utf-8")
    with app_session(hub.app) as session:
        release = import_catalogue(session, hub.services.key, path, effective_from=None,
                                   now=hub.clock.now, by="city-admin")
        session.commit()
    return release


def _child_holds(hub: Hub, catalogue: int) -> None:
    """What the exchange writes when the child's request says which releases it holds."""
    with app_session(hub.app) as session:
        sync_store.write_state(session, child_info_key(TOWNSHIP), json.dumps({
            "last_contact_ms": to_ms(hub.clock.now), "epoch": 1, "wire_version": 1,
            "releases_known": {"catalogue": catalogue}}).encode())
        session.commit()


def test_no_banner_when_all_is_well(hub: Hub, tmp_path: Path) -> None:
    admin = hub.login("city-admin")
    submit_site(admin, TOWNSHIP, "栖凤渡镇", "township", HUB)
    _publish(hub, tmp_path, 2)
    _child_holds(hub, 1)  # behind, but the release took effect only half a day ago
    hub.clock.now += timedelta(hours=12)
    admin = hub.login("city-admin")
    for page in PAGES:
        body = admin.get(page).get_data(as_text=True)
        assert 'id="release-warnings"' not in body, page
    _child_holds(hub, 2)
    hub.clock.now += timedelta(days=3)
    assert 'id="release-warnings"' not in hub.login("city-lead").get("/admin/sites").get_data(
        as_text=True)


def test_a_frozen_release_is_told_on_every_admin_page(hub: Hub, tmp_path: Path) -> None:
    release = _publish(hub, tmp_path, 2)
    hub.clock.now = release.expires_at + timedelta(minutes=1)
    lead = hub.login("city-lead", lang="en")
    for page in PAGES:
        response = lead.get(page)
        assert len(response.data) < MAX_PAGE_BYTES
        body = response.get_data(as_text=True)
        assert 'id="release-frozen-catalogue"' in body, page
        assert "The Catalogue release passed down expired on 2027-12-29 10:00" in body
        assert "Publish a newer one" in body
    hub.clock.now += timedelta(days=2)  # a newer release ends it
    _publish(hub, tmp_path, 3)
    assert 'id="release-warnings"' not in lead.get("/admin/sites").get_data(as_text=True)


def test_a_child_behind_a_day_after_the_release_took_effect_is_named(
    hub: Hub, tmp_path: Path
) -> None:
    admin = hub.login("city-admin")
    submit_site(admin, TOWNSHIP, "栖凤渡镇", "township", HUB)
    _publish(hub, tmp_path, 2)
    _child_holds(hub, 1)
    hub.clock.now = NOW + timedelta(days=1, minutes=1)
    admin = hub.login("city-admin")
    body = admin.get("/admin/users").get_data(as_text=True)
    assert 'id="release-behind"' in body
    assert f'<span id="behind-{TOWNSHIP}-catalogue">{TOWNSHIP}: 事项目录 1' in body
    assert "2026-11-24 10:00" in body  # when the release it lacks took effect
    _child_holds(hub, 2)
    assert 'id="release-warnings"' not in admin.get("/admin/users").get_data(as_text=True)
