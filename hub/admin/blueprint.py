"""The ``admin`` blueprint and what its areas share: who may look and who may change, the
refusal page, how a form field or a page offset is read, and how a time or a code is shown.

It lives apart from :mod:`hub.admin` so the area modules import it without importing the
package that imports them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from flask import Blueprint, request

from shared.domain.errors import DomainError
from shared.domain.working_days import SHANGHAI
from shared.web.i18n import t
from shared.web.pages import no_store, refusal_page, signed_in

bp = Blueprint("admin", __name__)
bp.register_error_handler(
    DomainError, lambda exc: refusal_page("admin/base.html", exc, "adm"))
bp.after_request(no_store)

VIEW_ROLES = ("admin", "supervisor")
EDIT_ROLE = "admin"


def is_admin() -> bool:
    """Whether the signed-in user may change things (a supervisor only looks)."""
    return signed_in().role == EDIT_ROLE


def problems_of(exc: DomainError) -> dict[str, str]:
    """Every problem a refusal names, field by field (the summary when it names none)."""
    return dict(exc.fields) or {"": exc.reason}


def form_field(name: str, limit: int = 200) -> str:
    """A submitted form field, trimmed and cut to ``limit`` characters."""
    return request.form.get(name, "").strip()[:limit]


def page_start(value: str | None) -> int:
    """A page offset from the query string; anything odd is the first page."""
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0


def shanghai_time(ms: int | None) -> str | None:
    """Epoch milliseconds as Asia/Shanghai time, the way the centre reads clocks."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(SHANGHAI).strftime(
        "%Y-%m-%d %H:%M")


def names_by_code(prefix: str, codes: Sequence[str]) -> dict[str, str]:
    """``code -> name`` in this request's language, from the ``prefix.code`` texts."""
    return {code: t(f"{prefix}.{code}") for code in codes}
