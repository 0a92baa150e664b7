"""The hub's access table: who may call each endpoint (see :mod:`shared.web.access_policy`).

Every endpoint of the hub app is named here; one that is not is refused to everyone.
"""

from __future__ import annotations

from hub.desk_views import REGISTRARS
from shared.web.access_policy import OPEN, Policy, roles
from shared.web.shared_access_rules import (
    ADAPTOR_POLICY,
    FINANCE_POLICY,
    PUBLIC_STATUS_POLICY,
    SIGN_IN_POLICY,
    SUPERVISION_POLICY,
    WINDOW_POLICY,
    WINDOW_STAFF,
)

ADMIN_VIEW = roles("supervisor", "admin")
ADMIN_EDIT = roles("admin")
HALL_BOOKINGS = roles("window_operator", "finance", "supervisor", "admin", "department_head",
                      "agent")
"""Who reads a window's or station's bookings (the view narrows it: hub.hall_site)."""
DESK_REGISTRARS = roles(*REGISTRARS)
CONSULTATION_READERS = roles("window_operator", "department_head", "supervisor", "admin")

POLICY: Policy = {
    # signing in, the citizens' guide, calendar and status lookup, probes
    **SIGN_IN_POLICY,
    "online_rating.rate_page": OPEN,  # rating online with the receipt's pair (no login)
    "online_rating.rate_api": OPEN,
    "guide.home": OPEN,
    "guide.item_list": OPEN,
    "guide.item_page": OPEN,
    "guide.adapt": OPEN,
    "calendar.calendar_now": OPEN,
    "calendar.calendar_year": OPEN,
    "catalogue_api.items": OPEN,
    **ADAPTOR_POLICY,
    "health.healthz": OPEN,
    "health.metrics": OPEN,
    "openapi.document": OPEN,
    "static": OPEN,
    **PUBLIC_STATUS_POLICY,
    # between sites: authenticated by the protocol's signatures, not by a user
    "sync_exchange.exchange": OPEN,
    "sync_exchange.status": OPEN,
    "hub_enrol.enrol_view": OPEN,
    # the city centre's front desk
    "hub_front_desk.register_walk_in": roles("agent", "admin"),
    # the certificate store: a signed-in agent or admin, or a child's vouched-for agent
    # (the view checks which; shared.web.certificate_lookup)
    "certificates.held": OPEN,
    # a scan for a child's window user, vouched for by the child's signature; the view
    # answers 404 to anyone else (shared.web.scan_fetch)
    "materials.relayed_scan": OPEN,
    "hub_front_desk.register_one_form": roles("agent", "admin"),
    "hub_front_desk.show_one_form": roles("agent", "admin", "supervisor"),
    # its registration pages: the desk's agents, and each window's operators for their items
    "desk.pick": DESK_REGISTRARS,
    "desk.form": DESK_REGISTRARS,
    "desk.submit": DESK_REGISTRARS,
    "desk.done": DESK_REGISTRARS,
    # consultations and complaints (咨询投诉; the views narrow answering to the department)
    "consultations.record_api": roles("agent", "window_operator", "department_head",
                                      "supervisor"),
    "consultations.list_api": CONSULTATION_READERS,
    "consultations.show_api": CONSULTATION_READERS,
    "consultations.answer_api": roles("window_operator", "department_head"),
    "consultations.staff_page": CONSULTATION_READERS,
    "consultations.online_api": OPEN,  # the public online form, limited per address
    "consultations.online_page": OPEN,
    # the online service hall (网上服务大厅): applicants' own sign-in, checked by its views
    # (hub.online_hall_views); codes and wrong codes limited per phone and address
    "online_hall.sign_up": OPEN,
    "online_hall.sign_in": OPEN,
    "online_hall.sign_out": OPEN,
    "online_hall.home": OPEN,
    "online_hall.apply_form": OPEN,
    "online_hall.apply_submit": OPEN,
    "online_hall.one_form_page": OPEN,
    "online_hall.one_form_submit": OPEN,
    "online_hall.case_page": OPEN,
    "online_hall.supplement": OPEN,
    "online_hall.courier": OPEN,
    "online_hall.code_api": OPEN,
    "online_hall.account_api": OPEN,
    # the city hall (政务大厅): bookings, tickets and calls (docs/hall.md)
    "hall.home": OPEN,
    "hall.book_form": OPEN,
    "hall.book": OPEN,
    "hall.cancel_form": OPEN,
    "hall.cancel": OPEN,
    "hall.kiosk": OPEN,
    "hall.take": OPEN,
    "hall.ticket": OPEN,
    "hall.screen": OPEN,
    "hall.call_page": WINDOW_STAFF,
    "hall.call": WINDOW_STAFF,
    "hall.bookings": HALL_BOOKINGS,
    "hall_api.list_areas": OPEN,
    "hall_api.list_slots": OPEN,
    "hall_api.create_booking": OPEN,
    "hall_api.cancel_booking": OPEN,
    "hall_api.take_ticket": OPEN,
    "hall_api.show_ticket": OPEN,
    "hall_api.list_bookings": HALL_BOOKINGS,
    "hall_api.window_state": WINDOW_STAFF,
    "hall_api.call": WINDOW_STAFF,
    "hall_api.link": WINDOW_STAFF,
    # a station's bookings for its agent, vouched for by the chain that relayed the question
    # (the view checks; shared.web.hall_station_bookings), or for the hub's staff
    "hall_station.bookings_api": OPEN,
    "hall_station.bookings_page": roles("agent"),
    # windows: queues, cases, actions, results and scans
    **WINDOW_POLICY,
    **SUPERVISION_POLICY,
    **FINANCE_POLICY,
    "window_api.show": WINDOW_STAFF,
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
