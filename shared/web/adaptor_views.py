"""The smart adaptor (智能适配) on the web, the same at the hub and at every node.

``GET /api/v1/catalog/adaptors`` lists the families of the catalogue in force with their
questions and choices; ``POST /api/v1/catalog/adaptors/<code>/resolve`` takes
``{"answers": {question: choice}}`` and says which procedure applies and why (400 naming each
bad or missing answer, 404 for an unknown family). A front desk or any program asks these.

The wizard page is one GET form of radio buttons (no JavaScript, a few kilobytes, one round
trip on a slow link): :func:`wizard_of` reads the answers from the query string and
:func:`render_wizard` renders the app's own page, which extends the app's base and includes
``adapt/wizard.html``; the app says only where a chosen procedure leads (the intake form at a
node, the service guide at the hub). ``adapt/families.html`` lists the families for the
app's pick page, the ones a search points to first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request
from marshmallow import RAISE, Schema, fields, validate

from shared.domain.adaptors import (
    Adapted,
    Procedure,
    adapt,
    adapted_api_dict,
    adaptor_api_dict,
    procedures,
    search_adaptors,
    situation_count,
)
from shared.domain.catalogue import Adaptor, Catalogue
from shared.domain.errors import InvalidInput, Problems
from shared.web.i18n import Messages, add_messages, locale_name

MAX_ANSWERS = 20
"""More answers than any family asks questions (the proof bounds a table at 4096
combinations, so at most 12 questions of two choices): a body with more is refused whole."""

MESSAGES: Messages = {
    "adapt.families": ("智能适配:不知道该办哪一项?回答几个问题", "Not sure which procedure? "
                       "Answer a few questions"),
    "adapt.suggested": ("您要办的可能是以下一类事项,回答几个问题即可确定具体事项:",
                        "What you are looking for may be one of these families; a few "
                        "answers choose the procedure:"),
    "adapt.family_line": ("{situations} 种情形 · {procedures} 个事项",
                          "{situations} situations · {procedures} procedures"),
    "adapt.start": ("开始回答", "Start"),
    "adapt.title": ("智能适配", "Find the procedure"),
    "adapt.intro": ("请回答下列问题,系统将告诉您应办理哪一项事项及其依据。",
                    "Answer the questions below: the system tells you which procedure "
                    "applies, and why."),
    "adapt.submit": ("确定事项", "Find the procedure"),
    "adapt.unanswered": ("请选择一项", "Choose one"),
    "adapt.not_a_choice": ("不是可选的答案,请重新选择", "Not one of the choices: choose again"),
    "adapt.result": ("应办理的事项", "The procedure that applies"),
    "adapt.why": ("依据", "Why"),
    "adapt.your_answers": ("您的回答", "Your answers"),
    "adapt.change": ("修改回答", "Change the answers"),
    "adapt.by_hand": ("自行选择事项", "Choose a procedure yourself"),
    "adapt.by_hand_hint": ("已清楚要办哪一项,可直接选择:", "If you already know which "
                           "procedure applies, choose it here:"),
    "adapt.days": ("承诺 {n} 个工作日", "promised in {n} working days"),
}


class ResolveSchema(Schema):
    """The body of ``POST /api/v1/catalog/adaptors/<code>/resolve``: one answer per question
    (each answer is checked against the family's choices by :func:`adapt`)."""

    class Meta:
        unknown = RAISE

    answers = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=40)),
                          values=fields.Raw(allow_none=True), required=True,
                          validate=validate.Length(max=MAX_ANSWERS))


class LangSchema(Schema):
    """The query string of both endpoints: the language of the texts."""

    class Meta:
        unknown = RAISE

    lang = fields.String(load_default="zh", validate=validate.OneOf(("zh", "en")))


def resolve(catalogue: Catalogue, code: str, answers: Mapping[str, object]) -> Adapted:
    """:func:`adapt`, with each bad answer named as the body names it (``answers.<key>``)."""
    try:
        return adapt(catalogue, code, answers)
    except Problems as exc:
        raise Problems({f"answers.{key}": reason for key, reason in exc.fields.items()},
                       "the answers do not choose a procedure") from exc


