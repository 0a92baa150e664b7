"""The access rules of the blueprints every app mounts (sign-in, the window desk and its
API, scans), written once for the hub's and the nodes' tables
(:mod:`shared.web.access_policy`). The roles come from the blueprints themselves, so a
table and the view's own check cannot drift apart."""

from __future__ import annotations

from shared.web.access_policy import OPEN, SIGNED_IN, Policy, roles
from shared.web.finance_views import READERS, REGISTRARS
from shared.web.scans_endpoint import VIEW_ROLES
from shared.web.supervision_views import OVERSEERS
from shared.web.window_pages import ROLES

WINDOW_STAFF = roles(*ROLES)
SCAN_READERS = roles(*VIEW_ROLES)

SIGN_IN_POLICY: Policy = {
    "auth.issue_token": OPEN,
    "auth.login_form": OPEN,
    "auth.login_submit": OPEN,
    "auth.logout": OPEN,
    "auth.revoke_own_tokens": SIGNED_IN,
}

ADAPTOR_POLICY: Policy = {
    # the smart adaptor's API (shared.web.adaptor_views): public, like the catalogue
    "adaptors.list_adaptors": OPEN,
    "adaptors.resolve_answers": OPEN,
}

PUBLIC_STATUS_POLICY: Policy = {
    # the citizens' status lookup, page and API (shared.web.public_status): no login
    "public.status_page": OPEN,
    "public.status_api": OPEN,
    # whether a result document is genuine, page and API (shared.web.document_check)
    "document_check.verify_page": OPEN,
    "document_check.verify_api": OPEN,
}

WINDOW_POLICY: Policy = {
    "window_api.queue": WINDOW_STAFF,
    "window_api.reassign": WINDOW_STAFF,
    "window_api.action": WINDOW_STAFF,
    "windows.index": WINDOW_STAFF,
    "windows.queue": WINDOW_STAFF,
    "windows.reassign": WINDOW_STAFF,
    "windows.case_page": WINDOW_STAFF,
    "windows.act": WINDOW_STAFF,
    "windows.result_pdf": WINDOW_STAFF,
    "rating.tablet": WINDOW_STAFF,  # the rating page at the window (shared.web.rating_pages)
    "rating.submit": WINDOW_STAFF,
    "rating.thanks": WINDOW_STAFF,
    "materials.material_page": SCAN_READERS,
    "materials.material_api": SCAN_READERS,
    "materials.case_material": SCAN_READERS,
}
"""The window desk, the window API (without the case JSON, which only the hub mounts) and
the scans of a deciding site."""

SUPERVISION_POLICY: Policy = {
    "supervision.signals": roles(*OVERSEERS),
    "supervision.report": roles(*OVERSEERS),
    "supervision.report_page": roles(*OVERSEERS),
    "supervision.dashboard": roles(*OVERSEERS),
    "rating_figures.page": roles(*OVERSEERS),  # shared.web.rating_views
    "supervision.trace_page": SIGNED_IN,  # one's own; the view lets overseers read anyone's
    "supervision.board": OPEN,
}
"""Electronic supervision at a deciding site: supervisors' and admins'; the hall's board is
public (today's figures, no case, no person)."""

FINANCE_POLICY: Policy = {
    # fees under receipt control (shared.web.finance_views)
    "finance.add_book": roles(*REGISTRARS),
    "finance.books": roles(*READERS),
    "finance.statement": roles(*READERS),
    "finance.today": roles(*READERS),
    "finance.statement_page": roles(*READERS),
}
"""Receipt books and the daily fee statement at a deciding site: supervisors and admins
register the books; finance clerks (their own window's), supervisors and admins read."""
