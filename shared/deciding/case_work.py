"""The deciding site's work on a case, over the event store: the same at the hub and at the
township and county nodes that decide delegated items.

- :func:`owner_of` says which site decides a case: the nearest site on the way from the
  case's origin to the hub whose tier is the item's (the hub for city and external items, and
  for a county item where no county site stands between).
- :func:`route_drafts` says what the owner records when a case's registration reaches it:
  ``received`` and ``routed`` (the queue of the item's window).
- :func:`act` runs one window action through :func:`shared.domain.window_workflow.perform` and
  appends the events it returns; :func:`admit_arrived` applies an event that came from
  another site, or gives the ``refused`` event that answers one the case no longer allows.

Events the owner authors go up (so the hub sees every case of the city) and down toward the
case's origin, in the caller's transaction.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from shared.deciding.case_deadlines import deadline_draft
from shared.deciding.receipt_books import ReceiptModel, take_receipt, void_receipt
from shared.deciding.rectification import rectification_draft
from shared.domain.case_events import Actor, CaseEvent, EventActor, EventDraft, EventType, Role
from shared.domain.case_state import CaseState, apply, fold
from shared.domain.catalogue import Catalogue, ServiceItem
from shared.domain.catalogue_versions import CaseCatalogue, CatalogueVersions, catalogue_for_case
from shared.domain.errors import NotFound, NotPermitted, Problems, StateConflict
from shared.domain.fee_cards import fee_cards
from shared.domain.fees import assess
from shared.domain.live_deadline import DEFAULT_WARNING_SHARE, LiveDeadline, live_deadline
from shared.domain.violation_cards import violation_cards
from shared.domain.window_workflow import ActionRequest, ItemRules, admit, perform, rules_from_item
from shared.domain.working_days import WorkingDayCalendar
from shared.exchange.site import SyncSite
from shared.exchange.tree import send_all_down
from shared.pdf.document_facts import with_issue_fields
from shared.storage import sync_store
from shared.storage.accounts import approver_problem, window_operator_problem
from sync_protocol import Event
from sync_protocol.times import from_ms, to_ms

LOG = logging.getLogger("sanji.deciding")
_KNOWN_TYPES = frozenset(t.value for t in EventType)
_ROLES = frozenset(r.value for r in Role)
SYSTEM_USER = "system"


def case_events(session: Session, site: SyncSite, case_id: uuid.UUID) -> list[CaseEvent]:
    """The case's domain events in this site's order (site-local bookkeeping types, such as
    the hand-over list of paper originals, are left out of the fold)."""
    return sealed_case_events(session, site.sealer, case_id)


def sealed_case_events(session: Session, sealer: sync_store.PayloadSealer,
                       case_id: uuid.UUID) -> list[CaseEvent]:
    """:func:`case_events` for a caller that holds only the payload sealer."""
    return _domain_events(sync_store.case_rows(session, case_id), sealer)


def many_case_events(session: Session, sealer: sync_store.PayloadSealer,
                     arrived: Sequence[Event]) -> dict[uuid.UUID, list[CaseEvent]]:
    """:func:`case_events` of every case the just stored ``arrived`` events touch, read in
    one query. A case whose registration is among them holds nothing else here (its
    origin's chain starts with it, and every other site's events follow it), so its log is
    built from ``arrived`` without reading it back."""
    by_case: dict[uuid.UUID, list[Event]] = {}
    for event in arrived:
        by_case.setdefault(event.case_id, []).append(event)
    fresh = {case_id for case_id, events in by_case.items()
             if events[0].type == EventType.REGISTERED.value}
    logs = {case_id: _domain_events(rows, sealer) for case_id, rows in
            sync_store.case_logs(session, [c for c in by_case if c not in fresh]).items()}
    for case_id in fresh:
        logs[case_id] = as_case_events(by_case[case_id])
    return logs


def as_case_events(events: Iterable[Event]) -> list[CaseEvent]:
    """Events as they were stored (payloads in the clear) as the domain's events, as
    :func:`case_events` would read them back."""
    return [CaseEvent.from_store(str(e.case_id), e.origin, e.epoch, e.seq, EventType(e.type),
                                 _actor(e.actor), e.at, dict(e.payload))
            for e in events if e.type in _KNOWN_TYPES]


def _domain_events(rows: Iterable[Any], sealer: sync_store.PayloadSealer) -> list[CaseEvent]:
    """Rows of ``sync_events`` (objects or plain rows) as the domain's events."""
    return [CaseEvent.from_store(str(row.case_id), row.origin, row.epoch, row.seq,
                                 EventType(row.type), _actor(row.actor), from_ms(row.at_ms),
                                 sync_store.open_payload(row, sealer))
            for row in rows if row.type in _KNOWN_TYPES]


