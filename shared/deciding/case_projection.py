"""Where each case stands at a deciding site, and what that site does when events arrive.

The hub (``hub_cases``) and the deciding township and county nodes (``node_window_cases``)
keep the same projection, folded from the event store on every change; window queues read
it. :class:`DecidingHooks` is the sync layer's hook for such a site: for each case touched by
an exchange it refreshes the projection and, when this site owns the case, routes a newly
arrived registration to its window and answers events the case no longer allows with a
``refused`` event. Who owns a case is the site's to say (:class:`OwnerRule`): the hub asks its
registry of the tree, a node compares the item's tier with its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, ClassVar, Protocol, cast

from sqlalchemy import BigInteger, Index, Integer, String, Table, Uuid, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.orm.util import identity_key

from shared.deciding import case_work
from shared.deciding.case_deadlines import deadline_draft
from shared.deciding.case_signals import SignalModel, signal_rows, write_signals
from shared.deciding.competent_site import Placement, place
from shared.deciding.receipt_books import ReceiptModel, paired_receipts
from shared.deciding.rectification import rectification_draft
from shared.deciding.window_context import FeeOwed, QueueEntry
from shared.domain.case_bundles import bundle_of
from shared.domain.case_events import SIGNAL_KINDS, CaseEvent, EventDraft, EventType, Role
from shared.domain.case_state import CaseState, apply, fold, refused_keys
from shared.domain.catalogue import Catalogue, CompetenceBy, ServiceItem
from shared.domain.catalogue_versions import CatalogueVersions, accepted_under, catalogue_for_case
from shared.domain.errors import DomainError
from shared.domain.fee_cards import fee_cards
from shared.domain.live_deadline import DEFAULT_WARNING_SHARE
from shared.domain.working_days import WorkingDayCalendar
from shared.exchange.site import NoHooks, SyncSite
from shared.exchange.tree import site_parents
from shared.storage.bulk_insert import OnConflict, insert_rows
from sync_protocol import Event
from sync_protocol.times import to_ms


class CaseProjectionColumns:
    """The columns of a projection table (mixed into each app's model)."""

    signal_model: ClassVar[SignalModel | None] = None
    """The site's signals table, written with the projection (see :mod:`case_signals`)."""
    hall_ticket_model: ClassVar[Any] = None
    """The site's queue tickets (the hub's hall, :mod:`hub.hall_models`), whose waiting
    times the period reports count (:mod:`shared.deciding.hall_waiting`); None elsewhere."""

    case_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    acceptance_no: Mapped[str] = mapped_column(String(40), index=True)
    origin: Mapped[str] = mapped_column(String(15), index=True)
    item_code: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20))
    window: Mapped[str] = mapped_column(String(40))
    owner_site: Mapped[str] = mapped_column(String(15))
    state: Mapped[str] = mapped_column(String(30))
    stage: Mapped[str] = mapped_column(String(40))
    open: Mapped[int] = mapped_column(Integer, default=1)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    due_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    registered_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    catalogue_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The catalogue release the case was accepted under (None: its registration names none,
    or it was projected before this was kept)."""
    legal_due_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """The live legal deadline (法定时限), as the deciding site last recorded it."""
    warn_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """When the supervision warning falls due (a share of the promised time used)."""
    next_signal_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """When the next signal not yet raised falls due (warning, then yellow, then red card);
    None when none is left or the clock is stopped. The scan reads only rows past it."""
    timer_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """When the timer the law sets on the case comes due (缺席默许 at the shared deadline,
    超时许可 at the legal one); None when the case has none, or it no longer applies."""
    paused: Mapped[int] = mapped_column(Integer, default=0)
    """1 while the clock is stopped (waiting for the applicant's supplement)."""
    accepted_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    decided_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    closed_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """When the result was issued or the application withdrawn."""
    rating: Mapped[str | None] = mapped_column(String(24), nullable=True)
    urged_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """The standing urge (催办): set by a supervisor, cleared by the window's next action."""
    signal: Mapped[str | None] = mapped_column(String(16), nullable=True)
    """The gravest signal raised on the case (warning < yellow_card < red_card)."""
    signal_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    pending_departments: Mapped[str | None] = mapped_column(String(400), nullable=True)
    """A joint case's co-approving departments yet to answer, as ``,SJ,SW,`` (None
    otherwise): their windows list the case in their queues."""
    rect_status: Mapped[str | None] = mapped_column(String(10), nullable=True)
    """A bad rating's rectification: ``open``, ``answered`` or ``closed`` (None: none)."""
    rect_department: Mapped[str | None] = mapped_column(String(40), nullable=True)
    rect_due_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    rect_answered_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    fee_due_fen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """The fees assessed at acceptance (None: none assessed)."""
    fee_paid_fen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """Paid against receipts not voided, less refunds (None while no fees are assessed)."""
    rect_outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    """How the call-back to the applicant went (``satisfied``, ``not_satisfied``,
    ``unreachable``)."""
    bundle_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True, index=True)
    """The parent (一件事) this case is a part of (None: a case of its own)."""
    composite: Mapped[str | None] = mapped_column(String(16), nullable=True)
    """The composite catalogue entry the parent was registered under."""


