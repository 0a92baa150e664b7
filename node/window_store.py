"""A township's or county's window projection, which also keeps its own desk's case list up
to date: a case registered at the site's own desk is worked at its windows, and the desk
(hand-over, rating, receipts) must see each decision as soon as the window makes it, not
only after an exchange brings something."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from node.case_log import refresh_progress
from node.models import NodeCase
from shared.deciding.case_projection import ProjectionStore


class NodeProjectionStore(ProjectionStore):
    def refresh(self, session: Session, case_id: uuid.UUID, now: datetime) -> None:
        super().refresh(session, case_id, now)
        case = session.get(NodeCase, case_id)
        if case is not None:  # one of this site's own desk's
            refresh_progress(session, case, now=now)
