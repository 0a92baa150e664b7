"""Who may call which endpoint, decided in one place per app and before any view runs.

Each app keeps a table (``hub.access_rules``) from Flask endpoint name to a :class:`Rule`:
open to anyone (sign-in, public lookup, probes, and the site-to-site exchange and enrolment
that authenticate by signatures), any signed-in user of the site, or only some roles.
:func:`install` adds a ``before_request`` hook that answers 401 (not signed in) or 403
(wrong role, another site's user) with the JSON error shape under ``/api/``, and a redirect
to the sign-in form or a 403 page elsewhere. An endpoint missing from the table is refused:
deny by default, so a view added without a rule is closed until someone decides who may
use it (and :func:`unlisted` makes the access test fail naming it).

Record-level checks (which window, which site owns the case) stay where the record is
loaded; they answer 404 as for an unknown id, never the record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from flask import Flask, Response, g, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from shared.storage.accounts import USER_ROLES, Claims
from shared.web.error_responses import error_response
from shared.web.sign_in import current_claims, forbidden_page

REFUSED_HEADER = "X-Sanji-Access"
"""Set to ``refused`` on the gate's own refusals, so a test tells them from a view's."""


@dataclass(frozen=True)
class Rule:
    """Who may call one endpoint: anyone (``open``), any signed-in user of the site
    (``roles`` None), or only the users holding one of ``roles``."""

    open: bool = False
    roles: frozenset[str] | None = None

    def admits(self, claims: Claims | None) -> bool:
        """Whether ``claims`` (None: nobody signed in) may call the endpoint."""
        if self.open:
            return True
        if claims is None:
            return False
        return self.roles is None or claims.role in self.roles


OPEN = Rule(open=True)
SIGNED_IN = Rule()


def roles(*names: str) -> Rule:
    """A rule admitting only ``names``; an unknown role is a mistake in the table."""
    unknown = [name for name in names if name not in USER_ROLES]
    if unknown or not names:
        raise ValueError(f"unknown roles: {', '.join(unknown) or '(none)'}")
    return Rule(roles=frozenset(names))


Policy = Mapping[str, Rule]


def unlisted(app: Flask, policy: Policy) -> list[str]:
    """The app's endpoints the table does not name (refused until it does)."""
    return sorted({rule.endpoint for rule in app.url_map.iter_rules()} - set(policy))


def _refuse(status: int, code: str, message: str, field: str = "") -> BaseResponse:
    """The gate's refusal; ``field`` names what was refused (``role``, ``site``) as domain
    refusals do."""
    if request.path.startswith("/api/"):
        response: BaseResponse = (
            error_response(status, code, f"{field}: {message}", {field: message}) if field
            else error_response(status, code, message))
        if status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
    elif status == 401:
        target = request.full_path if request.query_string else request.path
        response = redirect(url_for("auth.login_form", next=target))
    else:
        response = Response(forbidden_page(), status=403, mimetype="text/html")
    response.headers[REFUSED_HEADER] = "refused"
    return response


def install(app: Flask, policy: Policy, home_site: Callable[[], str],
            users_sign_in: Callable[[], bool] = lambda: True) -> None:
    """Enforce ``policy`` on every request of ``app`` whose users must work at
    ``home_site()``; the signed-in user's claims are left on ``flask.g.claims``.

    ``users_sign_in()`` False is a node not enrolled, serving the PC it runs on as the
    site's agent: nobody signs in there, so only the endpoints missing from the table are
    refused."""

    @app.before_request
    def enforce_access_policy() -> BaseResponse | None:
        endpoint = request.endpoint
        if endpoint is None:  # no route: Flask answers 404 (or 405) itself
            return None
        rule = policy.get(endpoint)
        if rule is None:
            return _refuse(403, "not_permitted", "this endpoint is not open to anyone")
        if rule.open or not users_sign_in():
            return None
        claims = current_claims()
        if claims is None:
            return _refuse(401, "not_authenticated", "sign in first (POST /api/v1/auth/token)")
        if claims.site != home_site():
            return _refuse(403, "not_permitted", f"{claims.username} works at {claims.site}",
                           "site")
        if not rule.admits(claims):
            return _refuse(403, "not_permitted", f"role {claims.role} may not do this", "role")
        g.claims = claims
        return None