ProjectionModel = type[CaseProjectionColumns]


def queue_index(table: str) -> Index:
    """The index a window's queue reads in order: open cases of one window of one site by
    deadline (none last), then registration; partial, so closed cases cost nothing."""
    return Index(f"ix_{table}_open_queue", "owner_site", "window", "due_ms", "registered_ms",
                 postgresql_where=text("open = 1"), sqlite_where=text("open = 1"))


_INSERT_ONLY = ("case_id", "origin", "item_code", "registered_ms")
"""Columns a case keeps from its first projection: the rest follow every change."""


def scan_index(table: str) -> Index:
    """The index the supervision scan reads: open cases whose clock runs, by when their
    next signal falls due; partial, so the scan costs what is due, not every case."""
    return Index(f"ix_{table}_next_signal", "owner_site", "next_signal_ms",
                 postgresql_where=text("open = 1 AND paused = 0"),
                 sqlite_where=text("open = 1 AND paused = 0"))


def timer_index(table: str) -> Index:
    """The index the deadline timers read: open cases by when their timer comes due."""
    return Index(f"ix_{table}_timer", "owner_site", "timer_ms",
                 postgresql_where=text("open = 1"), sqlite_where=text("open = 1"))


def _timer_due(events: Sequence[CaseEvent | EventDraft], state: CaseState,
               due: int | None, legal: int | None) -> int | None:
    """When the case's timer (recorded at acceptance) comes due, while it still applies."""
    timer = next((e.payload.get("timer") for e in events
                  if e.type is EventType.ACCEPTED), None)
    if timer == "deemed_consent" and state.pending_departments and (
            state.state.value == "joint_approval"):
        return due
    if timer == "deemed_approval" and state.outcome is None and state.state.value in (
            "accepted", "reviewed"):
        return legal if legal is not None else due
    return None


def rectification_index(table: str) -> Index:
    """The index the list of open rectifications reads, by when their answer is due."""
    where = text("rect_status IN ('open', 'answered')")
    return Index(f"ix_{table}_rectification", "owner_site", "rect_due_ms",
                 postgresql_where=where, sqlite_where=where)


def fees_owed_index(table: str) -> Index:
    """The index the finance window's list reads: cases whose fees are not all paid."""
    owed = text("fee_due_fen > fee_paid_fen")
    return Index(f"ix_{table}_fees_owed", "owner_site", "window", "registered_ms",
                 postgresql_where=owed, sqlite_where=owed)


def co_approval_index(table: str) -> Index:
    """The joint cases still waiting for a co-approving department, by site: few, so a
    department's windows find theirs in this small partial index."""
    return Index(f"ix_{table}_co_approval", "owner_site",
                 postgresql_where=text("pending_departments IS NOT NULL"),
                 sqlite_where=text("pending_departments IS NOT NULL"))


