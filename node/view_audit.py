"""A node's full-record views (the case page, its receipt, the case JSON) logged before
they are sent (:mod:`shared.storage.record_views`)."""

from __future__ import annotations

import uuid

from node.auth import current_actor
from node.db_session import get_session
from node.services import services
from shared.web.record_audit import audit_view, engine_of_session


def audit_case_view(case_id: uuid.UUID) -> None:
    """Log that the signed-in user (or the PC's agent, before enrolment) opens ``case_id``."""
    role, _, username = current_actor().partition(":")
    node = services()
    audit_view(engine_of_session(get_session()), site=node.settings.site_code,
               username=username, role=role, case_id=case_id, now=node.clock())
