"""The accounts (``/admin/users``): adding users (a supervisor's TOTP secret shown once),
refusals, disabling, new passwords and roles, and the account copies that go down toward a
village.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from hub.db_session import app_session
from shared.storage import sync_store
from shared.storage.accounts import UserAccount, add_user
from shared.web.pages import CSRF_SESSION_KEY
from sync_protocol import generate_key
from tests.hub.admin.conftest import (
    MAX_PAGE_BYTES,
    NOW,
    TOWNSHIP,
    VILLAGE,
    count_rows,
    post_form,
    problems_on,
)
from tests.hub.conftest import HUB, PASSWORD, Hub


def test_the_users_page_adds_a_window_operator_and_refuses_a_duplicate(hub: Hub) -> None:
    admin = hub.login("city-admin")
    listing = admin.get("/admin/users")
    assert listing.status_code == 200 and len(listing.data) < MAX_PAGE_BYTES
    assert 'id="u-mz-desk"' in listing.get_data(as_text=True)
    fields = {"username": "mz-review", "password": PASSWORD, "role": "window_operator",
              "site": HUB, "window": "W-MZ-01", "department": "民政局"}
    added = post_form(admin, "/admin/users", "/admin/users", **fields)
    assert added.status_code == 303
    assert added.headers["Location"] == "/admin/users?added=mz-review"
    page = admin.get(added.headers["Location"]).get_data(as_text=True)
    row = re.search(r'<tr id="u-mz-review">.*?</tr>', page, re.S)
    assert row is not None
    for shown in ("<td>窗口人员</td>", HUB, "郴州市政务服务中心", "W-MZ-01", "民政局",
                  "2026-11-24 10:00"):
        assert shown in row.group(0), shown
    # the new operator signs in and lands on their own window's queue, not the sign-in page
    desk = hub.login("mz-review").get("/windows")
    assert desk.status_code == 302 and desk.headers["Location"].endswith("/windows/W-MZ-01")

    duplicate = post_form(admin, "/admin/users", "/admin/users", **fields)
    assert duplicate.status_code == 409
    assert "<b>username</b>: already taken" in problems_on(duplicate.get_data(as_text=True))
    assert count_rows(hub.app, UserAccount) == 4


def test_a_supervisor_added_here_sees_the_totp_secret_once(hub: Hub) -> None:
    admin = hub.login("city-admin")
    response = post_form(admin, "/admin/users", "/admin/users", username="city-lead-2",
                         password=PASSWORD, role="supervisor", site=HUB)
    assert response.status_code == 201
    page = response.get_data(as_text=True)
    assert len(response.data) < MAX_PAGE_BYTES
    found = re.search(r'id="totp-secret">([A-Z2-7]+)<', page)
    assert found is not None
    with app_session(hub.app) as session:
        user = session.get(UserAccount, "city-lead-2")
        assert user is not None and user.totp_secret == found.group(1)
    assert '<svg width="' in page  # the QR code for an authenticator app
    hub.secrets["city-lead-2"] = found.group(1)
    assert hub.login("city-lead-2").get("/admin/sites").status_code == 200
    assert found.group(1) not in admin.get("/admin/users").get_data(as_text=True)


def test_a_username_taken_meanwhile_is_refused_not_an_error(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two admins add the same username at once: the later commit is told, not a 500."""
    import hub.admin.users as views

    def racing_add_user(session: Any, **fields: Any) -> UserAccount:
        user = add_user(session, **fields)  # the name is free when checked...
        with app_session(hub.app) as other:  # ...and another admin commits it meanwhile
            add_user(other, **fields)
            other.commit()
        return user

    monkeypatch.setattr(views, "add_user", racing_add_user)
    admin = hub.login("city-admin")
    response = post_form(admin, "/admin/users", "/admin/users", username="ny-desk",
                         password=PASSWORD, role="window_operator", site=HUB, window="W-NY-01")
    assert response.status_code == 409
    assert "<b>username</b>: already taken" in problems_on(response.get_data(as_text=True))
    assert count_rows(hub.app, UserAccount) == 4


def test_a_bad_user_form_lists_every_problem(hub: Hub) -> None:
    admin = hub.login("city-admin")
    response = post_form(admin, "/admin/users", "/admin/users", username="has space",
                         password="short", role="window_operator", site="431099", window="")
    assert response.status_code == 400
    listed = problems_on(response.get_data(as_text=True))
    for field in ("username", "password", "window", "site"):
        assert f"<b>{field}</b>: " in listed, field
    assert "no site 431099 in the registry" in listed
    unknown_window = post_form(admin, "/admin/users", "/admin/users", username="x-desk",
                               password=PASSWORD, role="finance", site=HUB, window="W-NOPE")
    assert unknown_window.status_code == 400
    assert "W-NOPE" in problems_on(unknown_window.get_data(as_text=True))
    assert count_rows(hub.app, UserAccount) == 3


def _change(client: FlaskClient, username: str, **fields: str) -> TestResponse:
    return post_form(client, f"/admin/users/{username}", f"/admin/users/{username}", **fields)