def report_indexes(table: str) -> tuple[Index, Index]:
    """The indexes the reports read: cases registered, and cases decided, in a period."""
    return (Index(f"ix_{table}_registered", "owner_site", "registered_ms"),
            Index(f"ix_{table}_decided", "owner_site", "decided_ms"))


_GRAVITY = {kind: rank for rank, kind in enumerate(SIGNAL_KINDS)}
_WINDOW_ROLES = frozenset({Role.WINDOW_OPERATOR, Role.FINANCE})


def _last_time(events: Sequence[CaseEvent | EventDraft], key: str) -> int | None:
    found: int | None = None
    for event in events:
        value = event.payload.get(key)
        if isinstance(value, str):
            found = to_ms(datetime.fromisoformat(value))
    return found


def _standing_urge(events: Sequence[CaseEvent | EventDraft]) -> int | None:
    """The last urge, unless the window acted on the case after it."""
    urged: int | None = None
    for event in events:
        if event.type is EventType.URGED:
            urged = to_ms(event.at)
        elif urged is not None and event.actor.role in _WINDOW_ROLES:
            urged = None
    return urged


WARNING_RULES = frozenset({"time_share", "one_day_left"})


def _next_signal(state: CaseState, due: int | None, legal: int | None,
                 warn: int | None) -> int | None:
    """When the next deadline signal the scan still owes this case falls due (a graver
    signal stands for the lesser ones it passed over)."""
    raised = {rule for _, rule, _ in state.signals}
    if "legal_passed" in raised:
        return None
    if "promised_passed" in raised:
        return legal
    if raised & WARNING_RULES:
        return due if due is not None else legal
    return next((at for at in (warn, due, legal) if at is not None), None)


def projection_values(case_id: uuid.UUID, events: Sequence[CaseEvent | EventDraft],
                      state: CaseState, owner: str, now: datetime) -> dict[str, Any]:
    """The projection row of a case from its log and folded state (``events`` may end with
    drafts about to be appended)."""
    due = _last_time(events, "deadline")
    legal = _last_time(events, "legal_deadline")
    warn = _last_time(events, "warn_at")
    is_open = not (state.state.value == "withdrawn" or state.result_issued_at)
    clock_runs = (is_open and state.outcome is None and state.accepted_at is not None
                  and not state.clock_stopped)
    withdrawn = state.withdrawn_cards
    standing = [(str(e.payload["kind"]), e.at) for e in events
                if isinstance(e, CaseEvent) and e.type is EventType.SIGNALLED
                and e.key not in withdrawn]
    gravest = max(standing, key=lambda s: (_GRAVITY[s[0]], s[1]), default=None)
    closed = state.result_issued_at or (state.decided_at if state.state.value == "withdrawn"
                                        else None)
    first = events[0].payload if events else {}
    rect = state.rectification
    bundle = bundle_of(first) if events and events[0].type is EventType.REGISTERED else None
    return {
        "bundle_id": bundle.id if bundle else None,
        "composite": bundle.composite if bundle else None,
        "fee_due_fen": state.fee_due,
        "fee_paid_fen": state.fee_paid if state.fee_due is not None else None,
        "rect_status": rect.status if rect else None,
        "rect_department": rect.department if rect else None,
        "rect_due_ms": to_ms(rect.due) if rect else None,
        "rect_answered_ms": to_ms(rect.answered_at) if rect and rect.answered_at else None,
        "rect_outcome": rect.callback if rect else None,
        "legal_due_ms": legal,
        "warn_ms": warn,
        "next_signal_ms": _next_signal(state, due, legal, warn) if clock_runs else None,
        "timer_ms": (_timer_due(events, state, due, legal)
                     if is_open and not state.clock_stopped else None),
        "paused": 1 if state.clock_stopped else 0,
        "accepted_ms": to_ms(state.accepted_at) if state.accepted_at else None,
        "decided_ms": to_ms(state.decided_at) if state.decided_at else None,
        "closed_ms": to_ms(closed) if closed else None,
        "rating": state.rating.value if state.rating else None,
        "urged_ms": _standing_urge(events) if is_open else None,
        "signal": gravest[0] if gravest else None,
        "signal_ms": to_ms(gravest[1]) if gravest else None,
        "pending_departments": (f",{','.join(state.pending_departments)},"
                                if state.state.value == "joint_approval"
                                and state.pending_departments else None),
        "case_id": case_id,
        "origin": state.origin_site or "",
        "item_code": state.item_code or "",
        "registered_ms": to_ms(state.registered_at or now),
        "acceptance_no": str(first.get("acceptance_no", "")),
        "catalogue_version": accepted_under(first) if events else None,
        "state": state.state.value,
        "stage": state.stage,
        "kind": state.kind.value if state.kind else "",
        "window": state.window or "",
        "owner_site": owner,
        "open": 1 if is_open else 0,
        "claimed_by": state.claimed_by,
        "due_ms": due,
        "updated_ms": to_ms(now),
    }


