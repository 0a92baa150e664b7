"""The web side of the audit log of full-record views (:mod:`shared.storage.record_views`).

Every view that shows a full record calls :func:`audit_view` after the access checks and
before anything of the record is sent. The reason comes from the ``reason`` query parameter
(one of :data:`~shared.storage.record_views.REASONS`, with an optional ``note``); without
one, staff who work cases view them for ``processing`` and supervisors and admins for
``supervision``. A reason that is not one of the list is 400 with the field named, and
nothing is shown.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from flask import request
from marshmallow import RAISE, Schema, ValidationError, fields, validate
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from shared.domain.errors import InvalidInput
from shared.storage.record_views import MAX_NOTE, REASONS, View, record_view
from sync_protocol.times import to_ms

OVERSEERS = frozenset({"supervisor", "admin"})


class ReasonSchema(Schema):
    class Meta:
        unknown = RAISE

    reason = fields.String(load_default=None, validate=validate.OneOf(REASONS))
    note = fields.String(load_default="", validate=validate.Length(max=MAX_NOTE))


def _reason(role: str) -> tuple[str, str]:
    wanted = {k: request.args[k] for k in ("reason", "note") if k in request.args}
    try:
        loaded = ReasonSchema().load(wanted)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"reason": exc.messages}
        field = "reason" if "reason" in messages else next(iter(messages), "reason")
        raise InvalidInput(str(field), f"must be one of {', '.join(REASONS)}"
                           if field == "reason" else f"at most {MAX_NOTE} characters") from None
    default = "supervision" if role in OVERSEERS else "processing"
    note = " ".join(str(loaded["note"]).split())  # one line: no CR/LF in the log
    return loaded["reason"] or default, note


def engine_of_session(session: Session) -> Engine:
    """The engine a request's session is bound to (the audit row gets a connection of its
    own from it)."""
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def audit_view(engine: Engine, *, site: str, username: str, role: str, case_id: uuid.UUID,
               now: datetime) -> None:
    """Record that ``username`` is about to see the full record of ``case_id``; raises when
    the reason is not valid or the row cannot be written (then nothing is shown)."""
    reason, note = _reason(role)
    record_view(engine, View(
        at_ms=to_ms(now), site=site, username=username[:64], role=role[:20], case_id=case_id,
        reason=reason, note=note, endpoint=(request.endpoint or request.path)[:80],
        address=(request.remote_addr or "unknown")[:64]))
