"""The one-form pages (一表制): the agent fills one form for a composite and registers one
case per part; the parent's page follows the parts.

The form is the intake form (``intake_form.html``) fed with the composite's merged fields and
materials, so it looks and behaves like any item's: no JavaScript, every value kept and each
message beside its field when something is refused, a hidden idempotency key against a
second click. Above it the page says which departments' cases it registers and how many
fields and materials the applicant is spared.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, abort, redirect, render_template, request, url_for
from marshmallow import ValidationError
from sqlalchemy import select
from werkzeug.wrappers import Response

from node.api_schemas import IDEMPOTENCY_KEY
from node.auth import current_actor
from node.bundle_intake import (
    OneFormRequest,
    check_one_form_request,
    one_form_part_ids,
    register_one_form,
)
from node.case_summary import query_code_of
from node.db_session import get_session
from node.models import NodeCase
from node.services import services
from shared.deciding.parent_cases import parent_status, parse_bundle_id
from shared.domain.application import DELIVERIES
from shared.domain.catalogue import Bilingual
from shared.domain.composites import OneFormView, one_form_view
from shared.domain.errors import DomainError, NotFound, Problems
from shared.web.application_form import applicant_from_form, scans_from_form
from shared.web.i18n import locale_name

bp = Blueprint("one_form", __name__)


def _page(code: str) -> OneFormView:
    catalogue = services().catalogue
    try:
        composite = catalogue.composite(code)
    except NotFound:
        abort(404)
    return one_form_view(catalogue, composite)


def _render(page: OneFormView, *, values: dict[str, str], errors: dict[str, str], key: str,
            kind: str, status: int = 200) -> tuple[str, int]:
    return render_template("intake_form.html", item=page, one_form=page, values=values,
                           errors=errors, idempotency_key=key, kind=kind,
                           deliveries=DELIVERIES, card_message="", held={},
                           reuse_errors=[]), status


@bp.get("/intake/one/<code>")
def form(code: str) -> tuple[str, int]:
    page = _page(code)
    kind = "company" if request.args.get("kind") == "company" else "person"
    return _render(page, values={}, errors={}, key=uuid.uuid4().hex, kind=kind)


@bp.post("/intake/one/<code>")
def submit(code: str) -> Response | tuple[str, int]:
    page = _page(code)
    node = services()
    values = request.form
    kind = "company" if values.get("applicant.kind") == "company" else "person"
    key = values.get("idempotency_key", "")
    try:
        IDEMPOTENCY_KEY(key)
    except ValidationError:
        key = uuid.uuid4().hex
    kept = {k: v for k, v in values.items() if k != "idempotency_key"}
    errors: dict[str, str] = {}
    files = scans_from_form(page, request.files, errors)
    answers = {f.key: value for f in page.form.fields
               if (value := values.get(f"form.{f.key}", "").strip())}
    intake = OneFormRequest(page.code, applicant_from_form(values), answers,
                            values.get("delivery", "village"), files)
    try:
        if errors:
            check_one_form_request(node.intake_context(), intake, node.clock())
            return _render(page, values=kept, errors=errors, key=key, kind=kind, status=400)
        for held in files:
            node.blobs.put(held.data)
        result = register_one_form(get_session(), node.intake_context(), intake,
                                   idempotency_key=key, actor=current_actor(), now=node.clock())
    except Problems as exc:
        return _render(page, values=kept, errors={**errors, **exc.fields}, key=key, kind=kind,
                       status=400)
    except DomainError as exc:
        return _render(page, values=kept, errors=exc.fields, key=uuid.uuid4().hex, kind=kind,
                       status=exc.http_status)
    node.nudge_sync()
    return redirect(url_for("one_form.parent", bundle_id=result.bundle_id, registered=1), 303)


@bp.get("/bundles/<bundle_id>")
def parent(bundle_id: str) -> str:
    """The parent: its number, its parts with their states, complete when all are closed."""
    session = get_session()
    node = services()
    try:
        wanted = parse_bundle_id(bundle_id)
        ref, status = parent_status(session, node.sync_site, wanted,
                                    one_form_part_ids(session, wanted))
    except NotFound:
        abort(404)
    query_code = ""
    if request.args.get("registered") == "1":
        first = session.scalar(select(NodeCase).where(NodeCase.bundle_id == wanted)
                               .order_by(NodeCase.acceptance_no))
        query_code = query_code_of(first, node.sealer) if first is not None else ""
    own = set(session.scalars(select(NodeCase.case_id).where(NodeCase.bundle_id == wanted)))
    try:
        name = node.catalogue.composite(ref.composite).name
    except NotFound:
        name = Bilingual(ref.composite, ref.composite)
    names = {code: node.catalogue.item(code).name.get(locale_name())
             for code in ref.parts if _known(code)}
    return render_template("one_form_parent.html", ref=ref, status=status, name=name,
                           query_code=query_code, own=own, names=names)


def _known(item_code: str) -> bool:
    try:
        services().catalogue.item(item_code)
    except NotFound:
        return False
    return True