def write_projections(session: Session, model: ProjectionModel,
                      rows: Sequence[dict[str, Any]]) -> None:
    """Insert or update the projection rows in one statement; objects of them the session
    already holds are expired, so a later read sees the new values."""
    if not rows:
        return
    table = cast(Table, model.__table__)  # type: ignore[attr-defined]
    insert_rows(session, table, rows, on_conflict=OnConflict(
        ("case_id",), tuple(c for c in rows[0] if c not in _INSERT_ONLY)))
    for row in rows:
        held = session.identity_map.get(identity_key(model, row["case_id"]))
        if held is not None:
            session.expire(held)


def refresh(session: Session, model: ProjectionModel, site: SyncSite, case_id: uuid.UUID,
            owner: str, now: datetime) -> None:
    """Fold the case's events and write its projection (and its signals' rows)."""
    events = case_work.case_events(session, site, case_id)
    state = fold(events) if owner == site.code else fold_seen(events)
    values = projection_values(case_id, events, state, owner, now)
    write_projections(session, model, [values])
    if model.signal_model is not None:
        write_signals(session, model.signal_model, signal_rows(case_id, events, values))


def fold_seen(events: Sequence[CaseEvent]) -> CaseState:
    """Another site's case as this site sees it: its events in order, passing over one the
    state does not allow (kept in the log, left out of this view). The owner's order is
    authoritative; here an event can repeat one the owner no longer holds (a hub restored
    from a backup routes again, in its new epoch, cases it had routed before), and a view
    must never stop the exchange that brought it."""
    state = CaseState()
    refused = refused_keys(events)
    for event in events:
        state = _seen(state, event, refused)
    return state


def _seen(state: CaseState, event: CaseEvent, refused: frozenset[tuple[str, int, int]]
          ) -> CaseState:
    """``state`` after a held ``event`` as :func:`fold_seen` takes it."""
    if event.key in refused:
        return replace(state, events=state.events + 1)
    try:
        return apply(state, event)
    except DomainError:
        return state