def _actor(text: str) -> EventActor:
    role, sep, username = text.partition(":")
    if sep and role in _ROLES:
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


_TIER_RANK = {"township": 1, "county": 2, "city": 3}


def item_rules(catalogue: Catalogue, item_code: str, site_tier: str | None = None
               ) -> tuple[ServiceItem, ItemRules]:
    """The workflow's rules of an item worked at a ``site_tier`` site (None: at the item's
    own tier). A site above the item's tier decides it where no site of that tier stands
    between the case's origin and the hub (:func:`owner_of`): the hub takes the county
    items of a city without county centres, and its window for them sits at the city."""
    item = catalogue.item(item_code)
    rules = rules_from_item(item, window_tier(item))
    own = _TIER_RANK.get(rules.window_tier, 0)
    if site_tier is not None and str(item.tier) != "external" and (
            _TIER_RANK.get(site_tier, 0) > own > 0):
        rules = dataclasses.replace(rules, deciding_tier=site_tier, window_tier=site_tier)
    return item, rules


@dataclass(frozen=True, slots=True)
class CaseDrafts:
    """Events the site decided on for one case, and the site that registered the case (their
    way down; None: looked up)."""

    case_id: uuid.UUID
    drafts: Sequence[EventDraft]
    origin: str | None = None


def append_drafts(session: Session, site: SyncSite, case_id: uuid.UUID,
                  drafts: Sequence[EventDraft], now: datetime,
                  origin: str | None = None) -> list[Event]:
    """Append the workflow's drafts as this site's next events; send them down to the
    case's origin (and up, unless this is the hub)."""
    return append_all(session, site, [CaseDrafts(case_id, drafts, origin)], now)


def append_all(session: Session, site: SyncSite, cases: Sequence[CaseDrafts],
               now: datetime, *, referred: Collection[uuid.UUID] | None = None
               ) -> list[Event]:
    """:func:`append_drafts` for many cases at once: one run of the site's chain, written
    and queued down in a few statements whatever the number of events. ``referred``: the
    only cases that may hold a ``referred`` event, when the caller knows (no look-up for
    the others; None: every case is looked up)."""
    own = [sync_store.OwnEvent(c.case_id, d.actor.to_wire(), d.type.value, d.payload,
                               to_ms(d.at))
           for c in cases for d in c.drafts]
    authored = sync_store.author_events(session, site.key, site.sealer, own, epoch=site.epoch,
                                        up=not site.is_root, now_ms=to_ms(now))
    origins = [c.origin for c in cases for _ in c.drafts]
    send_all_down(session, site, list(zip(authored, origins, strict=True)), now,
                  referred=referred)
    return authored


def system_actor(site: SyncSite, tier: str) -> Actor:
    return Actor(SYSTEM_USER, Role.SYSTEM, site.code, tier)


def route_drafts(site: SyncSite, tier: str, state: CaseState, now: datetime
                 ) -> list[EventDraft]:
    """What the owner records when a case's registration reaches it: ``received``, then
    ``routed`` to its window's queue (nothing for a case without item or window)."""
    if state.item_code is None or state.window is None:
        return []
    system = EventActor(SYSTEM_USER, Role.SYSTEM)
    received_tier = tier if tier in ("township", "county", "city", "province") else "city"
    return [EventDraft(EventType.RECEIVED, system, now, {"tier": received_tier}),
            EventDraft(EventType.ROUTED, system, now,
                       {"window": state.window, "site": site.code})]


