"""The deciding site's work on a case, over the event store: the same at the hub and at the
township and county nodes that decide delegated items.

- :func:`owner_of` says which site decides a case: the nearest site on the way from the
  case's origin to the hub whose tier is the item's (the hub for city and external items, and
  for a county item where no county site stands between).
- :func:`route_arrived` is called by the owner when a case's registration reaches it: it
  records ``received`` and ``routed`` (the queue of the item's window) as events.
- :func:`act` runs one window action through :func:`shared.window_workflow.perform` and
  appends the events it returns; :func:`admit_arrived` applies events that came from another
  site, answering one the case no longer allows with a ``refused`` event.

Events the owner authors go up (so the hub sees every case of the city) and down toward the
case's origin, in the caller's transaction.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from shared import sync_store
from shared.case_events import Actor, CaseEvent, EventActor, EventDraft, EventType, Role
from shared.case_state import CaseState, apply, fold
from shared.catalogue import Catalogue, ServiceItem
from shared.errors import NotFound
from shared.exchange import SyncSite, send_event_down
from shared.window_workflow import ActionRequest, ItemRules, admit, perform, rules_from_item
from shared.working_days import WorkingDayCalendar
from sync_protocol.times import to_ms

_KNOWN_TYPES = frozenset(t.value for t in EventType)
SYSTEM_USER = "system"


def case_events(session: Session, site: SyncSite, case_id: uuid.UUID) -> list[CaseEvent]:
    """The case's domain events in this site's order (site-local bookkeeping types, such as
    the hand-over list of paper originals, are left out of the fold)."""
    return sealed_case_events(session, site.sealer, case_id)


def sealed_case_events(session: Session, sealer: sync_store.PayloadSealer,
                       case_id: uuid.UUID) -> list[CaseEvent]:
    """:func:`case_events` for a caller that holds only the payload sealer."""
    events: list[CaseEvent] = []
    for row in sync_store.case_rows(session, case_id):
        if row.type not in _KNOWN_TYPES:
            continue
        events.append(CaseEvent(str(row.case_id), row.origin, row.epoch, row.seq,
                                EventType(row.type), _actor(row.actor), row.at,
                                sync_store.open_payload(row, sealer)))
    return events


def _actor(text: str) -> EventActor:
    role, sep, username = text.partition(":")
    if sep and role in {r.value for r in Role}:
        return EventActor(username, Role(role))
    return EventActor(text.replace(":", "_")[:64] or "unknown", Role.AGENT)


def case_state(session: Session, site: SyncSite, case_id: uuid.UUID) -> CaseState:
    events = case_events(session, site, case_id)
    if not events:
        raise NotFound("case_id", "no such case at this site")
    return fold(events)


def owner_of(item: ServiceItem, path_up: Sequence[tuple[str, str]]) -> str:
    """The deciding site of ``item`` for a case registered at ``path_up[0]``.

    ``path_up`` lists ``(site code, tier)`` from the origin to the hub (the hub last).
    """
    wanted = str(item.tier)
    for code, tier in path_up:
        if tier == wanted:
            return code
    return path_up[-1][0]


def window_tier(item: ServiceItem) -> str:
    """The tier the item's window works at (external items are reviewed at the city)."""
    return "city" if str(item.tier) == "external" else str(item.tier)


def item_rules(catalogue: Catalogue, item_code: str) -> tuple[ServiceItem, ItemRules]:
    item = catalogue.item(item_code)
    return item, rules_from_item(item, window_tier(item))


@dataclass(frozen=True, slots=True)
class Stamped:
    """An event the site appended, as stored."""

    row: sync_store.SyncEvent
    draft: EventDraft


def append_drafts(session: Session, site: SyncSite, case_id: uuid.UUID,
                  drafts: Sequence[EventDraft], now: datetime,
                  origin: str | None = None) -> list[Stamped]:
    """Append the workflow's drafts as this site's next events; send them down to the
    case's origin (and up, unless this is the hub)."""
    stamped: list[Stamped] = []
    for draft in drafts:
        row = sync_store.author_event(
            session, site.key, site.sealer, epoch=site.epoch, case_id=case_id,
            actor=draft.actor.to_wire(), type=draft.type.value, payload=draft.payload,
            at_ms=to_ms(draft.at), up=not site.is_root, now_ms=to_ms(now),
        )
        send_event_down(session, site, row, now, origin)
        stamped.append(Stamped(row, draft))
    return stamped


def system_actor(site: SyncSite, tier: str) -> Actor:
    return Actor(SYSTEM_USER, Role.SYSTEM, site.code, tier)


def route_arrived(session: Session, site: SyncSite, catalogue: Catalogue, tier: str,
                  case_id: uuid.UUID, now: datetime) -> CaseState:
    """The owner records that the case reached it and puts it in its window's queue."""
    state = case_state(session, site, case_id)
    if state.item_code is None or state.window is None:
        return state
    system = EventActor(SYSTEM_USER, Role.SYSTEM)
    drafts = []
    received_tier = tier if tier in ("township", "county", "city", "province") else "city"
    drafts.append(EventDraft(EventType.RECEIVED, system, now, {"tier": received_tier}))
    drafts.append(EventDraft(EventType.ROUTED, system, now,
                             {"window": state.window, "site": site.code}))
    for draft in drafts:
        state = apply(state, draft)
    append_drafts(session, site, case_id, drafts, now, state.origin_site)
    return state


def admit_arrived(session: Session, site: SyncSite, tier: str, case_id: uuid.UUID,
                  event: CaseEvent, before: CaseState, now: datetime) -> CaseState:
    """Apply an event from another site to a case this site owns, or refuse it (kept)."""
    admission = admit(before, event, system_actor(site, tier), now)
    if admission.refusal is not None:
        append_drafts(session, site, case_id, [admission.refusal], now)
    return admission.state


def act(session: Session, site: SyncSite, catalogue: Catalogue, calendar: WorkingDayCalendar,
        actor: Actor, case_id: uuid.UUID, request: ActionRequest, now: datetime) -> CaseState:
    """Run one window action; raises the workflow's typed error when it is not allowed."""
    state = case_state(session, site, case_id)
    if state.item_code is None:
        raise NotFound("case_id", "the case has no registration here yet")
    item, rules = item_rules(catalogue, state.item_code)
    if request.action == "accept" and request.deadline is None:
        deadline = calendar.deadline(now, item.promised_days).due_at
        request = _with_deadline(request, deadline)
    result = perform(state, rules, actor, request, now)
    append_drafts(session, site, case_id, result.events, now, state.origin_site)
    return result.state


def _with_deadline(request: ActionRequest, deadline: datetime | None) -> ActionRequest:
    return dataclasses.replace(request, deadline=deadline)

