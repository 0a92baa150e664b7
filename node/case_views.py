"""The pages the agent lives in: the case list with each case's stage, the case page with
its history, and the actions recorded there (a late scan, the hand-over of the result, the
citizen's rating), receipts, and the hand-over list of paper originals (移交清单)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from marshmallow import ValidationError
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from node.api_schemas import HandoverSchema, RatingSchema, TransferSchema
from node.auth import current_actor
from node.case_actions import (
    add_material,
    dispatch_originals,
    record_handover,
    record_rating,
)
from node.case_log import case_events, event_payload
from node.case_progress import ORIGINALS_DISPATCHED, RATED, STAGES, is_decided
from node.case_summary import (
    applicant_of,
    arrival,
    deadline_of,
    form_of,
    item_name,
    materials_of,
    missing_materials,
    outcome_of,
    query_code_of,
    receipt_data,
    referral_of,
    reused_materials,
)
from node.collected_here import is_collected_here
from node.db_session import get_session
from node.i18n import locale_name
from node.materials import check_upload, material_of
from node.models import NodeCase, NodeMaterial
from node.receipt_pdf import LAYOUTS, HandoverLine, render_handover_list, render_receipt
from node.services import services
from node.view_audit import audit_case_view
from shared.deciding import case_work
from shared.domain.catalogue import ServiceItem
from shared.domain.delivery import CARRIERS, HANDOVER_METHODS
from shared.domain.errors import DomainError, NotFound
from shared.domain.rating import CHANNELS, INDICATOR_NAMES, RATINGS
from shared.pdf.letter import Layout
from shared.pdf.result_document import render_result, result_document
from shared.pdf.supplement_notice import render_supplement_notice, supplement_notice
from shared.storage.sync_store import SyncEvent
from shared.web.error_responses import flatten_messages
from shared.web.pages import id_on_page, submitted_fields
from shared.web.window_texts import EVENT_NAMES

bp = Blueprint("cases", __name__)


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    catalogue = services().catalogue
    return {"item_name": lambda code: item_name(catalogue, code, locale_name())}


def _load(case_id: uuid.UUID) -> NodeCase:
    case = get_session().get(NodeCase, case_id)
    if case is None:
        abort(404)
    return case


@bp.get("/cases")
def list_cases() -> str:
    """Newest first, a page at a time; ``stage`` filters, ``before`` pages on."""
    node = services()
    stage = request.args.get("stage", "")
    statement = select(NodeCase).order_by(NodeCase.registered_at.desc())
    if stage in STAGES:
        statement = statement.where(NodeCase.stage == stage)
    before = request.args.get("before", "")
    if before:
        try:
            statement = statement.where(NodeCase.registered_at < datetime.fromisoformat(before))
        except ValueError:
            abort(400)
    page_size = node.settings.page_size
    cases = list(get_session().scalars(statement.limit(page_size + 1)))
    next_url = ""
    if len(cases) > page_size:
        args: dict[str, Any] = {"before": cases[page_size - 1].registered_at.isoformat()}
        if stage in STAGES:
            args["stage"] = stage
        next_url = url_for("cases.list_cases", **args)
    return render_template(
        "cases.html", cases=cases[:page_size], stage=stage, stages=STAGES, next_url=next_url
    )


def _page(case: NodeCase, *, error: str = "", status: int = 200) -> tuple[str, int]:
    node = services()
    session = get_session()
    lang = locale_name()
    applicant = applicant_of(case, node.sealer)
    person = applicant.get("legal_representative", applicant)
    form_values = form_of(case, node.sealer)
    form_rows: list[tuple[str, str]] = []
    item_materials: tuple[Any, ...] = ()
    try:
        # the item as the release the case was accepted under has it
        item = node.held_catalogue.for_case(case.catalogue_version).item(case.item_code)
        item_materials = item.materials
        for field in item.form.fields:
            if field.key in form_values:
                form_rows.append((field.label.get(lang), str(form_values[field.key])))
        missing = item.material_names(missing_materials(session, case, node.sealer), lang)
    except NotFound:
        missing = missing_materials(session, case, node.sealer)
    events = case_events(session, case.case_id)
    rated = any(e.type == RATED for e in events)
    referral = referral_of(session, case, node.sealer)
    collected_here = is_collected_here(case, node.settings.site_code)
    elsewhere = referral.get("handover") if referral is not None else None
    page = render_template(
        "case.html",
        case=case,
        registered=request.args.get("registered") == "1",
        query_code=query_code_of(case, node.sealer),
        applicant=applicant,
        masked_id=id_on_page(str(person.get("id_number", ""))),
        form_rows=form_rows,
        materials=materials_of(session, case),
        reused=reused_materials(session, case, node.sealer),
        item_materials=item_materials,
        missing=missing,
        events=events,
        event_names=EVENT_NAMES,
        outcome=outcome_of(session, case, node.sealer),
        deemed=any(e.type == "deemed_approved" for e in events),
        deadline=deadline_of(session, case, node.sealer),
        hub_receipt=arrival(session, case),
        referral=referral,
        collected_here=collected_here,
        can_hand_over=(is_decided(case.stage) and case.stage != "handed_over"
                       and elsewhere in (None, node.settings.site_code)),
        can_rate=is_decided(case.stage) and not rated,
        methods=HANDOVER_METHODS,
        carriers=CARRIERS,
        ratings=RATINGS,
        indicators=[(k, INDICATOR_NAMES[k]) for k in CHANNELS["village"]],
        error=error,
    )
    return page, status


@bp.get("/cases/<uuid:case_id>")
def show_case(case_id: uuid.UUID) -> tuple[str, int]:
    case = _load(case_id)
    audit_case_view(case.case_id)
    return _page(case)


def _after_action(case: NodeCase) -> WerkzeugResponse:
    return redirect(url_for("cases.show_case", case_id=case.case_id), 303)


def _describe(exc: DomainError | ValidationError) -> str:
    fields = exc.fields if isinstance(exc, DomainError) else flatten_messages(exc.messages)
    return "; ".join(f"{k}: {v}" for k, v in fields.items()) or str(exc)


@bp.post("/cases/<uuid:case_id>/materials")
def add_material_form(case_id: uuid.UUID) -> WerkzeugResponse | tuple[str, int]:
    case = _load(case_id)
    node = services()
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise NotFound("file", "choose a file")
        item = node.held_catalogue.for_case(case.catalogue_version).item(case.item_code)
        material = material_of(item, request.form.get("material_code", ""))
        checked = check_upload(material, upload.stream)
        node.blobs.put(checked.data)
        add_material(
            get_session(),
            case,
            checked,
            site=node.sync_site,
            actor=current_actor(),
            now=node.clock(),
        )
    except DomainError as exc:
        return _page(case, error=_describe(exc), status=exc.http_status)
    return _after_action(case)


@bp.post("/cases/<uuid:case_id>/handover")
def hand_over(case_id: uuid.UUID) -> WerkzeugResponse | tuple[str, int]:
    case = _load(case_id)
    node = services()
    try:
        data = HandoverSchema().load(submitted_fields())
        record_handover(
            get_session(),
            case,
            method=data["method"],
            receiver_name=data["receiver_name"],
            courier={k: data[k] for k in ("carrier", "tracking_no", "address")}
            if data["method"] == "courier" else None,
            site=node.sync_site,
            actor=current_actor(),
            now=node.clock(),
        )
    except ValidationError as exc:
        return _page(case, error=_describe(exc), status=400)
    except DomainError as exc:
        return _page(case, error=_describe(exc), status=exc.http_status)
    return _after_action(case)


@bp.post("/cases/<uuid:case_id>/rating")
def rate(case_id: uuid.UUID) -> WerkzeugResponse | tuple[str, int]:
    case = _load(case_id)
    node = services()
    try:
        data = RatingSchema().load({k: v for k, v in submitted_fields().items()
                                    if v or k not in CHANNELS["village"]})  # blank: unscored
        record_rating(
            get_session(),
            case,
            rating=data["rating"],
            comment=data["comment"],
            indicators={k: data[k] for k in CHANNELS["village"] if data.get(k) is not None},
            site=node.sync_site,
            actor=current_actor(),
            now=node.clock(),
        )
    except ValidationError as exc:
        return _page(case, error=_describe(exc), status=400)
    except DomainError as exc:
        return _page(case, error=_describe(exc), status=exc.http_status)
    return _after_action(case)


@bp.get("/cases/<uuid:case_id>/receipt.pdf")
def receipt(case_id: uuid.UUID) -> Response:
    case = _load(case_id)
    audit_case_view(case.case_id)
    layout = request.args.get("layout", "a4")
    if layout not in LAYOUTS:
        abort(400)
    node = services()
    if is_collected_here(case, node.settings.site_code):
        # the query code never leaves the registering station: its receipt is printed there
        abort(409, description="the receipt is printed at the station that registered it")
    data = receipt_data(
        get_session(),
        case,
        node.held_catalogue.for_case(case.catalogue_version),
        node.sealer,
        site_name=node.settings.site_name,
        public_base_url=node.settings.public_base_url,
    )
    pdf = render_receipt(data, layout, node.fonts)
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{case.acceptance_no}-{layout}.pdf"'},
    )


@bp.get("/cases/<uuid:case_id>/result.pdf")
def result(case_id: uuid.UUID) -> Response:
    """The result document, drawn here from the case's events as they came down (the
    deciding site's decision, or 超时默认许可 when its legal time limit ran out), so the agent
    hands the citizen the same document the deciding window prints: the decision document,
    or the refusal notice (不予受理 / 不予许可决定书) of a refusal; A4 or 80 mm
    (``layout``)."""
    case = _load(case_id)
    layout = _layout()
    node = services()
    events = case_work.case_events(get_session(), node.sync_site, case.case_id)
    catalogue = node.held_catalogue.for_case(case.catalogue_version)
    try:
        item = catalogue.item(case.item_code)
        item_name = item.name.zh  # the official document is in Chinese
        issuer = catalogue.department(item.department).name.zh
    except DomainError:
        item_name = issuer = ""
    try:
        document = result_document(events, site_name=issuer, item_name=item_name)
    except ValueError:
        raise NotFound("case_id", "the case has no decision yet") from None
    audit_case_view(case.case_id)
    pdf = render_result(document, node.fonts, layout=layout,
                        public_base_url=node.settings.public_base_url)
    return _pdf(pdf, f"{case.acceptance_no}-result-{layout}.pdf")


def _layout() -> Layout:
    """The ``layout`` query argument: A4 (the default) or the 80 mm roll."""
    layout = request.args.get("layout", "a4")
    if layout not in LAYOUTS:
        abort(400)
    return layout


def _pdf(data: bytes, filename: str) -> Response:
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{filename}"'})


@bp.get("/cases/<uuid:case_id>/supplement.pdf")
def supplement(case_id: uuid.UUID) -> Response:
    """The one-time notice of missing materials (一次性告知书) the deciding window sent down,
    printed here for the applicant, A4 or 80 mm (``layout``)."""
    case = _load(case_id)
    layout = _layout()
    node = services()
    events = case_work.case_events(get_session(), node.sync_site, case.case_id)
    catalogue = node.held_catalogue.for_case(case.catalogue_version)
    try:
        item: ServiceItem | None = catalogue.item(case.item_code)
        issuer = catalogue.department(item.department).name.zh if item else ""
    except DomainError:
        item, issuer = None, ""
    try:
        notice = supplement_notice(events, site_name=issuer, item=item)
    except ValueError:
        raise NotFound("case_id", "no supplement was asked for this case") from None
    audit_case_view(case.case_id)
    pdf = render_supplement_notice(notice, node.fonts, layout=layout,
                                   public_base_url=node.settings.public_base_url)
    return _pdf(pdf, f"{case.acceptance_no}-supplement-{layout}.pdf")


def _awaiting_transfer() -> list[NodeCase]:
    """Cases with materials whose originals are not on any hand-over list yet."""
    session = get_session()
    dispatched = select(SyncEvent.case_id).where(SyncEvent.type == ORIGINALS_DISPATCHED)
    with_materials = select(NodeMaterial.case_id)
    statement = (
        select(NodeCase)
        .where(NodeCase.case_id.in_(with_materials), NodeCase.case_id.not_in(dispatched))
        .order_by(NodeCase.registered_at)
        .limit(200)
    )
    return list(session.scalars(statement))


@bp.route("/transfer", methods=["GET", "POST"])
def transfer() -> WerkzeugResponse | tuple[str, int]:
    if request.method == "GET":
        return render_template("transfer.html", cases=_awaiting_transfer(), error=""), 200
    node = services()
    session = get_session()
    try:
        data = TransferSchema().load(
            {
                "case_ids": request.form.getlist("case_ids"),
                "destination": request.form.get("destination", ""),
            }
        )
        cases = [_load(case_id) for case_id in data["case_ids"]]
        list_id = dispatch_originals(
            session,
            cases,
            destination=data["destination"],
            site=node.sync_site,
            actor=current_actor(),
            now=node.clock(),
        )
    except (ValidationError, DomainError) as exc:
        page = render_template("transfer.html", cases=_awaiting_transfer(), error=_describe(exc))
        return page, 400
    return redirect(url_for("cases.transfer_pdf", list_id=list_id), 303)


@bp.get("/transfer/<uuid:list_id>.pdf")
def transfer_pdf(list_id: uuid.UUID) -> Response:
    node = services()
    session = get_session()
    lines: list[HandoverLine] = []
    destination, at = "", None
    events = session.scalars(
        select(SyncEvent)
        .where(SyncEvent.type == ORIGINALS_DISPATCHED)
        .order_by(SyncEvent.id.desc())
        .limit(2000)
    )
    for event in events:
        payload = event_payload(event, node.sealer)
        if payload.get("list_id") != str(list_id):
            continue
        case = _load(event.case_id)
        destination, at = str(payload.get("destination", "")), event.at
        item = node.catalogue.item(case.item_code) if case.item_code else None
        names = [
            (m.name.zh if item and (m := item.material(code)) else code)
            for code in payload.get("materials", [])
        ]
        applicant = applicant_of(case, node.sealer)
        lines.append(
            HandoverLine(
                case.acceptance_no,
                item_name(node.catalogue, case.item_code),
                str(applicant.get("name", "")),
                names,
            )
        )
    if at is None:
        abort(404)
    lines.reverse()
    pdf = render_handover_list(
        site_name=node.settings.site_name,
        destination=destination,
        list_id=str(list_id),
        at=at,
        lines=lines,
        fonts=node.fonts,
    )
    return Response(pdf, mimetype="application/pdf")
