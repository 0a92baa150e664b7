"""The public service guide (办事指南): every item of the catalogue, searchable, in Chinese.

No login: this is what a citizen or an agent opens to learn which materials to bring, what it
costs, how long it takes and who decides. Pages are plain HTML with one small stylesheet, so
they load over a 64 kbit/s link.
"""

from __future__ import annotations

from collections import defaultdict

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from hub.app import services
from shared.catalogue import Authority, DecidingTier, ItemKind, ServiceItem, search_items

bp = Blueprint("guide", __name__)

KIND_NAMES: dict[str, str] = {
    ItemKind.IMMEDIATE: "即办件",
    ItemKind.PROMISED: "承办件",
    ItemKind.JOINT: "联办件",
    ItemKind.REPORT_UP: "上报件",
}
TIER_NAMES: dict[str, str] = {
    DecidingTier.TOWNSHIP: "乡镇(街道)",
    DecidingTier.COUNTY: "县(市、区)",
    DecidingTier.CITY: "市级",
    DecidingTier.EXTERNAL: "上级机关",
}
AUTHORITY_NAMES: dict[str, str] = {
    Authority.DECISION: "审批决定权",
    Authority.REVIEW_REPORT: "审核上报权",
    Authority.PRELIMINARY: "初审及组织办理权",
}


def yuan(fen: int) -> str:
    """An amount in fen written in yuan, e.g. ``12.50 元``."""
    return f"{fen // 100}.{fen % 100:02d} 元"


@bp.app_template_global()
def guide_names() -> dict[str, dict[str, str]]:
    return {"kind": KIND_NAMES, "tier": TIER_NAMES, "authority": AUTHORITY_NAMES}


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
    return render_template(
        "guide_list.html",
        catalogue=catalogue,
        departments=departments,
        query=query,
        count=len(items),
    )


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
