"""The auth blueprint in a real Flask app: token endpoint, login form, role checks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from flask import Flask, g, jsonify
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from shared.storage.accounts import TokenSigner, UserAccount, add_user, load_or_create_secret
from shared.storage.db import Base, make_engine
from shared.web import error_responses, security_policy
from shared.web.sign_in import FAILURE_WINDOW_SECONDS, MAX_FAILURES, auth_blueprint, require_user
from tests.shared.web.form_client import FormClient

SITE = "110101001"
PASSWORD = "窗口里的新密码-2025年"
START = datetime(2025, 3, 14, 9, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Env:
    app: Flask
    client: FlaskClient
    clock: Clock
    signer: TokenSigner
    admin_secret: str


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    engine = make_engine(f"sqlite:///{tmp_path}/site.sqlite")
    Base.metadata.create_all(engine, tables=[UserAccount.__table__])  # type: ignore[list-item]
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as db:
        add_user(db, username="li.agent", password=PASSWORD, role="agent", site=SITE)
        admin = add_user(db, username="zhao.admin", password=PASSWORD, role="admin", site=SITE)
        assert admin.totp_secret is not None
        admin_secret = admin.totp_secret
        db.commit()

    signer = TokenSigner(load_or_create_secret(tmp_path / "keys" / "token.key"))
    clock = Clock()

    def get_session() -> Session:
        if "db" not in g:
            g.db = factory()
        db: Session = g.db
        return db

    app = Flask(__name__)
    app.config.update(SECRET_KEY="test-secret-key", TESTING=True)
    error_responses.init_app(app)
    security_policy.install(app, site_code=SITE, clock=clock)
    app.test_client_class = FormClient
    app.register_blueprint(auth_blueprint(get_session, lambda: signer, clock))

    @app.teardown_appcontext
    def close_session(_exc: BaseException | None) -> None:
        db = g.pop("db", None)
        if db is not None:
            db.close()

    @app.get("/desk")
    @require_user()
    def desk() -> str:
        return f"desk of {g.claims.username}"

    @app.get("/admin")
    @require_user("admin")
    def admin_page() -> str:
        return "admin"

    @app.get("/api/v1/me")
    @require_user()
    def me() -> Any:
        return jsonify({"username": g.claims.username, "role": g.claims.role})

    @app.get("/api/v1/admin-only")
    @require_user("admin", "supervisor")
    def admin_api() -> Any:
        return jsonify({"ok": True})

    yield Env(app, app.test_client(), clock, signer, admin_secret)
    engine.dispose()


def _token(client: FlaskClient, **body: Any) -> Any:
    return client.post("/api/v1/auth/token", json=body)


def _error(response: Any) -> dict[str, Any]:
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    error: dict[str, Any] = body["error"]
    return error


# --- token endpoint -------------------------------------------------------------------


def test_token_endpoint_issues_a_bearer_token(env: Env) -> None:
    response = _token(env.client, username="li.agent", password=PASSWORD)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 8 * 3600
    claims = env.signer.read(body["access_token"], START)
    assert (claims.username, claims.role, claims.site) == ("li.agent", "agent", SITE)

    me = env.client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.get_json() == {"username": "li.agent", "role": "agent"}


def test_token_endpoint_needs_the_admins_one_time_code(env: Env) -> None:
    missing = _token(env.client, username="zhao.admin", password=PASSWORD)
    assert missing.status_code == 401
    assert _error(missing)["fields"] == {"otp": "a one-time code is required"}

    code = pyotp.TOTP(env.admin_secret).at(START)
    response = _token(env.client, username="zhao.admin", password=PASSWORD, otp=code)
    assert response.status_code == 200
    token = response.get_json()["access_token"]
    allowed = env.client.get("/api/v1/admin-only", headers={"Authorization": f"Bearer {token}"})
    assert allowed.status_code == 200


def test_missing_password_is_a_400_naming_the_field(env: Env) -> None:
    response = _token(env.client, username="li.agent")
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {"password"}


def test_unknown_field_is_a_400_naming_the_field(env: Env) -> None:
    response = _token(env.client, username="li.agent", password=PASSWORD, remember_me=True)
    assert response.status_code == 400
    assert set(_error(response)["fields"]) == {"remember_me"}


def test_a_body_that_is_not_a_json_object_is_a_400(env: Env) -> None:
    response = env.client.post("/api/v1/auth/token", data="username=li.agent")
    assert response.status_code == 400
    assert set(_error(response)["fields"]) == {"body"}


def test_wrong_password_is_a_401_in_the_error_shape(env: Env) -> None:
    response = _token(env.client, username="li.agent", password="wrong password")
    assert response.status_code == 401
    error = _error(response)
    assert error["code"] == "not_authenticated"
    assert error["fields"] == {"credentials": "wrong username or password"}
    assert response.headers["WWW-Authenticate"] == "Bearer"
    unknown = _token(env.client, username="nobody", password="wrong password")
    assert unknown.status_code == 401
    assert _error(unknown) == error


def test_repeated_failures_get_429_until_the_window_passes(env: Env) -> None:
    for _ in range(MAX_FAILURES):
        assert _token(env.client, username="li.agent", password="guess-guess").status_code == 401
    blocked = _token(env.client, username="li.agent", password=PASSWORD)
    assert blocked.status_code == 429
    assert _error(blocked)["code"] == "too_many_attempts"
    assert int(blocked.headers["Retry-After"]) > 0
    # The login form shares the count.
    form = env.client.post("/login", data={"username": "li.agent", "password": PASSWORD})
    assert form.status_code == 429
    # Another username is not affected.
    assert _token(env.client, username="zhao.admin", password="guess-guess").status_code == 401

    env.clock.now = START + timedelta(seconds=FAILURE_WINDOW_SECONDS + 1)
    assert _token(env.client, username="li.agent", password=PASSWORD).status_code == 200


def test_missing_one_time_codes_count_as_failures(env: Env) -> None:
    for _ in range(MAX_FAILURES):
        assert _token(env.client, username="zhao.admin", password=PASSWORD).status_code == 401
    code = pyotp.TOTP(env.admin_secret).at(START)
    response = _token(env.client, username="zhao.admin", password=PASSWORD, otp=code)
    assert response.status_code == 429


# --- login form and views -------------------------------------------------------------


def test_login_form_is_small_in_either_language_and_script_free(env: Env) -> None:
    response = env.client.get("/login")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for label in ("用户名", "密码", "动态验证码"):
        assert label in page
    assert "Username" not in page and 'id="lang-switch"' in page
    english = env.client.get("/login?lang=en").get_data(as_text=True)
    for label in ("Username", "Password", "One-time code"):
        assert label in english
    assert "用户名" not in english
    assert "<script" not in page.lower()
    for name in ("username", "password", "otp"):
        assert f'name="{name}"' in page
    styles = re.findall(r"<style>(.*?)</style>", page, re.S)
    assert styles
    assert len("".join(styles).encode()) < 2048


def test_login_form_sets_the_session_for_protected_views(env: Env) -> None:
    before = env.client.get("/desk")
    assert before.status_code == 302
    assert before.headers["Location"] == "/login?next=/desk"

    response = env.client.post(
        "/login?next=/desk", data={"username": "li.agent", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/desk"
    with env.client.session_transaction() as flask_session:
        assert isinstance(flask_session["token"], str)

    desk = env.client.get("/desk")
    assert desk.status_code == 200
    assert desk.get_data(as_text=True) == "desk of li.agent"
    # The session also serves the JSON API from the same browser.
    assert env.client.get("/api/v1/me").get_json()["username"] == "li.agent"


def test_failed_login_rerenders_the_form_with_the_message(env: Env) -> None:
    response = env.client.post(
        "/login?next=/desk", data={"username": "li.agent", "password": "wrong password"}
    )
    assert response.status_code == 401
    page = response.get_data(as_text=True)
    assert "用户名或密码错误" in page
    assert 'value="li.agent"' in page
    assert 'action="/login?next=/desk"' in page
    with env.client.session_transaction() as flask_session:
        assert "token" not in flask_session
    assert env.client.get("/desk").status_code == 302


def test_logout_clears_the_session(env: Env) -> None:
    env.client.post("/login", data={"username": "li.agent", "password": PASSWORD})
    assert env.client.get("/desk").status_code == 200
    response = env.client.post("/logout")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert env.client.get("/desk").status_code == 302


def test_session_token_expires(env: Env) -> None:
    env.client.post("/login", data={"username": "li.agent", "password": PASSWORD})
    env.clock.now = START + timedelta(hours=8)
    response = env.client.get("/desk")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize(
    "target", ["//evil.example", "https://evil.example/", "/\\evil.example", "desk"]
)
def test_next_outside_this_site_is_not_followed(env: Env, target: str) -> None:
    response = env.client.post(
        "/login",
        query_string={"next": target},
        data={"username": "li.agent", "password": PASSWORD},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_a_view_for_admins_refuses_an_agent_with_403(env: Env) -> None:
    env.client.post("/login", data={"username": "li.agent", "password": PASSWORD})
    page = env.client.get("/admin")
    assert page.status_code == 403
    assert "无权访问" in page.get_data(as_text=True)
    english = env.client.get("/admin?lang=en")
    assert english.status_code == 403 and "Not permitted" in english.get_data(as_text=True)

    token = _token(env.client, username="li.agent", password=PASSWORD).get_json()["access_token"]
    api = env.client.get("/api/v1/admin-only", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 403
    assert _error(api)["code"] == "not_permitted"


def test_an_api_path_without_a_token_is_a_json_401(env: Env) -> None:
    response = env.client.get("/api/v1/me")
    assert response.status_code == 401
    assert _error(response)["code"] == "not_authenticated"

    forged = env.client.get("/api/v1/me", headers={"Authorization": "Bearer not.a.token"})
    assert forged.status_code == 401
    assert _error(forged)["code"] == "not_authenticated"


def test_require_user_refuses_unknown_role_names() -> None:
    with pytest.raises(ValueError, match="adminn"):
        require_user("adminn")
