"""What every server-rendered page shares: the CSRF token its forms carry, the signed-in
user's claims, the small refusal page, the headers that keep personal data out of caches and
frames, and the one mask an ID number wears on a page.

One token per browser session protects every form of a site; :mod:`shared.web.security_policy`
writes it into every POST form and checks it before any view runs, so neither a page nor a
view handles it on its own.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from flask import g, render_template, request
from flask import session as web_session
from flask.typing import ResponseReturnValue

from shared.domain.errors import DomainError
from shared.domain.identity import mask_id_number
from shared.storage.accounts import Claims
from shared.web.i18n import t

CSRF_SESSION_KEY = "csrf"
CSRF_FIELD = "csrf_token"
"""The form field every changing form posts the token in."""

__all__ = [
    "CSRF_FIELD",
    "CSRF_SESSION_KEY",
    "csrf_ok",
    "csrf_token",
    "id_on_page",
    "no_store",
    "refusal_page",
    "refusal_title",
    "signed_in",
    "submitted_fields",
]


def csrf_token() -> str:
    """This browser session's form token, made on first use."""
    token = web_session.get(CSRF_SESSION_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        web_session[CSRF_SESSION_KEY] = token
    return token


def csrf_ok(sent: str | None) -> bool:
    """Whether a submitted form carries this session's token (compared in constant time)."""
    expected = web_session.get(CSRF_SESSION_KEY)
    if not isinstance(expected, str) or not sent:
        return False
    return hmac.compare_digest(sent.encode(), expected.encode())


def submitted_fields() -> dict[str, str]:
    """The submitted form's fields without its token (for schemas that refuse unknown
    fields)."""
    return {key: value for key, value in request.form.items() if key != CSRF_FIELD}


def signed_in() -> Claims:
    """The claims :func:`shared.web.sign_in.require_user` put on the request."""
    claims: Claims = g.claims
    return claims


def refusal_title(status: int, texts: str) -> str:
    """The ``<texts>.refused_<status>`` text, else ``<texts>.error``."""
    key = f"{texts}.refused_{status}"
    title = t(key)
    return t(f"{texts}.error") if title == key else title


def refusal_page(template: str, exc: DomainError, texts: str) -> ResponseReturnValue:
    """A refusal as a small page in ``template`` (its ``problem``), with the error's status."""
    title = refusal_title(exc.http_status, texts)
    html = render_template(template, problem=f"{title}: {exc.reason}",
                           me=getattr(g, "claims", None))
    return html, exc.http_status


def no_store(response: Any) -> Any:
    """Pages carry applicants' personal data, one-time codes and action forms: not cached
    (unless the page set its own caching, as a public page does), never framed."""
    if "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def id_on_page(id_number: str) -> str:
    """An ID number as every page shows it (:func:`shared.domain.identity.mask_id_number`:
    the area's first four and the last four characters)."""
    return mask_id_number(id_number)
