"""Full event histories for the supervision benchmark (:mod:`bench.supervision_scale`): the
rows of ``sync_events`` a case of the hub holds, signed and sealed as the hub stores them.

A case's history is made by the real workflow, not written by hand: the village registers
it (a payload as :mod:`bench.hub_bench_data` makes one, on the village's own signed chain),
the hub receives and routes it (:func:`shared.deciding.case_work.route_drafts`), and every
window action goes through :func:`shared.domain.window_workflow.perform` with the actors the
workflow demands (一审一核: a reviewer and a checker; the co-approving departments of a
joint case; the report up and the external decision of a report-up case). The acceptance
records the live deadlines from the working-day calendar as :func:`case_work.act` does; the
signals are the ones :func:`shared.deciding.signal_scan.due_signal` raises at each deadline
the case passed (for a closed case, those before its decision), as the hub's ``system``
actor. The village hands the result over and, for many, the citizen rates it.

Each case's events go into ``sync_events`` one after the other (the store reads a case's log
by ``id``), each event being the next of its author's chain (the village's, or the hub's):
hash-linked and signed, the payload sealed with the hub's key. The projection row
(``hub_cases``) and the signal rows (``hub_case_signals``) of such a case are the ones the
hub's own fold writes (:func:`projection_values`, :func:`signal_rows`), so the table and the
log agree. Chains follow the order the cases are made in, not the clock: a village's or
the hub's chain interleaves cases as the generator meets them.
"""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bench.hub_bench_data import _material, _sha, applicant, filled_form, site_codes
from shared.deciding import case_work
from shared.deciding.case_projection import projection_values
from shared.deciding.case_signals import signal_rows
from shared.deciding.signal_scan import _share_rule, due_signal
from shared.domain.case_events import (
    Actor,
    CaseEvent,
    EventActor,
    EventDraft,
    EventType,
    Role,
)
from shared.domain.case_state import CaseState, apply, fold
from shared.domain.catalogue import Catalogue, ServiceItem
from shared.domain.live_deadline import DEFAULT_WARNING_SHARE, live_deadline
from shared.domain.window_workflow import ActionRequest, perform, rules_from_item
from shared.domain.working_days import WorkingDayCalendar
from shared.exchange.site import SyncSite
from shared.storage.sync_store import event_context
from sync_protocol import ChainHead, SiteKey, append_event, generate_key
from sync_protocol.times import from_ms, to_ms

EVENT_COLUMNS = ("case_id", "origin", "epoch", "seq", "actor", "at_ms", "type", "payload",
                 "prev_hash", "hash", "key_id", "signature", "recorded_ms")
BYTES_PER_EVENT = 800
"""Disk an event row and its index entries take, on average over a history (measured: 115
MB for 210,000 events, 550 bytes; a sealed registration is the largest), with room to
spare."""
EVENTS_PER_CASE = 14
"""At most, for the disk check (a closed joint case with three signals)."""
SYSTEM = EventActor(case_work.SYSTEM_USER, Role.SYSTEM)
RATINGS = ("very_satisfied", "satisfied", "basically_satisfied", "dissatisfied",
           "very_dissatisfied")


@dataclass
class Chain:
    """An author's chain: its key and head."""

    key: SiteKey
    head: ChainHead


@dataclass
class Authors:
    """The hub's chain and every village's (made on first use)."""

    hub: Chain
    villages: dict[str, Chain] = field(default_factory=dict)

    def village(self, code: str) -> Chain:
        chain = self.villages.get(code)
        if chain is None:
            chain = Chain(generate_key(code), ChainHead.genesis(code, 1))
            self.villages[code] = chain
        return chain


def site_rows(hub: str, now_ms: int) -> Iterator[tuple[Any, ...]]:
    """``hub_sites`` rows of the townships and villages below the hub (``sanji hub init``
    registers the hub itself): the way a signal goes down to a case's origin."""
    for township, villages in site_codes(40, 25):
        yield (township, f"乡镇 {township}", "township", hub, now_ms, now_ms, None)
        for v in villages:
            yield (v, f"村 {v}", "village", township, now_ms, now_ms, None)


SITE_COLUMNS = ("code", "name", "tier", "parent", "created_ms", "enrolled_ms", "key_id")


@dataclass(frozen=True)
class Made:
    """One case's history: its ``sync_events`` rows, projection row and signal rows."""

    events: list[tuple[Any, ...]]
    projection: dict[str, Any]
    signals: list[dict[str, Any]]


