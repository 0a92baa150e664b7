"""The public service guide (办事指南): every item of the catalogue, searchable, in Chinese
(English with ``?lang=en``: the catalogue carries both names of everything it lists).

No login: this is what a citizen or an agent opens to learn which materials to bring, what it
costs, how long it takes and who decides. Pages are plain HTML with one small stylesheet, so
they load over a 64 kbit/s link.
"""

from __future__ import annotations

from collections import defaultdict

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from hub.services import services
from shared.domain.catalogue import ServiceItem, search_items
from shared.web.adaptor_views import families_of, render_wizard
from shared.web.i18n import t

bp = Blueprint("guide", __name__)


def yuan(fen: int) -> str:
    """An amount in fen written in yuan, e.g. ``12.50`` (the page adds 元 or CNY)."""
    return f"{fen // 100}.{fen % 100:02d}"


@bp.get("/")
def home() -> Response:
    return redirect(url_for("guide.item_list"))


@bp.get("/guide")
def item_list() -> str:
    """Items grouped by department, or the items matching ``?q=`` (name, code, pinyin)."""
    catalogue = services().catalogue
    query = request.args.get("q", "").strip()[:50]
    items: list[ServiceItem] = search_items(catalogue, query) if query else list(catalogue.items)
    groups: dict[str, list[ServiceItem]] = defaultdict(list)
    for item in items:
        groups[item.department].append(item)
    departments = [(catalogue.department(code), groups[code]) for code in groups]
    suggested, families = families_of(catalogue, query)
    return render_template(
        "guide_list.html",
        catalogue=catalogue,
        departments=departments,
        query=query,
        count=len(items),
        suggested=suggested,
        families=families,
        family_url=lambda code: url_for("guide.adapt", code=code),
    )


@bp.get("/guide/adapt/<code>")
def adapt(code: str) -> str:
    """The smart adaptor's wizard for applicants: a few answers name the procedure and why,
    with a link to its guide (materials, limits, fees)."""
    return render_wizard("guide_adapt.html", services().catalogue, code,
                         lambda item_code: url_for("guide.item_page", code=item_code),
                         apply_text=t("guide.adapt_open"))


@bp.get("/guide/<code>")
def item_page(code: str) -> str:
    """One item: who decides, time limits, materials, fees, the form, refusal grounds."""
    catalogue = services().catalogue
    item = catalogue.item(code)
    return render_template(
        "guide_item.html",
        catalogue=catalogue,
        item=item,
        department=catalogue.department(item.department),
        window=catalogue.window(item.window),
        co_approvers=[catalogue.department(d) for d in item.co_approvers],
        fees=[
            (fee, yuan(fee.amount_fen) if fee.amount_fen is not None else None) for fee in item.fees
        ],
    )