def admit_arrived(site: SyncSite, tier: str, event: CaseEvent, before: CaseState,
                  now: datetime) -> tuple[CaseState, EventDraft | None]:
    """The case after an event from another site, and the ``refused`` event to append when
    the case no longer allows it (the event itself is kept either way)."""
    admission = admit(before, event, system_actor(site, tier), now)
    return admission.state, admission.refusal


def case_catalogue(events: Sequence[CaseEvent], catalogue: Catalogue,
                   versions: CatalogueVersions | None) -> CaseCatalogue:
    """The catalogue release the case of ``events`` is decided by: the one it was accepted
    under when this site holds it (:func:`catalogue_for_case`); ``catalogue`` (the newest)
    without ``versions``."""
    registration = next((e.payload for e in events if e.type is EventType.REGISTERED), {})
    return catalogue_for_case(catalogue, versions, registration)


def act(session: Session, site: SyncSite, catalogue: Catalogue, calendar: WorkingDayCalendar,
        actor: Actor, case_id: uuid.UUID, request: ActionRequest, now: datetime, *,
        versions: CatalogueVersions | None = None,
        warning_share: float = DEFAULT_WARNING_SHARE,
        receipts: ReceiptModel | None = None) -> CaseState:
    """Run one window action; raises the workflow's typed error when it is not allowed.

    With ``versions`` the item's rules (steps, deadline, materials, who may decide) come
    from the catalogue release the case was accepted under, ``catalogue`` being the newest;
    the acceptance records which release that was."""
    events = case_events(session, site, case_id)
    if not events:
        raise NotFound("case_id", "no such case at this site")
    state = fold(events)
    if state.item_code is None:
        raise NotFound("case_id", "the case has no registration here yet")
    chosen = case_catalogue(events, catalogue, versions)
    if chosen.note:
        LOG.warning("catalogue version missing", extra={"fields": {
            "case_id": str(case_id), "note": chosen.note}})
    item, rules = item_rules(chosen.catalogue, state.item_code, actor.tier)
    live = None
    if request.action == "accept" and request.deadline is None:
        # The first acceptance starts the clock: a case handed on or transferred after it
        # and accepted again keeps the deadline the applicant was given.
        started = state.accepted_at or now
        live = live_deadline(calendar, started, item.promised_days, item.legal_days,
                             state.clock_stops, warning_share)
        request = _with_deadline(request, live.promised.due_at)
    if request.action == "appeal_card":
        _check_card(events, request)
    result = perform(state, rules, actor, request, now)
    if request.action == "reassign":  # only to someone who can work the case here
        problem = window_operator_problem(session, actor.site, state.window or "",
                                          request.assignee or "", must_be_active=True)
        if problem is not None:
            raise Problems({"assignee": problem}, "the reassignment is not valid")
    if request.action == "refund":  # approved by someone who may approve it here
        problem = approver_problem(session, actor.site, request.approver or "")
        if problem is not None:
            raise Problems({"approver": problem}, "the refund's approver is not valid")
    drafts = [_with_deadlines(_with_catalogue(d, chosen), item.legal_days, live, rules)
              for d in result.events]
    if request.action == "accept" and state.fee_due is None:
        assessed = assess(item, _registered_form(events), request.reductions)
        if assessed is not None:  # with the acceptance, before a joint case's copies go
            drafts.insert(1, EventDraft(EventType.FEES_ASSESSED, actor.as_event_actor, now,
                                        assessed))
            after = state
            for draft in drafts:
                after = apply(after, draft)
            result = dataclasses.replace(result, state=after)
    # the result document's facts digest and code, signed with the event (document_facts)
    drafts = [with_issue_fields(d, events, site.key.key_id) for d in drafts]
    moved = deadline_draft(result.state, [*events, *drafts], calendar, now, warning_share)
    if moved is not None:  # the clock resumed here (a supplement at the deciding site)
        drafts.append(moved)
    drafts += violation_cards(state, drafts, now)  # recorded with the decision that earned it
    drafts += fee_cards(result.state, now=now, handed_over_now=(
        request.action == "hand_over"))  # a fee off the standard, with the payment
    opened = rectification_draft(result.state, [*events, *drafts], item.department, calendar,
                                 now)
    if opened is not None:  # a bad rating given at this site's own window
        drafts.append(opened)
    if request.action in ("pay", "void_receipt"):
        _book_receipt(session, receipts, site, actor, case_id, item.department, drafts[0], now)
    append_drafts(session, site, case_id, drafts, now, state.origin_site)
    return result.state