class ProjectionStore:
    """A deciding site's window queues over its projection table."""

    def __init__(self, model: ProjectionModel, site: Callable[[], SyncSite]) -> None:
        self.model = model
        self._site = site

    def queue(self, session: Session, window: str, limit: int,
              department: str | None = None) -> list[QueueEntry]:
        """The window's open cases (urged first, then by deadline), then the joint cases
        waiting for ``department``'s answer (会签) that another window holds."""
        own = self._own_queue(session, window, limit)
        if department is None or len(own) >= limit:
            return own
        m = self.model
        held = {e.case_id for e in own}
        joint = session.scalars(
            select(m).where(m.owner_site == self._site().code,
                            m.pending_departments.is_not(None),
                            m.pending_departments.contains(f",{department},"))
            .order_by(m.due_ms.asc().nulls_last(), m.registered_ms)
            .limit(limit - len(own)))
        return own + [QueueEntry(r.case_id, r.acceptance_no, r.item_code, r.state, r.stage,
                                 r.claimed_by, r.due_ms, co_approval=True)
                      for r in joint if r.case_id not in held]

    def _own_queue(self, session: Session, window: str, limit: int) -> list[QueueEntry]:
        m = self.model
        rows = session.scalars(
            select(m)
            .where(m.owner_site == self._site().code, m.window == window, m.open == 1)
            # an urged case (催办) leads the queue until the window acts on it
            .order_by(m.urged_ms.desc().nulls_last(), m.due_ms.asc().nulls_last(),
                      m.registered_ms)
            .limit(limit)
        )
        return [QueueEntry(r.case_id, r.acceptance_no, r.item_code, r.state, r.stage,
                           r.claimed_by, r.due_ms) for r in rows]

    @property
    def receipts(self) -> ReceiptModel | None:
        """The site's receipts table; None for a projection without one (keeps no books)."""
        return paired_receipts(self.model)

    def owed(self, session: Session, window: str, limit: int) -> list[FeeOwed]:
        """The window's cases whose fees are not all paid, oldest first (open or closed: an
        item paid on collection is issued before its fees are in)."""
        m = self.model
        rows = session.scalars(
            select(m).where(m.owner_site == self._site().code, m.window == window,
                            m.fee_due_fen > m.fee_paid_fen)
            .order_by(m.registered_ms).limit(limit))
        return [FeeOwed(r.case_id, r.acceptance_no, r.item_code, r.state,
                        r.fee_due_fen or 0, r.fee_paid_fen or 0) for r in rows]

    def claimed(self, session: Session, window: str, username: str,
                limit: int) -> list[QueueEntry]:
        """Open cases of ``window`` that ``username`` holds the claim on, nearest deadline
        first."""
        m = self.model
        rows = session.scalars(
            select(m)
            .where(m.owner_site == self._site().code, m.window == window, m.open == 1,
                   m.claimed_by == username)
            .order_by(m.due_ms.asc().nulls_last(), m.registered_ms)
            .limit(limit)
        )
        return [QueueEntry(r.case_id, r.acceptance_no, r.item_code, r.state, r.stage,
                           r.claimed_by, r.due_ms) for r in rows]

    def versions_in_use(self, session: Session) -> set[int | None]:
        """The catalogue releases this site's open cases were accepted under (None: one
        names none)."""
        m = self.model
        return set(session.scalars(select(m.catalogue_version).where(m.open == 1).distinct()))

    def refresh(self, session: Session, case_id: uuid.UUID, now: datetime) -> None:
        site = self._site()
        row = session.get(self.model, case_id)
        owner = row.owner_site if row is not None else site.code
        refresh(session, self.model, site, case_id, owner, now)


class OwnerRule(Protocol):
    """Which site decides each case, given as ``(origin, item)``: asked once per exchange
    for all the cases it touched, so the hub reads its registry once."""

    def __call__(self, session: Session, cases: Sequence[tuple[str, ServiceItem]]
                 ) -> list[str]: ...


