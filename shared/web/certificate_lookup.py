"""``POST /api/v1/certificates/held`` at every site: which materials of an item the holder of
an ID number already has in the city's certificate store (证照库, docs/certificates.md), valid
today, each with the opaque reference a registration names instead of a scan.

The store is the hub's. A node answers by asking its parent once (which asks its own, up to
the hub), naming the agent who asked and vouching for the question with its site key as the
status lookup does (:mod:`shared.exchange.lookup_relay`): the signature covers the item and
the ID number, so the header stands for this question only. A parent admits a question from
a signed-in agent or admin of its own, or one a child vouched for; anyone else is 401. The
number travels in the JSON body, never in an address (so never in an access log), and the
answer is ``Cache-Control: no-store``. When the parent cannot be asked the answer is 503 with
``Retry-After``: the agent asks the applicant for the papers, as before the store existed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from flask import Blueprint, Response, jsonify, request
from marshmallow import RAISE, Schema, ValidationError, fields, validate
from sqlalchemy.orm import Session

from shared.domain.certificates import MAX_REUSE
from shared.domain.identity import validate_id_number
from shared.domain.working_days import local_date
from shared.exchange.lookup_relay import HEADER, relay_header, relayed_client
from shared.exchange.site import SyncSite
from shared.exchange.transport import TransportError, post_json
from shared.web.error_responses import error_response, flatten_messages
from shared.web.sign_in import current_claims

API_PATH = "/api/v1/certificates/held"
ASKERS = frozenset({"agent", "admin"})
PARENT_TIMEOUT = (5.0, 15.0)
"""Connect and read seconds for the one request to the parent: an applicant is waiting."""
RETRY_AFTER = 60
HELD_KEYS = frozenset({"material_code", "name", "ref", "source", "valid_until",
                       "recorded_at"})
"""The keys of one holding: only these are passed on from the parent."""


class HeldQuerySchema(Schema):
    """The body of ``POST /api/v1/certificates/held``."""

    class Meta:
        unknown = RAISE

    id_number = fields.String(required=True, validate=validate.Length(min=1, max=40))
    item_code = fields.String(required=True, validate=validate.Length(min=1, max=40))


class CertificateSite(Protocol):
    """What a site brings to the look-up."""

    @property
    def sync_site(self) -> SyncSite: ...

    def clock(self) -> datetime:
        """The site's wall clock (relay signatures carry it)."""

    def parent(self) -> tuple[str, str | bool] | None:
        """The parent's base URL and TLS verification, or None (the hub)."""

    def held(self, session: Session, id_number: str, item_code: str,
             asked_by: str) -> list[dict[str, Any]] | None:
        """The holdings from this site's own store (the look-up logged and committed), or
        None when the site keeps none and asks its parent. :class:`NotFound` for an item it
        does not know."""


def relay_pair(id_number: str, item_code: str) -> tuple[str, str]:
    """What a relay header signs in a status lookup's pair's place: the item and the number,
    marked as a certificate question's so no other lookup's header can stand for it."""
    return f"certificates:{item_code}", f"held:{id_number}"


def _asker(session: Session, site: CertificateSite, id_number: str,
           item_code: str) -> str | Response:
    """Who asks: a child's vouched-for agent (``<child>/<agent>``) or a signed-in agent or
    admin of this site (``role:username``); otherwise the refusal to send."""
    relay = request.headers.get(HEADER)
    if relay:
        what, whose = relay_pair(id_number, item_code)
        client = relayed_client(session, site.sync_site, relay, what, whose, site.clock())
        if client is not None:
            return client
    claims = current_claims()
    if claims is None:
        return error_response(401, "not_authenticated", "a valid bearer token is required")
    if claims.role not in ASKERS or claims.site != site.sync_site.code:
        return error_response(403, "not_permitted", f"role {claims.role} may not do this")
    return f"{claims.role}:{claims.username}"


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


UNREACHABLE = ("the certificate store cannot be asked now (the link to the centre above is "
               "down); ask the applicant for the papers")


