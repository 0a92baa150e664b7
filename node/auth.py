"""Who is acting at a node, and who may.

An enrolled node received its users with the hub's grant (password hashes only), so its
agents and window operators sign in even while the link is down: every page and API call
then needs a signed-in user of this site, except what must stay open — the sign-in itself,
the citizens' status lookup, the probes (health, metrics, sync counters: no personal data)
and the endpoints the tree uses between sites (the exchange and enrolment, authenticated
by the protocol's signatures).
A node set up without enrolment serves the PC it runs on (bound to 127.0.0.1) as the site's
agent, as before it is enrolled.

A village whose data key is locked (restarted, no agent with a key slot signed in yet; see
:mod:`node.data_key`) answers every path that needs personal data with 503 ``data_locked``
(a short page for people), after the sign-in check, so a stranger is still sent to sign in.

:func:`current_actor` is the only place views ask who acts.
"""

from __future__ import annotations

from flask import Flask, Response, g, jsonify, redirect, request
from markupsafe import escape
from werkzeug.wrappers import Response as BaseResponse

from node.data_key import LOCKED_MESSAGE
from node.i18n import locale_name, t
from node.services import services
from shared.storage.sealing import DataLocked
from shared.web.error_responses import error_response
from shared.web.i18n import Messages, add_messages
from shared.web.sign_in import current_claims

OPEN_PATHS = (
    "/login", "/logout", "/status", "/verify", "/healthz", "/metrics", "/static/",
    "/api/v1/auth/token", "/api/v1/public/", "/api/v1/catalog/", "/api/v1/sync/exchange",
    "/api/v1/enrol", "/api/v1/sync/status", "/api/openapi.json",
    "/api/v1/sync/local-run",  # sync-now on this PC, with its own proof (node.local_sync)
    # a child's agent asking the certificate store, vouched for by the child's signature;
    # the view itself requires a signed-in agent otherwise (shared.web.certificate_lookup)
    "/api/v1/certificates/held",
    # a child's agent asking for its station's bookings, vouched for the same way
    # (shared.web.hall_station_bookings)
    "/api/v1/hall/station-bookings",
    # a child's window user opening a scan, vouched for the same way (shared.web.scan_fetch)
    "/api/v1/scans/",
    "/board",  # the hall's board at a deciding node: today's figures, no case, no person
)


LOCK_FREE_PATHS = (
    "/login", "/logout", "/healthz", "/metrics", "/static/", "/sync",
    "/api/v1/auth/", "/api/v1/catalog/", "/api/v1/sync/status", "/api/openapi.json",
)
"""What works while the data key is locked: signing in (which unlocks), the probes, the
catalogue and the sync status (none of them opens a sealed value)."""
LOCKED_RETRY_SECONDS = 60
LOCK_MESSAGES: Messages = {
    "locked_title": ("本机数据已锁定", "Data locked"),
    "locked_text": ("本机重启后数据已锁定:请一位曾在本机登录过的代办员登录以解锁。解锁前不同步。",
                    "This PC's data is locked since it restarted: an agent who has signed in "
                    "on this PC before must sign in to unlock it. Nothing syncs until then."),
    "locked_sign_in": ("登录", "Sign in"),
}


def current_actor() -> str:
    """The user recorded on events as ``role:username``."""
    claims = g.get("claims")
    if claims is not None:
        return f"{claims.role}:{claims.username}"
    return f"agent:agent@{services().settings.site_code}"


def _is_open(path: str, paths: tuple[str, ...] = OPEN_PATHS) -> bool:
    return any(path == p.rstrip("/") or path.startswith(p) for p in paths)


def locked_response() -> Response:
    """503 ``data_locked``: JSON under ``/api/``, a short page with a sign-in link else."""
    if request.path.startswith("/api/"):
        response = error_response(503, "data_locked", LOCKED_MESSAGE)
    else:
        lang = "en" if locale_name() == "en" else "zh-CN"
        page = (f'<!doctype html><html lang="{lang}"><meta charset="utf-8">'
                f"<title>{escape(t('locked_title'))}</title>"
                f"<h1>{escape(t('locked_title'))}</h1><p id=\"data-locked\">"
                f"{escape(t('locked_text'))}</p>"
                f'<p><a href="/login">{escape(t("locked_sign_in"))}</a></p></html>')
        response = Response(page, status=503, mimetype="text/html")
    response.headers["Retry-After"] = str(LOCKED_RETRY_SECONDS)
    return response


def init_app(app: Flask) -> None:
    """Require a signed-in user of this site on every other path of an enrolled node, and
    the data key unlocked on every path that needs it."""
    add_messages(app, LOCK_MESSAGES)

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
        if claims.site != node.settings.site_code:  # the same answer as the access gate's
            message = f"{claims.username} works at {claims.site}"
            return error_response(403, "not_permitted", message, {"site": message})
        g.claims = claims
        return None

    @app.before_request
    def refuse_while_locked() -> BaseResponse | None:
        if not services().data_key.locked or _is_open(request.path, LOCK_FREE_PATHS):
            return None
        return locked_response()

    @app.errorhandler(DataLocked)
    def locked_midway(_exc: DataLocked) -> Response:
        """A sealer asked for the key while it is locked (a path the gate let through)."""
        return locked_response()
