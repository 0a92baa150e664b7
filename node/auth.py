"""Who is acting at a node, and who may.

An enrolled node received its users with the hub's grant (password hashes only), so its
agents and window operators sign in even while the link is down: every page and API call
then needs a signed-in user of this site, except what must stay open — the sign-in itself,
the citizens' status lookup, the probes (health, metrics, sync counters: no personal data)
and the endpoints the tree uses between sites (the exchange and enrolment, authenticated
by the protocol's signatures).
A node set up without enrolment serves the PC it runs on (bound to 127.0.0.1) as the site's
agent, as before it is enrolled.

:func:`current_actor` is the only place views ask who acts.
"""

from __future__ import annotations

from flask import Flask, Response, g, jsonify, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from node.services import services
from shared.web.sign_in import current_claims

OPEN_PATHS = (
    "/login", "/logout", "/status", "/healthz", "/metrics", "/static/",
    "/api/v1/auth/token", "/api/v1/public/", "/api/v1/catalog/", "/api/v1/sync/exchange",
    "/api/v1/enrol", "/api/v1/sync/status", "/api/openapi.json",
)


def current_actor() -> str:
    """The user recorded on events as ``role:username``."""
    claims = g.get("claims")
    if claims is not None:
        return f"{claims.role}:{claims.username}"
    return f"agent:agent@{services().settings.site_code}"


def _is_open(path: str) -> bool:
    return any(path == p.rstrip("/") or path.startswith(p) for p in OPEN_PATHS)


def init_app(app: Flask) -> None:
    """Require a signed-in user of this site on every other path of an enrolled node."""

    @app.before_request
    def require_sign_in() -> BaseResponse | None:
        node = services()
        if not node.settings.require_sign_in or node.sync_site.parent is None:
            return None
        if _is_open(request.path):
            return None
        claims = current_claims()
        if claims is None:
            if request.path.startswith("/api/"):
                body = {"error": {"code": "not_authenticated",
                                  "message": "sign in first (POST /api/v1/auth/token)",
                                  "fields": {}}}
                response: Response = jsonify(body)
                response.status_code = 401
                return response
            return redirect(f"/login?next={request.full_path.rstrip('?')}")
        if claims.site != node.settings.site_code:
            body = {"error": {"code": "forbidden",
                              "message": f"{claims.username} works at {claims.site}",
                              "fields": {}}}
            response = jsonify(body)
            response.status_code = 403
            return response
        g.claims = claims
        return None