class DecidingHooks(NoHooks):
    """The sync hooks of a site with windows: project every case, route the ones it owns."""

    def __init__(self, *, site: Callable[[], SyncSite], catalogue: Callable[[], Catalogue],
                 tier: str, model: ProjectionModel, owner: OwnerRule,
                 also: Callable[[Session, set[uuid.UUID], datetime], None] | None = None,
                 versions: CatalogueVersions | None = None,
                 calendar: Callable[[], WorkingDayCalendar] | None = None,
                 warning_share: float = DEFAULT_WARNING_SHARE) -> None:
        self._site = site
        self._calendar = calendar
        self._warning_share = warning_share
        self._catalogue = catalogue
        self._versions = versions
        self.tier = tier
        self.model = model
        self._owner = owner
        self._also = also

    def events_arrived(self, session: Session, events: Sequence[Event], now: datetime) -> None:
        """Everything an exchange's events need here, in a few statements for the batch:
        the touched cases' logs read in one query, each folded once, the owner's own
        events (refusals, routing) authored as one run, the projection written at once."""
        self.project(session, events, now)

    def project(self, session: Session, events: Sequence[Event], now: datetime) -> Arrival:
        """:meth:`events_arrived`, returning what it read and wrote, so a site's further
        hooks in the same transaction need not read the touched cases' logs again."""
        site = self._site()
        arrived: dict[uuid.UUID, set[tuple[str, int, int]]] = {}
        touched: dict[uuid.UUID, set[tuple[str, int, int]]] = {}
        for event in events:
            touched.setdefault(event.case_id, set()).add((event.origin, event.epoch, event.seq))
            keys = arrived.setdefault(event.case_id, set())
            # this site's own events (its own desk's, or handed back by a child after its
            # restore) were admitted when authored, and fold like any held event
            if event.origin != site.code:
                keys.add((event.origin, event.epoch, event.seq))
        logs = case_work.many_case_events(session, site.sealer, events)
        registered = [(case_id, logs[case_id], item) for case_id in arrived
                      if (item := self._registered_item(logs[case_id])) is not None]
        owners = self._owner(session, [(events[0].origin, item)
                                       for _, events, item in registered])
        placed = self._placements(session, site, registered)
        outcomes = [self._case_arrived(site, case_id, events, arrived[case_id],
                                       placement.owner if placement else owner, now,
                                       item.department, touched[case_id],
                                       placement.referral if placement else None)
                    for (case_id, events, item), owner, placement
                    in zip(registered, owners, placed, strict=True)]
        write_projections(session, self.model, [o.projection for o in outcomes])
        if self.model.signal_model is not None:  # signals raised below (or above) this site
            write_signals(session, self.model.signal_model, [
                row for (case_id, events, _), o in zip(registered, outcomes, strict=True)
                for row in signal_rows(case_id, events, o.projection)])
        # authored last: it holds the lock on this site's chain until the commit
        authored = case_work.append_all(
            session, site, [o.drafts for o in outcomes if o.drafts.drafts], now,
            referred=_maybe_referred(logs, [o.drafts for o in outcomes]))
        if self._also is not None:
            self._also(session, set(arrived), now)
        return Arrival(events, logs, authored,
                       {o.drafts.case_id: str(o.projection["item_code"]) for o in outcomes})

    def _placements(self, session: Session, site: SyncSite,
                    registered: Sequence[tuple[uuid.UUID, list[CaseEvent], ServiceItem]]
                    ) -> list[Placement | None]:
        """Each case's owner where its item follows the applicant's area (全城通办), and
        the referral this site records; None where the registering site's rule holds."""
        if all(item.competence.by is CompetenceBy.REGISTERING_SITE
               for _, _, item in registered):
            return [None] * len(registered)
        parents = site_parents(session)
        return [place(site.code, site.is_root, item, events, parents)
                for _, events, item in registered]

    def _registered_item(self, events: Sequence[CaseEvent]) -> ServiceItem | None:
        """The item of a case whose registration this site holds, as the release the case
        was accepted under has it (its tier says who decides); None while it has not
        arrived (or never passes here) and for an item the catalogue does not know: the
        events are kept either way."""
        if not events or events[0].type.value != "registered":
            return None
        registration = events[0].payload
        catalogue = catalogue_for_case(self._catalogue(), self._versions, registration).catalogue
        try:
            return catalogue.item(str(registration.get("item_code", "")))
        except DomainError:
            return None

    def _case_arrived(self, site: SyncSite, case_id: uuid.UUID, events: list[CaseEvent],
                      arrived: set[tuple[str, int, int]], owner: str, now: datetime,
                      department: str, new: set[tuple[str, int, int]],
                      referral: dict[str, Any] | None = None) -> _Outcome:
        """``arrived``: the keys of the events from other sites, admitted (or refused) here;
        ``new``: every event just stored, this site's own desk's included, which the
        follow-ups (the moved deadline, a rectification, a fee card) answer; ``referral``:
        the ``referred`` event this site records first (全城通办)."""
        referred = ([EventDraft(EventType.REFERRED, case_work.system_actor(
            site, self.tier).as_event_actor, now, referral)] if referral is not None else [])
        drafts: list[EventDraft] = list(referred)
        if owner != site.code:
            state = fold_seen(events)
            for draft in referred:  # the referral this site records (not the owner)
                state = apply(state, draft)
        else:
            # the log in this site's order: what arrived now is admitted (or refused) where
            # it stands; what was held folds in around it, its own events handed back after
            # a restore included, which may follow the events that came up again with them
            state = CaseState()
            refused = refused_keys(events)
            for event in events:
                if event.key in arrived:
                    state, refusal = case_work.admit_arrived(site, self.tier, event, state, now)
                    if refusal is not None:
                        drafts.append(refusal)
                else:
                    state = _seen(state, event, refused)
            for draft in referred:  # recorded before the case is received here
                state = apply(state, draft)
            if state.state.value == "registered":
                for draft in case_work.route_drafts(site, self.tier, state, now):
                    state = apply(state, draft)
                    drafts.append(draft)
            moved = (deadline_draft(state, [*events, *drafts], self._calendar(), now,
                                    self._warning_share)
                     if self._calendar is not None and new else None)
            if moved is not None:  # a supplement from the origin restarted the clock
                state = apply(state, moved)
                drafts.append(moved)
            opened = (rectification_draft(state, [*events, *drafts], department,
                                          self._calendar(), now)
                      if self._calendar is not None and new else None)
            if opened is not None:  # a bad rating from the village or the online hall
                state = apply(state, opened)
                drafts.append(opened)
            handed = any(e.key in new and e.type is EventType.RESULT_HANDED_OVER
                         for e in events)
            for card in fee_cards(state, handed_over_now=handed, now=now):
                state = apply(state, card)  # handed over at the village with fees short
                drafts.append(card)
        return _Outcome(case_work.CaseDrafts(case_id, drafts, events[0].origin),
                        projection_values(case_id, [*events, *drafts], state, owner, now))


