"""Accounts at the hub: TOTP secrets sealed at rest, each one-time code taken once, tokens that
end when the person signs out everywhere or an admin revokes them, and a lock-out an admin
lifts (on the user's page or with the CLI)."""

from __future__ import annotations

import stat
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import text

from hub.app import create_app
from hub.cli import hub_group
from hub.db_session import app_session
from hub.settings import HubSettings
from shared.storage.accounts import USED_CODE, UserAccount
from shared.storage.totp_secrets import TOTP_KEY_FILE, SecretUnreadable
from shared.web.rate_limit import LoginLimits
from tests.hub.admin.conftest import post_form
from tests.hub.conftest import PASSWORD, Hub

WINDOW_CASES = "/api/v1/windows/W-MZ-01/cases"


def _token(hub: Hub, username: str, otp: str | None = None, address: str = "127.0.0.1") -> Any:
    body = {"username": username, "password": PASSWORD}
    if otp is not None:
        body["otp"] = otp
    return hub.app.test_client().post("/api/v1/auth/token", json=body,
                                      environ_base={"REMOTE_ADDR": address})


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _data_dir(hub: Hub) -> str:
    return str(hub.services.settings.data_dir)


def test_the_totp_secret_is_sealed_in_the_database(hub: Hub) -> None:
    secret = hub.secrets["city-admin"]
    with app_session(hub.app) as session:
        clear, sealed = session.execute(text(
            "SELECT totp_secret, totp_sealed FROM acct_users WHERE username = 'city-admin'")).one()
        assert clear is None
        assert sealed and secret not in sealed
        user = session.get(UserAccount, "city-admin")
        assert user is not None and user.totp_secret == secret
        # a sealed secret moved to another account's row does not open there
        session.execute(text("UPDATE acct_users SET totp_sealed = :s WHERE username = 'city-lead'"),
                        {"s": sealed})
        session.commit()
        session.expire_all()
        moved = session.get(UserAccount, "city-lead")
        assert moved is not None
        with pytest.raises(SecretUnreadable):
            _ = moved.totp_secret
    key = hub.services.settings.key_dir / TOTP_KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_a_secret_kept_in_clear_is_sealed_when_the_hub_starts(hub: Hub) -> None:
    secret = pyotp.random_base32()
    with app_session(hub.app) as session:  # as an earlier release left it
        session.execute(text("UPDATE acct_users SET totp_secret = :s, totp_sealed = NULL "
                             "WHERE username = 'city-lead'"), {"s": secret})
        session.commit()
    restarted = create_app(replace(HubSettings.load(hub.services.settings.data_dir),
                                   testing=True))
    with app_session(restarted) as session:
        clear, sealed = session.execute(text(
            "SELECT totp_secret, totp_sealed FROM acct_users WHERE username = 'city-lead'")).one()
        assert clear is None and sealed and secret not in sealed
    hub.secrets["city-lead"] = secret
    assert _token(hub, "city-lead", pyotp.TOTP(secret).at(hub.clock.now)).status_code == 200


def test_a_one_time_code_is_taken_once(hub: Hub) -> None:
    totp = pyotp.TOTP(hub.secrets["city-admin"])
    code = totp.at(hub.clock.now)
    assert _token(hub, "city-admin", code).status_code == 200
    replayed = _token(hub, "city-admin", code)
    assert replayed.status_code == 401
    assert replayed.get_json()["error"]["fields"] == {"otp": USED_CODE}
    # the code of the step before is older than the one taken: refused as well
    earlier = totp.at(hub.clock.now.timestamp() - 30)
    assert _token(hub, "city-admin", earlier).status_code == 401
    # the next code is taken
    assert _token(hub, "city-admin", totp.at(hub.clock.now.timestamp() + 30)).status_code == 200


def test_a_replayed_code_in_the_login_form_is_refused(hub: Hub) -> None:
    code = pyotp.TOTP(hub.secrets["city-lead"]).at(hub.clock.now)
    form = {"username": "city-lead", "password": PASSWORD, "otp": code}
    assert hub.app.test_client().post("/login", data=form).status_code == 302
    again = hub.app.test_client().post("/login", data=form)
    assert again.status_code == 401
    assert "此动态验证码已用过" in again.get_data(as_text=True)


