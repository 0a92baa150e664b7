"""The intake pages: pick an item, fill the form generated from its definition, register.

No JavaScript: searching is a GET, reading the ID card is a submit button that re-renders
the form with the card's fields, and a refused form comes back with every value kept and
each message beside its field. The form carries a hidden idempotency key, so a second click
on a slow link finds the case the first one created.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from flask import Blueprint, abort, redirect, render_template, request, url_for
from marshmallow import ValidationError
from werkzeug.wrappers import Response

from node.api_schemas import IDEMPOTENCY_KEY
from node.auth import current_actor
from node.certificates import NodeCertificateSite
from node.db_session import get_session
from node.i18n import t
from node.id_reader import ReaderUnavailable
from node.intake import IntakeRequest, check_request, register_case
from node.services import services
from shared.domain.application import DELIVERIES
from shared.domain.catalogue import ServiceItem, search_items
from shared.domain.certificates import holder_number
from shared.domain.composites import search_composites
from shared.domain.errors import DomainError, NotFound, Problems
from shared.web.adaptor_views import families_of, render_wizard
from shared.web.application_form import applicant_from_form, form_from_form, scans_from_form
from shared.web.certificate_lookup import ask_parent

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
    held_message: str = "",
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
        held=held_from_form(values),
        held_message=held_message,
        reuse_errors=[v for k, v in errors.items() if k.startswith("reuse")],
    )
    return page, status


@bp.get("/intake/<item_code>")
def form(item_code: str) -> tuple[str, int]:
    item = _item(item_code)
    kind = "company" if request.args.get("kind") == "company" else "person"
    return _render(item, values={}, errors={}, key=uuid.uuid4().hex, kind=kind)


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
    if values.get("action") == "find_held":
        return _find_held(item, kept, key, kind)
    errors: dict[str, str] = {}
    files = scans_from_form(item, request.files, errors)
    intake = IntakeRequest(
        item_code=item.code,
        applicant=applicant_from_form(values),
        form=form_from_form(item, values),
        delivery=values.get("delivery", "village"),
        files=files,
        reuse=reuse_from_form(item, values),
        reuse_consent=values.get("reuse_consent") == "yes",
        handover_station=values.get("handover_station", "").strip()[:12] or None,
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


HELD, REUSE = "held.", "reuse."
"""Hidden ``held.<code>`` inputs carry what the store answered (``ref|valid_until|source``),
so a re-rendered form still shows it; a ticked ``reuse.<code>`` box names the reference."""


def held_from_form(values: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """The holdings the store offered, by material code, as the form carries them."""
    found: dict[str, dict[str, str]] = {}
    for name, value in values.items():
        if name.startswith(HELD) and isinstance(value, str):
            ref, _, rest = value.partition("|")
            valid_until, _, source = rest.partition("|")
            found[name.removeprefix(HELD)] = {"ref": ref, "valid_until": valid_until,
                                              "source": source}
    return found


def reuse_from_form(item: ServiceItem, values: Mapping[str, str]) -> list[dict[str, str]]:
    """The materials the agent ticked to take from the store."""
    return [{"material_code": m.code, "ref": ref} for m in item.materials
            if (ref := values.get(REUSE + m.code, "").strip())]


def _find_held(item: ServiceItem, kept: dict[str, str], key: str,
               kind: str) -> tuple[str, int]:
    """Ask the certificate store (through the parent, up to the hub) what the applicant
    already holds for this item, and show it on the form, each material ticked for reuse."""
    kept = {k: v for k, v in kept.items() if not k.startswith((HELD, REUSE))}
    number = holder_number(applicant_from_form(request.form))
    field = "applicant.legal_representative.id_number" if kind == "company" \
        else "applicant.id_number"
    if not number:
        return _render(item, values=kept, errors={field: t("held_needs_id")}, key=key,
                       kind=kind, status=400)
    site = NodeCertificateSite(services())
    parent = site.parent()
    answer = ask_parent(site, parent, number, item.code, current_actor()) if parent else None
    if answer is None or answer.status == 503:
        return _render(item, values=kept, errors={}, key=key, kind=kind,
                       held_message=t("held_unavailable"))
    if answer.status != 200:
        problems = (answer.error or {}).get("error", {}).get("fields", {})
        errors = {field if name == "id_number" else name: str(reason)
                  for name, reason in problems.items()} or {field: t("held_needs_id")}
        return _render(item, values=kept, errors=errors, key=key, kind=kind, status=400)
    for held in answer.held:
        code, ref = str(held.get("material_code", "")), str(held.get("ref", ""))
        kept[HELD + code] = f"{ref}|{held.get('valid_until') or ''}|{held.get('source', '')}"
        kept[REUSE + code] = ref
    message = t("held_found").format(n=len(answer.held)) if answer.held else t("held_none")
    return _render(item, values=kept, errors={}, key=key, kind=kind, held_message=message)


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
