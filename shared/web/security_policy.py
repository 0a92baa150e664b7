"""One web security policy for every page of every site, installed once by each app's
factory (:func:`install`).

**Forms carry a token; unsafe requests that a browser could forge are refused without it.**
Every ``<form method="post">`` of every template gets a hidden ``csrf_token`` field when the
template is compiled (:class:`FormTokens`), so no form can forget it; the token is the
browser session's (:func:`shared.web.pages.csrf_token`). Before any view runs, a POST, PUT,
PATCH or DELETE must carry it (form field ``csrf_token`` or header ``X-CSRF-Token``) unless
the request cannot have come from another site's page:

- it carries ``Authorization: Bearer`` (a program's credential, never sent by a browser on
  its own);
- it goes to an endpoint that never reads the session (:data:`SESSIONLESS_PATHS`): the
  exchanges between sites, which authenticate every frame by the sender's signature, and
  the token endpoint, which takes credentials and answers with a token;
- it is a ``/api/`` request whose body is not one a plain HTML form can send (JSON, CBOR: a
  browser asks the site first, and no site answers such a cross-origin question).

A refused request changes nothing and is answered 400: the JSON error shape under ``/api/``,
a short page elsewhere.

**Session cookie.** Named after the site (``sanji_<site code>``), so sites on one host keep
their own sessions; ``HttpOnly``, ``SameSite=Lax``, ``Secure`` when the request came over TLS
(as the trusted proxy reports it) or ``SESSION_COOKIE_SECURE`` is set. Signing in starts a
new session (:func:`start_session`): nothing of the session before it, its form token
included, carries over. A signed-in session ends after ``idle_seconds`` without a request and
``max_seconds`` after sign-in, whichever comes first, on the app's own clock.

**Headers** on every response: ``X-Content-Type-Options: nosniff``, ``X-Frame-Options:
DENY``, ``Referrer-Policy: same-origin``; on HTML pages also :data:`CONTENT_SECURITY_POLICY`
(no script at all, styles from the page itself) and, unless the page set its own caching,
``Cache-Control: private, no-store``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from html import escape

from flask import Flask, Response, current_app, has_request_context, request
from flask import session as web_session
from flask.sessions import SecureCookieSessionInterface
from jinja2.ext import Extension
from markupsafe import Markup

from shared.exchange.enrolment import CONTENT_TYPE as ENROLMENT_CONTENT_TYPE
from shared.exchange.site import CONTENT_TYPE as FRAME_CONTENT_TYPE
from shared.exchange.site import EXCHANGE_PATH
from shared.web.error_responses import error_response
from shared.web.i18n import locale_name, t
from shared.web.pages import CSRF_FIELD, CSRF_SESSION_KEY, csrf_ok, csrf_token

EXTENSION = "sanji_security_policy"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
SESSIONLESS_PATHS = frozenset({EXCHANGE_PATH, "/api/v1/enrol", "/api/v1/auth/token"})
"""Endpoints that never read the session cookie: the exchanges between sites (every request
signed by the sending site's key) and the token endpoint (credentials in the body, the token
in the answer)."""
FORM_MIMETYPES = frozenset(
    {"", "application/x-www-form-urlencoded", "multipart/form-data", "text/plain"})
"""Bodies a page of another site can make a browser send without asking first."""
STARTED_KEY = "signed_in_at"
SEEN_KEY = "seen_at"
SEEN_GRANULARITY_SECONDS = 60
"""The last request's time is written back at most once a minute (fewer cookies sent)."""
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SITE_TO_SITE = frozenset({FRAME_CONTENT_TYPE, ENROLMENT_CONTENT_TYPE})
"""The media types of the exchange and enrolment answers, which no browser reads."""


@dataclass(frozen=True, slots=True)
class SessionTimeouts:
    """How long a browser sign-in lasts: ``idle_seconds`` without a request, at most
    ``max_seconds`` in all."""

    idle_seconds: int = 30 * 60
    max_seconds: int = 8 * 3600

    def __post_init__(self) -> None:
        if not 0 < self.idle_seconds <= self.max_seconds:
            raise ValueError("session timeouts: 0 < idle_seconds <= max_seconds")


@dataclass(frozen=True, slots=True)
class _Policy:
    clock: Callable[[], datetime]
    timeouts: SessionTimeouts


def session_cookie_name(site_code: str) -> str:
    """The session cookie of the site ``site_code``."""
    return f"sanji_{site_code}"


class SiteSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, ``Secure`` whenever the request came over TLS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        configured = bool(app.config.get("SESSION_COOKIE_SECURE"))
        return configured or (has_request_context() and request.is_secure)


def csrf_field() -> Markup:
    """The hidden field carrying this session's form token."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, csrf_token())


_FORM_OPEN = re.compile(r"<form\b", re.IGNORECASE)
_POST = re.compile(r"""\bmethod\s*=\s*["']?post\b""", re.IGNORECASE)
_FIELD_CALL = "{{ csrf_field() }}"


