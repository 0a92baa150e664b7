"""Chinese by default, English with ``?lang=en`` (remembered in a cookie): the pages of every
site, the hub's and the nodes'.

Flask-Babel picks the locale; the interface texts are small tables of ``key: (zh, en)``
looked up with ``t(key)`` in templates and views, so no site needs compiled message
catalogues (a village PC has no build tools, and the tables travel with the code). Each app
gives :func:`init_app` its own table; a blueprint that brings its own pages (the window desk,
the login form) adds its table with :func:`add_messages` when it is registered. A key defined
twice with different texts is refused at start-up rather than shown wrongly.

Every page carries a link to the other language (:func:`switch_url`), keeping the page's own
query so the switch lands on the same list, page or search.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import Flask, Response, current_app, request
from flask.sansio.app import App
from flask_babel import Babel, get_locale

from shared.domain.working_days import SHANGHAI, due_day

LANGUAGES = ("zh", "en")
DEFAULT = "zh"
COOKIE = "lang"
COOKIE_SECONDS = 365 * 24 * 3600
EXTENSION = "sanji_i18n"

Messages = Mapping[str, tuple[str, str]]
"""Interface texts: ``key -> (Chinese, English)``."""

COMMON: Messages = {
    "other_lang": ("English", "中文"),
    "log_out": ("退出", "Log out"),
    "form_expired": ("表单已过期,请刷新页面后重试",
                     "The form has expired: reload the page and try again"),
}
"""Texts every site's pages use: the language switch names the language it switches to."""


def _table(app: App) -> dict[str, tuple[str, str]]:
    table: dict[str, tuple[str, str]] = app.extensions.setdefault(EXTENSION, {})
    return table


def add_messages(app: App, messages: Messages) -> None:
    """Add ``messages`` to ``app``'s table (in any order with :func:`init_app`, which it
    calls for an app that has no language machinery yet); the same key with other texts is
    a bug."""
    _wire(app)
    table = _table(app)
    for key, pair in messages.items():
        held = table.get(key)
        if held is not None and held != pair:
            raise ValueError(f"interface text {key!r} is defined twice: {held} and {pair}")
        table[key] = pair


def locale_name() -> str:
    """``zh`` or ``en`` for this request."""
    return str(get_locale() or DEFAULT)


def t(key: str) -> str:
    """The interface text ``key`` in this request's language (the key itself if unknown, so
    a missing text shows up on the page instead of breaking it)."""
    pair = _table(current_app).get(key)
    if pair is None:
        return key
    return pair[1] if locale_name() == "en" else pair[0]


def pick(zh: str, en: str) -> str:
    """``en`` on an English page when there is one, else ``zh``."""
    return en if locale_name() == "en" and en else zh


def html_lang() -> str:
    """The value of ``<html lang>`` for this request."""
    return "en" if locale_name() == "en" else "zh-CN"


def _asked() -> str | None:
    asked = request.args.get("lang")
    return asked if asked in LANGUAGES else None


def _select_locale() -> str:
    asked = _asked() or request.cookies.get(COOKIE)
    return asked if asked in LANGUAGES else DEFAULT


def _page_address() -> tuple[str, list[tuple[str, str]]]:
    """The path and query of the page being shown. A page answering a form post (a refusal
    shown again) links to the page the form was on, or to its own address when that answers
    a GET too (the login form): a post-only address cannot be opened by a link."""
    here = request.path, list(request.args.items(multi=True))
    if request.method in ("GET", "HEAD"):
        return here
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc == request.host and referrer.path.startswith("/"):
        return referrer.path, parse_qsl(referrer.query, keep_blank_values=True)
    adapter = current_app.url_map.bind_to_environ(request.environ)
    if adapter.test(request.path, method="GET"):
        return here
    return "/", []


def switch_url() -> str:
    """This page in the other language (the choice is then kept in a cookie)."""
    other = "zh" if locale_name() == "en" else "en"
    path, args = _page_address()
    query = [(k, v) for k, v in args if k != "lang"] + [("lang", other)]
    return f"{path}?{urlencode(query)}"


def local_time(at: datetime) -> str:
    """A UTC time shown in Asia/Shanghai, minutes precision."""
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def local_day(value: str | None) -> str:
    """A deadline (an ISO time at the end of its day) as the day it falls on in
    Asia/Shanghai; empty for none."""
    if not value:
        return ""
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return value
    return due_day(at).isoformat()


def _remember_language(response: Response) -> Response:
    asked = _asked()
    if asked is not None and request.cookies.get(COOKIE) != asked:
        response.set_cookie(COOKIE, asked, max_age=COOKIE_SECONDS, samesite="Lax")
    if response.mimetype == "text/html":
        # The same address answers in either language: a shared cache must not mix them.
        response.vary.add("Cookie")
    return response


def _wire(app: App) -> None:
    """Flask-Babel, the language cookie and the template globals, once per app."""
    if "babel" in app.extensions:
        return
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai")
    Babel(app, locale_selector=_select_locale)
    app.jinja_env.globals.update(t=t, lang=locale_name, pick=pick, html_lang=html_lang,
                                 switch_url=switch_url, local_time=local_time,
                                 local_day=local_day)
    app.after_request(_remember_language)
    add_messages(app, COMMON)


def init_app(app: Flask, messages: Messages) -> None:
    """Wire Flask-Babel, the language cookie and the template globals (``t``, ``lang``,
    ``pick``, ``html_lang``, ``switch_url``, ``local_time``, ``local_day``) with ``messages``
    as the app's table."""
    _wire(app)
    add_messages(app, messages)
