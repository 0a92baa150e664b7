"""Login for the hub and the nodes: a token endpoint for programs, a form for people.

Programs post credentials to ``/api/v1/auth/token`` and send ``Authorization: Bearer``;
the browser form keeps the same token in Flask's signed session cookie. Views say who may
use them with :func:`require_user`. Wrong guesses are counted per username and address, per
address and per account, in the store every process of the site shares
(:mod:`shared.web.rate_limit`): past a limit the next tries get 429.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ParamSpec
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from markupsafe import escape
from marshmallow import RAISE, Schema, ValidationError, fields, validate
from sqlalchemy.orm import Session

from shared.domain.errors import InvalidInput
from shared.storage.accounts import (
    USED_CODE,
    USER_ROLES,
    Claims,
    NotAuthenticated,
    TokenSigner,
    UserAccount,
    authenticate,
    revoke_tokens,
    still_honoured,
)
from shared.web.error_responses import error_response, flatten_messages
from shared.web.i18n import Messages, add_messages, locale_name, t
from shared.web.rate_limit import LoginLimiter, LoginLimits, failure_counts_of
from shared.web.security_policy import end_session, start_session

EXTENSION = "sanji_auth"
SESSION_KEY = "token"
MAX_FAILURES = LoginLimits().per_pair  # one account from one address
FAILURE_WINDOW_SECONDS = LoginLimits().window_seconds

P = ParamSpec("P")


@dataclass(frozen=True)
class AuthServices:
    """What the auth views and :func:`require_user` need, kept on ``app.extensions``."""

    get_session: Callable[[], Session]
    get_signer: Callable[[], TokenSigner]
    clock: Callable[[], datetime]
    limiter: LoginLimiter
    after_sign_in: Callable[[UserAccount, str], None] | None = None
    """Called with the account and its password once the password has been checked (a
    village opens or refreshes the agent's key slot with it); never stores the password."""


def _services() -> AuthServices:
    found = current_app.extensions.get(EXTENSION)
    if not isinstance(found, AuthServices):
        raise RuntimeError("the auth blueprint is not registered on this app")
    return found


class TokenRequestSchema(Schema):
    """Credentials for a token; unknown fields are refused rather than silently ignored."""

    class Meta:
        unknown = RAISE

    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=200))
    otp = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=10))


def _failure_key(username: str) -> tuple[str, str]:
    """Who is guessing: the account tried and the client address (as the trusted proxies
    report it, see :mod:`shared.web.request_limits`)."""
    return username, request.remote_addr or "unknown"


def _login(credentials: dict[str, Any]) -> tuple[str, str]:
    """A token for ``credentials``, and the account's role; counts the failure before
    re-raising it.

    A missing one-time code counts too: otherwise its distinct answer would let a guesser
    test passwords of supervisors for free. The one-time code taken is committed before the
    token is made, so the same code never yields a second token.
    """
    auth = _services()
    now = auth.clock()
    username, address = _failure_key(credentials["username"])
    session = auth.get_session()
    try:
        user = authenticate(
            session,
            credentials["username"],
            credentials["password"],
            credentials.get("otp"),
            now,
        )
    except NotAuthenticated:
        session.rollback()
        auth.limiter.record_failure(username, address, now.timestamp())
        raise
    session.commit()
    if auth.after_sign_in is not None:
        auth.after_sign_in(user, credentials["password"])
    return auth.get_signer().issue(user, now), user.role


def _blocked_seconds(username: str) -> int | None:
    """Seconds to wait if this username, this address or the account has used up its tries,
    else None."""
    auth = _services()
    account, address = _failure_key(username)
    return auth.limiter.retry_after(account, address, auth.clock().timestamp())


def _too_many(retry_after: int) -> Response:
    response = error_response(429, "too_many_attempts", "too many failed logins, try again later")
    response.headers["Retry-After"] = str(retry_after)
    return response


def _unauthenticated(exc: NotAuthenticated) -> Response:
    response = error_response(401, exc.code, exc.reason, exc.fields)
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


