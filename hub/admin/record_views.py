"""Who opened which case's full record, when and why (the audit log of staff views), for
supervisors and admins: filtered by case, user and dates, newest first, a page at a time."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta

from flask import render_template, request
from flask.typing import ResponseReturnValue

from hub.admin.blueprint import VIEW_ROLES, bp, shanghai_time
from hub.db_session import get_session
from shared.domain.errors import InvalidInput
from shared.domain.working_days import SHANGHAI
from shared.storage.record_views import recent_views
from shared.web.sign_in import require_user
from sync_protocol.times import to_ms

PAGE_ROWS = 50
MAX_PAGE = 10_000


def _day_ms(value: str, field: str, *, end: bool = False) -> int | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(field, "must be a date, YYYY-MM-DD") from None
    if end:
        day += timedelta(days=1)
    return to_ms(datetime.combine(day, time(), SHANGHAI))


@bp.get("/admin/record-views")
@require_user(*VIEW_ROLES)
def record_views() -> ResponseReturnValue:
    """The audit log of full-record views."""
    args = request.args
    case_text = args.get("case_id", "").strip()
    try:
        case_id = uuid.UUID(case_text) if case_text else None
    except ValueError:
        raise InvalidInput("case_id", "must be a case id (UUID)") from None
    username = args.get("username", "").strip()[:64]
    page_text = args.get("page", "1")
    page = min(int(page_text), MAX_PAGE) if page_text.isdigit() and int(page_text) > 0 else 1
    rows = recent_views(get_session(), case_id=case_id, username=username or None,
                        since_ms=_day_ms(args.get("from", ""), "from"),
                        until_ms=_day_ms(args.get("to", ""), "to", end=True),
                        limit=PAGE_ROWS + 1, offset=(page - 1) * PAGE_ROWS)
    shown = [(shanghai_time(v.at_ms), v) for v in rows[:PAGE_ROWS]]
    return render_template("admin/record_views.html", rows=shown, page=page,
                           more=len(rows) > PAGE_ROWS, case_id=case_text, username=username,
                           since=args.get("from", ""), until=args.get("to", ""))