def _maybe_referred(logs: Mapping[uuid.UUID, Sequence[CaseEvent]],
                    drafted: Sequence[case_work.CaseDrafts]) -> set[uuid.UUID]:
    """The cases that may go down another branch (全城通办): those whose log, as read for
    the batch, or drafts hold a ``referred`` event. No other case has one held here."""
    return ({case_id for case_id, log in logs.items()
             if any(e.type is EventType.REFERRED for e in log)}
            | {d.case_id for d in drafted
               if any(draft.type is EventType.REFERRED for draft in d.drafts)})


@dataclass(frozen=True, slots=True)
class Arrival:
    """What :meth:`DecidingHooks.project` read and wrote for an exchange's ``events``: each
    touched case's log as it was folded (this site's events of the batch not yet in it),
    the events this site authored in answer, and the item of each case projected."""

    events: Sequence[Event]
    logs: Mapping[uuid.UUID, list[CaseEvent]]
    authored: Sequence[Event]
    items: Mapping[uuid.UUID, str]

    def logs_now(self) -> dict[uuid.UUID, list[CaseEvent]]:
        """Each touched case's log as :func:`case_work.many_case_events` would read it now:
        a case registered in the batch as it arrived, any other with this site's events of
        the batch after what was read."""
        first: dict[uuid.UUID, str] = {}
        for event in self.events:
            first.setdefault(event.case_id, event.type)
        own: dict[uuid.UUID, list[CaseEvent]] = {}
        for event in self.authored:
            if first.get(event.case_id, EventType.REGISTERED.value) != EventType.REGISTERED.value:
                own.setdefault(event.case_id, []).extend(case_work.as_case_events([event]))
        return {case_id: [*log, *own.get(case_id, [])] for case_id, log in self.logs.items()}


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What one case's arrival asks of the site: events to author, the projection row."""

    drafts: case_work.CaseDrafts
    projection: dict[str, Any]