def test_signing_out_everywhere_ends_every_token_of_the_account(hub: Hub) -> None:
    first = _token(hub, "mz-desk").get_json()["access_token"]
    second = _token(hub, "mz-desk").get_json()["access_token"]
    client = hub.app.test_client()
    assert client.get(WINDOW_CASES, headers=_bearer(second)).status_code == 200
    assert client.post("/api/v1/auth/revoke", headers=_bearer(first)).status_code == 204
    for revoked in (first, second):
        assert client.get(WINDOW_CASES, headers=_bearer(revoked)).status_code == 401
    fresh = _token(hub, "mz-desk").get_json()["access_token"]
    assert client.get(WINDOW_CASES, headers=_bearer(fresh)).status_code == 200


def test_a_token_expires(hub: Hub) -> None:
    answer = _token(hub, "mz-desk").get_json()
    client = hub.app.test_client()
    assert client.get(WINDOW_CASES, headers=_bearer(answer["access_token"])).status_code == 200
    hub.clock.now += timedelta(seconds=answer["expires_in"])
    assert client.get(WINDOW_CASES, headers=_bearer(answer["access_token"])).status_code == 401


def test_an_admin_revokes_every_sign_in_of_a_user(hub: Hub) -> None:
    token = _token(hub, "mz-desk").get_json()["access_token"]
    desk = hub.login("mz-desk")
    admin = hub.login("city-admin")
    done = post_form(admin, "/admin/users/mz-desk", "/admin/users/mz-desk", change="revoke")
    assert done.status_code == 303
    shown = admin.get(done.headers["Location"]).get_data(as_text=True)
    assert 'id="revision">2<' in shown  # the change goes down to the user's site too
    api = hub.app.test_client()
    assert api.get(WINDOW_CASES, headers=_bearer(token)).status_code == 401
    assert desk.get("/windows/W-MZ-01").status_code == 302  # the browser session ended too
    assert hub.login("mz-desk").get("/windows/W-MZ-01").status_code == 200


def test_the_cli_revokes_every_sign_in_of_a_user(hub: Hub) -> None:
    token = _token(hub, "mz-desk").get_json()["access_token"]
    result = CliRunner().invoke(hub_group, ["revoke-tokens", "--data-dir", _data_dir(hub),
                                            "--username", "mz-desk"])
    assert result.exit_code == 0, result.output
    assert "every sign-in ended" in result.output
    assert hub.app.test_client().get(WINDOW_CASES, headers=_bearer(token)).status_code == 401
    unknown = CliRunner().invoke(hub_group, ["revoke-tokens", "--data-dir", _data_dir(hub),
                                             "--username", "nobody"])
    assert unknown.exit_code != 0 and "no user nobody" in unknown.output


def _spray(hub: Hub, username: str) -> None:
    """Wrong passwords at ``username`` from as many addresses as it takes to lock it."""
    for n in range(LoginLimits().per_account):
        wrong = hub.app.test_client().post(
            "/api/v1/auth/token", json={"username": username, "password": "not the password"},
            environ_base={"REMOTE_ADDR": f"10.7.{n}.1"})
        assert wrong.status_code == 401


def _locked_page(admin: FlaskClient) -> str:
    return admin.get("/admin/users/mz-desk").get_data(as_text=True)


def test_an_admin_lifts_a_lock_out_on_the_users_page(hub: Hub) -> None:
    _spray(hub, "mz-desk")
    locked = _token(hub, "mz-desk", address="192.0.2.50")  # the right password, elsewhere
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 3600
    assert _token(hub, "city-lead", pyotp.TOTP(hub.secrets["city-lead"]).at(hub.clock.now),
                  address="192.0.2.50").status_code == 200  # other accounts go on
    admin = hub.login("city-admin")
    assert 'id="locked">错误登录过多' in _locked_page(admin)
    lifted = post_form(admin, "/admin/users/mz-desk", "/admin/users/mz-desk", change="unlock")
    assert lifted.status_code == 303
    assert 'id="locked">未锁定' in _locked_page(admin)
    assert _token(hub, "mz-desk", address="192.0.2.50").status_code == 200


def test_the_cli_lifts_a_lock_out(hub: Hub) -> None:
    _spray(hub, "mz-desk")
    assert _token(hub, "mz-desk").status_code == 429
    result = CliRunner().invoke(hub_group, ["unlock-user", "--data-dir", _data_dir(hub),
                                            "--username", "mz-desk"])
    assert result.exit_code == 0, result.output
    assert f"{LoginLimits().per_account} wrong logins forgotten" in result.output
    assert _token(hub, "mz-desk").status_code == 200
