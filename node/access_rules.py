"""A node's access table: who may call each endpoint (see :mod:`shared.web.access_policy`).

The village's work (intake, cases, hand-over, sync) is any signed-in user of the site, as
:mod:`node.auth` has always required; a township's or county's window pages, window API and
scans are for the roles the hub gives them too. Every endpoint of a village's and of a
deciding node's app is named here; one that is not is refused to everyone.
"""

from __future__ import annotations

from shared.web.access_policy import OPEN, SIGNED_IN, Policy, roles

WINDOW_STAFF = roles("window_operator", "finance", "supervisor", "admin")
SCAN_READERS = roles("window_operator", "supervisor", "admin")

POLICY: Policy = {
    # signing in, the citizens' status lookup, the catalogue, probes
    "auth.issue_token": OPEN,
    "auth.login_form": OPEN,
    "auth.login_submit": OPEN,
    "auth.logout": OPEN,
    "auth.revoke_own_tokens": SIGNED_IN,
    "api.status": OPEN,
    "public.status_page": OPEN,
    "api.catalogue_items": OPEN,
    "health.healthz": OPEN,
    "health.metrics": OPEN,
    "openapi.document": OPEN,
    "static": OPEN,
    "sync_exchange.status": OPEN,
    # between sites, or this PC's own sync-now: authenticated by signatures or a local proof
    "sync_exchange.exchange": OPEN,
    "enrol.enrol_relay": OPEN,
    "local_sync.local_run": OPEN,
    # the village's work
    "intake.home": SIGNED_IN,
    "intake.pick": SIGNED_IN,
    "intake.form": SIGNED_IN,
    "intake.submit": SIGNED_IN,
    "api.create_case": SIGNED_IN,
    "api.show_case": SIGNED_IN,
    "api.upload_material": SIGNED_IN,
    "cases.list_cases": SIGNED_IN,
    "cases.show_case": SIGNED_IN,
    "cases.add_material_form": SIGNED_IN,
    "cases.hand_over": SIGNED_IN,
    "cases.rate": SIGNED_IN,
    "cases.receipt": SIGNED_IN,
    "cases.transfer": SIGNED_IN,
    "cases.transfer_pdf": SIGNED_IN,
    "sync.page": SIGNED_IN,
    "sync.now": SIGNED_IN,
    # a township's or county's windows
    "window_api.queue": WINDOW_STAFF,
    "window_api.reassign": WINDOW_STAFF,
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
}