def test_a_disabled_user_is_signed_out_at_once_and_enabled_again(hub: Hub) -> None:
    desk = hub.login("mz-desk")
    assert desk.get("/windows/W-MZ-01").status_code == 200
    admin = hub.login("city-admin")
    page = admin.get("/admin/users/mz-desk")
    assert page.status_code == 200 and len(page.data) < MAX_PAGE_BYTES
    assert 'id="revision">1<' in page.get_data(as_text=True)

    disabled = _change(admin, "mz-desk", change="disable")
    assert disabled.status_code == 303
    shown = admin.get(disabled.headers["Location"]).get_data(as_text=True)
    assert 'id="changed"' in shown and 'id="revision">2<' in shown and 'id="status">停用<' in shown
    assert desk.get("/windows/W-MZ-01").status_code == 302  # the session ended with it
    refused = hub.app.test_client().post("/login", data={"username": "mz-desk",
                                                         "password": PASSWORD})
    assert refused.status_code == 401

    assert _change(admin, "mz-desk", change="enable").status_code == 303
    assert hub.login("mz-desk").get("/windows/W-MZ-01").status_code == 200


def test_a_new_password_and_a_role_change_are_checked_and_a_supervisor_may_not(
    hub: Hub,
) -> None:
    admin = hub.login("city-admin")
    short = _change(admin, "mz-desk", change="password", password="short")
    assert short.status_code == 400
    assert "<b>password</b>: " in problems_on(short.get_data(as_text=True))
    no_window = _change(admin, "mz-desk", change="role", role="finance", window="")
    assert no_window.status_code == 400
    assert "<b>window</b>: " in problems_on(no_window.get_data(as_text=True))
    unknown = _change(admin, "mz-desk", change="role", role="finance", window="W-NOPE")
    assert unknown.status_code == 400 and "W-NOPE" in unknown.get_data(as_text=True)
    with app_session(hub.app) as session:
        user = session.get(UserAccount, "mz-desk")
        assert user is not None and (user.role, user.revision) == ("window_operator", 1)

    lead = hub.login("city-lead")
    assert lead.get("/admin/users/mz-desk").status_code == 200
    with lead.session_transaction() as session:
        session[CSRF_SESSION_KEY] = "known-token"
    assert lead.post("/admin/users/mz-desk", data={"csrf_token": "known-token",
                                                   "change": "disable"}).status_code == 403

    new_password = _change(admin, "mz-desk", change="password", password="another horse battery")
    assert new_password.status_code == 303
    promoted = _change(admin, "mz-desk", change="role", role="supervisor")
    assert promoted.status_code == 200  # the new one-time-code secret, shown once
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', promoted.get_data(as_text=True))
    assert secret is not None
    assert admin.get("/admin/users/nobody").status_code == 404


def _enrolled(hub: Hub, code: str, tier: str, parent: str) -> None:
    """A site registered and enrolled with a key of its own (its certificate held here)."""
    from hub.sites import add_site, enrol
    from shared.exchange.enrolment import request_bytes

    services = hub.services
    with app_session(hub.app) as session:
        issued = add_site(session, code=code, name=f"站点{code[-3:]}", tier=tier, parent=parent,
                          now=NOW)
        enrol(session, services.key, request_bytes(generate_key(code), issued.code, NOW),
              releases=[], now=NOW)
        session.commit()


def _account_items_toward(hub: Hub, child: str) -> list[dict[str, Any]]:
    """The account copies queued in the stream toward ``child``, in order (read through
    the store: the queued items are sealed at rest)."""
    from sync_protocol import Event, LinkPosition

    with app_session(hub.app) as session:
        items = sync_store.down_after(session, child, LinkPosition(0, 0), 10_000)
    return [dict(d.item.payload) for d in items
            if isinstance(d.item, Event) and d.item.type == "account_state"]


def test_changes_to_a_village_user_are_queued_toward_the_village_signed_by_the_hub(
    hub: Hub,
) -> None:
    _enrolled(hub, TOWNSHIP, "township", HUB)
    _enrolled(hub, VILLAGE, "village", TOWNSHIP)
    admin = hub.login("city-admin")
    added = post_form(admin, "/admin/users", "/admin/users", username="village-agent",
                      password=PASSWORD, role="agent", site=VILLAGE)
    assert added.status_code == 303
    assert _change(admin, "village-agent", change="disable").status_code == 303
    assert _change(admin, "mz-desk", change="disable").status_code == 303  # the hub's own

    copies = _account_items_toward(hub, TOWNSHIP)
    assert [(c["username"], c["active"], c["revision"]) for c in copies] == [
        ("village-agent", True, 1), ("village-agent", False, 2)]
    assert all(c["site"] == VILLAGE and c["password_hash"].startswith("$argon2id$")
               for c in copies)
    assert all("totp_secret" not in c for c in copies)
    with app_session(hub.app) as session:
        actors = set(session.scalars(select(sync_store.SyncEvent.actor).where(
            sync_store.SyncEvent.type == "account_state")))
    assert actors == {"admin:city-admin"}