class HistoryMaker:
    """Makes the histories, case after case, on the chains of ``authors``."""

    def __init__(self, catalogue: Catalogue, calendar: WorkingDayCalendar, site: SyncSite,
                 now: datetime, seed: int) -> None:
        self.catalogue = catalogue
        self.calendar = calendar
        self.site = site
        self.hub = site.code
        self.authors = Authors(Chain(site.key, ChainHead.genesis(site.code, site.epoch)))
        self.sealer = site.sealer
        self.now = now
        self.now_ms = to_ms(now)
        self.r = random.Random(seed)
        self.forms: dict[str, list[dict[str, Any]]] = {}
        self.events = 0

    def _operator(self, item: ServiceItem, who: int, window: str | None = None) -> Actor:
        w = window or item.window
        return Actor(f"op-{w.lower()}-{who}", Role.WINDOW_OPERATOR, self.hub, "city",
                     window=w, department=self.catalogue.window(w).department)

    def _decider(self, item: ServiceItem) -> Actor:
        """An operator of the window a preliminary window hands its cases on to (another
        city window of its department, else any other city window)."""
        department = self.catalogue.window(item.window).department
        others = [w for w in self.catalogue.windows if w.code != item.window
                  and str(w.site_tier) == "city"]
        same = [w for w in others if w.department == department]
        return self._operator(item, 1, (same or others)[0].code)

    def _form(self, item: ServiceItem) -> dict[str, Any]:
        """A valid form of the item (a few made per item, then reused: validating a form
        costs more than the rest of a history)."""
        forms = self.forms.setdefault(item.code, [])
        if len(forms) < 20:
            forms.append(filled_form(self.r, item))
            return forms[-1]
        return self.r.choice(forms)

    def make(self, case_id: uuid.UUID, row: tuple[Any, ...], due_fraction: float) -> Made:
        """The history of the case ``row`` (a row of ``case_rows``) describes: its item,
        origin, registration and acceptance times, open or closed, rating; the deadlines
        are the calendar's."""
        r = self.r
        (_, number, origin, item_code, _, _, _, _, _, is_open, _, _, registered_ms, _, _, _,
         _, paused, accepted_ms, _, _, rating, _, _) = row
        item = self.catalogue.item(item_code)
        rules = rules_from_item(item, "city")
        village = Actor(f"agent{r.randint(1, 3)}", Role.AGENT, origin, "village")
        registered = from_ms(registered_ms)
        drafts: list[tuple[str, EventDraft]] = []  # (author: "village" or "hub", draft)
        payload = {
            "case_id": str(case_id), "acceptance_no": number,
            "query_code_sha256": _sha(r), "item_code": item.code,
            "catalogue_version": self.catalogue.version, "kind": item.kind.value,
            "window": item.window, "delivery": r.choice(["village", "window"]),
            "applicant": applicant(r), "form": self._form(item),
            "materials": [_material(r, item) for _ in range(r.randint(1, 3))],
        }
        state = CaseState()
        draft = EventDraft(EventType.REGISTERED, village.as_event_actor, registered, payload)
        # the stored registration names its origin (a draft has no origin yet)
        state = dataclasses.replace(apply(state, draft), origin_site=origin)
        drafts.append(("village", draft))
        at = registered + timedelta(seconds=r.randint(30, 600))
        for d in case_work.route_drafts(self.site, "city", state, at):
            state = apply(state, d)
            drafts.append(("hub", d))

        def do(actor: Actor, when: datetime, author: str = "hub", **fields: Any) -> None:
            nonlocal state
            result = perform(state, rules, actor, ActionRequest(**fields), when)
            for d in result.events:
                drafts.append((author, d))
            state = result.state

        accepted = from_ms(max(accepted_ms, to_ms(at) + 60_000))
        first, second = self._operator(item, 1), self._operator(item, 2)
        do(first, accepted - timedelta(minutes=r.randint(1, 30)), action="claim")
        live = live_deadline(self.calendar, accepted, item.promised_days, item.legal_days,
                             (), DEFAULT_WARNING_SHARE)

        def accept(actor: Actor, when: datetime) -> None:
            """The acceptance as :func:`case_work.act` records it (the live deadlines
            from the first acceptance, the release, the legal days, the law's timer)."""
            nonlocal state
            result = perform(state, rules, actor, ActionRequest(
                "accept", deadline=live.promised.due_at), when)
            for d in result.events:
                if d.type is EventType.ACCEPTED:
                    extra = {k: v for k, v in live.payload().items()
                             if v is not None and k != "deadline"}
                    timer = case_work.timer_of(rules)
                    if timer is not None:
                        extra["timer"] = timer
                    d = EventDraft(d.type, d.actor, d.at, {
                        **d.payload, "catalogue_version": self.catalogue.version,
                        "legal_days": item.legal_days, **extra})
                drafts.append(("hub", d))
            state = result.state

        accept(first, accepted)
        warn = live.warn_at
        due = live.promised.due_at
        legal = live.legal.due_at if live.legal is not None else None
        share = _share_rule(item.promised_days, DEFAULT_WARNING_SHARE)
        assert due is not None

        def signals_until(until: datetime, leave_last: bool) -> None:
            """The scan's signals at each deadline passed before ``until``."""
            nonlocal state
            passed = sorted(t for t in (warn, due, legal) if t is not None and t < until)
            if leave_last and passed:
                passed = passed[:-1]
            raised: set[str] = set()
            for t in passed:
                when = t + timedelta(seconds=r.randint(1, 60))
                signal = due_signal(raised, to_ms(warn) if warn else None, to_ms(due),
                                    to_ms(legal) if legal else None, to_ms(when), share)
                if signal is None:
                    continue
                d = EventDraft(EventType.SIGNALLED, SYSTEM, when, {
                    "kind": signal.kind, "rule": signal.rule, "reason": signal.reason})
                state = apply(state, d)
                drafts.append(("hub", d))
                raised.add(signal.rule)

        if is_open:
            if paused:
                signals_until(accepted + timedelta(days=1), False)
                do(first, accepted + timedelta(days=1), action="start_special_procedure",
                   procedure="expert_review", reason="需组织专家评审，特别程序时间不计入时限")
            else:
                signals_until(self.now, r.random() < due_fraction)
        else:
            span = (due - accepted).total_seconds()
            decided = accepted + timedelta(seconds=span * r.uniform(0.2, 1.3))
            decided = max(decided, accepted + timedelta(minutes=20))
            signals_until(decided - timedelta(minutes=15), False)
            step = timedelta(minutes=3)
            when = decided - timedelta(minutes=15)
            if item.kind.value == "joint":
                for department in rules.co_approvers:
                    window = next(w.code for w in self.catalogue.windows
                                  if w.department == department
                                  and str(w.site_tier) == "city")
                    do(self._operator(item, 1, window), when, action="co_approve",
                       department=department)
                    when += step
                do(second, when, action="claim")
                do(second, decided, action="issue_result")
            elif item.kind.value == "report_up":
                do(first, when, action="approve")
                do(second, when + step, action="claim")
                do(second, when + 2 * step, action="report_up",
                   authority=rules.external_authority or "湖南省人民政府")
                do(second, when + 3 * step, action="claim")
                do(second, decided - step, action="record_external_decision",
                   outcome="approved", authority=rules.external_authority or "湖南省人民政府",
                   reference=f"湘政许〔2026〕{r.randint(1, 999)}号")
                do(second, decided, action="issue_result")
            elif rules.authority.value == "preliminary":  # 初审: another section decides
                other = self._decider(item)
                checker = self._operator(item, 2, other.window)
                minute = timedelta(minutes=1)
                do(first, when, action="approve")
                do(first, when + minute, action="claim")
                do(first, when + 2 * minute, action="transfer", to_window=other.window,
                   reason="初审完成，转有权科室审批决定")
                do(other, when + 4 * minute, action="claim")
                accept(other, when + 5 * minute)
                do(other, when + 7 * minute, action="approve")
                do(checker, when + 9 * minute, action="claim")
                do(checker, when + 11 * minute, action="check")
                do(checker, decided, action="issue_result")
            else:
                do(first, when, action="approve")
                do(second, when + step, action="claim")
                do(second, when + 2 * step, action="check")
                do(second, decided, action="issue_result")
            handed = decided + timedelta(hours=r.randint(2, 72))
            do(village, handed, "village", action="hand_over", method="in_person",
               receiver_name=payload["applicant"]["name"])
            if rating is not None:
                do(village, handed + timedelta(minutes=5), "village", action="rate",
                   rating=rating)
        return self._stored(case_id, origin, drafts)

    def _stored(self, case_id: uuid.UUID, origin: str,
                drafts: Sequence[tuple[str, EventDraft]]) -> Made:
        """Sign each draft as the next event of its author's chain, seal its payload; the
        projection and signal rows of the case from the events as the hub reads them."""
        rows: list[tuple[Any, ...]] = []
        events: list[CaseEvent] = []
        for author, d in drafts:
            chain = self.authors.hub if author == "hub" else self.authors.village(origin)
            event = append_event(chain.head, chain.key, case_id=case_id,
                                 actor=d.actor.to_wire(), at=d.at, type=d.type.value,
                                 payload=dict(d.payload))
            chain.head = event.head
            sig = event.signature
            assert sig is not None
            context = event_context(event.origin, event.epoch, event.seq)
            rows.append((case_id, event.origin, event.epoch, event.seq, event.actor,
                         to_ms(event.at), event.type, self.sealer.seal(dict(event.payload),
                                                                       context),
                         event.prev_hash, event.hash, sig.key_id, sig.value,
                         to_ms(event.at)))
            events.append(CaseEvent.from_store(str(case_id), event.origin, event.epoch,
                                               event.seq, d.type, d.actor, d.at,
                                               dict(event.payload)))
        self.events += len(rows)
        state = fold(events)
        values = projection_values(case_id, events, state, self.hub, self.now)
        return Made(rows, values, signal_rows(case_id, events, values))