def _book_receipt(session: Session, receipts: ReceiptModel | None, site: SyncSite,
                  actor: Actor, case_id: uuid.UUID, department: str, draft: EventDraft,
                  now: datetime) -> None:
    """A payment takes its receipt number from a book registered to the clerk's window, and
    a void gives it back, in the same transaction as the event (以票控费)."""
    if receipts is None:
        raise NotPermitted("receipt_no", "this site keeps no receipt books")
    number = str(draft.payload["receipt_no"])
    if draft.type is EventType.FEE_PAID:
        take_receipt(session, receipts, site=site.code, window=actor.window or "",
                     receipt_no=number, case_id=case_id,
                     amount_fen=int(draft.payload["amount_fen"]), department=department,
                     now=now)
    elif void_receipt(session, receipts, site=site.code, window=actor.window or "",
                      receipt_no=number, reason=str(draft.payload["reason"]),
                      now=now) != case_id:
        raise StateConflict("receipt_no", f"{number} was taken for another case")


def _registered_form(events: Sequence[CaseEvent]) -> dict[str, Any]:
    """The form of the case's registration as stored (a fee formula reads its values)."""
    form = next((e.payload.get("form") for e in events if e.type is EventType.REGISTERED), None)
    return dict(form) if isinstance(form, dict) else {}


def _check_card(events: Sequence[CaseEvent], request: ActionRequest) -> None:
    """An appeal names a yellow or red card of this case, not appealed before."""
    card = request.card or {}
    key = (card.get("origin"), card.get("epoch"), card.get("seq"))
    if not any(e.key == key and e.type is EventType.SIGNALLED
               and e.payload.get("kind") in ("yellow_card", "red_card") for e in events):
        raise Problems({"card": "no yellow or red card of this case has that key"},
                       "the appeal names no card")
    if any(e.type is EventType.CARD_APPEALED and e.payload["card"] == card for e in events):
        raise StateConflict("card", "this card was appealed already")


def _with_deadlines(draft: EventDraft, legal_days: int, live: LiveDeadline | None,
                    rules: ItemRules) -> EventDraft:
    """An acceptance records the legal days and the live deadlines beside the promised
    ones, so every site reads the same dates (and the deciding site can move them), and
    the timer the law sets on the case, if any (:func:`timer_of`)."""
    if draft.type is not EventType.ACCEPTED or live is None:
        return draft
    extra = {k: v for k, v in live.payload().items() if v is not None and k != "deadline"}
    timer = timer_of(rules)
    if timer is not None:
        extra["timer"] = timer
    return dataclasses.replace(draft, payload={**draft.payload, "legal_days": legal_days,
                                               **extra})


def timer_of(rules: ItemRules) -> str | None:
    """The timer the law sets on a case of the item: 缺席默许 on a joint item's shared
    deadline (``deemed_consent``), 超时许可 on the legal deadline (``deemed_approval``)."""
    if rules.absence_means_consent and rules.co_approvers:
        return "deemed_consent"
    if rules.overdue_means_approval:
        return "deemed_approval"
    return None


def _with_catalogue(draft: EventDraft, chosen: CaseCatalogue) -> EventDraft:
    """An acceptance names the catalogue release the case is decided by (and, when the
    one it was accepted under is missing here, says so); other events are unchanged."""
    if draft.type is not EventType.ACCEPTED:
        return draft
    extra: dict[str, Any] = {"catalogue_version": chosen.catalogue.version}
    if chosen.note:
        extra["catalogue_note"] = chosen.note
    return dataclasses.replace(draft, payload={**draft.payload, **extra})


def _with_deadline(request: ActionRequest, deadline: datetime | None) -> ActionRequest:
    return dataclasses.replace(request, deadline=deadline)

