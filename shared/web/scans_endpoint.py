"""Viewing scans where cases are decided, and wiring the site's blob store into the glue.

:func:`blob_blueprint` is registered by every app: it attaches the site's
:class:`~shared.storage.blob_store.BlobStore` to the app's database engine so the exchange glue
(parent and child side) finds it, and, at the hub and deciding nodes, serves

- ``GET /materials/<sha256>`` (people) and ``GET /api/v1/materials/<sha256>`` (programs):
  the file with its media type once it is here; while it is still on its way up, 202 with
  how much has arrived (a small page that reloads itself, or JSON); 404 if no event held
  here names it;
- ``GET /materials/case/<case_id>/<n>``: the ``n``-th material of the case's registration
  (what the window case page lists), redirected to its ``/materials/<sha256>?case=<case_id>``;
- ``GET /api/v1/scans/<sha256>?case=<case_id>``: a scan for a child that vouches for its
  window user, when the case goes down toward that child (:mod:`shared.web.scan_fetch`).

A scan of a case registered outside this site's branch (applied for online, or referred
here across branches) never comes up from below: the first view fetches it from the parent
(:func:`shared.web.scan_fetch.fetch_scan`), 503 with ``Retry-After`` when that cannot be
done now.

A case is routed and worked on while its scans are still arriving (decision 5), so "not here
yet" is a normal answer, not an error.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, g, jsonify, redirect, request, send_file, url_for
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from markupsafe import escape
from sqlalchemy.orm import Session

from shared.deciding import case_work
from shared.domain.case_events import CaseEvent, EventType
from shared.exchange.lookup_relay import HEADER, relayed_client
from shared.exchange.site import SyncSite, use_blob_store
from shared.storage import sync_store as store
from shared.storage.blob_store import ACCEPTED_TYPES, BlobStore, is_sha256_hex, sniff_media_type
from shared.web.error_responses import error_response
from shared.web.record_audit import audit_view, engine_of_session
from shared.web.record_scope import case_in_reach
from shared.web.request_db import engine_of
from shared.web.scan_fetch import (
    API_PATH,
    RETRY_AFTER,
    ScanSite,
    fetch_scan,
    relay_pair,
    scan_for_child,
    wanted_here,
)
from shared.web.sign_in import require_user

VIEW_ROLES = ("window_operator", "supervisor", "admin")
RELOAD_SECONDS = 15

_PAGE = (
    '<!doctype html><html lang="zh-CN"><meta charset="utf-8">'
    '{refresh}<title>{title}</title><h1>{title}</h1><p>{text}</p></html>'
)


def blob_blueprint(get_session: Callable[[], Session], get_site: Callable[[], SyncSite],
                   blobs: BlobStore, *, views: bool = True,
                   scan_site: Callable[[], ScanSite] | None = None) -> Blueprint:
    """Attach ``blobs`` to the app's engine; with ``views``, serve the material pages; with
    ``scan_site`` too, fetch a scan from the parent and serve one to a child."""
    bp = Blueprint("materials", __name__)

    def _attach(state: BlueprintSetupState) -> None:
        app = state.app
        assert isinstance(app, Flask)
        use_blob_store(engine_of(app), blobs)

    bp.record_once(_attach)
    if not views:
        return bp

    @bp.get("/materials/<sha256>")
    @require_user(*VIEW_ROLES)
    def material_page(sha256: str) -> ResponseReturnValue:
        """The scan, or a page saying how much of it has arrived."""
        return _material(get_session(), blobs, sha256, api=False,
                         fetch=_fetcher(scan_site, blobs, sha256))

    @bp.get("/api/v1/materials/<sha256>")
    @require_user(*VIEW_ROLES)
    def material_api(sha256: str) -> ResponseReturnValue:
        """The scan, or 202 with how much of it has arrived."""
        return _material(get_session(), blobs, sha256, api=True,
                         fetch=_fetcher(scan_site, blobs, sha256))

    @bp.get("/materials/case/<uuid:case_id>/<int:index>")
    @require_user(*VIEW_ROLES)
    def case_material(case_id: uuid.UUID, index: int) -> ResponseReturnValue:
        """The ``index``-th scan of the case's registration, as the case page lists them;
        an operator reads only the cases of their own window, as on the case page."""
        session = get_session()
        site = get_site()
        state = case_work.case_state(session, site, case_id)
        claims = g.claims
        case_in_reach(claims, state.window)
        audit_view(engine_of_session(session), site=site.code, username=claims.username,
                   role=claims.role, case_id=case_id, now=datetime.now(UTC))
        materials = case_scans(case_work.case_events(session, site, case_id))
        sha256 = materials[index].get("sha256") if 0 <= index < len(materials) else None
        if not isinstance(sha256, str):
            return _not_found(api=False)
        return redirect(url_for(".material_page", sha256=sha256, case=case_id))

    if scan_site is not None:
        @bp.get(API_PATH)
        def relayed_scan(sha256: str) -> ResponseReturnValue:
            """A scan for a child's window user (the child's signature checked); 404 for
            anyone else and for a case that does not go down toward that child."""
            session, site = get_session(), scan_site()
            case_id = _case_arg()
            client = None
            if case_id is not None and is_sha256_hex(sha256):
                client = relayed_client(session, site.sync_site, request.headers.get(HEADER),
                                        *relay_pair(sha256, case_id), site.clock())
            if case_id is None or client is None:
                return _not_found(api=True)
            found = scan_for_child(session, site, blobs, sha256, case_id, client)
            if found.status == 404:
                return _not_found(api=True)
            if found.status != 200:
                return _unavailable(found.message, api=True)
            return _send(blobs, sha256, "")

    return bp


Fetcher = Callable[[Session], ResponseReturnValue | None]


def _case_arg() -> uuid.UUID | None:
    try:
        return uuid.UUID(request.args.get("case", ""))
    except ValueError:
        return None


def _fetcher(scan_site: Callable[[], ScanSite] | None, blobs: BlobStore,
             sha256: str) -> Fetcher | None:
    """What fetches a scan this site lacks from its parent for the signed-in user, when it
    will not come up from below; None at a site that fetches nothing."""
    if scan_site is None:
        return None

    def fetch(session: Session) -> ResponseReturnValue | None:
        site = scan_site()
        wanted = wanted_here(session, site.sync_site, sha256, _case_arg())
        if wanted is None:
            return None
        claims = g.claims
        found = fetch_scan(session, site, blobs, sha256, wanted,
                           f"{claims.role}:{claims.username}")
        if found.status == 200:
            return _send(blobs, sha256, wanted.media_type)
        api = request.path.startswith("/api/")
        return _not_found(api=api) if found.status == 404 else _unavailable(found.message,
                                                                             api=api)

    return fetch


def case_scans(events: Sequence[CaseEvent]) -> list[Mapping[str, Any]]:
    """The case's scans in the order its page lists them (the index the scan links name):
    the registration's, then each added later (a late scan, a supplement answered at a
    village or online). Materials taken by reference (证照库) are no scans."""
    registered = next((e.payload for e in events if e.type is EventType.REGISTERED), {})
    found = [m for m in registered.get("materials") or []
             if isinstance(m, Mapping) and "reused" not in m]
    found += [e.payload for e in events
              if e.type is EventType.MATERIAL_ADDED and "sha256" in e.payload]
    return found


def _not_found(*, api: bool) -> ResponseReturnValue:
    if api:
        return error_response(404, "not_found", "no case held here names this material")
    page = _PAGE.format(refresh="", title="404 未找到 Not found",
                        text="本站没有引用此材料的办件。No case held here names this material.")
    return Response(page, status=404, mimetype="text/html")


def _unavailable(message: str, *, api: bool) -> Response:
    """503 with ``Retry-After``: the parent cannot give the scan now."""
    if api:
        response = error_response(503, "unavailable", message)
    else:
        response = Response(_PAGE.format(
            refresh="", title="503 暂时无法取得 Not available now",
            text=escape("此材料现在无法从上级中心取得,请稍后再试。" + message)),
            status=503, mimetype="text/html")
    response.headers["Retry-After"] = str(RETRY_AFTER)
    response.headers["Cache-Control"] = "no-store"
    return response


def _material(session: Session, blobs: BlobStore, sha256: str, *,
              api: bool, fetch: Fetcher | None = None) -> ResponseReturnValue:
    if not is_sha256_hex(sha256):
        return _not_found(api=api)
    record = store.blob_record(session, sha256)
    if blobs.has(sha256):
        return _send(blobs, sha256, record.media_type if record is not None else "")
    fetched = fetch(session) if fetch is not None else None
    if fetched is not None:
        return fetched
    if record is None:
        return _not_found(api=api)
    received = blobs.received(sha256)
    if api or request.accept_mimetypes.best == "application/json":
        response = jsonify({"sha256": sha256, "status": "on_its_way", "size": record.size,
                            "received": received, "media_type": record.media_type})
        response.status_code = 202
        response.headers["Retry-After"] = str(RELOAD_SECONDS)
        return response
    percent = 100 * received // record.size if record.size else 0
    page = _PAGE.format(
        refresh=f'<meta http-equiv="refresh" content="{RELOAD_SECONDS}">',
        title="材料传送中 On its way",
        text=escape(f"此材料仍在从受理点上传,已收到 {received} / {record.size} 字节"
                    f"({percent}%)。The scan is still on its way up: {received} of "
                    f"{record.size} bytes here. This page reloads itself."),
    )
    response = Response(page, status=202, mimetype="text/html")
    response.headers["Retry-After"] = str(RELOAD_SECONDS)
    return response


def _send(blobs: BlobStore, sha256: str, declared: str) -> Response:
    """The file, typed by what its events declare (or its magic bytes), never guessed by the
    browser; scans hold personal data, so nothing keeps a copy on the way."""
    data = blobs.get(sha256)  # opened here: the file on disk is sealed
    media_type = declared if declared in ACCEPTED_TYPES else None
    if media_type is None:
        media_type = sniff_media_type(data[:16])
    response = send_file(io.BytesIO(data), mimetype=media_type or "application/octet-stream",
                         as_attachment=media_type is None, download_name=sha256[:16],
                         etag=sha256, conditional=True, max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
