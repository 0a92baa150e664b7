"""The intake pages: pick an item, fill the form generated from its definition, register.

No JavaScript: searching is a GET, reading the ID card is a submit button that re-renders
the form with the card's fields, and a refused form comes back with every value kept and
each message beside its field. The form carries a hidden idempotency key, so a second click
on a slow link finds the case the first one created.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from marshmallow import ValidationError
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from node.api_schemas import IDEMPOTENCY_KEY
from node.auth import current_actor
from node.db_session import get_session
from node.i18n import t
from node.id_reader import ReaderUnavailable
from node.intake import IntakeRequest, check_request, register_case
from node.materials import CheckedFile, check_upload, material_of
from node.services import services
from shared.domain.application import DELIVERIES
from shared.domain.catalogue import ServiceItem, search_items
from shared.domain.composites import search_composites
from shared.domain.errors import DomainError, NotFound, Problems
from shared.web.adaptor_views import families_of, render_wizard

bp = Blueprint("intake", __name__)
MAX_LISTED_ITEMS = 40


@bp.get("/")
def home() -> Response:
    return redirect(url_for("cases.list_cases"))


@bp.get("/intake")
def pick() -> str:
    query = request.args.get("q", "")[:50]
    catalogue = services().catalogue
    items = search_items(catalogue, query)[:MAX_LISTED_ITEMS]
    suggested, families = families_of(catalogue, query)
    return render_template("intake_pick.html", items=items, q=query, suggested=suggested,
                           families=families, family_url=_family_url,
                           one_forms=search_composites(catalogue, query))


def _family_url(code: str) -> str:
    return url_for("intake.adapt", code=code)


@bp.get("/intake/adapt/<code>")
def adapt(code: str) -> str:
    """The smart adaptor's wizard: the agent asks the applicant a few questions and the
    family's decision table names the procedure to register, and why."""
    return render_wizard("intake_adapt.html", services().catalogue, code,
                         lambda item_code: url_for("intake.form", item_code=item_code),
                         apply_text=t("adapt_register"))


def _item(item_code: str) -> ServiceItem:
    try:
        return services().catalogue.item(item_code)
    except NotFound:
        abort(404)


def _render(
    item: ServiceItem,
    *,
    values: dict[str, str],
    errors: dict[str, str],
    key: str,
    kind: str,
    card_message: str = "",
    status: int = 200,
) -> tuple[str, int]:
    page = render_template(
        "intake_form.html",
        item=item,
        values=values,
        errors=errors,
        idempotency_key=key,
        kind=kind,
        deliveries=DELIVERIES,
        card_message=card_message,
    )
    return page, status


@bp.get("/intake/<item_code>")
def form(item_code: str) -> tuple[str, int]:
    item = _item(item_code)
    kind = "company" if request.args.get("kind") == "company" else "person"
    return _render(item, values={}, errors={}, key=uuid.uuid4().hex, kind=kind)


def applicant_from_form(values: MultiDict[str, str]) -> dict[str, Any]:
    """The applicant as ``validate_applicant`` takes it, from ``applicant.*`` inputs."""
    kind = values.get("applicant.kind", "person")
    applicant: dict[str, Any] = {"kind": kind}

    def person(prefix: str) -> dict[str, str]:
        return {k: values.get(f"{prefix}.{k}", "").strip() for k in ("name", "id_number", "phone")}

    if kind == "company":
        applicant["name"] = values.get("applicant.name", "").strip()
        applicant["uscc"] = values.get("applicant.uscc", "").strip()
        applicant["legal_representative"] = person("applicant.legal_representative")
    else:
        applicant.update(person("applicant"))
    proxy = person("applicant.proxy")
    if any(proxy.values()):
        applicant["proxy"] = proxy
    return applicant


def form_from_form(item: ServiceItem, values: MultiDict[str, str]) -> dict[str, str]:
    """The item's form fields from ``form.<key>`` inputs; blanks are left out."""
    found: dict[str, str] = {}
    for field in item.form.fields:
        value = values.get(f"form.{field.key}", "")
        if value.strip():
            found[field.key] = value
    return found


def _uploads(item: ServiceItem, errors: dict[str, str]) -> list[CheckedFile]:
    checked: list[CheckedFile] = []
    for name, upload in request.files.items(multi=True):
        if not name.startswith("file.") or not upload.filename:
            continue
        try:
            material = material_of(item, name.removeprefix("file."), name)
            checked.append(check_upload(material, upload.stream, name))
        except DomainError as exc:
            errors[name] = exc.reason
    return checked


@bp.post("/intake/<item_code>")
def submit(item_code: str) -> Response | tuple[str, int]:
    item = _item(item_code)
    node = services()
    values = request.form
    kind = "company" if values.get("applicant.kind") == "company" else "person"
    key = values.get("idempotency_key", "")
    try:
        IDEMPOTENCY_KEY(key)
    except ValidationError:
        key = uuid.uuid4().hex
    kept = {k: v for k, v in values.items() if k != "idempotency_key"}
    if values.get("action") == "read_card":
        return _read_card(item, kept, key, kind)
    errors: dict[str, str] = {}
    files = _uploads(item, errors)
    intake = IntakeRequest(
        item_code=item.code,
        applicant=applicant_from_form(values),
        form=form_from_form(item, values),
        delivery=values.get("delivery", "village"),
        files=files,
    )
    if errors:
        try:
            check_request(node.intake_context(), intake, node.clock())
        except Problems as exc:
            errors.update(exc.fields)
        return _render(item, values=kept, errors=errors, key=key, kind=kind, status=400)
    for checked in files:
        node.blobs.put(checked.data)
    try:
        result = register_case(
            get_session(),
            node.intake_context(),
            intake,
            idempotency_key=key,
            actor=current_actor(),
            now=node.clock(),
        )
    except Problems as exc:
        return _render(item, values=kept, errors=exc.fields, key=key, kind=kind, status=400)
    except DomainError as exc:
        return _render(
            item,
            values=kept,
            errors=exc.fields,
            key=uuid.uuid4().hex,
            kind=kind,
            status=exc.http_status,
        )
    node.nudge_sync()
    return redirect(url_for("cases.show_case", case_id=result.case_id, registered=1), 303)


def _read_card(item: ServiceItem, kept: dict[str, str], key: str, kind: str) -> tuple[str, int]:
    try:
        card = services().reader.read()
    except ReaderUnavailable:
        return _render(
            item, values=kept, errors={}, key=key, kind=kind, card_message=t("reader_missing")
        )
    if card is None:
        return _render(item, values=kept, errors={}, key=key, kind=kind, card_message=t("no_card"))
    kept.update({"applicant.name": card.name, "applicant.id_number": card.id_number})
    return _render(
        item, values=kept, errors={}, key=key, kind="person", card_message=t("card_read")
    )