LANDING = {"supervisor": "supervision.dashboard"}
"""Where a role lands after signing in without a page to go back to (where the site has
that page): a supervisor on the supervision dashboard; everyone else on the home page."""


def _landing(role: str) -> str:
    endpoint = LANDING.get(role)
    if endpoint is not None and endpoint in current_app.view_functions:
        return url_for(endpoint)
    return "/"


def safe_next(target: str | None) -> str:
    """``target`` if it is a path on this site, else ``/`` (no open redirects)."""
    if not target or not target.startswith("/") or target[1:2] in {"/", "\\"}:
        return "/"
    if any(ch.isspace() or ord(ch) < 32 for ch in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def auth_blueprint(
    get_session: Callable[[], Session],
    get_signer: Callable[[], TokenSigner],
    clock: Callable[[], datetime],
    after_sign_in: Callable[[UserAccount, str], None] | None = None,
) -> Blueprint:
    """The ``auth`` blueprint: token endpoint, login form, logout.

    ``get_session`` gives the request's database session, ``get_signer`` the site's
    :class:`TokenSigner`, ``clock`` aware UTC time (failures are counted on it too),
    ``after_sign_in`` what the site does after each successful sign-in (form and token).
    """
    bp = Blueprint("auth", __name__, template_folder="templates")

    def _install(state: BlueprintSetupState) -> None:
        # Failures are counted in the store the app installed (shared by its processes).
        state.app.extensions[EXTENSION] = AuthServices(
            get_session=get_session,
            get_signer=get_signer,
            clock=clock,
            limiter=LoginLimiter(failure_counts_of(state.app)),
            after_sign_in=after_sign_in,
        )
        # The session cookie carries a bearer token: keep it off cross-site requests.
        if state.app.config.get("SESSION_COOKIE_SAMESITE") is None:
            state.app.config["SESSION_COOKIE_SAMESITE"] = "Lax"

    bp.record_once(_install)
    bp.record_once(lambda state: add_messages(state.app, MESSAGES))

    @bp.post("/api/v1/auth/token")
    def issue_token() -> ResponseReturnValue:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise InvalidInput("body", "must be a JSON object")
        credentials = TokenRequestSchema().load(body)
        retry_after = _blocked_seconds(credentials["username"])
        if retry_after is not None:
            return _too_many(retry_after)
        try:
            token, _ = _login(credentials)
        except NotAuthenticated as exc:
            return _unauthenticated(exc)
        return jsonify(
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": _services().get_signer().ttl_seconds,
            }
        )

    @bp.post("/api/v1/auth/revoke")
    @require_user()
    def revoke_own_tokens() -> ResponseReturnValue:
        """Sign out everywhere: every token and sign-in of the caller's account at this site
        ends, the one used here included."""
        db = _services().get_session()
        revoke_tokens(db, g.claims.username)
        db.commit()
        return Response(status=204)

    @bp.get("/login")
    def login_form() -> ResponseReturnValue:
        return _render_login(None, 200)

    @bp.post("/login")
    def login_submit() -> ResponseReturnValue:
        username = request.form.get("username", "").strip()
        form = {
            "username": username,
            "password": request.form.get("password", ""),
            "otp": request.form.get("otp", "").strip() or None,
        }
        try:
            credentials = TokenRequestSchema().load(form)
        except ValidationError as exc:
            fields_text = ", ".join(flatten_messages(exc.messages))
            return _render_login(f"{t('login.check')}: {fields_text}", 400, username)
        retry_after = _blocked_seconds(credentials["username"])
        if retry_after is not None:
            message = t("login.too_many").format(seconds=retry_after)
            return _render_login(message, 429, credentials["username"])
        try:
            token, role = _login(credentials)
        except NotAuthenticated as exc:
            key = _LOGIN_MESSAGES.get(exc.reason)
            return _render_login(t(key) if key else exc.reason, 401, username)
        start_session()  # a new session: nothing from before the sign-in carries over
        session[SESSION_KEY] = token
        target = request.args.get("next")
        return redirect(safe_next(target) if target else _landing(role))

    @bp.post("/logout")
    def logout() -> ResponseReturnValue:
        end_session()
        return redirect(url_for("auth.login_form"))

    return bp