@dataclass(frozen=True, slots=True)
class HeldAnswer:
    """What the parent said: 200 with the holdings, its 400 or 404 error as it gave it, or
    503 (``message`` says why) when it could not be asked or did not answer."""

    status: int
    held: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    answered_by: str = ""
    as_of: str = ""
    message: str = ""

    def response(self, item_code: str) -> Response:
        """The answer as this site's JSON response."""
        if self.status == 200:
            return _no_store(jsonify({"item_code": item_code, "held": self.held,
                                      "answered_by": self.answered_by, "as_of": self.as_of}))
        if self.error is not None:
            response = jsonify(self.error)
            response.status_code = self.status
            return _no_store(response)
        response = error_response(503, "unavailable", self.message)
        response.headers["Retry-After"] = str(RETRY_AFTER)
        return _no_store(response)


def ask_parent(site: CertificateSite, parent: tuple[str, str | bool], id_number: str,
               item_code: str, client: str) -> HeldAnswer:
    """One request to the parent for ``client`` (vouched for with this site's key)."""
    url, verify = parent
    what, whose = relay_pair(id_number, item_code)
    header = relay_header(site.sync_site.key, client, what, whose, site.clock())
    try:
        reply = post_json(url.rstrip("/") + API_PATH, headers={HEADER: header},
                          body={"id_number": id_number, "item_code": item_code},
                          verify=verify, timeout=PARENT_TIMEOUT)
    except TransportError:
        return HeldAnswer(503, message=UNREACHABLE)
    body = reply.body
    if reply.status == 200 and isinstance(body, dict) and isinstance(body.get("held"), list):
        held = [{k: h[k] for k in sorted(HELD_KEYS) if k in h}
                for h in body["held"] if isinstance(h, dict)]
        return HeldAnswer(200, held, answered_by=str(body.get("answered_by", "")),
                          as_of=str(body.get("as_of", "")))
    if reply.status in (400, 404) and isinstance(body, dict) and "error" in body:
        return HeldAnswer(reply.status, error=body)
    return HeldAnswer(503, message="the certificate store did not answer; ask the applicant "
                                   "for the papers")


def certificate_blueprint(site_of: Callable[[], CertificateSite],
                          session_of: Callable[[], Session]) -> Blueprint:
    """The look-up over ``site_of()``'s store, or its parent's."""
    bp = Blueprint("certificates", __name__)

    @bp.post(API_PATH)
    def held() -> Response:
        raw = request.get_json(silent=True)
        if not isinstance(raw, dict):
            return error_response(400, "invalid", "expected a JSON object",
                                  {"body": "must be a JSON object (Content-Type: "
                                           "application/json)"})
        try:
            body = HeldQuerySchema().load(raw)
        except ValidationError as exc:
            return error_response(400, "invalid", "id_number and item_code are required",
                                  flatten_messages(exc.messages))
        site, session = site_of(), session_of()
        # a bad number is an InvalidInput: 400 naming id_number, in the project's shape
        id_number = validate_id_number(body["id_number"], local_date(site.clock()))
        item_code = body["item_code"].strip()
        asker = _asker(session, site, id_number, item_code)
        if isinstance(asker, Response):
            return asker
        found = site.held(session, id_number, item_code, asker)
        if found is not None:
            return _no_store(jsonify({"item_code": item_code, "held": found,
                                      "answered_by": site.sync_site.code,
                                      "as_of": site.clock().isoformat()}))
        parent = site.parent()
        if parent is None:
            return HeldAnswer(503, message="this site keeps no certificate store and has no "
                                           "parent").response(item_code)
        return ask_parent(site, parent, id_number, item_code, asker).response(item_code)

    return bp


class ReuseSchema(Schema):
    """One ``reuse`` entry of ``POST /api/v1/cases``: a material taken from the store."""

    class Meta:
        unknown = RAISE

    material_code = fields.String(required=True, validate=validate.Length(min=1, max=32))
    ref = fields.String(required=True, validate=validate.Length(min=1, max=64))


def reuse_field() -> fields.List[Any]:
    """The ``reuse`` field of an application's body (empty by default)."""
    return fields.List(fields.Nested(ReuseSchema), load_default=list,
                       validate=validate.Length(max=MAX_REUSE))


def consent_field() -> fields.Boolean:
    """The ``reuse_consent`` field: the applicant agreed to the reuse (false by default)."""
    return fields.Boolean(load_default=False)
