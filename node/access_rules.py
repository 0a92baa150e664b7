"""A node's access table: who may call each endpoint (see :mod:`shared.web.access_policy`).

The station's work (intake, its cases, hand-over) is for agents and those who oversee them;
the sync page for any signed-in user of the site; a township's or county's window pages,
window API and scans are for the roles the hub gives them too. Every endpoint of a village's
and of a deciding node's app is named here; one that is not is refused to everyone.
"""

from __future__ import annotations

from node.consultation_desk import ANSWERERS as CONSULTATION_ANSWERERS
from node.consultation_desk import READERS as CONSULTATION_READERS
from shared.web.access_policy import OPEN, SIGNED_IN, Policy, roles
from shared.web.shared_access_rules import (
    ADAPTOR_POLICY,
    FINANCE_POLICY,
    PUBLIC_STATUS_POLICY,
    SIGN_IN_POLICY,
    SUPERVISION_POLICY,
    WINDOW_POLICY,
)

INTAKE_STAFF = roles("agent", "supervisor", "admin")
"""The station's registrations hold applicants in full: for those who register them and
those who oversee them, not for a township's window operators (who see the cases their
window decides on its window pages)."""

POLICY: Policy = {
    # signing in, the citizens' status lookup, the catalogue, probes
    **SIGN_IN_POLICY,
    **PUBLIC_STATUS_POLICY,
    "api.catalogue_items": OPEN,
    **ADAPTOR_POLICY,
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
    "intake.home": INTAKE_STAFF,
    "intake.pick": INTAKE_STAFF,
    "intake.adapt": INTAKE_STAFF,
    "intake.form": INTAKE_STAFF,
    "intake.submit": INTAKE_STAFF,
    "one_form.form": INTAKE_STAFF,
    "one_form.submit": INTAKE_STAFF,
    "one_form.parent": INTAKE_STAFF,
    "api.create_case": INTAKE_STAFF,
    "api.create_one_form": INTAKE_STAFF,
    "api.show_one_form": INTAKE_STAFF,
    "api.show_case": INTAKE_STAFF,
    "api.upload_material": INTAKE_STAFF,
    # 咨询投诉 taken here (by the agent, or a township's staff), sent up with the exchange
    "consultations.record_api": roles("agent", "window_operator", "department_head",
                                      "supervisor"),
    "consultations.record_page": roles("agent", "window_operator", "department_head",
                                       "supervisor"),
    # the consultations held here: the agent's recorded here; at a township or county the
    # department's staff answer theirs (node.consultation_desk scopes each one)
    "consultation_desk.list_api": roles(*CONSULTATION_READERS),
    "consultation_desk.show_api": roles(*CONSULTATION_READERS),
    "consultation_desk.page": roles(*CONSULTATION_READERS),
    "consultation_desk.answer_api": roles(*CONSULTATION_ANSWERERS),
    "consultation_desk.answer_page": roles(*CONSULTATION_ANSWERERS),
    # the certificate store, asked up the tree: this site's agent or admin, or a child's
    # vouched-for agent (the view checks which; shared.web.certificate_lookup)
    "certificates.held": OPEN,
    # a scan for a child's window user, vouched for by the child's signature; the view
    # answers 404 to anyone else (shared.web.scan_fetch)
    "materials.relayed_scan": OPEN,
    # a village station's bookings, kept at the hub and asked up the tree: this site's agent,
    # or a child's vouched-for agent (shared.web.hall_station_bookings)
    "hall_station.bookings_api": OPEN,
    "hall_station.bookings_page": roles("agent"),
    "cases.list_cases": INTAKE_STAFF,
    "cases.show_case": INTAKE_STAFF,
    "cases.add_material_form": INTAKE_STAFF,
    "cases.hand_over": INTAKE_STAFF,
    "cases.rate": INTAKE_STAFF,
    "cases.receipt": INTAKE_STAFF,
    "cases.result": INTAKE_STAFF,
    "cases.supplement": INTAKE_STAFF,
    "cases.transfer": INTAKE_STAFF,
    "cases.transfer_pdf": INTAKE_STAFF,
    "sync.page": SIGNED_IN,
    "sync.now": SIGNED_IN,
    # a township's or county's windows
    **WINDOW_POLICY,
    **SUPERVISION_POLICY,
    **FINANCE_POLICY,
}