def adaptor_blueprint(catalogue_of: Callable[[], Catalogue]) -> Blueprint:
    """The adaptor's API and the wizard's texts and templates for an app whose catalogue in
    force ``catalogue_of`` gives."""
    bp = Blueprint("adaptors", __name__, url_prefix="/api/v1", template_folder="templates")

    @bp.record_once
    def _texts(state: Any) -> None:
        add_messages(state.app, MESSAGES)

    @bp.get("/catalog/adaptors")
    def list_adaptors() -> Response:
        """Every family with its questions, choices and procedures (``?lang=en``)."""
        lang = LangSchema().load(request.args.to_dict())["lang"]
        catalogue = catalogue_of()
        return jsonify({"version": catalogue.version,
                        "adaptors": [adaptor_api_dict(catalogue, a, lang)
                                     for a in catalogue.adaptors]})

    @bp.post("/catalog/adaptors/<code>/resolve")
    def resolve_answers(code: str) -> Response:
        """The one procedure the answers choose, and why."""
        lang = LangSchema().load(request.args.to_dict())["lang"]
        catalogue = catalogue_of()
        catalogue.adaptor(code)  # 404 for an unknown family before the body is read
        body = request.get_json(silent=True)
        if body is None:
            raise InvalidInput("body", "must be a JSON object (Content-Type: application/json)")
        answers = ResolveSchema().load(body)["answers"]
        return jsonify(adapted_api_dict(resolve(catalogue, code, answers), lang))

    return bp


# --- the wizard page ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Wizard:
    """What the wizard page shows: the questions with the answers given so far, a message
    beside each question still to answer, and, once every answer is in, the procedure."""

    adaptor: Adaptor
    chosen: Mapping[str, str]
    errors: Mapping[str, str]
    adapted: Adapted | None
    procedures: list[Procedure]
    situations: int
    explanation: list[tuple[str, str]] = field(default_factory=list)


def wizard_of(catalogue: Catalogue, code: str, args: Mapping[str, str]) -> Wizard:
    """The wizard of family ``code`` (:class:`NotFound` when there is none) with the answers
    in ``args``. Nothing is marked missing until the form was sent once (any answer, or
    ``go``), so the first view is a clean form."""
    adaptor = catalogue.adaptor(code)
    keys = [q.key for q in adaptor.questions]
    given = {key: args[key] for key in keys if args.get(key)}
    errors: dict[str, str] = {}
    adapted: Adapted | None = None
    if given or "go" in args:
        try:
            adapted = adapt(catalogue, code, given)
        except Problems as exc:
            errors = {key: "adapt.unanswered" if reason == "required" else "adapt.not_a_choice"
                      for key, reason in exc.fields.items()}
    chosen = {key: value for key, value in given.items() if key not in errors}
    return Wizard(adaptor, chosen, errors, adapted, procedures(catalogue, adaptor),
                  situation_count(adaptor),
                  adapted.explanation(locale_name()) if adapted else [])


def render_wizard(template: str, catalogue: Catalogue, code: str,
                  apply_url: Callable[[str], str], **context: Any) -> str:
    """The app's wizard page ``template`` for family ``code`` with this request's answers;
    ``apply_url(item_code)`` is where a procedure leads (the result's button and the
    by-hand list)."""
    wizard = wizard_of(catalogue, code, request.args.to_dict())
    return render_template(template, wizard=wizard, apply_url=apply_url, **context)


@dataclass(frozen=True, slots=True)
class Family:
    """One family on a pick page: its size, for the line under its name."""

    adaptor: Adaptor
    situations: int
    procedures: int


def families_of(catalogue: Catalogue, query: str) -> tuple[list[Family], list[Family]]:
    """The families ``query`` points to (best first) and every family, for
    ``adapt/families.html``."""
    def family(adaptor: Adaptor) -> Family:
        return Family(adaptor, situation_count(adaptor), len({r.item for r in adaptor.rules}))

    return ([family(a) for a in search_adaptors(catalogue, query)],
            [family(a) for a in catalogue.adaptors])