MESSAGES: Messages = {
    "login.title": ("登录", "Log in"),
    "login.username": ("用户名", "Username"),
    "login.password": ("密码", "Password"),
    "login.otp": ("动态验证码", "One-time code"),
    "login.otp_hint": ("主管和管理员必填", "Required for supervisors and admins"),
    "login.check": ("请检查", "Please check"),
    "login.too_many": ("尝试次数过多,请 {seconds} 秒后再试",
                       "Too many failed logins; try again in {seconds} s"),
    "login.wrong_password": ("用户名或密码错误", "Wrong username or password"),
    "login.otp_required": ("请输入动态验证码", "A one-time code is required"),
    "login.wrong_otp": ("动态验证码错误", "Wrong one-time code"),
    "login.used_otp": ("此动态验证码已用过,请等下一个",
                       "This one-time code was used; wait for the next"),
    "login.no_otp_here": ("此账号在本站未设置动态验证码",
                          "No one-time code is set up for this account here"),
    "login.forbidden": ("无权访问", "Not permitted"),
    "login.forbidden_role": ("您的角色不能使用此页面。", "Your role may not use this page."),
}
"""The login form's texts (and the page a wrong role gets), Chinese and English."""

_LOGIN_MESSAGES = {
    "wrong username or password": "login.wrong_password",
    "a one-time code is required": "login.otp_required",
    "wrong one-time code": "login.wrong_otp",
    USED_CODE: "login.used_otp",
    "no one-time code is set up for this account here": "login.no_otp_here",
}


def _render_login(message: str | None, status: int, username: str = "") -> ResponseReturnValue:
    next_path = request.args.get("next")
    action = url_for("auth.login_submit", next=safe_next(next_path)) if next_path else None
    html = render_template(
        "auth/login.html",
        message=message,
        username=username,
        action=action or url_for("auth.login_submit"),
    )
    return html, status


def current_claims() -> Claims | None:
    """Who is asking: the bearer token if one is sent, else the login session's token; None
    as well when the account has since been disabled or changed (:func:`still_honoured`)."""
    auth = _services()
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        token = token.strip()
    else:
        stored = session.get(SESSION_KEY)
        if not isinstance(stored, str):
            return None
        token = stored
    try:
        claims = auth.get_signer().read(token, auth.clock())
    except NotAuthenticated:
        return None
    return claims if still_honoured(auth.get_session(), claims) else None


def forbidden_page() -> str:
    """The small page a signed-in user whose role may not use a page gets (403)."""
    lang = "en" if locale_name() == "en" else "zh-CN"
    return (f'<!doctype html><html lang="{lang}"><meta charset="utf-8"><title>403</title>'
            f"<h1>{escape(t('login.forbidden'))}</h1>"
            f"<p>{escape(t('login.forbidden_role'))}</p></html>")


def require_user(
    *roles: str,
) -> Callable[[Callable[P, ResponseReturnValue]], Callable[P, ResponseReturnValue]]:
    """Let a view run only for a logged-in user (holding one of ``roles``, when given).

    The claims are on ``flask.g.claims``. Under ``/api/`` the refusals are JSON errors
    (401, 403); elsewhere a stranger is sent to the login form and a wrong role gets 403.
    """
    unknown = [role for role in roles if role not in USER_ROLES]
    if unknown:
        raise ValueError(f"unknown roles: {', '.join(unknown)}")

    def decorate(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
        @functools.wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
            api = request.path.startswith("/api/")
            claims = current_claims()
            if claims is None:
                if api:
                    return _unauthenticated(
                        NotAuthenticated("token", "a valid bearer token is required")
                    )
                target = request.full_path if request.query_string else request.path
                return redirect(url_for("auth.login_form", next=target))
            if roles and claims.role not in roles:
                if api:
                    return error_response(
                        403, "not_permitted", f"role {claims.role} may not do this"
                    )
                return Response(forbidden_page(), status=403, mimetype="text/html")
            g.claims = claims
            return view(*args, **kwargs)

        return guarded

    return decorate