def _tag_end(source: str, start: int) -> int:
    """The index just past the ``>`` closing the tag that begins at ``start``, skipping
    Jinja expressions, statements and quoted attribute values; ``len(source)`` if none."""
    i = start
    end = len(source)
    while i < end:
        pair = source[i:i + 2]
        if pair in ("{{", "{%", "{#"):
            close = {"{{": "}}", "{%": "%}", "{#": "#}"}[pair]
            found = source.find(close, i + 2)
            i = end if found < 0 else found + 2
        elif source[i] in "\"'":
            found = source.find(source[i], i + 1)
            i = end if found < 0 else found + 1
        elif source[i] == ">":
            return i + 1
        else:
            i += 1
    return end


def add_form_tokens(source: str) -> str:
    """``source`` with the token field written right after every POST form's opening tag."""
    parts: list[str] = []
    position = 0
    for match in _FORM_OPEN.finditer(source):
        if match.start() < position:
            continue
        end = _tag_end(source, match.start())
        if _POST.search(source, match.start(), end):
            parts.append(source[position:end])
            parts.append(_FIELD_CALL)
            position = end
    parts.append(source[position:])
    return "".join(parts)


class FormTokens(Extension):
    """Jinja extension: every POST form of every template carries the form token."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        return add_form_tokens(source)


def _policy() -> _Policy:
    found = current_app.extensions.get(EXTENSION)
    if not isinstance(found, _Policy):
        raise RuntimeError("the security policy is not installed on this app")
    return found


def start_session() -> None:
    """Begin a new signed-in session (at sign-in): everything the browser's session held
    before, its form token included, is dropped, so a session planted or seen before the
    sign-in is worth nothing after it."""
    now = int(_policy().clock().timestamp())
    web_session.clear()
    web_session[STARTED_KEY] = now
    web_session[SEEN_KEY] = now


def end_session() -> None:
    """Forget everything the browser's session held (sign-out, or a timeout)."""
    web_session.clear()


def _needs_token() -> bool:
    if request.method in SAFE_METHODS or request.path in SESSIONLESS_PATHS:
        return False
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credential.strip():
        return False
    return not (request.path.startswith("/api/") and request.mimetype not in FORM_MIMETYPES)


def _sent_token() -> str | None:
    sent = request.headers.get(CSRF_HEADER)
    if sent:
        return sent
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return request.form.get(CSRF_FIELD)
    return None


def refusal() -> Response:
    """The answer to an unsafe request without this session's token."""
    message = "the form token is missing or wrong: reload the page and try again"
    if request.path.startswith("/api/"):
        return error_response(400, "csrf_failed", message, {CSRF_FIELD: "missing or wrong"})
    lang = "en" if locale_name() == "en" else "zh-CN"
    page = (f'<!doctype html><html lang="{lang}"><meta charset="utf-8"><title>400</title>'
            f"<h1>{escape(t('form_expired'))}</h1><p><a href=\"/\">/</a></p></html>")
    return Response(page, status=400, mimetype="text/html")


def _check_token() -> Response | None:
    if _needs_token() and not csrf_ok(_sent_token()):
        return refusal()
    return None


def _expire_idle_sessions() -> None:
    """End a signed-in session past its idle or absolute limit; a session that was never
    started by a sign-in keeps nothing but its form token."""
    if request.path in SESSIONLESS_PATHS:
        return
    started = web_session.get(STARTED_KEY)
    if not isinstance(started, int):
        extra = [key for key in web_session if key != CSRF_SESSION_KEY]
        for key in extra:
            web_session.pop(key)
        return
    policy = _policy()
    now = int(policy.clock().timestamp())
    seen = web_session.get(SEEN_KEY)
    seen = seen if isinstance(seen, int) else started
    limits = policy.timeouts
    if now - seen > limits.idle_seconds or now - started > limits.max_seconds:
        end_session()
    elif now - seen >= SEEN_GRANULARITY_SECONDS:
        web_session[SEEN_KEY] = now


def _add_headers(response: Response) -> Response:
    """Every answer a browser may read says ``nosniff``; a page also says what it may load,
    that no one may frame it, where its links may send the referrer and not to cache it.
    Frames between sites get none: only the sync glue reads them, over the slow line."""
    if response.mimetype in SITE_TO_SITE:
        return response
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    if response.mimetype == "text/html":
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("Cache-Control", "private, no-store")
    return response


def install(
    app: Flask,
    *,
    site_code: str,
    clock: Callable[[], datetime],
    timeouts: SessionTimeouts | None = None,
) -> None:
    """Put the policy on ``app`` (once, before the blueprints that check who is signed in):
    the session cookie, the token in every form and its check, the timeouts, the headers.
    ``clock`` gives aware UTC time (the app's own, so tests can move it)."""
    if EXTENSION in app.extensions:
        raise RuntimeError("the security policy is already installed on this app")
    limits = timeouts or SessionTimeouts()
    app.extensions[EXTENSION] = _Policy(clock=clock, timeouts=limits)
    app.session_interface = SiteSessionInterface()
    app.config.update(
        SESSION_COOKIE_NAME=session_cookie_name(site_code),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=limits.max_seconds,
    )
    app.jinja_env.add_extension(FormTokens)
    app.jinja_env.globals.update(csrf_field=csrf_field, csrf_token=csrf_token)
    app.before_request(_check_token)
    app.before_request(_expire_idle_sessions)
    app.after_request(_add_headers)
