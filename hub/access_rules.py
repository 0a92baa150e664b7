"""The hub's access table: who may call each endpoint (see :mod:`shared.web.access_policy`).

Every endpoint of the hub app is named here; one that is not is refused to everyone.
"""

from __future__ import annotations

from shared.web.access_policy import OPEN, SIGNED_IN, Policy, roles

ADMIN_VIEW = roles("supervisor", "admin")
ADMIN_EDIT = roles("admin")
WINDOW_STAFF = roles("window_operator", "finance", "supervisor", "admin")
SCAN_READERS = roles("window_operator", "supervisor", "admin")

POLICY: Policy = {
    # signing in, the citizens' guide, calendar and status lookup, probes
    "auth.issue_token": OPEN,
    "auth.login_form": OPEN,
    "auth.login_submit": OPEN,
    "auth.logout": OPEN,
    "auth.revoke_own_tokens": SIGNED_IN,
    "guide.home": OPEN,
    "guide.item_list": OPEN,
    "guide.item_page": OPEN,
    "calendar.calendar_now": OPEN,
    "calendar.calendar_year": OPEN,
    "catalogue_api.items": OPEN,
    "health.healthz": OPEN,
    "health.metrics": OPEN,
    "openapi.document": OPEN,
    "static": OPEN,
    "hub_front_desk.public_status": OPEN,
    # between sites: authenticated by the protocol's signatures, not by a user
    "sync_exchange.exchange": OPEN,
    "sync_exchange.status": OPEN,
    "hub_enrol.enrol_view": OPEN,
    # the city centre's front desk
    "hub_front_desk.register_walk_in": roles("agent", "admin"),
    # windows: queues, cases, actions, results and scans
    "window_api.queue": WINDOW_STAFF,
    "window_api.reassign": WINDOW_STAFF,
    "window_api.show": WINDOW_STAFF,
    "window_api.action": WINDOW_STAFF,
    "windows.index": WINDOW_STAFF,
    "windows.queue": WINDOW_STAFF,
    "windows.reassign": WINDOW_STAFF,
    "windows.case_page": WINDOW_STAFF,
    "windows.act": WINDOW_STAFF,
    "windows.result_pdf": WINDOW_STAFF,
    "materials.material_page": SCAN_READERS,
    "materials.material_api": SCAN_READERS,
    "materials.case_material": SCAN_READERS,
    # administration and personal-information requests
    "admin.home": ADMIN_VIEW,
    "admin.sites": ADMIN_VIEW,
    "admin.users": ADMIN_VIEW,
    "admin.user_page": ADMIN_VIEW,
    "admin.releases": ADMIN_VIEW,
    "admin.record_views": ADMIN_VIEW,
    "admin.add_site_form": ADMIN_EDIT,
    "admin.move_form": ADMIN_EDIT,
    "admin.reenrol_form": ADMIN_EDIT,
    "admin.add_user_form": ADMIN_EDIT,
    "admin.change_user_form": ADMIN_EDIT,
    "admin.upload_catalogue": ADMIN_EDIT,
    "privacy.access_request": ADMIN_EDIT,
}
