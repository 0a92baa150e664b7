"""Text messages to citizens (短信通知): the acceptance, the one-time supplement notice and
the result, sent by the hub, which holds every case and reaches the SMS gateway.

Two steps, both in the background job, so a window's work never waits for a gateway:

1. :func:`enqueue` reads the events stored since the last run (a cursor on ``sync_events``,
   read again from a little before it, so an event whose transaction committed late is not
   missed) and queues one ``hub_sms`` row per notified event; the row's key is the event's,
   so an event is queued once however often it is read.
2. :func:`send_due` claims queued rows (``FOR UPDATE SKIP LOCKED``: several hub processes
   never send one twice), reads the phone from the case's registration, fills the event's
   template and hands the text to the gateway. A refused or unreachable gateway puts the
   row back with a growing wait (1 min, doubling, at most an hour) and stops the batch;
   after :data:`MAX_ATTEMPTS` the row is ``failed``. A case with no phone left (erased) is
   ``skipped``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.models import HubCase, HubSms
from shared.deciding import case_work
from shared.domain.case_events import CaseEvent
from shared.domain.case_state import fold
from shared.domain.catalogue import Catalogue
from shared.domain.errors import DomainError, InvalidInput
from shared.domain.sms_texts import NOTIFIED_EVENTS, checked_templates, render
from shared.domain.working_days import due_day
from shared.exchange.site import SyncSite
from shared.notify.sms_gateway import GatewayError, SmsGateway
from shared.storage import sync_store
from shared.storage.bulk_insert import OnConflict, insert_rows
from shared.storage.sync_store import SyncEvent
from sync_protocol.times import from_ms, to_ms

TEMPLATES_FILE = "sms_templates.json"
CURSOR_KEY = "sms:cursor"
LOOKBACK = 1000
"""Events read again before the cursor each run (a transaction that took a lower id but
committed after a higher one was read)."""
BATCH = 100
MAX_ATTEMPTS = 12
OUTCOME_ZH = {"approved": "准予", "rejected": "不予许可", "withdrawn": "已撤回"}


def load_templates(data_dir: Path) -> dict[str, str]:
    """The templates in force: the defaults, with ``sms_templates.json`` laid over them."""
    path = data_dir / TEMPLATES_FILE
    if not path.exists():
        return checked_templates({})
    try:
        overrides = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput("sms_templates", f"{path}: not readable JSON: {exc}") from None
    return checked_templates(overrides)


def enqueue(session: Session, now: datetime) -> int:
    """Queue a message for each notified event stored since the last run; how many."""
    top = session.scalar(select(func.max(SyncEvent.id))) or 0
    held = sync_store.read_state(session, CURSOR_KEY)
    start = max(0, int(held.decode()) - LOOKBACK) if held else 0
    found = session.execute(select(
        SyncEvent.case_id, SyncEvent.origin, SyncEvent.epoch, SyncEvent.seq, SyncEvent.type,
    ).where(SyncEvent.id > start, SyncEvent.id <= top,
            SyncEvent.type.in_(tuple(NOTIFIED_EVENTS)))).all()
    now_ms = to_ms(now)
    rows = [{"case_id": r.case_id, "origin": r.origin, "epoch": r.epoch, "seq": r.seq,
             "event_type": r.type, "state": "queued", "attempts": 0, "next_ms": now_ms,
             "created_ms": now_ms} for r in found]
    table: Any = HubSms.__table__
    written = insert_rows(session, table, rows,
                          on_conflict=OnConflict(("origin", "epoch", "seq")), returning=("id",))
    sync_store.write_state(session, CURSOR_KEY, str(top).encode())
    return len(written)


@dataclass
class SmsRun:
    queued: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class SmsContext:
    """What a text is made from, besides the case."""

    site: SyncSite
    catalogue: Callable[[], Catalogue]
    templates: Mapping[str, str]
    gateway: SmsGateway
    centre: str
    public_base_url: str


def run_sms(session_factory: Callable[[], Session], ctx: SmsContext, now: datetime) -> SmsRun:
    """One run: queue what is new, then send what is due."""
    run = SmsRun()
    with session_factory() as session, session.begin():
        run.queued = enqueue(session, now)
    with session_factory() as session, session.begin():
        send_due(session, ctx, now, run)
    return run


def send_due(session: Session, ctx: SmsContext, now: datetime, run: SmsRun) -> None:
    """Send the queued messages that are due, in the caller's transaction."""
    now_ms = to_ms(now)
    due = session.scalars(select(HubSms).where(
        HubSms.state == "queued", HubSms.next_ms <= now_ms,
    ).order_by(HubSms.next_ms, HubSms.id).limit(BATCH).with_for_update(skip_locked=True))
    for row in due:
        events = case_work.case_events(session, ctx.site, row.case_id)
        phone = _contact_phone(events)
        if phone is None:
            row.state, row.last_error = "skipped", "no phone: the case is erased or not held"
            run.skipped += 1
            continue
        text = render(ctx.templates[NOTIFIED_EVENTS[row.event_type]],
                      _facts(session, ctx, row, events))
        try:
            ctx.gateway.send(f"{row.origin}-{row.epoch}-{row.seq}", phone, text)
        except GatewayError as exc:
            row.attempts += 1
            row.last_error = str(exc)[:200]
            if row.attempts >= MAX_ATTEMPTS:
                row.state = "failed"
                run.failed += 1
            else:
                wait = timedelta(minutes=min(60, 2 ** (row.attempts - 1)))
                row.next_ms = to_ms(now + wait)
                run.retried += 1
            break  # the gateway is down: the rest wait for the next run
        row.state, row.sent_ms, row.attempts = "sent", now_ms, row.attempts + 1
        row.last_error = None
        run.sent += 1


def _contact_phone(events: Sequence[CaseEvent]) -> str | None:
    """Where messages about the case go: the proxy's phone, else the legal
    representative's, else the applicant's (None once erased)."""
    if not events or events[0].type.value != "registered":
        return None
    applicant = events[0].payload.get("applicant")
    if not isinstance(applicant, Mapping):
        return None
    for holder in (applicant.get("proxy"), applicant.get("legal_representative"), applicant):
        if isinstance(holder, Mapping) and isinstance(holder.get("phone"), str):
            return str(holder["phone"])
    return None


def _facts(session: Session, ctx: SmsContext, row: HubSms,
           events: Sequence[CaseEvent]) -> dict[str, str]:
    registered = events[0].payload
    acceptance_no = str(registered.get("acceptance_no", ""))
    code = str(registered.get("item_code", ""))
    try:
        item = ctx.catalogue().item(code)
        item_name = item.name.zh
    except DomainError:
        item, item_name = None, code
    event = next((e for e in events if (e.origin, e.epoch, e.seq)
                  == (row.origin, row.epoch, row.seq)), None)
    missing_codes = event.payload.get("missing", []) if event is not None else []
    codes = [str(c) for c in missing_codes] if isinstance(missing_codes, list) else []
    missing = item.material_names(codes) if item is not None else codes
    projected = session.get(HubCase, row.case_id)
    deadline = (due_day(from_ms(projected.due_ms)).isoformat()
                if projected is not None and projected.due_ms else "")
    outcome = fold(events).outcome
    return {"centre": ctx.centre, "item": item_name, "acceptance_no": acceptance_no,
            "deadline": deadline, "missing": "、".join(missing),
            "outcome": OUTCOME_ZH.get(outcome.value, outcome.value) if outcome else "",
            "status_url": (f"{ctx.public_base_url.rstrip('/')}/status?acceptance_no="
                           f"{acceptance_no}")}
